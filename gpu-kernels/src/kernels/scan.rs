//! Single-pass prefix sums (docs/kernels.md, Scan): inclusive and exclusive, over `f32`,
//! `u32` and `i32` (integers wrap modulo 2^32, so `i32` and `u32` share one bit-level
//! addition), with the carry read from and the total written to device memory.
//!
//! This file holds the entry points, the tile loop with its two-buffer pipeline and the
//! scan inside a tile; `scan/lookback.rs` the status words and a tile's look-back;
//! `scan/ops.rs` the addition and the warp-wide scans both use.
//!
//! # Algorithm: decoupled look-back over tiles, with a deterministic `f32` result
//! The input is cut into tiles of `SCAN_TILE = 4096` elements, claimed in increasing order
//! from an atomic counter, so a tile only ever waits for tiles claimed before it (by blocks
//! that are running): no deadlock whatever the grid size or block scheduling order (see
//! Pipeline for why claiming a block's next tile early keeps this true). Each element is
//! read once from and written once to global memory.
//!
//! **Inside a tile** (`SCAN_BLOCK = 128` threads = 4 warps, `ROUNDS = 8`): in round `r`
//! thread `t` owns elements `512·r + 4t .. + 4` (one 16-byte vector; each warp instruction
//! covers 512 contiguous bytes). The tile is first staged in shared memory (`cp.async`, 16
//! bytes per copy, when `x` and `y` are 16-byte aligned and the tile is full; else scalar
//! loads padded with the identity), so no registers hold it across the look-back, and the
//! block's next tile is already loading into a second buffer meanwhile (Pipeline below).
//! A thread scans its four elements sequentially
//! (`s0 = a, s1 = s0 + b, s2 = s1 + c, s3 = s2 + d`), a warp scans its 32 `s3` with a
//! Kogge–Stone scan (`shfl.up` 1, 2, 4, 8, 16), and warp 0 scans the 32 warp-round totals
//! of the tile (8 rounds × 4 warps, in element order) the same way, which gives the tile
//! aggregate `A_k` and each warp-round's exclusive offset inside the tile. After the
//! look-back the thread and warp scans are recomputed from the staged tile with the same
//! operations (same bits) and the outputs written.
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
//! Block barriers are the non-`.aligned` `barrier.sync 0`
//! ([`crate::device::shared::sync_threads`]): LLVM tail-duplicates the barrier
//! after `if tid == 0 { ticket = atom.add(..) }` into both arms, which `bar.sync` (aligned)
//! does not allow.
//!
//! The tile counter (scratch word 0) is claimed with relaxed `atom.add`; each block claims
//! until it draws a ticket `≥ tiles` and then claims no more (it may draw that ticket as
//! its "next" one while it still scans a tile: it finishes that tile, then stops), so a
//! launch makes exactly `tiles + grid` claims, and the block that draws ticket
//! `tiles + grid − 1` (the last claim) stores 0 back for the next launch (stream order
//! makes the store visible to it). That block's store follows its own `atom.add` on the
//! same word (same-address order), and every other claim precedes the last one in the
//! counter's modification order, so no claim of this launch can see the reset.
//!
//! # Pipeline: the next tile loads during this tile's look-back
//! A tile's look-back waits for tiles claimed just before it, which are still loading or
//! scanning in other blocks; a block that only loads a tile after finishing the previous
//! one has no loads in flight during that wait (the single-buffered kernel reached 71% of
//! the copy bandwidth on an H100, 2.93 TB/s with the look-back removed). So each block
//! holds up to two tickets, `tile < next`, with two staged-tile buffers and two ticket
//! slots in shared memory (ticket slot `b` names the tile staged in buffer `b`):
//!
//! ```text
//! tile = claim(slot 0); if fast(tile): cp.async tile → buffer 0; commit
//! while tile < tiles:                                 (b: this tile's buffer)
//!     next = claim(slot b^1)                          barrier B1
//!     if next < tiles && fast(next): cp.async next → buffer b^1
//!     commit                                          (next's group, maybe empty)
//!     if !fast(tile): scalar-stage tile → buffer b
//!     cp.async.wait_group 1                           (tile's group has landed)
//!     thread/warp scans → totals; barrier B2; warp 0: A_k, look-back → offsets; barrier B3
//!     re-read buffer b, write y (and total_out)
//!     tile = next; b ^= 1
//! the one ticket ≥ tiles: reset the counter if it is the launch's last claim
//! ```
//!
//! `fast(t)`: `x` and `y` 16-byte aligned and tile `t` full. The `cp.async` of `next` is
//! issued before `tile`'s look-back and waited for only in the next iteration, so a
//! block's 16 KiB stay in flight through the look-back and the output writes.
//!
//! **No deadlock.** Claim: every tile `< tiles` is eventually scanned. Suppose not, and let
//! `k` be the smallest ticket that never is. It was drawn by a block, which is therefore
//! resident, and a block exits only after drawing a ticket `≥ tiles`. Tickets are drawn
//! from one counter, so a block's tickets increase, and it scans them in the order it drew
//! them: before `k` it scans at most the one ticket `j < k` it held when it drew `k`, and
//! `j` is scanned (minimality of `k`). Then the block waits for `k`'s own copies (its own
//! memory operations, no other block involved) and `k`'s look-back waits only for words
//! published by tiles `< k`: aggregates of earlier tiles of its group, group sums written
//! by the last (earlier) tile of earlier groups, super-group prefixes written by earlier
//! super-groups' last tiles, all scanned by minimality. So `k` is scanned: contradiction.
//! Holding `next` early only delays `next` behind `tile`, which is smaller, so no tile
//! ever waits, directly or through a block, for a larger ticket. The block barriers are
//! block-local and uniform (every branch around them depends on `tile`, `next` and
//! `fast`, which all threads read from the same ticket slot after a barrier).
//!
//! **Shared memory races.**
//! - Staged tiles: thread `t` copies and reads back only its own vectors (round `r`,
//!   elements `4t .. + 4` of the round), in both buffers, so the data is never passed
//!   between threads and its own `cp.async.wait_group` (or program order, for the scalar
//!   path's `st.shared`) makes it visible to it; no barrier guards the data itself.
//! - Buffer reuse (write after read): buffer `b ^ 1` receives `next`'s copies right after
//!   barrier B1 of this iteration; its last reads were the previous tile's output phase,
//!   whose values this thread had already used (stored to `y`) before B1, and B1 orders
//!   shared accesses before it against those after it. No older copy into it is pending:
//!   the previous tile's group was waited for in the previous iteration.
//! - Buffer reuse (read during write): the copies into `b ^ 1` run concurrently with this
//!   tile's reads of buffer `b`: disjoint bytes.
//! - The scalar path writes buffer `b` only when no copy into `b` was issued for this
//!   tile (`!fast(tile)`), and earlier copies into `b` were waited for two iterations ago.
//! - Ticket slots: slot `b ^ 1` is written by thread 0 in this iteration's `claim`; its
//!   previous value (the previous tile's ticket; nothing in the first iteration) was read
//!   by every thread right after the barrier of the claim that drew it (the first claim,
//!   or B1 two iterations back), so before the previous iteration's B2 and B3. Two slots
//!   are needed because no barrier separates the first claim's read from the first loop
//!   claim's write.
//! - Totals and offsets: written between B1 and B2 (totals) and between B2 and B3
//!   (offsets) of one iteration, read between B2 and B3 (totals, warp 0) and after B3
//!   (offsets); the next iteration's writes come after its B1 (totals) or B2 (offsets),
//!   which follow every read of the previous values.
//! - Copy groups: every thread commits one group per claim (empty when nothing was
//!   issued), so `wait_group 1` after `next`'s commit leaves exactly `next`'s group in
//!   flight and `tile`'s complete. A block exits after drawing a ticket `≥ tiles`, for
//!   which nothing is issued, so no copy is in flight when it exits.
//!
//! **Edges.** A partial last tile, or unaligned `x`/`y`, takes the scalar path: it is
//! staged when it becomes the current tile (not a tile ahead: scalar loads would stall the
//! thread before this tile's look-back), padded with the identity, and written element by
//! element; unaligned inputs therefore get no overlap, as before. `next ≥ tiles` is never
//! staged; the block scans `tile`, then leaves the loop with `next` as its last claim. A
//! block whose first ticket is `≥ tiles` leaves at once. Carry-in, total-out and the epoch
//! tags are untouched by the pipeline: tile `k`'s arithmetic is the same whichever block
//! scans it and whenever.
//!
//! **Sizes.** Shared memory per block: 16 (ticket slots) + 2 · 128 (totals, offsets) +
//! 2 · 16384 (staged tiles) = 33040 bytes ([`crate::config::SCAN_SHARED_BYTES`]), 34064
//! with the 1 KiB the hardware reserves per block, so an H100's 228 KiB per SM hold 6
//! blocks ([`crate::config::SCAN_BLOCKS_PER_SM`]; 7 would need 238448 bytes). Bytes in
//! flight: the copy bandwidth is ~2.9 TB/s read+write, so ~1.45 TB/s of reads, ~11 bytes
//! per ns per SM over 132 SMs; at a loaded memory latency of about 1 µs, Little's law asks
//! for ~11 KiB of reads in flight per SM. With every block keeping its next tile in flight
//! through its look-back, 6 blocks give up to 96 KiB, so one block's prefetch already
//! covers an SM while the others scan or write. The tile shape stays `SCAN_BLOCK = 128`,
//! 32 items per thread: the tile size fixes the summation tree (`2^22` elements per
//! super-group, [`crate::config::scan_f32_depth`]), so it cannot change without changing
//! the result bits; 256 threads × 4 rounds would give the same tile and bits but 48 warps
//! per SM at 6 blocks, which leaves `65536 / 48` → 1280 registers per warp, 40 per thread,
//! fewer than the kernel needs (54–56 on sm_90), so only 4 such blocks would fit; 128
//! threads allow 80 per thread at 6 blocks. The extra warps would in any case wait at the
//! look-back barrier, and an 8192-element tile would halve the blocks per SM.
//!
//! Scratch layout (`u64` words): `[0]` tile counter, then one word per tile, one per group
//! and one per super-group ([`crate::config::scan_scratch_words`]).

mod lookback;
mod ops;

use crate::device::atomic::{add_u32, store_relaxed_u32};
use crate::device::index::{grid_dim_x, thread_x};
use crate::device::memory::{
    F32x4, commit_async_copies, copy_async_16, store_f32x4, wait_async_copy_groups,
};
use crate::device::shared::{dynamic_shared, sync_threads};
use crate::device::state_space::{dynamic_shared_base, load_shared_f32x4, store_shared_u32};
use crate::device::warp::{lane_id, shfl_idx_u32};

use lookback::{Status, tile_prefix};
use ops::{AddF32, AddU32, ScanOp, exclusive, warp_scan};

use crate::config::{
    SCAN_BLOCK, SCAN_GROUP_TILES, SCAN_SHARED_BYTES, SCAN_STAGED_TILES, SCAN_TILE, WARP_SIZE,
};

/// Warps per block.
const WARPS: usize = (SCAN_BLOCK / WARP_SIZE) as usize;
/// Rounds of one 4-element vector per thread in a tile.
const ROUNDS: usize = SCAN_TILE / (4 * SCAN_BLOCK as usize);
/// Elements one round of the block covers.
const ROUND: usize = 4 * SCAN_BLOCK as usize;
// One warp-0 lane per warp-round total and per tile of a group.
const _: () = assert!(ROUNDS * WARPS == 32 && SCAN_GROUP_TILES == 32);

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

/// Byte offset of the first staged tile in the dynamic shared memory: after two ticket
/// slots (words 0 and 1, padded to 16 bytes), 32 warp-round totals and 32 offsets.
const STAGED_AT: u32 = 16 + 2 * 32 * 4;
/// Bytes of one staged tile.
const STAGED_BYTES: u32 = 4 * SCAN_TILE as u32;

// The layout fills exactly the launch's shared memory, and every staged vector is 16-byte
// aligned (`cp.async` of 16 bytes needs it).
const _: () = assert!(
    STAGED_AT + SCAN_STAGED_TILES * STAGED_BYTES == SCAN_SHARED_BYTES
        && STAGED_AT.is_multiple_of(16)
        && SCAN_STAGED_TILES == 2
);

/// Draws the block's next ticket: thread 0 takes it from the tile counter and puts it in
/// `slot`; after the barrier every thread returns it (so it is uniform across the block).
///
/// # Safety
/// Every thread of the block makes the call together; `counter` is the launch's tile
/// counter and the block has not yet drawn a ticket `≥ tiles`; `slot` is a ticket slot in
/// shared memory whose previous value every thread read before a barrier that precedes
/// this call.
#[inline(always)]
unsafe fn claim(counter: *mut u32, slot: *mut u32, tid: usize) -> usize {
    if tid == 0 {
        // SAFETY: the counter is reached only atomically during the launch (its reset
        // follows the last claim); no thread reads `slot` until the barrier below.
        unsafe { *slot = add_u32(counter, 1) };
    }
    // SAFETY: every thread of the block reaches this barrier (the caller's contract).
    unsafe { sync_threads() };
    // SAFETY: written before the barrier; rewritten only after a later barrier.
    unsafe { *slot as usize }
}

/// Issues this thread's `cp.async` copies of the full tile `tile` into the staged tile at
/// shared address `buffer`: vector `r` (elements `tile·SCAN_TILE + ROUND·r + 4·tid .. + 4`)
/// goes to the same place of the buffer. The caller commits and waits for them.
///
/// # Safety
/// The tile is full (`(tile + 1)·SCAN_TILE ≤ len`), `x` is 16-byte aligned and readable
/// for `len` elements, `buffer` is a staged tile of the layout above, and nothing accesses
/// this thread's vectors of it until this thread has waited for the copies.
#[inline(always)]
unsafe fn stage_async(x: *const u32, tile: usize, buffer: u32, tid: usize) {
    let base = tile * SCAN_TILE;
    for r in 0..ROUNDS {
        let e = ROUND * r + 4 * tid;
        // SAFETY: `base + e + 4 ≤ len` (full tile); `x + base + e` and `buffer + 4e` are
        // 16-byte aligned (`e` a multiple of 4, `SCAN_TILE` of 4, `buffer` of 16).
        unsafe { copy_async_16(buffer + 4 * e as u32, x.add(base + e)) };
    }
}

/// Stages this thread's vectors of tile `tile` (placed as by [`stage_async`]) with scalar
/// loads, padding elements at or past `len` with the identity: the path of a partial tile
/// or of pointers that are not 16-byte aligned.
///
/// # Safety
/// `x` is readable for `len` elements, `buffer` is a staged tile of the layout above with
/// no copy into it in flight, and no other thread accesses this thread's vectors of it.
#[inline(always)]
unsafe fn stage_scalar<O: ScanOp>(x: *const u32, len: usize, tile: usize, buffer: u32, tid: usize) {
    let base = tile * SCAN_TILE;
    for r in 0..ROUNDS {
        let e = ROUND * r + 4 * tid;
        for j in 0..4 {
            let v = if base + e + j < len {
                // SAFETY: `base + e + j < len`. Coherent load: `y` may equal `x`.
                unsafe { *x.add(base + e + j) }
            } else {
                O::IDENTITY
            };
            // SAFETY: a word of this thread's vector in the staged tile.
            unsafe { store_shared_u32(buffer + 4 * (e + j) as u32, v) };
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
    let counter = scratch.cast::<u32>();
    // SAFETY: the scratch holds `scan_scratch_words(len)` words, that many.
    let st = unsafe { Status::new(scratch, tiles, carry_in, epoch) };
    let vectors = (x as usize | y as usize).is_multiple_of(16);
    // Whether tile `t < tiles` is staged with `cp.async` and written with vector stores.
    let fast = |t: usize| vectors && (t + 1) * SCAN_TILE <= len;
    // Shared memory: words [0, 2) ticket slots, [4, 36) warp-round totals, [36, 68)
    // offsets, then from byte `STAGED_AT` the two staged tiles (`SCAN_SHARED_BYTES` in all).
    // Staged tile `b` and ticket slot `b` belong together: the tile whose ticket is in
    // slot `b` is staged in buffer `b`.
    let smem = dynamic_shared::<u32>();
    // SAFETY: inside the launch's `SCAN_SHARED_BYTES`.
    let (ticket_slots, totals, offsets) = unsafe { (smem, smem.add(4), smem.add(36)) };
    let buffer = |b: usize| dynamic_shared_base() + STAGED_AT + b as u32 * STAGED_BYTES;

    if len == 0 && tid == 0 && crate::device::index::block_x() == 0 {
        // SAFETY: the launcher checked both pointers.
        unsafe { *total_out = *carry_in };
    }
    // The block's first ticket, staged in buffer 0 (module docs, Pipeline).
    let mut slot = 0;
    // SAFETY: the whole block, no ticket drawn yet, slot 0 unread so far.
    let mut tile = unsafe { claim(counter, ticket_slots, tid) };
    if tile < tiles && fast(tile) {
        // SAFETY: a full tile, `x` aligned; buffer 0 untouched so far.
        unsafe { stage_async(x, tile, buffer(0), tid) };
    }
    // SAFETY: closes the group of the first tile's copies (empty if none).
    unsafe { commit_async_copies() };
    while tile < tiles {
        // Claim the next tile and start its copies into the other buffer before scanning
        // this one: they stay in flight through this tile's look-back.
        // SAFETY: the whole block (`tile` is uniform); this block's tickets so far are
        // `< tiles`; slot `slot ^ 1` was last read before this tile's scan's barriers (or
        // never).
        let next = unsafe { claim(counter, ticket_slots.add(slot ^ 1), tid) };
        if next < tiles && fast(next) {
            // SAFETY: a full tile, `x` aligned. Buffer `slot ^ 1` was last read by this
            // thread (only its own vectors) while writing the previous tile's outputs,
            // which used the values read, before the barrier in `claim`; no copy into it
            // is in flight (the previous tile's group was waited for).
            unsafe { stage_async(x, next, buffer(slot ^ 1), tid) };
        }
        // SAFETY: closes the group of the next tile's copies (empty if none).
        unsafe { commit_async_copies() };
        let data = buffer(slot);
        let fast_tile = fast(tile);
        if !fast_tile {
            // SAFETY: no copy was issued into buffer `slot` for this tile, and those of
            // its earlier tiles were waited for; only this thread touches its vectors.
            unsafe { stage_scalar::<O>(x, len, tile, data, tid) };
        }
        // This tile's group is complete once at most the newest one (the next tile's) is
        // pending. Each thread reads back only what it staged itself, so its own wait
        // suffices (no barrier).
        // SAFETY: a wait.
        unsafe { wait_async_copy_groups::<1>() };

        // Thread and warp scans of each round: only the warp totals are kept (in shared
        // memory); the values and lane offsets are computed again after the look-back, with
        // the same operations, so no registers are held across it.
        for r in 0..ROUNDS {
            // SAFETY: this thread's staged vector, complete (waited above).
            let a = unsafe { load_shared_f32x4(data + 16 * (ROUND * r / 4 + tid) as u32) }
                .0
                .map(f32::to_bits);
            let total = O::add(O::add(O::add(a[0], a[1]), a[2]), a[3]);
            // SAFETY: every warp is complete and runs this unconditionally.
            let incl = unsafe { warp_scan::<O>(total, lane) };
            if lane == 31 {
                // SAFETY: `ROUNDS·WARPS = 32` slots; read by warp 0 after the barrier; the
                // previous tile's reader (warp 0) passed that tile's last barrier.
                unsafe { *totals.add(r * WARPS + warp) = incl };
            }
        }
        // SAFETY: every thread of the block reaches this barrier.
        unsafe { sync_threads() };
        if warp == 0 {
            // SAFETY: written before the barrier.
            let total = unsafe { *totals.add(lane as usize) };
            // SAFETY: warp 0 runs this branch as a whole.
            let (offset, aggregate) = unsafe {
                let incl = warp_scan::<O>(total, lane);
                (exclusive::<O>(incl, lane), shfl_idx_u32(incl, 31))
            };
            // SAFETY: whole warp 0; `tile < tiles`.
            let prefix = unsafe { tile_prefix::<O>(tile, aggregate, lane, st) };
            // SAFETY: 32 offset slots; the previous tile's readers passed this tile's
            // `claim` and first barriers; read after the next barrier.
            unsafe { *offsets.add(lane as usize) = O::add(prefix, offset) };
        }
        // SAFETY: every thread of the block reaches this barrier.
        unsafe { sync_threads() };

        let base = tile * SCAN_TILE;
        for r in 0..ROUNDS {
            // SAFETY: this thread's staged vector, unchanged since it was read above (the
            // next tile's copies go to the other buffer).
            let a = unsafe { load_shared_f32x4(data + 16 * (ROUND * r / 4 + tid) as u32) }
                .0
                .map(f32::to_bits);
            // The same additions, in the same order, as before the look-back.
            let s1 = O::add(a[0], a[1]);
            let s2 = O::add(s1, a[2]);
            let s = [a[0], s1, s2, O::add(s2, a[3])];
            // SAFETY: every warp is complete and runs this unconditionally.
            let lane_offset = unsafe { exclusive::<O>(warp_scan::<O>(s[3], lane), lane) };
            // SAFETY: written by warp 0 before the barrier.
            let round_offset = unsafe { *offsets.add(r * WARPS + warp) };
            let off = O::add(round_offset, lane_offset);
            let incl = s.map(|sj| O::add(off, sj));
            let out = if INCLUSIVE {
                incl
            } else {
                [off, incl[0], incl[1], incl[2]]
            };
            let e = base + ROUND * r + 4 * tid;
            if fast_tile {
                let out = F32x4(out.map(f32::from_bits));
                // SAFETY: as for the staging (full tile, `y` aligned); this block alone
                // writes the tile.
                unsafe { store_f32x4(y.add(e).cast::<F32x4>(), out) };
            } else {
                for (j, &o) in out.iter().enumerate() {
                    if e + j < len {
                        // SAFETY: `e + j < len`.
                        unsafe { *y.add(e + j) = o };
                    }
                }
            }
            if e < len && len - e <= 4 {
                // This thread holds element `len - 1`.
                // SAFETY: the launcher checked `total_out`; one thread writes it.
                unsafe { *total_out = pick(incl, len - 1 - e) };
            }
        }
        tile = next;
        slot ^= 1;
    }
    // `tile` is this block's one ticket `≥ tiles`, its last claim; the launch's last claim
    // resets the counter. No copy is in flight: none was issued for this ticket.
    if tid == 0 && tile == tiles + grid_dim_x() as usize - 1 {
        // SAFETY: the launch's last claim: nothing touches the counter afterwards.
        unsafe { store_relaxed_u32(counter, 0) };
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
