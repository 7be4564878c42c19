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

/// Loads `*source` as one strong, relaxed, GPU-scope 8-byte access
/// (`ld.relaxed.gpu.b64`, generic addressing).
///
/// Unlike a plain load it is never served from a stale L1 line and is never merged with,
/// or hoisted out of a loop around, an earlier load of the same address, so a thread can
/// spin on it until a word written by another block appears. The 8 bytes are
/// single-copy atomic: a reader sees either the whole old or the whole new word, which lets
/// a flag and the value it guards travel in one word with no fence between them.
///
/// # Safety
/// `source` must point to a live, 8-byte-aligned `u64` in global memory; concurrent writes
/// to it must be strong (atomic, [`store_relaxed_u64`] or stronger).
#[inline(always)]
pub unsafe fn load_relaxed_u64(source: *const u64) -> u64 {
    let value: u64;
    // SAFETY: the caller guarantees `source` is valid and aligned. Not `pure`: every call
    // must read memory again.
    unsafe {
        asm!(
            "ld.relaxed.gpu.b64 {v}, [{p}];",
            v = out(reg64) value, p = in(reg64) source,
            options(readonly, nostack, preserves_flags),
        );
    }
    value
}

/// Stores `value` to `*target` as one strong, relaxed, GPU-scope 8-byte access
/// (`st.relaxed.gpu.b64`): other blocks' [`load_relaxed_u64`] of the word see either the
/// whole old or the whole new value. It orders no other memory access (use
/// [`fence_gpu`] for that).
///
/// # Safety
/// `target` must point to a live, 8-byte-aligned `u64` in global memory; concurrent
/// accesses to it must be strong.
#[inline(always)]
pub unsafe fn store_relaxed_u64(target: *mut u64, value: u64) {
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "st.relaxed.gpu.b64 [{p}], {v};",
            p = in(reg64) target, v = in(reg64) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Stores `value` to `*target` as one strong, relaxed, GPU-scope access
/// (`st.relaxed.gpu.b32`), e.g. to reset a counter that other blocks update with atomics.
///
/// # Safety
/// `target` must point to a live, 4-byte-aligned `u32` in global memory; concurrent
/// accesses to it must be strong.
#[inline(always)]
pub unsafe fn store_relaxed_u32(target: *mut u32, value: u32) {
    // SAFETY: the caller guarantees `target` is valid and aligned.
    unsafe {
        asm!(
            "st.relaxed.gpu.b32 [{p}], {v};",
            p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
}
