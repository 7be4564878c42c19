//! Example 01's kernels: a riptide user's own `#![no_std]` device crate.
//!
//! Built twice, like riptide's own `gpu-kernels`: for `nvptx64-nvidia-cuda` by the example's
//! `build.rs` (through `riptide-build`), which embeds the PTX; and for the host as a plain
//! rlib, so host code takes the entry names and the parameter struct from here.
#![no_std]
#![cfg_attr(target_arch = "nvptx64", feature(abi_ptx, stdarch_nvptx))]

/// The PTX entry name of [`SoftClip`]'s kernel.
pub const SOFT_CLIP_F32: &str = "example_soft_clip_f32";

/// Threads per block the host launches the kernel with.
pub const BLOCK: u32 = 256;

/// Parameters of the soft clip `y = limit·v / (limit + |v|)` with `v = x·scale + shift`,
/// passed to the kernel by value (a 16-byte struct parameter in the PTX).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    not(target_arch = "nvptx64"),
    derive(bytemuck::Pod, bytemuck::Zeroable)
)]
pub struct SoftClip {
    /// Multiplies `x`.
    pub scale: f32,
    /// Added after scaling.
    pub shift: f32,
    /// The bound `|y|` approaches (must be positive).
    pub limit: f32,
    /// Keeps the struct free of implicit padding (16 bytes).
    pub reserved: f32,
}

/// `y[i] = limit·v / (limit + |v|)`, `v = x[i]·scale + shift`, for `i < n`, with a
/// grid-stride loop (any grid covers any `n`).
///
/// # Safety
/// `x` must point to `n` readable and `y` to `n` writable `f32`s in device memory; the two
/// ranges may be the same but must not partly overlap.
#[cfg(target_arch = "nvptx64")]
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn example_soft_clip_f32(
    x: *const f32,
    y: *mut f32,
    n: u64,
    p: SoftClip,
) {
    use core::arch::nvptx::{_block_dim_x, _block_idx_x, _grid_dim_x, _thread_idx_x};
    // SAFETY: reading the thread's indices has no preconditions.
    let (tid, bid, bdim, gdim) = unsafe {
        (
            _thread_idx_x(),
            _block_idx_x(),
            _block_dim_x(),
            _grid_dim_x(),
        )
    };
    let mut i = bid as u64 * bdim as u64 + tid as u64;
    let stride = gdim as u64 * bdim as u64;
    while i < n {
        // SAFETY: i < n, and the caller guarantees n elements behind both pointers.
        let v = unsafe { *x.add(i as usize) } * p.scale + p.shift;
        let magnitude = if v < 0.0 { -v } else { v };
        // SAFETY: as above.
        unsafe { *y.add(i as usize) = p.limit * v / (p.limit + magnitude) };
        i += stride;
    }
}
