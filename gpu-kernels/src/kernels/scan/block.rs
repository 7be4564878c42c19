//! The scan block: its shared-memory layout and its two roles — the look-back warp, which
//! finds each of the block's tiles' prefixes ([`super::lookback`]), and the data warps,
//! which claim, stage, reduce and write the tiles (module docs of [`super`]: "A block" and
//! "Inside a tile").

use crate::device::atomic::{add_u32, store_relaxed_u32};
use crate::device::index::grid_dim_x;
use crate::device::memory::{F32x4, copy_async_16, store_f32x4, wait_async_copies};
use crate::device::shared::{dynamic_shared, sync_threads, sync_warps};
use crate::device::state_space::{dynamic_shared_base, load_shared_f32x4, store_shared_u32};
use crate::device::warp::{lane_id, shfl_idx_u32};

use crate::config::{SCAN_DATA_THREADS, SCAN_HEADER_BYTES, SCAN_TILE, WARP_SIZE};

use super::lookback::{Status, tile_prefix};
use super::{ROUND, ROUNDS, ScanOp, WARPS, exclusive, warp_scan};

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
pub(super) struct DataThread {
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
    /// Data thread `tid` (of the whole block: the data threads follow the look-back warp)
    /// of a launch over `x`, `y` (`len` elements), `scratch` (tile counter in word 0),
    /// `total_out` and the status words `st`.
    ///
    /// # Safety
    /// `tid ≥ WARP_SIZE`; the pointers are the launch's, checked by its launcher.
    #[inline(always)]
    pub(super) unsafe fn new(
        x: *const u32,
        y: *mut u32,
        len: usize,
        scratch: *mut u64,
        total_out: *mut u32,
        st: Status,
        tid: usize,
    ) -> DataThread {
        let t = tid - WARP_SIZE as usize;
        DataThread {
            x,
            y,
            len,
            tiles: len.div_ceil(SCAN_TILE),
            smem: dynamic_shared::<u32>(),
            stages: dynamic_shared_base() + SCAN_HEADER_BYTES,
            vectors: (x as usize | y as usize).is_multiple_of(16),
            counter: scratch.cast::<u32>(),
            total_out,
            st,
            t,
            warp: t / WARP_SIZE as usize,
            lane: lane_id(),
        }
    }

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
                    // `ticket < tiles`: a tile of this launch.
                    self.st.publish_aggregate(ticket as usize, aggregate);
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

// Iteration `i` (after block barrier `i`): the look-back warp finds the prefix of `T_i`, the
// block's `i`-th tile, while the data warps write `T_{i−1}` and claim `T_{i+1}` into the
// buffer it leaves. Both sides know `T_{i−1}` and stop together when it is `NO_TILE`.

/// The look-back warp's loop: the prefix of each tile the data warps hand over, into the
/// tile's final offsets.
///
/// # Safety
/// Warp 0 of the block, as a whole, while the other warps run [`data_warps`]; `st`
/// describes this launch.
#[inline(always)]
pub(super) unsafe fn look_back_warp<O: ScanOp>(lane: u32, st: Status) {
    let smem = dynamic_shared::<u32>();
    let mut before = NO_TILE;
    let mut i = 0;
    loop {
        // SAFETY: every thread of the block passes the same barriers (see above).
        unsafe { sync_threads() };
        if i > 0 && before == NO_TILE {
            return;
        }
        let b = i % 2;
        // SAFETY: written by the data warps before the barrier; rewritten after the next
        // one.
        let tile = unsafe { *smem.add(TILE_SLOT + b) };
        if tile != NO_TILE {
            // SAFETY: as for the tile slot.
            let (aggregate, offset) = unsafe {
                (
                    *smem.add(AGGREGATE_SLOT + b),
                    *smem.add(IN_TILE + 32 * b + lane as usize),
                )
            };
            // SAFETY: the whole warp; `tile < tiles`, its aggregate published.
            let prefix = unsafe { tile_prefix::<O>(tile as usize, aggregate, lane, st) };
            // SAFETY: read by the data warps after the next barrier, rewritten after the
            // one after.
            unsafe { *smem.add(FINAL + 32 * b + lane as usize) = O::add(prefix, offset) };
        }
        before = tile;
        i += 1;
    }
}

/// The data warps' loop: claim, stage and reduce the block's tiles and write each out once
/// the look-back warp found its prefix.
///
/// # Safety
/// Every data thread of the block, while warp 0 runs [`look_back_warp`].
#[inline(always)]
pub(super) unsafe fn data_warps<O: ScanOp, const INCLUSIVE: bool>(me: DataThread) {
    let mut before = NO_TILE;
    let mut i = 0;
    // SAFETY: all data threads; buffer 0 is empty.
    let mut current = unsafe { me.claim::<O>(0) };
    loop {
        // SAFETY: as in the look-back warp.
        unsafe { sync_threads() };
        if i > 0 && before == NO_TILE {
            return;
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
