//! Launch constants shared by the kernels and their host launchers.
//!
//! A kernel that assumes a block shape states it here; the host launcher reads the same
//! constant, so the two cannot drift apart.

/// Threads per block of the one-dimensional elementwise kernels (a multiple of the warp size).
pub const ELEMENTWISE_BLOCK: u32 = 256;

/// Threads in a warp on every NVIDIA GPU riptide targets.
pub const WARP_SIZE: u32 = 32;

/// The largest grid y dimension CUDA accepts; kernels with a 2-D grid loop over the y tiles
/// beyond it.
pub const GRID_Y_MAX: u32 = 65535;

/// Threads per block of the histogram kernels (`riptide_histogram_u32`/`_f32`).
pub const HISTOGRAM_BLOCK: u32 = 256;

/// Dynamic shared memory a histogram block may take for its private counters: 48 KiB, the
/// most a launch gets without raising the kernel's shared-memory attribute.
pub const HISTOGRAM_SHARED_BUDGET_BYTES: u32 = 48 * 1024;

/// The most bins the privatized (shared-memory) histogram holds: 12288.
pub const HISTOGRAM_PRIVATE_MAX_BINS: u32 = HISTOGRAM_SHARED_BUDGET_BYTES / 4;

/// Whether a histogram of `bins` counters is privatized per block in shared memory (else
/// every counted value is a global atomic). The kernels decide with this same function.
pub const fn histogram_privatized(bins: u32) -> bool {
    bins <= HISTOGRAM_PRIVATE_MAX_BINS
}

/// Dynamic shared memory bytes a histogram launch of `bins` counters needs: `4 * bins` when
/// privatized, else 0.
pub const fn histogram_shared_bytes(bins: u32) -> u32 {
    if histogram_privatized(bins) {
        4 * bins
    } else {
        0
    }
}

/// Histogram blocks per SM of the recommended grid, at most. With 256 bins, 8 blocks
/// counted at 92.8% of the device-to-device copy bandwidth on an H200 against 80.1% with 4
/// (H100: 96.6% against 93.8%).
pub const HISTOGRAM_BLOCKS_PER_SM: u32 = 8;

/// Recommended histogram grid for `len` values on a device of `multiprocessors` SMs, each
/// holding `resident_per_sm` blocks of the launch at once (the occupancy API's answer,
/// which falls as the bins' shared memory grows): one block per 16 groups of four values
/// per thread, at most `min(resident_per_sm, HISTOGRAM_BLOCKS_PER_SM)` per SM so the grid
/// is one wave (a block beyond it runs after the others, alone on its SM), at least 1.
/// Every block also adds up to `bins` global atomics when it merges, another reason to
/// stay at one wave. Any grid size ≥ 1 is correct.
pub const fn histogram_grid(len: usize, multiprocessors: u32, resident_per_sm: u32) -> u32 {
    let per_block = (HISTOGRAM_BLOCK as usize) * 4 * 16;
    let want = len.div_ceil(per_block);
    let cap = one_wave(multiprocessors, resident_per_sm, HISTOGRAM_BLOCKS_PER_SM);
    let g = if want < cap { want } else { cap };
    if g == 0 { 1 } else { g as u32 }
}

/// Blocks in one wave of a grid that puts at most `most_per_sm` blocks on each SM:
/// `multiprocessors · min(resident_per_sm, most_per_sm)`, with at least one block per SM.
pub const fn one_wave(multiprocessors: u32, resident_per_sm: u32, most_per_sm: u32) -> usize {
    let per_sm = if resident_per_sm < most_per_sm {
        resident_per_sm
    } else {
        most_per_sm
    };
    let per_sm = if per_sm == 0 { 1 } else { per_sm };
    per_sm as usize * multiprocessors as usize
}

/// Threads per block of `riptide_jacobi5_f32` (one-dimensional; 4 warps).
pub const STENCIL_BLOCK: u32 = 128;

/// Columns one `riptide_jacobi5_f32` block covers: 4 per thread.
pub const STENCIL_BLOCK_COLS: u32 = 4 * STENCIL_BLOCK;

/// Output rows in one strip of `riptide_jacobi5_f32` (a thread marches down a strip, loading
/// `STENCIL_UNROLL` rows per step). 4 measured fastest on an H100 (4, 8, 12, 16 and 32 tried).
pub const STENCIL_STRIP_ROWS: u32 = 4;

/// Rows `riptide_jacobi5_f32` loads per step of its march (divides `STENCIL_STRIP_ROWS`).
pub const STENCIL_UNROLL: u32 = 4;

/// Grid `(x, y)` for `riptide_jacobi5_f32` over `cols` columns and `out_rows` output rows:
/// `(⌈cols / 512⌉, min(⌈out_rows / 4⌉, 65535))`, y at least 1.
pub const fn stencil_grid(cols: usize, out_rows: usize) -> (u32, u32) {
    let x = cols.div_ceil(STENCIL_BLOCK_COLS as usize);
    (
        x as u32,
        grid_y(out_rows.div_ceil(STENCIL_STRIP_ROWS as usize)),
    )
}

/// Side of the square tile `riptide_transpose_b32` moves through shared memory; also its
/// block's x dimension.
pub const TRANSPOSE_TILE: u32 = 32;

/// Block y dimension of `riptide_transpose_b32` (each thread moves `32 / 8 = 4` elements).
pub const TRANSPOSE_BLOCK_Y: u32 = 8;

/// Row stride in words of the shared tile of `riptide_transpose_b32` (one word of padding
/// keeps column reads free of bank conflicts).
pub const TRANSPOSE_TILE_STRIDE: u32 = TRANSPOSE_TILE + 1;

/// Dynamic shared memory bytes of `riptide_transpose_b32`: a 32×33-word tile, 4224.
pub const TRANSPOSE_SHARED_BYTES: u32 = TRANSPOSE_TILE * TRANSPOSE_TILE_STRIDE * 4;

/// Tile rows one `riptide_transpose_b32` block moves, one after the other, when the matrix is
/// large enough (each block prefetches its next tile while writing the current one).
pub const TRANSPOSE_TILES_PER_BLOCK: usize = 8;

/// Fewest blocks [`transpose_grid`] keeps before giving each block several tiles.
pub const TRANSPOSE_MIN_BLOCKS: usize = 2048;

/// Grid `(x, y)` for `riptide_transpose_b32` of a `rows × cols` input: `x = ⌈cols / 32⌉`,
/// `y = min(⌈tiles_y / per⌉, 65535)` with `tiles_y = ⌈rows / 32⌉` and `per` the largest of
/// 8, 4, 2, 1 that keeps `x · y ≥ TRANSPOSE_MIN_BLOCKS` (else 1); y at least 1. Any y ≥ 1
/// is correct (block row `by` moves tile rows `[by·p, (by + 1)·p)`, `p = ⌈tiles_y / y⌉`).
pub const fn transpose_grid(rows: usize, cols: usize) -> (u32, u32) {
    let x = cols.div_ceil(TRANSPOSE_TILE as usize);
    let tiles_y = rows.div_ceil(TRANSPOSE_TILE as usize);
    let mut per = TRANSPOSE_TILES_PER_BLOCK;
    while per > 1 && x * tiles_y.div_ceil(per) < TRANSPOSE_MIN_BLOCKS {
        per /= 2;
    }
    (x as u32, grid_y(tiles_y.div_ceil(per)))
}

/// Rows of `C` one `riptide_sgemm_f32` block computes.
pub const SGEMM_BLOCK_M: u32 = 128;

/// Columns of `C` one `riptide_sgemm_f32` block computes.
pub const SGEMM_BLOCK_N: u32 = 128;

/// Depth of the `k` slices `riptide_sgemm_f32` stages in shared memory.
pub const SGEMM_BLOCK_K: u32 = 8;

/// Threads per block of `riptide_sgemm_f32` (one-dimensional; each computes 8×8 of `C`).
pub const SGEMM_THREADS: u32 = 256;

/// Row stride in words of the transposed `A` slice in shared memory (128 + 4 padding).
pub const SGEMM_SHARED_A_STRIDE: u32 = SGEMM_BLOCK_M + 4;

/// Bytes of one shared-memory stage of `riptide_sgemm_f32`: an `A` slice (8 × 132 words)
/// and a `B` slice (8 × 128 words), 8320.
pub const SGEMM_SHARED_STAGE_BYTES: u32 =
    SGEMM_BLOCK_K * (SGEMM_SHARED_A_STRIDE + SGEMM_BLOCK_N) * 4;

/// Dynamic shared memory bytes of `riptide_sgemm_f32`: two stages, 16640.
pub const SGEMM_SHARED_BYTES: u32 = 2 * SGEMM_SHARED_STAGE_BYTES;

/// Grid `(x, y)` for `riptide_sgemm_f32` with `C: m × n`:
/// `(⌈n / 128⌉, min(⌈m / 128⌉, 65535))`, y at least 1.
pub const fn sgemm_grid(m: usize, n: usize) -> (u32, u32) {
    let x = n.div_ceil(SGEMM_BLOCK_N as usize);
    (x as u32, grid_y(m.div_ceil(SGEMM_BLOCK_M as usize)))
}

/// `tiles` clamped to `1..=GRID_Y_MAX`, for kernels that loop over y tiles.
const fn grid_y(tiles: usize) -> u32 {
    if tiles == 0 {
        1
    } else if tiles > GRID_Y_MAX as usize {
        GRID_Y_MAX
    } else {
        tiles as u32
    }
}

/// Threads per block of the reduction kernels (`riptide_sum_f32`, `riptide_dot_f32`, …);
/// they must be launched with exactly this many.
pub const REDUCE_BLOCK: u32 = 256;

/// Dynamic shared memory bytes of a reduction launch: one 8-byte slot per warp plus an
/// 8-byte flag, 72.
pub const REDUCE_SHARED_BYTES: u32 = (REDUCE_BLOCK / WARP_SIZE) * 8 + 8;

/// Reduction blocks per SM of the recommended grid, at most. More blocks keep more loads in
/// flight: `riptide_sum_f32` read at 95.0% of the device-to-device copy bandwidth with 6
/// blocks per SM against 90.3% with 4 on an H100, and 92.1% against 83.1% on an H200. A
/// grid beyond what an SM holds leaves a second, partial wave: `riptide_sum_u32`, which
/// fits 5, read at 90.5% with 6 per SM against 97.1% with 5.
pub const REDUCE_BLOCKS_PER_SM: u32 = 6;

/// Recommended reduction grid for `len` elements on a device of `multiprocessors` SMs, each
/// holding `resident_per_sm` blocks of the kernel at once (the occupancy API's answer for
/// it, which depends on the registers the driver compiled it to): enough blocks for one
/// full wave (`min(resident_per_sm, REDUCE_BLOCKS_PER_SM)` per SM), but no more than one
/// block per 16 vectors of four elements per thread, at least 1. Any grid size ≥ 1 is
/// correct; the `f32` result depends on it (bit-reproducible for a fixed grid).
pub const fn reduce_grid(len: usize, multiprocessors: u32, resident_per_sm: u32) -> u32 {
    let per_block = (REDUCE_BLOCK as usize) * 4 * 16;
    let want = len.div_ceil(per_block);
    let cap = one_wave(multiprocessors, resident_per_sm, REDUCE_BLOCKS_PER_SM);
    let g = if want < cap { want } else { cap };
    if g == 0 { 1 } else { g as u32 }
}

/// `u64` words of scratch a reduction launch of `grid` blocks needs: the block counter
/// (word 0, zero before the first launch, left zero by every launch) and one partial per
/// block.
pub const fn reduce_scratch_words(grid: u32) -> usize {
    1 + grid as usize
}

/// Depth `d` of the summation tree of `riptide_sum_f32` and `riptide_dot_f32` over `len`
/// elements with `grid` blocks (docs/kernels.md, Reductions: `|s − Σx| ≤ d·u·Σ|x|`):
/// `⌈⌊len/4⌋ / T⌉ + ⌈grid / REDUCE_BLOCK⌉ + 19` with `T = grid · REDUCE_BLOCK`
/// (kernels/reduce.rs explains the terms).
pub const fn reduce_f32_depth(len: usize, grid: u32) -> usize {
    let threads = grid as usize * REDUCE_BLOCK as usize;
    (len / 4).div_ceil(threads) + (grid as usize).div_ceil(REDUCE_BLOCK as usize) + 19
}

/// Threads per block of the scan kernels (`riptide_scan_inclusive_f32`, …); they must be
/// launched with exactly this many: one look-back warp and `SCAN_DATA_THREADS` that load,
/// reduce and write the tiles.
pub const SCAN_BLOCK: u32 = WARP_SIZE + SCAN_DATA_THREADS;

/// Threads of a scan block that stage, reduce and write tiles (4 warps).
pub const SCAN_DATA_THREADS: u32 = 128;

/// Elements each scan data thread handles per tile (8 rounds of one 4-element vector).
pub const SCAN_ITEMS_PER_THREAD: u32 = 32;

/// Elements per scan tile: 4096.
pub const SCAN_TILE: usize = (SCAN_DATA_THREADS * SCAN_ITEMS_PER_THREAD) as usize;

/// Tiles per look-back group of the scan, and groups per super-group (one per lane of a
/// warp).
pub const SCAN_GROUP_TILES: usize = 32;

/// Bytes of a scan block's shared memory before its two staged tiles: slots for the
/// claimed tile, the tiles' indices and aggregates, 32 warp-round totals, and per tile 32
/// in-tile and 32 final offsets (kernels/scan/block.rs).
pub const SCAN_HEADER_BYTES: u32 = 4 * (8 + 32 + 2 * 32 + 2 * 32);

/// Dynamic shared memory bytes of a scan launch: the header, then two staged tiles (one
/// being written out while the next loads): 33440.
pub const SCAN_SHARED_BYTES: u32 = SCAN_HEADER_BYTES + 2 * 4 * SCAN_TILE as u32;

/// Scan epochs must be `< SCAN_EPOCH_LIMIT` (and ≥ 1): the epoch fills the top 30 bits of
/// a status word's 32-bit tag.
pub const SCAN_EPOCH_LIMIT: u32 = 1 << 30;

/// Tiles a scan of `len` elements has: `⌈len / SCAN_TILE⌉`.
pub const fn scan_tiles(len: usize) -> usize {
    len.div_ceil(SCAN_TILE)
}

/// `u64` words from one scan status word to the next: 16, one word per 128-byte line, so
/// the tiles that publish at about the same time, and the look-backs polling them, do not
/// share lines (docs/measurements.md, seventh round: packed words ran 2–3 points of the copy
/// bandwidth slower on an H100).
pub const SCAN_STATUS_STRIDE: usize = 16;

/// `u64` words of scratch a scan of `len` elements needs: the tile counter (word 0), then,
/// `SCAN_STATUS_STRIDE` words apart, one status word per tile, one per group of
/// `SCAN_GROUP_TILES` tiles and one per super-group of `SCAN_GROUP_TILES` groups (128 bytes
/// per 16 KiB tile: 0.8% of the input). Zero the buffer once when allocating it (and again
/// whenever the epoch counter wraps, see `SCAN_EPOCH_LIMIT`).
pub const fn scan_scratch_words(len: usize) -> usize {
    let tiles = scan_tiles(len);
    let groups = tiles.div_ceil(SCAN_GROUP_TILES);
    SCAN_STATUS_STRIDE * (1 + tiles + groups + groups.div_ceil(SCAN_GROUP_TILES))
}

/// Scan blocks per SM the recommended grid assumes. Six fit (32.7 KiB of shared memory,
/// plus the 1 KiB the hardware reserves, per block of 228 KiB), but five run faster: fewer
/// tiles in flight wait less for one another's status words (docs/measurements.md,
/// seventh round: +2 points of the copy bandwidth on an H100 and on an H200; four are no
/// faster than five, three slower). Blocks beyond the resident ones are harmless (they
/// start late, find no tile and exit).
pub const SCAN_BLOCKS_PER_SM: u32 = 5;

/// Recommended scan grid for `len` elements on a device of `multiprocessors` SMs: one block
/// per tile, at most `SCAN_BLOCKS_PER_SM` per SM (blocks loop over tiles), at least 1. Any
/// grid ≥ 1 gives the same result.
pub const fn scan_grid(len: usize, multiprocessors: u32) -> u32 {
    let want = scan_tiles(len);
    let cap = SCAN_BLOCKS_PER_SM as usize * multiprocessors as usize;
    let g = if want < cap { want } else { cap };
    if g == 0 { 1 } else { g as u32 }
}

/// Depth `d` of the summation tree of `f32` scan output `i` (docs/kernels.md, Scan:
/// `|y[i] − exact| ≤ (d + 1)·u·(|carry| + Σ_{j≤i}|x[j]|)`): `⌊i / 2^22⌋ + 28`, with
/// `2^22 = SCAN_GROUP_TILES² · SCAN_TILE` elements per super-group (kernels/scan/
/// explains the terms). The same for inclusive and exclusive scans and for `total`
/// (`i = len − 1`).
pub const fn scan_f32_depth(i: usize) -> usize {
    i / (SCAN_GROUP_TILES * SCAN_GROUP_TILES * SCAN_TILE) + 28
}
