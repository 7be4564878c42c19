//! 16-byte vector loads and stores (`ld.global.v4.f32` / `st.global.v4.f32`), the widest
//! access a thread can make and the habit that lets memory-bound kernels reach the
//! device's copy bandwidth.

use core::arch::asm;

/// Four consecutive `f32`s, moved as one 16-byte access.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(16))]
pub struct F32x4(pub [f32; 4]);

/// Loads `F32x4` from global memory through the non-coherent read-only cache path.
///
/// # Safety
/// `src` must be 16-byte aligned, point to four readable `f32`s in global memory, and the
/// memory must not be written by any thread during the kernel (the `.nc` path may return
/// stale data otherwise).
#[inline(always)]
pub unsafe fn load_f32x4_readonly(src: *const F32x4) -> F32x4 {
    let (a, b, c, d): (f32, f32, f32, f32);
    // SAFETY: the caller guarantees alignment, validity and that nothing writes `src`.
    unsafe {
        asm!(
            "ld.global.nc.v4.f32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d,
            p = in(reg64) src, options(readonly, nostack, preserves_flags),
        );
    }
    F32x4([a, b, c, d])
}

/// Loads `F32x4` from global memory (coherent path; use when the kernel also writes it).
///
/// # Safety
/// `src` must be 16-byte aligned and point to four readable `f32`s in global memory.
#[inline(always)]
pub unsafe fn load_f32x4(src: *const F32x4) -> F32x4 {
    let (a, b, c, d): (f32, f32, f32, f32);
    // SAFETY: the caller guarantees alignment and validity.
    unsafe {
        asm!(
            "ld.global.v4.f32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d,
            p = in(reg64) src, options(readonly, nostack, preserves_flags),
        );
    }
    F32x4([a, b, c, d])
}

/// Stores `F32x4` to global memory as one 16-byte access.
///
/// # Safety
/// `dst` must be 16-byte aligned and point to four writable `f32`s in global memory that no
/// other thread accesses concurrently.
#[inline(always)]
pub unsafe fn store_f32x4(dst: *mut F32x4, value: F32x4) {
    let [a, b, c, d] = value.0;
    // SAFETY: the caller guarantees alignment, validity and exclusive access.
    unsafe {
        asm!(
            "st.global.v4.f32 [{p}], {{{a}, {b}, {c}, {d}}};",
            p = in(reg64) dst, a = in(reg32) a, b = in(reg32) b, c = in(reg32) c, d = in(reg32) d,
            options(nostack, preserves_flags),
        );
    }
}

/// Copies 16 bytes from global memory at `src` to the shared-window address `dst` (see
/// [`crate::device::state_space`]) without passing through registers
/// (`cp.async.cg.shared.global`, sm_80 and later; cached in L2 only). The copy completes
/// asynchronously: the data is there only after this thread's [`wait_async_copies`].
///
/// # Safety
/// `src` must point to 16 readable, 16-byte-aligned bytes of global memory; `dst` must be
/// a 16-byte-aligned shared address inside the launch's dynamic shared memory that no
/// thread accesses until this thread's [`wait_async_copies`] (other threads: and a barrier
/// after it).
#[inline(always)]
pub unsafe fn copy_async_16(dst: u32, src: *const u32) {
    // SAFETY: the caller guarantees both addresses and the absence of other accesses.
    unsafe {
        asm!(
            "cp.async.cg.shared.global [{d}], [{s}], 16;",
            d = in(reg32) dst, s = in(reg64) src,
            options(nostack, preserves_flags),
        );
    }
}

/// Waits until every [`copy_async_16`] this thread issued has landed in shared memory and
/// is visible to it (`cp.async.wait_all`).
///
/// # Safety
/// Always sound to execute; `unsafe` because it orders shared-memory accesses that the
/// caller relies on (other threads see the copies only after a barrier that follows it).
#[inline(always)]
pub unsafe fn wait_async_copies() {
    // SAFETY: a wait; it names no memory.
    unsafe { asm!("cp.async.wait_all;", options(nostack, preserves_flags)) };
}
