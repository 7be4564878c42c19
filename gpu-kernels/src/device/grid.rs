//! Grid dependency control (Hopper and newer): how a kernel cooperates with programmatic
//! dependent launch.
//!
//! A CUDA graph may join two kernel nodes with a *programmatic* edge
//! (`CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC`): the downstream grid is then launched while the
//! upstream one finishes, instead of after it, which shortens every dependent step of a
//! chain. The price is that the downstream kernel must itself wait, with
//! `griddepcontrol.wait`, before it touches memory the upstream grid wrote. Every riptide
//! kernel does so as its first statement, so the host may give any riptide kernel node a
//! programmatic edge; a kernel the host cannot vouch for keeps full edges.
//!
//! Launched any other way (a plain stream launch, a full edge) the wait returns at once.
//! The instruction needs PTX for `sm_90` or newer; built for an older target the wait is
//! omitted and the host, which reads the PTX, uses full edges only.

/// Waits until every grid this one depends on programmatically has completed and its
/// memory operations are visible; returns at once when there is none. Call before the
/// first access to global memory (every riptide kernel calls it on entry).
#[inline(always)]
pub fn wait_for_prior_grids() {
    #[cfg(target_feature = "sm_90")]
    // SAFETY: `griddepcontrol.wait` only blocks the thread until prerequisite grids are
    // complete; it touches no memory of its own (it orders memory, so no `nomem`).
    unsafe {
        core::arch::asm!("griddepcontrol.wait;", options(nostack, preserves_flags))
    };
}
