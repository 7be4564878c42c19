//! One Jacobi sweep of the five-point stencil over a block of rows (docs/kernels.md,
//! Stencil: `jacobi5_f32`).
//!
//! **Memory traffic.** The floor is one DRAM read and one DRAM write of every cell, the
//! traffic of a device copy. The kernel uses no shared-memory tile; the reuse comes from
//! registers and the caches:
//! - *horizontal*: a warp owns 128 consecutive columns (lane `l` holds columns
//!   `l, l + 32, l + 64, l + 96` of its segment) and passes left and right neighbours with
//!   warp shuffles; only the two cells just outside the segment are loaded again (lanes 0
//!   and 31, one load instruction per row, hits in L1/L2);
//! - *vertical*: each thread walks a strip of `STENCIL_STRIP_ROWS` output rows with a window
//!   of rows in registers, so each input row of the strip is loaded once, plus one halo row
//!   above and one below. Those halo rows are the neighbouring strips' own rows, loaded by
//!   blocks that run at the same time (neighbouring `blockIdx.y`), so they come from L2,
//!   not DRAM: the strips cost L2 bandwidth (`(S + 2)/S` of the reads), not DRAM bandwidth.
//!
//! Every load and store of a warp touches 32 consecutive `f32`s (128 bytes, whole sectors),
//! and each thread issues `4 × (STENCIL_UNROLL + 2)` independent loads before it uses the
//! first, so enough bytes are in flight to stream at copy bandwidth. Measured on an H100
//! SXM against a 1 GiB device copy (2.91–2.97 TB/s, read + write): 2.83–2.91 TB/s on
//! 16384×16384 and 1024×262144 (96–98%), 2.57–2.77 TB/s on 8192×8192 (87–94%; a copy of
//! that size moves 2.72–2.83 TB/s). Short strips won: strips of 4 rows beat 8, 12, 16 and 32
//! (16 rows: 2.69–2.84 TB/s on 16384×16384), the extra L2 reads costing less than the
//! parallelism long strips lose.
//!
//! **Exactness.** Interior cells are `0.25 * ((up + down) + (left + right))`: two rounded
//! additions, a third, then the (exact unless subnormal) multiplication, in that order, with
//! no FMA; boundary cells copy their input bits.

use crate::config::{STENCIL_BLOCK, STENCIL_STRIP_ROWS, STENCIL_UNROLL};
use crate::device::index::{block_x, block_y, grid_dim_y, thread_x};
use crate::device::state_space::load_f32_readonly;
use crate::device::unroll::unroll;
use crate::device::warp::{lane_id, shfl_idx_u32};

/// Columns each lane holds per row.
const PER_LANE: usize = 4;
/// Consecutive columns a warp owns.
const SEGMENT: usize = 32 * PER_LANE;
/// Rows loaded per step of the march.
const UNROLL: usize = STENCIL_UNROLL as usize;

/// One input row as a warp holds it: lane `l` has columns `seg + l + 32k` in `v[k]`; lane 0
/// also has column `seg − 1` and lane 31 column `seg + 128` in `halo` (0 where absent).
#[derive(Clone, Copy, Default)]
struct Row {
    v: [f32; PER_LANE],
    halo: f32,
}

/// Loads input row `row` (0s if `row ≥ rows`, including the wrapped "row −1").
///
/// # Safety
/// `input` is valid for reading `rows × cols` `f32`s that nothing writes during the kernel.
#[inline(always)]
unsafe fn load_row(
    input: *const f32,
    rows: usize,
    cols: usize,
    row: usize,
    seg: usize,
    lane: u32,
) -> Row {
    let mut out = Row::default();
    if row < rows {
        let p = input.wrapping_add(row * cols);
        unroll::<PER_LANE>(|k| {
            let c = seg + lane as usize + 32 * k;
            if c < cols {
                // SAFETY: `row < rows`, `c < cols`.
                out.v[k] = unsafe { load_f32_readonly(p.add(c)) };
            }
        });
        // Lane 0 fetches the column left of the segment, lane 31 the one right of it.
        let hc = if lane == 0 {
            seg.wrapping_sub(1)
        } else {
            seg + SEGMENT
        };
        if (lane == 0 || lane == 31) && hc < cols {
            // SAFETY: `row < rows`, `hc < cols` (`seg − 1` wraps past `cols` when `seg == 0`).
            out.halo = unsafe { load_f32_readonly(p.add(hc)) };
        }
    }
    out
}

/// `f32` lane exchange: the value `x` of lane `src`.
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
unsafe fn shfl(x: f32, src: u32) -> f32 {
    // SAFETY: forwarded contract.
    f32::from_bits(unsafe { shfl_idx_u32(x.to_bits(), src) })
}

/// One Jacobi sweep (docs/kernels.md, `jacobi5_f32`). The input is a `rows × cols` block
/// whose row 0 is row `row_offset` of a grid of `global_rows` rows; for every
/// `r ∈ [row_begin, row_end)` and `c < cols` the kernel writes
/// `output[(r − row_begin)·cols + c]`:
/// - the input cell when global row `row_offset + r` is `0` or `global_rows − 1`, or `c` is
///   `0` or `cols − 1`;
/// - otherwise `0.25 * ((up + down) + (left + right))`, in exactly that order.
///
/// Thread mapping: one-dimensional blocks of `STENCIL_BLOCK` (128) threads; block `bx`
/// owns columns `[512·bx, 512·bx + 512)` (warp `w` the 128 columns from `512·bx + 128·w`,
/// lane `l` columns `… + l + 32k`, `k < 4`); block row `by` handles the strips of
/// `STENCIL_STRIP_ROWS` (4) output rows `s = by, by + grid_y, …`, marching down each.
///
/// Launch: block `(STENCIL_BLOCK, 1, 1)`; grid [`crate::config::stencil_grid`]`(cols,
/// row_end − row_begin)` = `(⌈cols/512⌉, min(⌈(row_end − row_begin)/4⌉, 65535), 1)` (any
/// grid y ≥ 1 is correct; grid x must cover the columns); no shared memory. Nothing to
/// launch when there are no output rows or `cols == 0`.
///
/// # Safety
/// - `row_begin ≤ row_end ≤ rows`; `rows·cols` does not overflow `usize`;
/// - `input` is 4-byte aligned, valid for reading `rows·cols` `f32`s, not written during
///   the kernel; `output` is 4-byte aligned, valid for writing `(row_end − row_begin)·cols`
///   `f32`s, and does not overlap `input`;
/// - the block is `(STENCIL_BLOCK, 1, 1)` and grid x is at least `⌈cols/512⌉`.
///
/// The caller's promise that rows `r ± 1` of every interior output row are in the block is
/// needed for a correct result, not for memory safety: rows outside the block read as 0.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_jacobi5_f32(
    input: *const f32,
    output: *mut f32,
    rows: usize,
    cols: usize,
    row_offset: usize,
    global_rows: usize,
    row_begin: usize,
    row_end: usize,
) {
    crate::device::grid::wait_for_prior_grids();
    let lane = lane_id();
    let warp = thread_x() / 32;
    let seg = (block_x() as usize * STENCIL_BLOCK as usize / 32 + warp as usize) * SEGMENT;
    if seg >= cols || row_end <= row_begin {
        // The whole warp leaves together (no shuffle is left waiting); there is no barrier.
        return;
    }
    let strip = STENCIL_STRIP_ROWS as usize;
    let strips = (row_end - row_begin).div_ceil(strip);
    let left_src = lane.wrapping_sub(1) & 31;
    let right_src = (lane + 1) & 31;

    let mut s = block_y() as usize;
    while s < strips {
        let first = row_begin + s * strip;
        let end = (first + strip).min(row_end);
        // `window[0]` is row `r − 1`, `window[1]` row `r`, the rest rows `r + 1 …`.
        let mut window = [Row::default(); UNROLL + 2];
        // SAFETY: `input` covers `rows × cols` and is read-only; `load_row` checks
        // `row < rows` (row `first − 1` wraps past `rows` when `first == 0`).
        window[0] = unsafe { load_row(input, rows, cols, first.wrapping_sub(1), seg, lane) };
        // SAFETY: as above.
        window[1] = unsafe { load_row(input, rows, cols, first, seg, lane) };
        let mut r = first;
        while r < end {
            unroll::<UNROLL>(|j| {
                // SAFETY: as above.
                window[2 + j] = unsafe { load_row(input, rows, cols, r + 1 + j, seg, lane) };
            });
            unroll::<UNROLL>(|j| {
                let (up, mid, down) = (&window[j], &window[j + 1], &window[j + 2]);
                // Neighbours across lanes: `rot_l[k]` is lane `l − 1`'s `v[k]` and `rot_r[k]`
                // lane `l + 1`'s (modulo 32). The whole warp is here: no lane-dependent branch
                // encloses these shuffles.
                let mut rot_l = [0.0f32; PER_LANE];
                let mut rot_r = [0.0f32; PER_LANE];
                unroll::<PER_LANE>(|k| {
                    // SAFETY: all 32 lanes execute this unconditionally.
                    unsafe {
                        rot_l[k] = shfl(mid.v[k], left_src);
                        rot_r[k] = shfl(mid.v[k], right_src);
                    }
                });
                let row = r + j;
                if row >= end {
                    return;
                }
                let global_row = row_offset + row;
                let boundary_row = global_row == 0 || global_row + 1 == global_rows;
                let out_row = output.wrapping_add((row - row_begin) * cols);
                unroll::<PER_LANE>(|k| {
                    let c = seg + lane as usize + 32 * k;
                    if c >= cols {
                        return;
                    }
                    let value = if boundary_row || c == 0 || c + 1 == cols {
                        mid.v[k]
                    } else {
                        // Column `c − 1`: lane `l − 1`'s `v[k]`; for lane 0 lane 31's
                        // `v[k − 1]`, or the left halo for `k = 0`. Column `c + 1` likewise.
                        let left = if lane > 0 {
                            rot_l[k]
                        } else if k > 0 {
                            rot_l[k - 1]
                        } else {
                            mid.halo
                        };
                        let right = if lane < 31 {
                            rot_r[k]
                        } else if k + 1 < PER_LANE {
                            rot_r[k + 1]
                        } else {
                            mid.halo
                        };
                        0.25 * ((up.v[k] + down.v[k]) + (left + right))
                    };
                    // SAFETY: `row_begin ≤ row < row_end` and `c < cols`: inside the output.
                    unsafe { *out_row.add(c) = value };
                });
            });
            window[0] = window[UNROLL];
            window[1] = window[UNROLL + 1];
            r += UNROLL;
        }
        s += grid_dim_y() as usize;
    }
}
