//! Opt-in per-operation timing of streams, and what is made of it.
//!
//! A [`Tracer`] attached to a device ([`Tracer::attach`]) times every copy, kernel, memset
//! and host callback queued on that device's streams: on CUDA with pooled timing events, on
//! the cpu backend with its own clock (simulated time when a timing model is set, else wall
//! time, through the same events). A device without a tracer pays one branch per
//! operation. [`Tracer::take`] resolves the timings into a [`Trace`], which the exporters
//! turn into pictures and numbers:
//!
//! | module | what it makes |
//! |---|---|
//! | [`chrome`] | Chrome trace JSON (opens in Perfetto): a process per device, a thread per stream |
//! | [`svg`] | a self-contained SVG timeline: lanes per stream, a colour per kind, a time axis |
//! | [`metrics`] | GB/s per copy direction, kernel time, engine overlap, idle gaps, device balance |
//!
//! [`nvtx_range`] opens an NVTX range (for Nsight Systems) around host-side phases.
//!
//! # How event times are taken, and how exact they are
//!
//! A timed event costs the GPU measurable throughput (an untimed one does not), so each
//! operation gets one timed event, recorded after it; its end is exact. Its start is
//! derived where the stream order makes it known (see `starts.rs`): an operation queued on
//! a stream that is still busy (its previous traced operation has not finished) starts
//! when that operation ends, or when the work its waits since then resolve to completes,
//! whichever is later. That start is exact up to the GPU's dispatch latency and the small
//! window between the busy check and the enqueue (an operation that finishes inside it
//! makes the next one look as if it started earlier than it did). An operation queued on
//! an idle stream, the first on a stream since the last [`Tracer::take`], one behind a wait
//! on an event the tracer cannot name (recorded on an idle or untraced stream, or on
//! another device), and one after untimed work (a graph launch, a collective) gets its own
//! start event. [`Trace::timing_events`] counts the events a trace used.
//!
//! A start, event or derived, is when the stream reached the operation: an operation that
//! then waits for a copy engine held by another stream is charged that wait. Nsight Systems
//! shows the exact engine schedule; the trace shows what each stream saw.

pub mod chrome;
pub mod metrics;
mod nvtx;
mod recorder;
mod starts;
pub mod svg;

use serde::{Deserialize, Serialize};

pub use nvtx::{NvtxRange, nvtx_range};
pub(crate) use recorder::Span;
pub use recorder::Tracer;

/// What a traced operation was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// Host-to-device copy.
    H2d,
    /// Device-to-host copy.
    D2h,
    /// Device-to-device copy (peer copies included).
    D2d,
    /// A kernel, by entry name.
    Kernel(String),
    /// A memset.
    Memset,
    /// A host callback queued on a stream.
    HostFn,
}

/// The hardware unit an operation occupies; two operations on different engines of one
/// device can run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Engine {
    /// The host-to-device copy engine.
    CopyH2d,
    /// The device-to-host copy engine.
    CopyD2h,
    /// The SMs (kernels, device copies, memsets).
    Compute,
    /// No device engine (host callbacks).
    Host,
}

impl OpKind {
    /// A short label: `H2D`, `D2H`, `D2D`, the kernel name, `memset`, `host fn`.
    pub fn label(&self) -> &str {
        match self {
            OpKind::H2d => "H2D",
            OpKind::D2h => "D2H",
            OpKind::D2d => "D2D",
            OpKind::Kernel(name) => name,
            OpKind::Memset => "memset",
            OpKind::HostFn => "host fn",
        }
    }

    /// The trace category: `copy`, `kernel`, `memset` or `host`.
    pub fn category(&self) -> &'static str {
        match self {
            OpKind::H2d | OpKind::D2h | OpKind::D2d => "copy",
            OpKind::Kernel(_) => "kernel",
            OpKind::Memset => "memset",
            OpKind::HostFn => "host",
        }
    }

    /// The engine the operation occupies.
    pub fn engine(&self) -> Engine {
        match self {
            OpKind::H2d => Engine::CopyH2d,
            OpKind::D2h => Engine::CopyD2h,
            OpKind::D2d | OpKind::Kernel(_) | OpKind::Memset => Engine::Compute,
            OpKind::HostFn => Engine::Host,
        }
    }
}

/// One timed operation. Times are microseconds from the tracer's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceOp {
    /// Ordinal of the device within its backend.
    pub device: usize,
    /// The stream's process-unique id ([`crate::Stream::id`]).
    pub stream: u64,
    /// What ran.
    pub kind: OpKind,
    /// Bytes moved (copies, memsets) or touched by the kernel's buffers.
    pub bytes: u64,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs.
    pub end_us: f64,
}

impl TraceOp {
    /// Duration in µs (never negative).
    pub fn duration_us(&self) -> f64 {
        (self.end_us - self.start_us).max(0.0)
    }
}

/// Which clock a trace's times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TraceClock {
    /// CUDA timing events.
    #[default]
    CudaEvents,
    /// The cpu backend's simulated device time (a timing model is set).
    Simulated,
    /// Host wall time on the cpu backend's worker threads.
    Wall,
}

/// A traced device: its ordinal and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedDevice {
    /// Ordinal within the backend.
    pub ordinal: usize,
    /// Name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
}

/// Timed operations of one or more devices, sorted by start time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The clock the times come from.
    pub clock: TraceClock,
    /// The traced devices.
    pub devices: Vec<TracedDevice>,
    /// The operations.
    pub ops: Vec<TraceOp>,
    /// Timing events recorded for these operations (CUDA or the cpu backend's wall clock;
    /// 0 on simulated time): one after each operation, plus one before each whose start
    /// could not be derived.
    #[serde(default)]
    pub timing_events: usize,
}

impl Trace {
    /// The earliest start and the latest end, µs (`(0, 0)` when empty).
    pub fn span_us(&self) -> (f64, f64) {
        if self.ops.is_empty() {
            return (0.0, 0.0);
        }
        let start = self
            .ops
            .iter()
            .map(|o| o.start_us)
            .fold(f64::INFINITY, f64::min);
        let end = self
            .ops
            .iter()
            .map(|o| o.end_us)
            .fold(f64::NEG_INFINITY, f64::max);
        (start, end)
    }

    /// The name of device `ordinal`, or "device N" when it was not registered.
    pub fn device_name(&self, ordinal: usize) -> String {
        self.devices
            .iter()
            .find(|d| d.ordinal == ordinal)
            .map_or_else(|| format!("device {ordinal}"), |d| d.name.clone())
    }

    /// Distinct `(device, stream)` pairs in order of first appearance by device then id.
    pub fn lanes(&self) -> Vec<(usize, u64)> {
        let mut lanes: Vec<(usize, u64)> = self.ops.iter().map(|o| (o.device, o.stream)).collect();
        lanes.sort_unstable();
        lanes.dedup();
        lanes
    }
}
