//! riptide: CUDA stream concurrency in Rust.
//!
//! This crate is the facade: it embeds the PTX that the build compiled from `gpu-kernels`,
//! re-exports the orchestration library (`riptide-host`), and holds the command line's
//! logic ([`cli`]) and the benchmarks' shared workloads and sweeps ([`mod@bench`]).

pub mod bench;
pub mod cli;

pub use riptide_host as host;
pub use riptide_host::{Device, Error, Result};

/// The PTX compiled from the `gpu-kernels` crate by `build.rs`.
pub const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/riptide_kernels.ptx"));

/// The target architecture the embedded PTX was compiled for (`RIPTIDE_PTX_ARCH` at build
/// time, `sm_80` by default).
pub const PTX_ARCH: &str = env!("RIPTIDE_PTX_ARCH");
