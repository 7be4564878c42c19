//! Operations as values: what a stream would queue, kept for later instead. A DAG node is
//! one of these, and a recording stream (see [`Stream`](super::Stream)) turns launcher
//! calls into them, so every typed launcher builds graph nodes without a second API.
//!
//! While a thread records, operations that cannot be part of a graph — synchronizing,
//! allocating, waiting on events from the host — are refused with a clear error instead of
//! reaching the driver (where, during stream capture, they would invalidate the capture).

use std::cell::Cell;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::backend::memory::{DevRange, HostRange};
use crate::error::Result;
use crate::graph::GraphError;
use crate::launch::{Access, KernelLaunch};

/// A host callback a graph may run many times. It runs on a driver (or worker) thread once
/// its dependencies complete, and must not queue device work or block on it.
pub type HostCallback = Arc<dyn Fn() + Send + Sync>;

/// What a node does.
#[derive(Clone)]
pub(crate) enum Op {
    Kernel(KernelLaunch),
    ToDevice {
        src: HostRange,
        dst: DevRange,
    },
    ToHost {
        src: DevRange,
        dst: HostRange,
    },
    OnDevice {
        src: DevRange,
        dst: DevRange,
    },
    Zero {
        dst: DevRange,
    },
    Host {
        f: HostCallback,
        touches: Vec<(HostRange, Access)>,
    },
}

/// The kind of a node, as errors and topology comparisons name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A kernel launch.
    Kernel,
    /// A host-to-device copy.
    CopyToDevice,
    /// A device-to-host copy.
    CopyToHost,
    /// A device-to-device copy.
    CopyOnDevice,
    /// Zero-filling device memory.
    Memset,
    /// A host callback.
    Host,
}

impl Op {
    pub(crate) fn kind(&self) -> OpKind {
        match self {
            Op::Kernel(_) => OpKind::Kernel,
            Op::ToDevice { .. } => OpKind::CopyToDevice,
            Op::ToHost { .. } => OpKind::CopyToHost,
            Op::OnDevice { .. } => OpKind::CopyOnDevice,
            Op::Zero { .. } => OpKind::Memset,
            Op::Host { .. } => OpKind::Host,
        }
    }

    /// Every memory range the op touches, with how.
    pub(crate) fn accesses(&self) -> Vec<Touch> {
        let dev = |r: &DevRange, access| Touch {
            allocation: r.mem.id,
            label: r.mem.label.clone(),
            bytes: r.offset..r.offset + r.bytes,
            access,
        };
        let host = |r: &HostRange, access| Touch {
            allocation: r.mem.id,
            label: r.mem.label.clone(),
            bytes: r.offset..r.offset + r.bytes,
            access,
        };
        match self {
            Op::Kernel(k) => k
                .buffers()
                .map(|b| dev(&b.range, b.access))
                .collect::<Vec<_>>(),
            Op::ToDevice { src, dst } => vec![host(src, Access::Read), dev(dst, Access::Write)],
            Op::ToHost { src, dst } => vec![dev(src, Access::Read), host(dst, Access::Write)],
            Op::OnDevice { src, dst } => vec![dev(src, Access::Read), dev(dst, Access::Write)],
            Op::Zero { dst } => vec![dev(dst, Access::Write)],
            Op::Host { touches, .. } => touches.iter().map(|(r, a)| host(r, *a)).collect(),
        }
    }

    /// The device allocations the op names (for device checks).
    pub(crate) fn device_ranges(&self) -> Vec<&DevRange> {
        match self {
            Op::Kernel(k) => k.buffers().map(|b| &b.range).collect(),
            Op::ToDevice { dst, .. } | Op::Zero { dst } => vec![dst],
            Op::ToHost { src, .. } => vec![src],
            Op::OnDevice { src, dst } => vec![src, dst],
            Op::Host { .. } => Vec::new(),
        }
    }

    /// The host allocations the op names (the graph adds a fence on them after a launch).
    pub(crate) fn host_ranges(&self) -> Vec<&HostRange> {
        match self {
            Op::ToDevice { src, .. } => vec![src],
            Op::ToHost { dst, .. } => vec![dst],
            Op::Host { touches, .. } => touches.iter().map(|(r, _)| r).collect(),
            _ => Vec::new(),
        }
    }
}

/// One memory range a node touches.
#[derive(Debug, Clone)]
pub(crate) struct Touch {
    pub(crate) allocation: u64,
    pub(crate) label: String,
    pub(crate) bytes: Range<usize>,
    pub(crate) access: Access,
}

thread_local! {
    static RECORDING: Cell<usize> = const { Cell::new(0) };
}

/// Fails with a clear error when the current thread is recording a graph.
pub(crate) fn refuse_while_recording(operation: &'static str) -> Result<()> {
    if RECORDING.with(|r| r.get()) > 0 {
        return Err(GraphError::IllegalInCapture { operation }.into());
    }
    Ok(())
}

/// Marks the current thread as recording until dropped.
pub(crate) struct RecordingGuard(());

impl RecordingGuard {
    pub(crate) fn enter() -> RecordingGuard {
        RECORDING.with(|r| r.set(r.get() + 1));
        RecordingGuard(())
    }
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        RECORDING.with(|r| r.set(r.get() - 1));
    }
}

/// Operations a recording stream collected, in queue order.
#[derive(Default)]
pub(crate) struct Recorded(pub(crate) Mutex<Vec<Op>>);

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|v| v.len()).unwrap_or(0);
        write!(f, "Recorded({n} ops)")
    }
}

impl Recorded {
    pub(crate) fn push(&self, op: Op) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }

    pub(crate) fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Shared handle to a recording.
pub(crate) type Recording = Arc<Recorded>;
