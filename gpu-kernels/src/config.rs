//! Launch constants shared by the kernels and their host launchers.
//!
//! A kernel that assumes a block shape states it here; the host launcher reads the same
//! constant, so the two cannot drift apart.

/// Threads per block of the one-dimensional elementwise kernels (a multiple of the warp size).
pub const ELEMENTWISE_BLOCK: u32 = 256;

/// Threads in a warp on every NVIDIA GPU riptide targets.
pub const WARP_SIZE: u32 = 32;
