//! Single-pass prefix sums (docs/kernels.md, Scan): inclusive and exclusive, over `f32`,
//! `u32` and `i32` (integers wrap modulo 2^32, so `i32` and `u32` share one bit-level
//! addition), with the carry read from and the total written to device memory.
//!
//! # Algorithm: decoupled look-back over tiles, with a deterministic `f32` result
//! The input is cut into tiles of `SCAN_TILE = 4096` elements, claimed in increasing order
//! from an atomic counter, so a tile only ever waits for tiles claimed before it (by blocks
//! that are running): no deadlock whatever the grid size or block scheduling order. Each
//! element is read once from and written once to global memory.
//!
//! **A block** ([`block`]) is one look-back warp and four data warps (`SCAN_BLOCK = 160` threads) with
//! two staged tiles in shared memory. While the look-back warp finds the prefix of the
//! block's tile `T_i`, the data warps write out `T_{i−1}` (whose prefix it found before)
//! and claim, stage and reduce `T_{i+1}` into the buffer `T_{i−1}` leaves, publishing its
//! aggregate at once; one block barrier per tile hands the tiles over. So the look-back
//! overlaps the loads and stores (on an H100 the earlier form, where the whole block loaded
//! a tile and then waited for its look-back, ran at 70–73% of the copy bandwidth; this one
//! at 73–75%). The aggregate of `T_{i+1}` waits only for the look-back of `T_{i−1}`, an
//! earlier tile, so every wait in a launch is for an earlier tile: no deadlock.
//!
//! **Inside a tile** ([`block`]) (`SCAN_DATA_THREADS = 128` data threads, `ROUNDS = 8`): in round `r`
//! data thread `t` owns elements `512·r + 4t .. + 4` (one 16-byte vector; each warp
//! instruction covers 512 contiguous bytes). The tile is staged in shared memory
//! (`cp.async`, 16 bytes per copy, when `x` and `y` are 16-byte aligned and the tile is
//! full; else scalar loads padded with the identity), so no registers hold it across the
//! look-back. A thread scans its four elements sequentially
//! (`s0 = a, s1 = s0 + b, s2 = s1 + c, s3 = s2 + d`), a warp scans its 32 `s3` with a
//! Kogge–Stone scan (`shfl.up` 1, 2, 4, 8, 16), and data warp 0 scans the 32 warp-round
//! totals of the tile (8 rounds × 4 warps, in element order) the same way, which gives the
//! tile aggregate `A_k` and each warp-round's exclusive offset inside the tile. When the
//! tile is written out the thread and warp scans are recomputed from the staged tile with
//! the same operations (same bits). Each thread only ever reads and writes its own
//! vectors of a staged tile, so a buffer is reused without a barrier between a thread's
//! last read and its next copy into it.
//!
//! **Between tiles** ([`lookback`]): groups of 32 tiles and super-groups of 32 groups, whose
//! sums and prefixes are published in status words; a tile's exclusive prefix `Q_k` is put
//! together from them by its block's look-back warp.
//!
//! Every value is a fixed tree or a fixed left fold of the data, whichever block computes
//! it, so the output is **bit-reproducible**: it depends on `len` and the data only, not on
//! the grid size, timing or the alignment of the pointers.
//!
//! **Summation depth** of output `i` (docs/kernels.md: `|y[i] − exact| ≤ (d + 1)·u·(…)`):
//! a tile aggregate is 13 levels deep (3 in the thread, 5 in the warp, 5 in warp 0), `S`
//! adds 5, `SS` 5, each `H` step 1, `F_g` (5 on top of `S`) and `E_k` (5 on top of `A`) are
//! shallower, `Q_k` adds 2 and the three additions that place an element
//! (`((Q_k + warp-round offset) + lane offset) + s_j`) 3: `d(i) = ⌊i / 2^22⌋ + 28`
//! (`2^22 = 1024 · SCAN_TILE` elements per super-group, [`crate::config::scan_f32_depth`]);
//! the carry passes through at most `⌊i / 2^22⌋ + 5` additions. `total` is the inclusive
//! value at element `len − 1` computed the same way (so it equals the inclusive scan's last
//! output bit for bit), or the carry when `len == 0`.
//!
//! Barriers are the non-`.aligned` `barrier.sync` (block barrier 0 and the data warps'
//! barrier 1; [`crate::device::shared`]): LLVM tail-duplicates a barrier after
//! `if t == 0 { ticket = atom.add(..) }` into both arms, which `bar.sync` (aligned) does
//! not allow.
//!
//! The tile counter (scratch word 0) is claimed with relaxed `atom.add`; each block claims
//! until it draws a ticket `≥ tiles`, so a launch makes exactly `tiles + grid` claims, and
//! the block that draws ticket `tiles + grid − 1` (the last claim) stores 0 back for the
//! next launch (stream order makes the store visible to it).
//!
//! Scratch layout (`u64` words): `[0]` tile counter, then one word per tile, one per group
//! and one per super-group, each alone in its 128-byte line (`SCAN_STATUS_STRIDE` = 16 words
//! apart: tiles published at about the same time, and the look-backs polling them, would
//! otherwise contend for the same few lines; [`crate::config::scan_scratch_words`]).

mod block;
mod lookback;

use crate::device::index::thread_x;
use crate::device::warp::{lane_id, shfl_up_u32, shfl_xor_u32};

use crate::config::{SCAN_DATA_THREADS, SCAN_GROUP_TILES, SCAN_TILE, WARP_SIZE};

use block::DataThread;
use lookback::Status;

/// Data warps per block.
const WARPS: usize = (SCAN_DATA_THREADS / WARP_SIZE) as usize;
/// Rounds of one 4-element vector per thread in a tile.
const ROUNDS: usize = SCAN_TILE / (4 * SCAN_DATA_THREADS as usize);
/// Elements one round of the block covers.
const ROUND: usize = 4 * SCAN_DATA_THREADS as usize;

// One warp-0 lane per warp-round total and per tile of a group.
const _: () = assert!(ROUNDS * WARPS == 32 && SCAN_GROUP_TILES == 32);

/// The scan's addition on 32-bit patterns.
trait ScanOp: Copy {
    /// The identity: adding it changes no value's bits.
    const IDENTITY: u32;
    /// `a + b`.
    fn add(a: u32, b: u32) -> u32;
}

/// `f32` addition (identity `-0.0`: `x + (-0.0)` is `x` for every `x`, including `-0.0`).
#[derive(Clone, Copy)]
struct AddF32;
impl ScanOp for AddF32 {
    const IDENTITY: u32 = 0x8000_0000;
    #[inline(always)]
    fn add(a: u32, b: u32) -> u32 {
        (f32::from_bits(a) + f32::from_bits(b)).to_bits()
    }
}

/// Integer addition modulo 2^32 (`u32` and `i32` alike).
#[derive(Clone, Copy)]
struct AddU32;
impl ScanOp for AddU32 {
    const IDENTITY: u32 = 0;
    #[inline(always)]
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

/// Kogge–Stone inclusive scan over the warp's 32 values (lane order).
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
unsafe fn warp_scan<O: ScanOp>(mut v: u32, lane: u32) -> u32 {
    let mut d = 1;
    while d < 32 {
        // SAFETY: forwarded contract.
        let up = unsafe { shfl_up_u32(v, d) };
        if lane >= d {
            v = O::add(up, v);
        }
        d <<= 1;
    }
    v
}

/// `incl` of the previous lane; the identity in lane 0.
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
unsafe fn exclusive<O: ScanOp>(incl: u32, lane: u32) -> u32 {
    // SAFETY: forwarded contract.
    let up = unsafe { shfl_up_u32(incl, 1) };
    if lane == 0 { O::IDENTITY } else { up }
}

/// Butterfly sum of the warp's 32 values; every lane gets the same bits (addition is
/// commutative, so lanes `l` and `l ^ m` compute the same pair sum).
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
unsafe fn warp_sum<O: ScanOp>(mut v: u32) -> u32 {
    let mut mask = 16;
    while mask > 0 {
        // SAFETY: forwarded contract.
        v = O::add(v, unsafe { shfl_xor_u32(v, mask) });
        mask >>= 1;
    }
    v
}

/// The whole kernel (module docs).
///
/// # Safety
/// The entry points' `# Safety` contract.
#[inline(always)]
unsafe fn scan<O: ScanOp, const INCLUSIVE: bool>(
    x: *const u32,
    y: *mut u32,
    len: usize,
    carry_in: *const u32,
    total_out: *mut u32,
    scratch: *mut u64,
    epoch: u32,
) {
    let tid = thread_x() as usize;
    let tiles = len.div_ceil(SCAN_TILE);
    // SAFETY: the launcher checked the scratch's size and `carry_in`.
    let st = unsafe { Status::new(scratch, tiles, carry_in, epoch) };
    if len == 0 && tid == 0 && crate::device::index::block_x() == 0 {
        // SAFETY: the launcher checked both pointers.
        unsafe { *total_out = *carry_in };
    }
    if tid < WARP_SIZE as usize {
        // SAFETY: warp 0, as a whole.
        unsafe { block::look_back_warp::<O>(lane_id(), st) };
    } else {
        // SAFETY: the data warps, all of them; the launcher checked the pointers.
        unsafe {
            let me = DataThread::new(x, y, len, scratch, total_out, st, tid);
            block::data_warps::<O, INCLUSIVE>(me)
        };
    }
}

/// Declares one scan entry point.
macro_rules! scan_entry {
    ($name:ident, $t:ty, $op:ty, $inclusive:literal, $what:literal) => {
        #[doc = concat!("`", $what, "` scan of `", stringify!($t), "` (docs/kernels.md, Scan): `y[i] = carry + Σ x[j]` over `j ", "≤ i` (inclusive) or `j < i` (exclusive), and `total_out[0] = carry + Σ x`.")]
        ///
        /// Parameters: `x` input and `y` output, `len` elements each (`y` may equal `x`: in
        /// place); `carry_in` points to the carry (e.g. the previous chunk's `total_out`);
        /// `total_out` receives the total; `scratch` holds the tile counter and status
        /// words; `epoch` tags this launch's status words.
        ///
        /// Launch: `SCAN_BLOCK` threads per block (exactly), `SCAN_SHARED_BYTES` of dynamic
        /// shared memory, any grid of at least one block (blocks claim tiles until none is
        /// left; `scan_grid` gives the recommended size, at most one block per tile).
        /// Requires `scan_tiles(len) + grid < 2^32`. The result does not depend on the grid
        /// (module docs: algorithm, `f32` summation depth).
        ///
        /// Scratch: `scan_scratch_words(len)` `u64` words, 8-byte aligned (a buffer sized
        /// for the largest `len` serves every smaller one). Zero it once when allocating it.
        /// Word 0 is the tile counter: 0 before each launch, and every launch leaves it 0.
        /// The other words are status words tagged with `epoch`: `epoch` must be in
        /// `1 .. SCAN_EPOCH_LIMIT` (2^30) and differ from the epoch of every earlier launch
        /// on this scratch since it was last zeroed (e.g. a per-scratch counter 1, 2, 3, …;
        /// zero the scratch again before the counter wraps).
        ///
        /// # Safety
        /// The host launcher must check: `x` readable and `y` writable for `len` elements
        /// (device pointers, 4-byte aligned), equal or non-overlapping; `carry_in` readable
        /// and `total_out` writable, one element each, overlapping neither each other, `x`,
        /// `y` nor the scratch; `scratch` 8-byte aligned with `scan_scratch_words(len)`
        /// words, used by no other kernel running concurrently, word 0 zero; the `epoch`
        /// rule above; the launch shape above.
        #[unsafe(no_mangle)]
        pub(crate) unsafe extern "ptx-kernel" fn $name(
            x: *const $t,
            y: *mut $t,
            len: usize,
            carry_in: *const $t,
            total_out: *mut $t,
            scratch: *mut u64,
            epoch: u32,
        ) {
            crate::device::grid::wait_for_prior_grids();
            // SAFETY: the launcher checked the contract above.
            unsafe {
                scan::<$op, $inclusive>(
                    x.cast(),
                    y.cast(),
                    len,
                    carry_in.cast(),
                    total_out.cast(),
                    scratch,
                    epoch,
                )
            };
        }
    };
}

scan_entry!(riptide_scan_inclusive_f32, f32, AddF32, true, "Inclusive");
scan_entry!(riptide_scan_exclusive_f32, f32, AddF32, false, "Exclusive");
scan_entry!(riptide_scan_inclusive_u32, u32, AddU32, true, "Inclusive");
scan_entry!(riptide_scan_exclusive_u32, u32, AddU32, false, "Exclusive");
scan_entry!(riptide_scan_inclusive_i32, i32, AddU32, true, "Inclusive");
scan_entry!(riptide_scan_exclusive_i32, i32, AddU32, false, "Exclusive");
