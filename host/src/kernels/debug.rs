//! The launcher of the deliberately faulting kernel (`gpu_kernels::entries::DEBUG_TRAP`),
//! for fault-injection tests: armed, it poisons the device's context on a GPU and the
//! emulated device on the CPU backend, as a real illegal address would.

use std::sync::Arc;

use gpu_kernels::entries;

use crate::backend::Stream;
use crate::error::Result;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Queues the trap kernel on `stream`; `armed` makes it fault (one block of one thread).
/// The fault surfaces as [`crate::Error::DeviceFault`] from the next synchronization.
pub fn trap(stream: &Stream) -> Result<()> {
    launch(stream, true)
}

/// Queues the trap kernel disarmed: it runs and does nothing.
pub fn disarmed(stream: &Stream) -> Result<()> {
    launch(stream, false)
}

fn launch(stream: &Stream, armed: bool) -> Result<()> {
    // The CPU backend emulates the fault when it queues an armed launch of this entry (see
    // `backend::cpu::faults`); the CPU body itself does nothing.
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::DEBUG_TRAP),
        LaunchConfig {
            grid: Dim3::x(1),
            block: Dim3::x(1),
            shared_bytes: 0,
        },
        Arc::new(|_| Ok(())),
    )
    .scalar(armed as u32);
    stream.launch(&launch)
}
