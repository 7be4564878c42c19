//! A kernel that faults on purpose: the GPU side of riptide's fault-injection tests. A
//! `trap` is a sticky error — the context is unusable until it is recreated — so it drives
//! the recovery path exactly as a real illegal address would.

use core::arch::asm;

/// Executes `trap` in every thread when `armed` is non-zero; does nothing otherwise (the
/// launcher catalogue launches it disarmed, so the entry is exercised without a fault).
///
/// # Safety
/// None beyond a valid launch: the kernel touches no memory. Armed, it poisons the context.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_debug_trap(armed: u32) {
    crate::device::grid::wait_for_prior_grids();
    if armed != 0 {
        // SAFETY: `trap` aborts the kernel; it reads and writes no memory.
        unsafe { asm!("trap;", options(nomem, nostack, noreturn)) };
    }
}
