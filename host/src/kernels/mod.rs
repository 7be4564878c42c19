//! Typed launchers, one per built-in kernel, one file per kernel family.
//!
//! A launcher is the only way riptide launches a kernel: it checks every length and limit
//! the kernel's `# Safety` contract names, sizes the grid from the device, declares which
//! buffers are read and which written (`&` versus `&mut`), and attaches the CPU
//! implementation the emulated backend runs. Kernel names come from
//! `gpu_kernels::entries`, never from strings written here.

pub mod catalogue;
pub mod debug;
mod elementwise;
mod gemm;
mod histogram;
mod reduce;
mod scan;
mod stencil;
mod transpose;

pub use elementwise::{MapChain, axpby, compute, compute_in_place, map_chain, map_chain_in_place};
pub use gemm::{Shape as GemmShape, sgemm};
pub use histogram::{histogram_f32, histogram_u32};
pub use reduce::{MinMaxElement, ReduceScratch, SumElement, dot, max, min, reduction_grid, sum};
pub use scan::{ScanElement, ScanKind, ScanScratch, scan, scan_in_place};
pub use stencil::{StencilBlock, jacobi5};
pub use transpose::{Word32, transpose};

use crate::backend::Stream;
use crate::error::Error;
use crate::launch::{Dim3, LaunchConfig};

/// A reference-implementation error inside a CPU kernel, as a backend error.
pub(crate) fn backend_error(e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("CPU kernel: {e}"))
}

/// Resident blocks per multiprocessor the grid-stride launchers aim for: enough to hide
/// memory latency without launching blocks that would only wait.
const BLOCKS_PER_SM: u32 = 8;

/// A one-dimensional grid-stride launch for `work_items` items: at most one thread per item,
/// at most [`BLOCKS_PER_SM`] blocks per multiprocessor.
pub(crate) fn grid_stride_config(stream: &Stream, work_items: usize, block: u32) -> LaunchConfig {
    let sms = stream.device().info().multiprocessors.max(1);
    let wanted = work_items.div_ceil(block as usize).max(1);
    let cap = (sms * BLOCKS_PER_SM) as usize;
    LaunchConfig {
        grid: Dim3::x(wanted.min(cap) as u32),
        block: Dim3::x(block),
        shared_bytes: 0,
    }
}
