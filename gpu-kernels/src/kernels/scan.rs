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
//! **A block** is one look-back warp and four data warps (`SCAN_BLOCK = 160` threads) with
//! two staged tiles in shared memory. While the look-back warp finds the prefix of the
//! block's tile `T_i`, the data warps write out `T_{i−1}` (whose prefix it found before)
//! and claim, stage and reduce `T_{i+1}` into the buffer `T_{i−1}` leaves, publishing its
//! aggregate at once; one block barrier per tile hands the tiles over. So the look-back
//! overlaps the loads and stores (on an H100 the earlier form, where the whole block loaded
//! a tile and then waited for its look-back, ran at 70–73% of the copy bandwidth; this one
//! at 73–75%). The aggregate of `T_{i+1}` waits only for the look-back of `T_{i−1}`, an
//! earlier tile, so every wait in a launch is for an earlier tile: no deadlock.
//!
//! **Inside a tile** (`SCAN_DATA_THREADS = 128` data threads, `ROUNDS = 8`): in round `r`
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
//! **Between tiles**, 32 tiles form a group and 32 groups a super-group (one per lane of
//! warp 0):
//! - tile `k` publishes its aggregate `A_k` as soon as it has it;
//! - `S_g`, the sum of group `g`, is a butterfly (`shfl.bfly` 16 … 1) over its 32 tile
//!   aggregates in lane order, published by the group's last tile;
//! - `SS_s`, the sum of super-group `s`, is the same butterfly over its 32 group sums;
//! - the super-group prefixes are a left fold: `H_{-1} = carry`, `H_s = H_{s-1} + SS_s`,
//!   published by the super-group's last tile;
//! - tile `k` (group `g = 32s + q`, position `p`) needs `E_k`, the Kogge–Stone exclusive
//!   scan of its group's aggregates (lane `p − 1` of the inclusive scan), `F_g`, the same
//!   scan of its super-group's group sums (lane `q − 1`), and `H_{s-1}`; its exclusive
//!   prefix is `Q_k = (H_{s-1} + F_g) + E_k`;
//! - **look-back** for `H_{s-1}`: warp 0 reads `H_{s-1}`'s word and, only if it is not
//!   published yet, those of the 32 previous super-groups (spinning until one is; super-group
//!   `-1` is the carry); it takes the newest `H_j` and folds `SS_{j+1}, …, SS_{s-1}` onto it
//!   in order, computing each `SS` from the published group sums and publishing every `H`
//!   it computes, to help later tiles.
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
//! # Status words and memory ordering
//! A status word is one `u64`: the high half is the tag `epoch << 2 | kind` (kind 1: tile
//! aggregate, 2: group sum, 3: super-group prefix), the low half the 32-bit value. The host
//! passes a fresh `epoch` per launch, so words left by earlier launches never match and
//! the scratch needs no clearing between launches. Tag and value travel in one
//! single-copy-atomic 8-byte word written with `st.relaxed.gpu` and read with
//! `ld.relaxed.gpu` (strong, never a stale L1 line, re-read on every spin): a reader that
//! sees the tag sees its value, so no fences are needed; the only data a block passes to
//! another is inside these words. A prefix word may be written by several blocks, always
//! with the same bits. Spins re-load only the words not yet published.
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
//! and one per super-group ([`crate::config::scan_scratch_words`]).

use crate::device::atomic::{add_u32, load_relaxed_u64, store_relaxed_u32, store_relaxed_u64};
use crate::device::index::{grid_dim_x, thread_x};
use crate::device::memory::{F32x4, copy_async_16, store_f32x4, wait_async_copies};
use crate::device::shared::{dynamic_shared, sync_threads, sync_warps};
use crate::device::state_space::{dynamic_shared_base, load_shared_f32x4, store_shared_u32};
use crate::device::warp::{all, ballot, lane_id, shfl_idx_u32, shfl_up_u32, shfl_xor_u32};

use crate::config::{SCAN_DATA_THREADS, SCAN_GROUP_TILES, SCAN_HEADER_BYTES, SCAN_TILE, WARP_SIZE};

/// Data warps per block.
const WARPS: usize = (SCAN_DATA_THREADS / WARP_SIZE) as usize;
/// Rounds of one 4-element vector per thread in a tile.
const ROUNDS: usize = SCAN_TILE / (4 * SCAN_DATA_THREADS as usize);
/// Elements one round of the block covers.
const ROUND: usize = 4 * SCAN_DATA_THREADS as usize;
/// Tag kind of a tile-aggregate status word.
const KIND_AGGREGATE: u32 = 1;
/// Tag kind of a group-sum status word.
const KIND_GROUP: u32 = 2;
/// Tag kind of a super-group-prefix status word.
const KIND_PREFIX: u32 = 3;

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

/// Where the launch's status words live and how they are tagged.
#[derive(Clone, Copy)]
struct Status {
    /// One word per tile: its aggregate `A_k`.
    tiles: *mut u64,
    /// One word per group of 32 tiles: its sum `S_g`.
    groups: *mut u64,
    /// One word per super-group of 32 groups: its inclusive prefix `H_s`.
    prefixes: *mut u64,
    /// `H_{-1}`.
    carry: *const u32,
    /// Tag of this launch's tile aggregates.
    aggregate_tag: u32,
    /// Tag of this launch's group sums.
    group_tag: u32,
    /// Tag of this launch's super-group prefixes.
    prefix_tag: u32,
}

/// A status word: `tag` in the high half, `value` in the low half.
#[inline(always)]
fn pack(tag: u32, value: u32) -> u64 {
    (tag as u64) << 32 | value as u64
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

/// Whether status word `w` carries `tag`.
#[inline(always)]
fn has_tag(w: u64, tag: u32) -> bool {
    (w >> 32) as u32 == tag
}

/// Placeholder value of a lane that holds no status value.
const NO_VALUE: u32 = 0;

/// Lane `lane`'s view of super-group `sup - 32 + lane`'s prefix word: `(published,
/// value)`; super-group `-1` is the carry (always published), earlier ones never.
///
/// # Safety
/// `sup ≥ 1` and super-groups `< sup` have words in the scratch.
#[inline(always)]
unsafe fn load_prefix(st: Status, sup: usize, lane: u32) -> (bool, u32) {
    let h = sup as isize - 32 + lane as isize;
    if h >= 0 {
        // SAFETY: `h < sup`, a prefix word of the scratch.
        let w = unsafe { load_relaxed_u64(st.prefixes.add(h as usize)) };
        (has_tag(w, st.prefix_tag), w as u32)
    } else if h == -1 {
        // SAFETY: the launcher checked `carry_in`.
        (true, unsafe { *st.carry })
    } else {
        (false, NO_VALUE)
    }
}

/// `Q_k`, tile `tile`'s exclusive prefix (carry included), given its aggregate `A_k`
/// (already published); publishes `S_g` when the tile ends its group, `H_s` when it ends its
/// super-group, and every super-group prefix it computes on the way (module docs).
///
/// # Safety
/// Warp 0 executes the call as a whole; `tile < tiles`; `st` describes this launch.
#[inline(always)]
unsafe fn tile_prefix<O: ScanOp>(tile: usize, aggregate: u32, lane: u32, st: Status) -> u32 {
    let group = tile / 32;
    let pos = (tile % 32) as u32;
    let sup = group / 32;
    let gpos = (group % 32) as u32;
    // Issue every load of the usual case at once: the aggregates of this group's earlier
    // tiles, the sums of this super-group's earlier groups, the 32 previous super-group
    // prefixes. Lanes past the earlier ones hold the identity (or this tile's aggregate).
    let own_word = || {
        if lane < pos {
            // SAFETY: an earlier tile of this group: a scratch word.
            unsafe { load_relaxed_u64(st.tiles.add(group * 32 + lane as usize)) }
        } else {
            pack(
                st.aggregate_tag,
                if lane == pos { aggregate } else { O::IDENTITY },
            )
        }
    };
    let group_word = || {
        if lane < gpos {
            // SAFETY: an earlier group of this super-group: a scratch word.
            unsafe { load_relaxed_u64(st.groups.add(sup * 32 + lane as usize)) }
        } else {
            pack(st.group_tag, O::IDENTITY)
        }
    };
    let mut own = own_word();
    let mut groups = group_word();
    // Only `H_{s-1}` (lane 31) at first: it is usually published long before it is needed,
    // and every tile of the launch reads these few words.
    let mut prefix = if sup > 0 && lane == 31 {
        // SAFETY: `sup ≥ 1`.
        unsafe { load_prefix(st, sup, lane) }
    } else {
        (false, NO_VALUE)
    };

    // SAFETY: warp 0 executes this block as a whole, and every loop and branch in it is
    // uniform across the warp; every status word it names is in the scratch (see below).
    unsafe {
        // E_k, and S_g when this tile ends its group.
        let mut within_group = O::IDENTITY;
        let mut group_sum = O::IDENTITY;
        if pos > 0 {
            // Spin, re-loading only the words not yet published (fewer requests to the
            // lines the publishers are writing).
            while !all(has_tag(own, st.aggregate_tag)) {
                if !has_tag(own, st.aggregate_tag) {
                    own = own_word();
                }
            }
            within_group = shfl_idx_u32(warp_scan::<O>(own as u32, lane), pos - 1);
            if pos == 31 {
                group_sum = warp_sum::<O>(own as u32);
                if lane == 0 {
                    let w = pack(st.group_tag, group_sum);
                    store_relaxed_u64(st.groups.add(group), w);
                }
            }
        }
        // F_g, and SS_s when this tile ends its super-group.
        let mut within_sup = O::IDENTITY;
        if gpos > 0 {
            while !all(has_tag(groups, st.group_tag)) {
                if !has_tag(groups, st.group_tag) {
                    groups = group_word();
                }
            }
            within_sup = shfl_idx_u32(warp_scan::<O>(groups as u32, lane), gpos - 1);
        }
        let ends_sup = pos == 31 && gpos == 31;
        let sup_sum = if ends_sup {
            // Lane 31 holds S_g, the bits just published for group `32s + 31`.
            warp_sum::<O>(if lane == 31 { group_sum } else { groups as u32 })
        } else {
            O::IDENTITY
        };
        // H_{s-1}: the newest published super-group prefix, then the missing super-group
        // sums folded onto it in order (each published, to help later tiles).
        let before = if sup == 0 {
            *st.carry
        } else {
            let (mut acc, mut next) = loop {
                let found = ballot(prefix.0);
                if found != 0 {
                    let l = 31 - found.leading_zeros();
                    // j = sup - 32 + l; `next = j + 1 ≥ 0` (lane `31 - sup` holds the
                    // carry when `sup < 32`).
                    break (shfl_idx_u32(prefix.1, l), sup + l as usize + 1 - 32);
                }
                // No prefix in the newest super-group (or, later, in the 32 newest): the
                // whole window, until one is published.
                prefix = load_prefix(st, sup, lane);
            };
            while next < sup {
                // Super-group `next < sup` is complete: its 32 group sums exist.
                let word = || load_relaxed_u64(st.groups.add(next * 32 + lane as usize));
                let mut w = word();
                while !all(has_tag(w, st.group_tag)) {
                    if !has_tag(w, st.group_tag) {
                        w = word();
                    }
                }
                acc = O::add(acc, warp_sum::<O>(w as u32));
                if lane == 0 {
                    // Every writer stores these same bits.
                    store_relaxed_u64(st.prefixes.add(next), pack(st.prefix_tag, acc));
                }
                next += 1;
            }
            acc
        };
        if ends_sup && lane == 0 {
            let w = pack(st.prefix_tag, O::add(before, sup_sum));
            store_relaxed_u64(st.prefixes.add(sup), w);
        }
        O::add(O::add(before, within_sup), within_group)
    }
}

/// Picks `v[i]` for `i < 4` without a bounds check.
#[inline(always)]
fn pick(v: [u32; 4], i: usize) -> u32 {
    match i {
        0 => v[0],
        1 => v[1],
        2 => v[2],
        _ => v[3],
    }
}

/// Shared-memory layout before the staged tiles, in `u32` words: the slot that hands a
/// claimed ticket to the data warps, per buffer the index of the tile in it (for the
/// look-back warp) and its aggregate, the 32 warp-round totals of the tile being reduced,
/// per buffer the 32 in-tile exclusive offsets of its warp-rounds and their 32 final
/// offsets (prefix included).
const CLAIM: usize = 0;
const TILE_SLOT: usize = 1;
const AGGREGATE_SLOT: usize = 3;
const TOTALS: usize = 8;
const IN_TILE: usize = TOTALS + 32;
const FINAL: usize = IN_TILE + 2 * 32;
const HEADER_WORDS: usize = FINAL + 2 * 32;
const _: () = assert!(4 * HEADER_WORDS == SCAN_HEADER_BYTES as usize);
/// Bytes of one staged tile.
const STAGE_BYTES: u32 = 4 * SCAN_TILE as u32;
/// A tile slot's value once the claims ran out.
const NO_TILE: u32 = u32::MAX;
/// Named barrier of the data warps (barrier 0 is the whole block's).
const DATA_BARRIER: u32 = 1;

/// What a data thread needs to stage, reduce and write tiles.
#[derive(Clone, Copy)]
struct DataThread {
    x: *const u32,
    y: *mut u32,
    len: usize,
    tiles: usize,
    /// Generic pointer to the block's shared memory (header words).
    smem: *mut u32,
    /// Shared-state-space address of staged tile 0 (tile 1 follows it).
    stages: u32,
    /// Whether `x` and `y` are 16-byte aligned (full tiles move as vectors).
    vectors: bool,
    counter: *mut u32,
    total_out: *mut u32,
    st: Status,
    /// Data-thread index, 0..SCAN_DATA_THREADS.
    t: usize,
    /// Data-warp index, 0..WARPS.
    warp: usize,
    lane: u32,
}

/// Waits for all data warps.
///
/// # Safety
/// Every data thread calls it the same number of times, and no other thread does.
#[inline(always)]
unsafe fn sync_data_warps() {
    // SAFETY: forwarded contract.
    unsafe { sync_warps::<DATA_BARRIER>(SCAN_DATA_THREADS) };
}

impl DataThread {
    /// Shared address of this thread's round-`r` vector in staged tile `buffer`.
    #[inline(always)]
    fn staged(&self, buffer: usize, r: usize) -> u32 {
        self.stages + STAGE_BYTES * buffer as u32 + 16 * (ROUND * r / 4 + self.t) as u32
    }

    /// Claims the next tile into staged buffer `buffer`: draws a ticket, stages the tile,
    /// reduces it and publishes its aggregate; returns the tile, or `NO_TILE` once the
    /// tickets ran out (then the block claims no more).
    ///
    /// # Safety
    /// Every data thread calls it together (uniformly); `buffer`'s previous tile is
    /// written out (by this same thread: each thread only ever touches its own vectors of
    /// a staged tile) and its slots read by the look-back warp before the last barrier.
    #[inline(always)]
    unsafe fn claim<O: ScanOp>(&self, buffer: usize) -> u32 {
        if self.t == 0 {
            // SAFETY: the counter is reached only atomically during the launch (its reset
            // follows the last claim); the slot's readers passed the data barrier after
            // their previous read before thread 0 gets here.
            unsafe { *self.smem.add(CLAIM) = add_u32(self.counter, 1) };
        }
        // SAFETY: every data thread claims together.
        unsafe { sync_data_warps() };
        // SAFETY: written before the barrier; rewritten only after the next one.
        let ticket = unsafe { *self.smem.add(CLAIM) };
        if ticket as usize >= self.tiles {
            if self.t == 0 {
                // SAFETY: the slot is read by the look-back warp after the next block
                // barrier. Ticket `tiles + grid − 1` is the launch's last claim: nothing
                // touches the counter afterwards.
                unsafe {
                    *self.smem.add(TILE_SLOT + buffer) = NO_TILE;
                    if ticket as usize == self.tiles + grid_dim_x() as usize - 1 {
                        store_relaxed_u32(self.counter, 0);
                    }
                }
            }
            return NO_TILE;
        }
        let base = ticket as usize * SCAN_TILE;
        let fast = self.vectors && base + SCAN_TILE <= self.len;
        for r in 0..ROUNDS {
            let e = base + ROUND * r + 4 * self.t;
            let dst = self.staged(buffer, r);
            if fast {
                // SAFETY: the tile is full, so `e + 4 <= len`; `x` is 16-byte aligned, `e`
                // a multiple of 4, `dst` 16-byte aligned in the staged tile.
                unsafe { copy_async_16(dst, self.x.add(e)) };
            } else {
                for j in 0..4 {
                    let v = if e + j < self.len {
                        // SAFETY: `e + j < len`. Coherent load: `y` may equal `x`.
                        unsafe { *self.x.add(e + j) }
                    } else {
                        O::IDENTITY
                    };
                    // SAFETY: a word of this thread's vector in the staged tile.
                    unsafe { store_shared_u32(dst + 4 * j as u32, v) };
                }
            }
        }
        // SAFETY: waits for this thread's own copies only; it reads back only those.
        unsafe { wait_async_copies() };
        for r in 0..ROUNDS {
            // SAFETY: this thread's staged vector, complete.
            let a = unsafe { load_shared_f32x4(self.staged(buffer, r)) }
                .0
                .map(f32::to_bits);
            let total = O::add(O::add(O::add(a[0], a[1]), a[2]), a[3]);
            // SAFETY: every data warp is complete and runs this unconditionally.
            let incl = unsafe { warp_scan::<O>(total, self.lane) };
            if self.lane == 31 {
                // SAFETY: `ROUNDS·WARPS = 32` slots, read by data warp 0 after the barrier
                // below and rewritten only after the next block barrier.
                unsafe { *self.smem.add(TOTALS + r * WARPS + self.warp) = incl };
            }
        }
        // SAFETY: every data thread claims together.
        unsafe { sync_data_warps() };
        if self.warp == 0 {
            let lane = self.lane as usize;
            // SAFETY: written before the barrier.
            let total = unsafe { *self.smem.add(TOTALS + lane) };
            // SAFETY: data warp 0 runs this branch as a whole.
            let (offset, aggregate) = unsafe {
                let incl = warp_scan::<O>(total, self.lane);
                (exclusive::<O>(incl, self.lane), shfl_idx_u32(incl, 31))
            };
            // SAFETY: the buffer's slots are read by the look-back warp after the next
            // block barrier (its previous tile's were read before the last one).
            unsafe {
                *self.smem.add(IN_TILE + 32 * buffer + lane) = offset;
                if lane == 0 {
                    *self.smem.add(AGGREGATE_SLOT + buffer) = aggregate;
                    *self.smem.add(TILE_SLOT + buffer) = ticket;
                    // `ticket < tiles`: a tile word of the scratch.
                    let word = pack(self.st.aggregate_tag, aggregate);
                    store_relaxed_u64(self.st.tiles.add(ticket as usize), word);
                }
            }
        }
        ticket
    }

    /// Writes tile `tile` out of staged buffer `buffer`, whose final offsets the look-back
    /// warp wrote, and `total_out` if the tile holds element `len − 1`.
    ///
    /// # Safety
    /// Every data thread calls it together; `buffer` holds `tile`, staged by this thread,
    /// and its final offsets were written before the last block barrier.
    #[inline(always)]
    unsafe fn write<O: ScanOp, const INCLUSIVE: bool>(&self, tile: u32, buffer: usize) {
        let base = tile as usize * SCAN_TILE;
        let fast = self.vectors && base + SCAN_TILE <= self.len;
        for r in 0..ROUNDS {
            // SAFETY: this thread's staged vector, unchanged since it was reduced.
            let a = unsafe { load_shared_f32x4(self.staged(buffer, r)) }
                .0
                .map(f32::to_bits);
            // The same additions, in the same order, as when the tile was reduced.
            let s1 = O::add(a[0], a[1]);
            let s2 = O::add(s1, a[2]);
            let s = [a[0], s1, s2, O::add(s2, a[3])];
            // SAFETY: every data warp is complete and runs this unconditionally.
            let lane_offset = unsafe { exclusive::<O>(warp_scan::<O>(s[3], self.lane), self.lane) };
            // SAFETY: written by the look-back warp before the last block barrier.
            let round_offset =
                unsafe { *self.smem.add(FINAL + 32 * buffer + r * WARPS + self.warp) };
            let off = O::add(round_offset, lane_offset);
            let incl = s.map(|sj| O::add(off, sj));
            let out = if INCLUSIVE {
                incl
            } else {
                [off, incl[0], incl[1], incl[2]]
            };
            let e = base + ROUND * r + 4 * self.t;
            if fast {
                let out = F32x4(out.map(f32::from_bits));
                // SAFETY: as for the staging; this block alone writes the tile.
                unsafe { store_f32x4(self.y.add(e).cast::<F32x4>(), out) };
            } else {
                for (j, &o) in out.iter().enumerate() {
                    if e + j < self.len {
                        // SAFETY: `e + j < len`.
                        unsafe { *self.y.add(e + j) = o };
                    }
                }
            }
            if e < self.len && self.len - e <= 4 {
                // This thread holds element `len - 1`.
                // SAFETY: the launcher checked `total_out`; one thread writes it.
                unsafe { *self.total_out = pick(incl, self.len - 1 - e) };
            }
        }
    }
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
    let lane = lane_id();
    let warp = tid / WARP_SIZE as usize;
    let tiles = len.div_ceil(SCAN_TILE);
    // SAFETY: the scratch holds `1 + tiles + ⌈tiles / 32⌉ + ⌈tiles / 1024⌉` words.
    let st = unsafe {
        Status {
            tiles: scratch.add(1),
            groups: scratch.add(1 + tiles),
            prefixes: scratch.add(1 + tiles + tiles.div_ceil(32)),
            carry: carry_in,
            aggregate_tag: epoch << 2 | KIND_AGGREGATE,
            group_tag: epoch << 2 | KIND_GROUP,
            prefix_tag: epoch << 2 | KIND_PREFIX,
        }
    };
    let smem = dynamic_shared::<u32>();
    if len == 0 && tid == 0 && crate::device::index::block_x() == 0 {
        // SAFETY: the launcher checked both pointers.
        unsafe { *total_out = *carry_in };
    }
    // Iteration `i` (after block barrier `i`): the look-back warp finds the prefix of
    // `T_i`, the block's `i`-th tile, while the data warps write `T_{i−1}` and claim
    // `T_{i+1}` into the buffer it leaves. Both sides know `T_{i−1}` and stop together
    // when it is `NO_TILE`.
    let mut before = NO_TILE;
    let mut i = 0;
    if warp == 0 {
        loop {
            // SAFETY: every thread of the block passes the same barriers (see above).
            unsafe { sync_threads() };
            if i > 0 && before == NO_TILE {
                break;
            }
            let b = i % 2;
            // SAFETY: written by the data warps before the barrier; rewritten after the
            // next one.
            let tile = unsafe { *smem.add(TILE_SLOT + b) };
            if tile != NO_TILE {
                // SAFETY: as for the tile slot.
                let (aggregate, offset) = unsafe {
                    (
                        *smem.add(AGGREGATE_SLOT + b),
                        *smem.add(IN_TILE + 32 * b + lane as usize),
                    )
                };
                // SAFETY: warp 0 runs this as a whole; `tile < tiles`, its aggregate
                // published.
                let prefix = unsafe { tile_prefix::<O>(tile as usize, aggregate, lane, st) };
                // SAFETY: read by the data warps after the next barrier, rewritten after
                // the one after.
                unsafe { *smem.add(FINAL + 32 * b + lane as usize) = O::add(prefix, offset) };
            }
            before = tile;
            i += 1;
        }
        return;
    }
    let me = DataThread {
        x,
        y,
        len,
        tiles,
        smem,
        stages: dynamic_shared_base() + SCAN_HEADER_BYTES,
        vectors: (x as usize | y as usize).is_multiple_of(16),
        counter: scratch.cast::<u32>(),
        total_out,
        st,
        t: tid - WARP_SIZE as usize,
        warp: warp - 1,
        lane,
    };
    // SAFETY: all data threads; buffer 0 is empty.
    let mut current = unsafe { me.claim::<O>(0) };
    loop {
        // SAFETY: as in the look-back warp.
        unsafe { sync_threads() };
        if i > 0 && before == NO_TILE {
            break;
        }
        let b = (i + 1) % 2;
        if before != NO_TILE {
            // SAFETY: all data threads; `T_{i−1}` is in buffer `b`, its final offsets
            // written before the barrier.
            unsafe { me.write::<O, INCLUSIVE>(before, b) };
        }
        let next = if current != NO_TILE {
            // SAFETY: all data threads; buffer `b` was just written out and its slots read
            // by the look-back warp in iteration `i − 1`.
            unsafe { me.claim::<O>(b) }
        } else {
            NO_TILE
        };
        before = current;
        current = next;
        i += 1;
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
