//! riptide's device code: kernels written in Rust, compiled to PTX by rustc's own
//! `nvptx64-nvidia-cuda` backend, plus `device`, the small layer of GPU primitives they
//! stand on (indices, grid-stride loops, shared memory, barriers, warp shuffles and votes,
//! atomics, fast-math instructions).
//!
//! The crate is built twice:
//! - for `nvptx64-nvidia-cuda` by the root build script, which emits PTX and embeds it in
//!   the host binary. Only then do `device` and the kernel bodies exist.
//! - for the host as a plain rlib, so host code imports the kernel entry names
//!   ([`entries`]) and launch constants ([`config`]) from the one place they are defined.
//!
//! Everything device-only sits under `#[cfg(target_arch = "nvptx64")]`: `extern "ptx-kernel"`,
//! `core::arch::nvptx` and the PTX register classes do not exist on x86-64.
#![no_std]
#![cfg_attr(
    target_arch = "nvptx64",
    feature(abi_ptx, stdarch_nvptx, asm_experimental_arch)
)]

pub mod config;
pub mod entries;

#[cfg(target_arch = "nvptx64")]
pub mod device;

#[cfg(target_arch = "nvptx64")]
pub mod kernels;
