//! Warp-level primitives: lane ids, shuffles, votes and warp-wide reductions.
//!
//! Every `*_sync` instruction here uses the full-warp member mask `0xffffffff`. That is
//! why the shuffles and votes are `unsafe`: all 32 lanes of the warp must execute the same
//! call (a lane that has exited or taken another branch makes the result undefined).
//! riptide's kernels satisfy this by keeping whole warps alive to the end of a reduction
//! and masking out-of-range lanes with a neutral value instead of returning early.

use core::arch::asm;

/// Mask naming every lane of a warp.
pub const FULL_MASK: u32 = 0xffff_ffff;

/// Index of the calling thread within its warp, `0..32`.
#[inline(always)]
pub fn lane_id() -> u32 {
    let lane: u32;
    // SAFETY: reading %laneid has no preconditions and touches no memory.
    unsafe { asm!("mov.u32 {l}, %laneid;", l = out(reg32) lane, options(pure, nomem, nostack)) };
    lane
}

/// The value `value` held by lane `lane_id() + delta`; lanes whose source would be past
/// the end of the warp get their own value back.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_down_u32(value: u32, delta: u32) -> u32 {
    let out: u32;
    // SAFETY: the caller guarantees full-warp convergence, which the full member mask
    // requires; the instruction reads only registers.
    unsafe {
        asm!(
            "shfl.sync.down.b32 {o}, {v}, {d}, 0x1f, 0xffffffff;",
            o = out(reg32) out, v = in(reg32) value, d = in(reg32) delta,
            options(nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The value `value` held by lane `lane_id() ^ mask` (butterfly exchange).
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_xor_u32(value: u32, mask: u32) -> u32 {
    let out: u32;
    // SAFETY: the caller guarantees full-warp convergence; registers only.
    unsafe {
        asm!(
            "shfl.sync.bfly.b32 {o}, {v}, {m}, 0x1f, 0xffffffff;",
            o = out(reg32) out, v = in(reg32) value, m = in(reg32) mask,
            options(nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The value `value` held by lane `lane_id() - delta`; lanes whose source would be before
/// lane 0 get their own value back. The building block of warp-level inclusive scans.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_up_u32(value: u32, delta: u32) -> u32 {
    let out: u32;
    // SAFETY: the caller guarantees full-warp convergence; registers only.
    unsafe {
        asm!(
            "shfl.sync.up.b32 {o}, {v}, {d}, 0x0, 0xffffffff;",
            o = out(reg32) out, v = in(reg32) value, d = in(reg32) delta,
            options(nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The value `value` held by lane `src_lane`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_idx_u32(value: u32, src_lane: u32) -> u32 {
    let out: u32;
    // SAFETY: the caller guarantees full-warp convergence; registers only.
    unsafe {
        asm!(
            "shfl.sync.idx.b32 {o}, {v}, {s}, 0x1f, 0xffffffff;",
            o = out(reg32) out, v = in(reg32) value, s = in(reg32) src_lane,
            options(nomem, nostack, preserves_flags),
        );
    }
    out
}

/// [`shfl_down_u32`] for `f32` (the bits travel unchanged).
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_down_f32(value: f32, delta: u32) -> f32 {
    // SAFETY: forwarded contract.
    f32::from_bits(unsafe { shfl_down_u32(value.to_bits(), delta) })
}

/// [`shfl_xor_u32`] for `f32`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_xor_f32(value: f32, mask: u32) -> f32 {
    // SAFETY: forwarded contract.
    f32::from_bits(unsafe { shfl_xor_u32(value.to_bits(), mask) })
}

/// [`shfl_up_u32`] for `f32`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn shfl_up_f32(value: f32, delta: u32) -> f32 {
    // SAFETY: forwarded contract.
    f32::from_bits(unsafe { shfl_up_u32(value.to_bits(), delta) })
}

/// A 32-bit mask with bit `i` set when lane `i` passed `predicate == true`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn ballot(predicate: bool) -> u32 {
    let out: u32;
    // SAFETY: the caller guarantees full-warp convergence; registers only.
    unsafe {
        asm!(
            "{{ .reg .pred p; setp.ne.u32 p, {v}, 0; vote.sync.ballot.b32 {o}, p, 0xffffffff; }}",
            o = out(reg32) out, v = in(reg32) predicate as u32,
            options(nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Whether any lane of the warp passed `true`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn any(predicate: bool) -> bool {
    // SAFETY: forwarded contract.
    unsafe { ballot(predicate) != 0 }
}

/// Whether every lane of the warp passed `true`.
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn all(predicate: bool) -> bool {
    // SAFETY: forwarded contract.
    unsafe { ballot(predicate) == FULL_MASK }
}

/// Reduces one value per lane with `combine` by a butterfly; every lane receives the
/// result. `combine` must be associative and commutative for the result to be meaningful
/// (sum, min, max).
///
/// # Safety
/// All 32 lanes of the warp must execute this call together.
#[inline(always)]
pub unsafe fn reduce_f32(mut value: f32, combine: impl Fn(f32, f32) -> f32) -> f32 {
    let mut mask = 16;
    while mask > 0 {
        // SAFETY: forwarded contract.
        value = combine(value, unsafe { shfl_xor_f32(value, mask) });
        mask >>= 1;
    }
    value
}
