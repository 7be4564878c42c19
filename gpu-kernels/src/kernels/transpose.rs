//! Out-of-place transpose of a row-major matrix of 32-bit elements (docs/kernels.md,
//! Transpose): `out[c·rows + r] = in[r·cols + c]`.
//!
//! Each block moves 32×32 tiles through shared memory so that both the reads of `in` and
//! the writes of `out` are coalesced (a warp reads 32 consecutive words of one input row and
//! writes 32 consecutive words of one output row). The tile is stored with a row stride of
//! 33 words: a warp reading one tile *column* then touches 32 different banks instead of
//! one. Every element is read once and written once, so the kernel moves `8·rows·cols`
//! bytes, the same as a device copy of the matrix.
//!
//! A block moves a run of consecutive tiles down one column of tiles, and issues the loads
//! of its next tile before it writes the current one out, so loads stay in flight through
//! the write phase; consecutive tiles also make the block's writes to each output row
//! contiguous in time. Each thread keeps one input and one output pointer (32 registers on
//! sm_80/sm_90/sm_100), so 8 blocks (2048 threads) fit on an SM.
//!
//! Measured on an H100 SXM, with a 1 GiB device copy at 2.91–2.97 TB/s (read + write): one
//! tile per block moved 2.41–2.48 TB/s (82–84%); 8 tiles per block 2.62–2.69 TB/s on
//! 16384×16384 and 4096×65536 (89–91%) and 2.52–2.58 TB/s on 8192×8192 (85–87%; about 92%
//! of a copy of that size). Hence [`crate::config::transpose_grid`] gives blocks 8 tiles when there are
//! enough blocks. Prefetching two tiles ahead (8 loads per thread, 56 registers) was slower.

use core::num::{NonZeroU32, NonZeroUsize};

use crate::config::{TRANSPOSE_BLOCK_Y, TRANSPOSE_TILE, TRANSPOSE_TILE_STRIDE};
use crate::device::index::{block_x, block_y, grid_dim_y, thread_x, thread_y};
use crate::device::shared::sync_threads;
use crate::device::state_space::{
    dynamic_shared_base, load_shared_u32, load_u32_readonly, opaque_address, store_shared_u32,
};

/// Elements of a tile each thread moves (`TRANSPOSE_TILE / TRANSPOSE_BLOCK_Y`).
const PER_THREAD: usize = (TRANSPOSE_TILE / TRANSPOSE_BLOCK_Y) as usize;
/// Rows between a thread's consecutive elements of a tile (the block's y dimension).
const ROW_STEP: usize = TRANSPOSE_BLOCK_Y as usize;

/// `out[c·rows + r] = in[r·cols + c]` for `r < rows`, `c < cols` (docs/kernels.md,
/// `transpose_b32`); any 32-bit element type moves as bits.
///
/// Parameters: `input` the `rows × cols` row-major source, `output` the `cols × rows`
/// row-major destination.
///
/// Thread mapping: block `(32, 8, 1)`; block `(bx, by)` moves the tiles of input columns
/// `[32·bx, 32·bx + 32)` and input rows `[32·t, 32·t + 32)` for the consecutive tile rows
/// `t ∈ [by·p, min((by + 1)·p, tiles_y))`, `tiles_y = ⌈rows/32⌉`, `p = ⌈tiles_y/grid_y⌉`
/// (so any grid y ≥ 1 covers any number of rows). Thread `(tx, ty)` reads input elements
/// `(32·t + ty + 8j, 32·bx + tx)` and writes output elements `(32·bx + ty + 8j, 32·t + tx)`
/// for `j < 4`; edge tiles skip the elements outside the matrix.
///
/// Launch: block `(TRANSPOSE_TILE, TRANSPOSE_BLOCK_Y, 1)` = `(32, 8, 1)`; grid
/// [`crate::config::transpose_grid`]`(rows, cols)` (x = `⌈cols/32⌉`, y = `⌈tiles_y/p⌉`
/// with up to 8 tiles per block; any grid y ≥ 1 is correct); dynamic shared memory
/// `TRANSPOSE_SHARED_BYTES` (4224) bytes. Nothing to launch when `rows` or `cols` is 0.
///
/// # Safety
/// - `input` is 4-byte aligned, valid for reading `rows·cols` words, not written during the
///   kernel; `output` is 4-byte aligned, valid for writing `rows·cols` words; the two do
///   not overlap; `rows·cols` does not overflow `usize`;
/// - the block is `(32, 8, 1)`, the grid's x is at least `⌈cols/32⌉` (extra blocks idle)
///   and the dynamic shared memory is at least `TRANSPOSE_SHARED_BYTES` bytes.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_transpose_b32(
    input: *const u32,
    output: *mut u32,
    rows: usize,
    cols: usize,
) {
    crate::device::grid::wait_for_prior_grids();
    let tile = TRANSPOSE_TILE as usize;
    let (tx, ty) = (thread_x(), thread_y());
    let base = dynamic_shared_base();
    let c0 = block_x() as usize * tile;
    if c0 >= cols {
        // The whole block leaves: no barrier is left waiting.
        return;
    }
    let tiles_y = rows.div_ceil(tile);
    // Block row `by` moves the consecutive tile rows `[by·per, (by + 1)·per)`.
    let Some(grid_y) = NonZeroUsize::new(grid_dim_y() as usize) else {
        return;
    };
    let per = match (u32::try_from(tiles_y), NonZeroU32::new(grid_dim_y())) {
        // The common case in 32-bit arithmetic (a 64-bit division is a long routine).
        (Ok(tiles), Some(grid)) => tiles.div_ceil(grid.get()) as usize,
        _ => tiles_y.div_ceil(grid_y.get()),
    };
    let t_begin = block_y() as usize * per;
    let t_end = (t_begin + per).min(tiles_y);
    // This thread reads input column `c0 + tx` of input rows `r0 + ty + 8j`, and writes
    // output row `c0 + ty + 8j` (an input column) at column `r0 + tx` (an input row). Its
    // pointers for tile `t` are `in_p` and `out_p`, advanced by one tile per iteration.
    let col_in = c0 + tx as usize;
    let row_out = c0 + ty as usize;
    let full_cols = c0 + tile <= cols;
    let full_tiles = rows / tile;
    let (in_step, out_step) = (ROW_STEP * cols, ROW_STEP * rows);
    let load_tile = |t: usize, p: *const u32| {
        let mut vals = [0u32; PER_THREAD];
        if full_cols && t < full_tiles {
            for (j, v) in vals.iter_mut().enumerate() {
                // SAFETY: the whole tile lies inside the input, which nothing writes.
                *v = unsafe { load_u32_readonly(p.wrapping_add(j * in_step)) };
            }
        } else {
            for (j, v) in vals.iter_mut().enumerate() {
                if t * tile + ty as usize + ROW_STEP * j < rows && col_in < cols {
                    // SAFETY: row and column checked: inside the input.
                    *v = unsafe { load_u32_readonly(p.wrapping_add(j * in_step)) };
                }
            }
        }
        vals
    };

    let mut t = t_begin;
    let mut in_p = input.wrapping_add((t * tile + ty as usize) * cols + col_in);
    let mut out_p = output.wrapping_add(row_out * rows + t * tile + tx as usize);
    let mut vals = if t < t_end {
        load_tile(t, in_p)
    } else {
        [0; PER_THREAD]
    };
    while t < t_end {
        for (j, v) in vals.iter().enumerate() {
            let row = ty + TRANSPOSE_BLOCK_Y * j as u32;
            // SAFETY: `row < 32`, `tx < 32`: inside the 32×33-word tile; every read of the
            // previous tile finished before the barrier that ended its iteration.
            unsafe { store_shared_u32(base + 4 * (row * TRANSPOSE_TILE_STRIDE + tx), *v) };
        }
        // SAFETY: the loop's trip count depends only on the block index, the grid and
        // `rows`, so every thread of the block reaches this barrier.
        unsafe { sync_threads() };
        // Issue the next tile's loads now, so that they are in flight while this tile is
        // written out.
        let next = t + 1;
        // (Advanced through `opaque_address`, so that one pointer serves all four rows.)
        in_p = opaque_address(in_p.wrapping_add(tile * cols));
        if next < t_end {
            vals = load_tile(next, in_p);
        }
        let full = full_cols && t < full_tiles;
        let col_out = t * tile + tx as usize;
        for j in 0..PER_THREAD {
            let col = ty + TRANSPOSE_BLOCK_Y * j as u32;
            // SAFETY: `tx < 32`, `col < 32`: inside the tile; written before the barrier.
            let v = unsafe { load_shared_u32(base + 4 * (tx * TRANSPOSE_TILE_STRIDE + col)) };
            if full || (row_out + ROW_STEP * j < cols && col_out < rows) {
                // SAFETY: output row `row_out + 8j < cols` and column `col_out < rows`
                // (checked, or implied by a full tile): inside the `cols × rows` output.
                unsafe { *out_p.wrapping_add(j * out_step) = v };
            }
        }
        out_p = opaque_address(out_p.wrapping_add(tile).cast_const()).cast_mut();
        // SAFETY: as above; the next tile's shared stores wait until every thread has
        // read this one.
        unsafe { sync_threads() };
        t = next;
    }
}
