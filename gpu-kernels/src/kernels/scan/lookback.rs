//! The scan's protocol between tiles: how a tile's exclusive prefix is put together from
//! the aggregates, group sums and super-group prefixes other blocks publish (the module
//! docs of [`super`] give the whole algorithm).
//!
//! **Between tiles**, 32 tiles form a group and 32 groups a super-group (one per lane of
//! the look-back warp):
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
//! - **look-back** for `H_{s-1}`: the look-back warp reads `H_{s-1}`'s word and, only if it is not
//!   published yet, those of the 32 previous super-groups (spinning until one is; super-group
//!   `-1` is the carry); it takes the newest `H_j` and folds `SS_{j+1}, …, SS_{s-1}` onto it
//!   in order, computing each `SS` from the published group sums and publishing every `H`
//!   it computes, to help later tiles.
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

use crate::config::{SCAN_GROUP_TILES, SCAN_STATUS_STRIDE};
use crate::device::atomic::{load_relaxed_u64, store_relaxed_u64};
use crate::device::warp::{all, ballot, shfl_idx_u32};

use super::{ScanOp, warp_scan, warp_sum};

/// Tag kind of a tile-aggregate status word.
const KIND_AGGREGATE: u32 = 1;
/// Tag kind of a group-sum status word.
const KIND_GROUP: u32 = 2;
/// Tag kind of a super-group-prefix status word.
const KIND_PREFIX: u32 = 3;

/// Where the launch's status words live and how they are tagged. Consecutive status words
/// are `SCAN_STATUS_STRIDE` words apart (module docs of [`super`]: scratch layout).
#[derive(Clone, Copy)]
pub(super) struct Status {
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

impl Status {
    /// The status words of a launch over `tiles` tiles with scratch `scratch` (word 0 is the
    /// tile counter), carry `carry` and epoch `epoch`.
    ///
    /// # Safety
    /// `scratch` holds `scan_scratch_words` words for `tiles` tiles:
    /// `SCAN_STATUS_STRIDE · (1 + tiles + ⌈tiles / 32⌉ + ⌈tiles / 1024⌉)`.
    #[inline(always)]
    pub(super) unsafe fn new(
        scratch: *mut u64,
        tiles: usize,
        carry: *const u32,
        epoch: u32,
    ) -> Status {
        let groups = tiles.div_ceil(SCAN_GROUP_TILES);
        // SAFETY: the three regions lie inside the scratch (caller).
        unsafe {
            Status {
                tiles: scratch.add(SCAN_STATUS_STRIDE),
                groups: scratch.add(SCAN_STATUS_STRIDE * (1 + tiles)),
                prefixes: scratch.add(SCAN_STATUS_STRIDE * (1 + tiles + groups)),
                carry,
                aggregate_tag: epoch << 2 | KIND_AGGREGATE,
                group_tag: epoch << 2 | KIND_GROUP,
                prefix_tag: epoch << 2 | KIND_PREFIX,
            }
        }
    }

    /// Tile `i`'s status word.
    ///
    /// # Safety
    /// `i` is a tile of this launch.
    #[inline(always)]
    unsafe fn tile(&self, i: usize) -> *mut u64 {
        // SAFETY: tile words are inside the scratch (`new`'s contract).
        unsafe { self.tiles.add(SCAN_STATUS_STRIDE * i) }
    }

    /// Group `i`'s status word.
    ///
    /// # Safety
    /// `i` is a group of this launch.
    #[inline(always)]
    unsafe fn group(&self, i: usize) -> *mut u64 {
        // SAFETY: group words are inside the scratch (`new`'s contract).
        unsafe { self.groups.add(SCAN_STATUS_STRIDE * i) }
    }

    /// Super-group `i`'s status word.
    ///
    /// # Safety
    /// `i` is a super-group of this launch.
    #[inline(always)]
    unsafe fn prefix(&self, i: usize) -> *mut u64 {
        // SAFETY: super-group words are inside the scratch (`new`'s contract).
        unsafe { self.prefixes.add(SCAN_STATUS_STRIDE * i) }
    }

    /// Publishes tile `tile`'s aggregate `aggregate`.
    ///
    /// # Safety
    /// `tile` is a tile of this launch.
    #[inline(always)]
    pub(super) unsafe fn publish_aggregate(&self, tile: usize, aggregate: u32) {
        // SAFETY: a tile word of the scratch (caller).
        unsafe { store_relaxed_u64(self.tile(tile), pack(self.aggregate_tag, aggregate)) };
    }
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
        let w = unsafe { load_relaxed_u64(st.prefix(h as usize)) };
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
pub(super) unsafe fn tile_prefix<O: ScanOp>(
    tile: usize,
    aggregate: u32,
    lane: u32,
    st: Status,
) -> u32 {
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
            unsafe { load_relaxed_u64(st.tile(group * 32 + lane as usize)) }
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
            unsafe { load_relaxed_u64(st.group(sup * 32 + lane as usize)) }
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
                    store_relaxed_u64(st.group(group), w);
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
                let word = || load_relaxed_u64(st.group(next * 32 + lane as usize));
                let mut w = word();
                while !all(has_tag(w, st.group_tag)) {
                    if !has_tag(w, st.group_tag) {
                        w = word();
                    }
                }
                acc = O::add(acc, warp_sum::<O>(w as u32));
                if lane == 0 {
                    // Every writer stores these same bits.
                    store_relaxed_u64(st.prefix(next), pack(st.prefix_tag, acc));
                }
                next += 1;
            }
            acc
        };
        if ends_sup && lane == 0 {
            let w = pack(st.prefix_tag, O::add(before, sup_sum));
            store_relaxed_u64(st.prefix(sup), w);
        }
        O::add(O::add(before, within_sup), within_group)
    }
}
