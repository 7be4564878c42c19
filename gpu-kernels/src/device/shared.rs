//! Dynamic shared memory and block-wide barriers.
//!
//! Rust has no address-space qualifiers, so shared memory is reached the way PTX spells it:
//! one `.extern .shared` array declared once for the whole module, sized per launch by the
//! host (the launch's `shared_mem_bytes`), and converted to a generic pointer with `cvta`.
//! Every kernel that uses shared memory carves its own layout out of that one array.

use core::arch::{asm, global_asm};

global_asm!(".extern .shared .align 16 .b8 riptide_dynamic_smem[];");

/// Pointer to the start of this block's dynamic shared memory, 16-byte aligned.
///
/// The pointer itself is always valid to compute; how many bytes behind it exist is what
/// the host passed as `shared_mem_bytes` for this launch.
#[inline(always)]
pub fn dynamic_shared<T>() -> *mut T {
    let p: u64;
    // SAFETY: `cvta.shared` converts the address of a declared shared symbol to a generic
    // address; it reads and writes no memory.
    unsafe {
        asm!(
            "cvta.shared.u64 {p}, riptide_dynamic_smem;",
            p = out(reg64) p,
            options(pure, nomem, nostack),
        );
    }
    p as *mut T
}

/// Waits until every thread of the block has reached this barrier, and makes their
/// earlier shared- and global-memory writes visible to each other.
///
/// Emitted as `barrier.sync 0`, the non-`.aligned` form (sm_70 and later): `bar.sync` is
/// `barrier.sync.aligned`, which requires every thread of a warp to execute the *same*
/// instruction, and LLVM may tail-duplicate a barrier that follows a thread-dependent branch
/// (e.g. `if tid == 0 { … }` then the barrier) into both arms (rust-lang/rust#137086). The
/// non-aligned form stays correct when that happens and costs the same when it does not.
///
/// # Safety
/// Every non-exited thread of the block must reach a barrier of this kind the same number of
/// times (possibly at different call sites); otherwise the block deadlocks.
#[inline(always)]
pub unsafe fn sync_threads() {
    // SAFETY: the caller guarantees that every thread of the block arrives.
    unsafe { asm!("barrier.sync 0;", options(nostack, preserves_flags)) };
}

/// Waits until `threads` threads (a multiple of the warp size) have reached barrier `ID`
/// (1–15; barrier 0 is [`sync_threads`]'s), and makes their earlier shared- and
/// global-memory writes visible to each other: a barrier among some warps of the block,
/// while the others go on with other work. Emitted as the non-`.aligned` `barrier.sync
/// ID, threads` for the reason given at [`sync_threads`].
///
/// # Safety
/// The same `threads` threads — whole warps — must each reach barrier `ID` the same number
/// of times, and no other thread may use barrier `ID`; otherwise the block deadlocks.
#[inline(always)]
pub unsafe fn sync_warps<const ID: u32>(threads: u32) {
    // SAFETY: the caller guarantees which threads arrive, and how often.
    unsafe {
        asm!(
            "barrier.sync {id}, {n};",
            id = const ID, n = in(reg32) threads,
            options(nostack, preserves_flags),
        )
    };
}
