//! Memory accesses in an explicit PTX state space: shared memory reached through 32-bit
//! shared-window addresses, read-only global loads and global reductions.
//!
//! [`super::shared::dynamic_shared`] hands out a generic pointer, and accesses through a
//! generic pointer compile to generic `ld`/`st`/`atom` instructions, which the hardware
//! must first resolve to a state space. The tiled kernels (matrix multiply, transpose,
//! histogram) instead address shared memory with `ld.shared`/`st.shared`/`red.shared` and a
//! 32-bit offset into the shared window, the form `nvcc` emits: they assemble to `LDS`,
//! `STS` and `ATOMS` with no address conversion. A shared address is a plain `u32` byte
//! address; [`dynamic_shared_base`] is the first byte of the launch's dynamic shared memory,
//! 16-byte aligned, and a kernel adds its own byte offsets to it.

use core::arch::asm;

use super::memory::F32x4;

/// Shared-window address (bytes) of the first byte of this block's dynamic shared memory;
/// 16-byte aligned. How many bytes follow it is the launch's `shared_mem_bytes`.
#[inline(always)]
pub fn dynamic_shared_base() -> u32 {
    let a: u32;
    // SAFETY: `mov` of a shared symbol's address reads and writes no memory.
    unsafe {
        asm!(
            "mov.u32 {a}, riptide_dynamic_smem;",
            a = out(reg32) a,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    a
}

/// Loads the `u32` at shared address `addr` (`ld.shared.u32`).
///
/// # Safety
/// `addr` must be 4-byte aligned and lie inside this launch's dynamic shared memory; no
/// other thread may write it concurrently (order accesses with a barrier).
#[inline(always)]
pub unsafe fn load_shared_u32(addr: u32) -> u32 {
    let v: u32;
    // SAFETY: the caller guarantees alignment, bounds and the absence of a data race.
    unsafe {
        asm!(
            "ld.shared.u32 {v}, [{a}];",
            v = out(reg32) v, a = in(reg32) addr,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    v
}

/// Stores `value` at shared address `addr` (`st.shared.u32`).
///
/// # Safety
/// As for [`load_shared_u32`]; no other thread may access `addr` concurrently.
#[inline(always)]
pub unsafe fn store_shared_u32(addr: u32, value: u32) {
    // SAFETY: the caller guarantees alignment, bounds and exclusive access.
    unsafe {
        asm!(
            "st.shared.u32 [{a}], {v};",
            a = in(reg32) addr, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Loads four `f32`s at shared address `addr` as one 16-byte access (`ld.shared.v4.f32`).
///
/// # Safety
/// `addr` must be 16-byte aligned and its 16 bytes inside this launch's dynamic shared
/// memory; no other thread may write them concurrently.
#[inline(always)]
pub unsafe fn load_shared_f32x4(addr: u32) -> F32x4 {
    let (a, b, c, d): (f32, f32, f32, f32);
    // SAFETY: the caller guarantees alignment, bounds and the absence of a data race.
    unsafe {
        asm!(
            "ld.shared.v4.f32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d,
            p = in(reg32) addr, options(pure, readonly, nostack, preserves_flags),
        );
    }
    F32x4([a, b, c, d])
}

/// [`load_shared_f32x4`] at `addr + OFFSET`, with the offset as the instruction's immediate
/// (`ld.shared.v4.f32 [addr+OFFSET]`): unrolled loops that step through a tile then need one
/// address register, not one per step.
///
/// # Safety
/// As for [`load_shared_f32x4`], for the address `addr + OFFSET`.
#[inline(always)]
pub unsafe fn load_shared_f32x4_at<const OFFSET: u32>(addr: u32) -> F32x4 {
    let (a, b, c, d): (f32, f32, f32, f32);
    // SAFETY: the caller guarantees alignment, bounds and the absence of a data race.
    unsafe {
        asm!(
            "ld.shared.v4.f32 {{{a}, {b}, {c}, {d}}}, [{p}+{off}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d,
            p = in(reg32) addr, off = const OFFSET,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    F32x4([a, b, c, d])
}

/// Stores four `f32`s at shared address `addr` as one 16-byte access (`st.shared.v4.f32`).
///
/// # Safety
/// As for [`load_shared_f32x4`]; no other thread may access the 16 bytes concurrently.
#[inline(always)]
pub unsafe fn store_shared_f32x4(addr: u32, value: F32x4) {
    let [a, b, c, d] = value.0;
    // SAFETY: the caller guarantees alignment, bounds and exclusive access.
    unsafe {
        asm!(
            "st.shared.v4.f32 [{p}], {{{a}, {b}, {c}, {d}}};",
            p = in(reg32) addr, a = in(reg32) a, b = in(reg32) b, c = in(reg32) c, d = in(reg32) d,
            options(nostack, preserves_flags),
        );
    }
}

/// Adds `value` to the `u32` at shared address `addr` atomically, discarding the old value
/// (`red.shared.add.u32`, relaxed; atomic among the threads of the block).
///
/// # Safety
/// `addr` must be 4-byte aligned and lie inside this launch's dynamic shared memory, and
/// every concurrent access to it must be atomic.
#[inline(always)]
pub unsafe fn red_add_shared_u32(addr: u32, value: u32) {
    // SAFETY: the caller guarantees alignment, bounds and atomic-only concurrent access.
    unsafe {
        asm!(
            "red.shared.add.u32 [{a}], {v};",
            a = in(reg32) addr, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Adds `value` to `*target` in global memory atomically, discarding the old value
/// (`red.global.add.u32`, relaxed, GPU scope).
///
/// # Safety
/// `target` must point to a live, 4-byte-aligned `u32` in global memory that every
/// concurrent access reaches only atomically.
#[inline(always)]
pub unsafe fn red_add_global_u32(target: *mut u32, value: u32) {
    // SAFETY: the caller guarantees validity, alignment and atomic-only concurrent access.
    unsafe {
        asm!(
            "red.global.add.u32 [{p}], {v};",
            p = in(reg64) target, v = in(reg32) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Loads one 32-bit word from global memory through the non-coherent read-only path
/// (`ld.global.nc.u32`).
///
/// # Safety
/// `src` must be 4-byte aligned and point to a readable word in global memory that no
/// thread writes during the kernel.
#[inline(always)]
pub unsafe fn load_u32_readonly(src: *const u32) -> u32 {
    let v: u32;
    // SAFETY: the caller guarantees alignment, validity and that nothing writes `src`.
    unsafe {
        asm!(
            "ld.global.nc.u32 {v}, [{p}];",
            v = out(reg32) v, p = in(reg64) src,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    v
}

/// [`load_u32_readonly`] for an `f32` (the bits travel unchanged).
///
/// # Safety
/// As for [`load_u32_readonly`].
#[inline(always)]
pub unsafe fn load_f32_readonly(src: *const f32) -> f32 {
    // SAFETY: forwarded contract.
    f32::from_bits(unsafe { load_u32_readonly(src.cast::<u32>()) })
}

/// Returns `p` unchanged, through an instruction the optimizer cannot see through.
///
/// A loop that advances one pointer and accesses `p + j·stride` for a few constant `j`
/// otherwise gets one 64-bit induction variable per `j` from LLVM's loop strength
/// reduction; passing the advanced pointer through here keeps one pointer and recomputes
/// the others each iteration (a multiply-add each), which can lower register use enough to
/// fit more blocks per SM.
#[inline(always)]
pub fn opaque_address<T>(p: *const T) -> *const T {
    let q: usize;
    // SAFETY: a register move; no memory is accessed.
    unsafe {
        asm!(
            "mov.b64 {q}, {p};",
            q = out(reg64) q, p = in(reg64) p.addr(),
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    p.with_addr(q)
}
