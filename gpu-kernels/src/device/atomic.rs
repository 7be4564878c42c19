//! Atomic read-modify-write operations on global or shared memory.
//!
//! They use PTX's generic addressing (`atom.<op>` without a state space), which the
//! hardware resolves to global or shared memory, so one function serves both; the scope is
//! the whole GPU (`.gpu`, PTX's default), the memory order relaxed.

use core::arch::asm;

/// Adds `value` to `*target` atomically and returns the previous value.
///
/// # Safety
/// `target` must point to a live, 4-byte-aligned `u32` in global or shared memory that
/// every concurrent access reaches only atomically.
#[inline(always)]
pub unsafe fn add_u32(target: *mut u32, value: u32) -> u32 {
    let old: u32;
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "atom.add.u32 {o}, [{p}], {v};",
            o = out(reg32) old, p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
    old
}

/// Adds `value` to `*target` atomically (IEEE round-to-nearest) and returns the previous
/// value. The order in which concurrent additions land is unspecified, so a float sum built
/// this way is not bit-reproducible.
///
/// # Safety
/// As for [`add_u32`], for an `f32`.
#[inline(always)]
pub unsafe fn add_f32(target: *mut f32, value: f32) -> f32 {
    let old: f32;
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "atom.add.f32 {o}, [{p}], {v};",
            o = out(reg32) old, p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
    old
}

/// Stores `min(*target, value)` atomically and returns the previous value.
///
/// # Safety
/// As for [`add_u32`].
#[inline(always)]
pub unsafe fn min_u32(target: *mut u32, value: u32) -> u32 {
    let old: u32;
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "atom.min.u32 {o}, [{p}], {v};",
            o = out(reg32) old, p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
    old
}

/// Stores `max(*target, value)` atomically and returns the previous value.
///
/// # Safety
/// As for [`add_u32`].
#[inline(always)]
pub unsafe fn max_u32(target: *mut u32, value: u32) -> u32 {
    let old: u32;
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "atom.max.u32 {o}, [{p}], {v};",
            o = out(reg32) old, p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
    old
}

/// Stores `new` into `*target` if it holds `expected`; returns the value found.
///
/// # Safety
/// As for [`add_u32`].
#[inline(always)]
pub unsafe fn compare_exchange_u32(target: *mut u32, expected: u32, new: u32) -> u32 {
    let old: u32;
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "atom.cas.b32 {o}, [{p}], {e}, {n};",
            o = out(reg32) old, p = in(reg64) target, e = in(reg32) expected, n = in(reg32) new,
            options(nostack, preserves_flags),
        );
    }
    old
}

/// Makes this thread's earlier writes visible to the whole GPU before its later ones
/// (`fence.acq_rel.gpu`), as needed between writing a block's partial result and
/// publishing it with an atomic that another block reads.
#[inline(always)]
pub fn fence_gpu() {
    // SAFETY: a fence orders memory accesses and has no other effect.
    unsafe { asm!("fence.acq_rel.gpu;", options(nostack, preserves_flags)) };
}
