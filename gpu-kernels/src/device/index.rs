//! Thread, block and grid coordinates, and grid-stride loops.
//!
//! The `x` dimension is the one riptide's one-dimensional kernels use; `y` exists for the
//! two-dimensional tiled kernels (transpose, stencil, matrix multiply).

use core::arch::nvptx;

/// Index of the calling thread within its block, x dimension.
#[inline(always)]
pub fn thread_x() -> u32 {
    // SAFETY: reading the %tid.x special register has no preconditions.
    unsafe { nvptx::_thread_idx_x() as u32 }
}

/// Index of the calling thread within its block, y dimension.
#[inline(always)]
pub fn thread_y() -> u32 {
    // SAFETY: reading the %tid.y special register has no preconditions.
    unsafe { nvptx::_thread_idx_y() as u32 }
}

/// Index of the calling thread's block within the grid, x dimension.
#[inline(always)]
pub fn block_x() -> u32 {
    // SAFETY: reading the %ctaid.x special register has no preconditions.
    unsafe { nvptx::_block_idx_x() as u32 }
}

/// Index of the calling thread's block within the grid, y dimension.
#[inline(always)]
pub fn block_y() -> u32 {
    // SAFETY: reading the %ctaid.y special register has no preconditions.
    unsafe { nvptx::_block_idx_y() as u32 }
}

/// Threads per block, x dimension.
#[inline(always)]
pub fn block_dim_x() -> u32 {
    // SAFETY: reading the %ntid.x special register has no preconditions.
    unsafe { nvptx::_block_dim_x() as u32 }
}

/// Threads per block, y dimension.
#[inline(always)]
pub fn block_dim_y() -> u32 {
    // SAFETY: reading the %ntid.y special register has no preconditions.
    unsafe { nvptx::_block_dim_y() as u32 }
}

/// Blocks in the grid, x dimension.
#[inline(always)]
pub fn grid_dim_x() -> u32 {
    // SAFETY: reading the %nctaid.x special register has no preconditions.
    unsafe { nvptx::_grid_dim_x() as u32 }
}

/// Blocks in the grid, y dimension.
#[inline(always)]
pub fn grid_dim_y() -> u32 {
    // SAFETY: reading the %nctaid.y special register has no preconditions.
    unsafe { nvptx::_grid_dim_y() as u32 }
}

/// Global index of the calling thread in a one-dimensional launch:
/// `block_x * block_dim_x + thread_x`, computed in 64 bits so it cannot wrap.
#[inline(always)]
pub fn global_x() -> usize {
    block_x() as usize * block_dim_x() as usize + thread_x() as usize
}

/// Total threads in a one-dimensional launch: `grid_dim_x * block_dim_x`.
#[inline(always)]
pub fn grid_threads_x() -> usize {
    grid_dim_x() as usize * block_dim_x() as usize
}

/// The indices `i < len` this thread visits in a grid-stride loop: it starts at
/// [`global_x`] and steps by [`grid_threads_x`], so any grid covers any length and
/// neighbouring threads touch neighbouring elements (coalesced accesses).
#[inline(always)]
pub fn grid_stride(len: usize) -> GridStride {
    GridStride {
        next: global_x(),
        step: grid_threads_x(),
        end: len,
    }
}

/// Iterator returned by [`grid_stride`].
#[derive(Debug, Clone)]
pub struct GridStride {
    next: usize,
    step: usize,
    end: usize,
}

impl Iterator for GridStride {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.next < self.end {
            let i = self.next;
            self.next += self.step;
            Some(i)
        } else {
            None
        }
    }
}
