//! Event dependency graphs: one [`Dag`] of operations, three ways to run it.
//!
//! | way | type | what happens |
//! |---|---|---|
//! | eager | [`EagerRunner`] | every run queues each node on a stream pool: independent branches on different streams, one event per cross-stream edge, none within a stream |
//! | captured | [`Graph::capture`] | the eager plan's stream work is captured once into a CUDA graph, then replayed |
//! | explicit | [`Graph::build`] | the DAG is built node by node through the driver's graph API, then replayed |
//!
//! Nodes are kernel launches from typed launchers, copies, zero-fills and host callbacks.
//! Each declares the buffers it reads and writes (kernels through their launcher's
//! arguments), so validation — run before anything reaches the driver — rejects cycles,
//! buffers of another device, and any two nodes that touch overlapping bytes, at least one
//! writing, with no path between them. A [`Graph`] is instantiated once and launched many
//! times; [`Graph::set_kernel`] changes one kernel node's arguments in place and
//! [`Graph::update`] moves the whole graph to a new DAG of the same shape (or instantiates
//! it again when the shape changed). A DAG and its graphs own every allocation they name.
//!
//! On the CPU backend the same API runs emulated: graphs replay on the backend's streams
//! with its race detector, and capture is emulated by rebuilding the DAG from the planned
//! stream work with stream-capture semantics.

mod check;
mod cuda;
mod dag;
mod eager;
mod exec;
mod issue;
mod plan;

pub use dag::{Dag, HostCallback, HostTouches, NodeId, OpKind};
pub use eager::EagerRunner;
pub use exec::{Graph, GraphMethod, UpdateOutcome};

use crate::backend::{Device, Stream};
use crate::error::{Error, Result};

/// Why a DAG or graph operation was refused (always before the driver is involved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The dependencies form a cycle.
    #[error("the graph has a cycle: {}", path.iter().map(|n| format!("node {n}")).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// Node indices along the cycle, first repeated at the end.
        path: Vec<usize>,
    },
    /// A node id that is not in the DAG.
    #[error("node {node} does not exist (the graph has {len} nodes)")]
    UnknownNode {
        /// The id given.
        node: usize,
        /// The DAG's node count.
        len: usize,
    },
    /// A node names a buffer the graph cannot use on its device.
    #[error("node {node} uses buffer {buffer:?}, unknown to this graph: {reason}")]
    UnknownBuffer {
        /// The node.
        node: usize,
        /// The buffer's label.
        buffer: String,
        /// Why it is unusable.
        reason: String,
    },
    /// Two nodes touch overlapping bytes, at least one writing, and no path orders them.
    #[error("race: {first} and {second} with no dependency path between them")]
    Race {
        /// One access.
        first: String,
        /// The other.
        second: String,
    },
    /// A kernel update would put a kernel that does not wait for prior grids on a node the
    /// graph joined to its predecessors by programmatic edges.
    #[error(
        "node {node} follows its kernel predecessors through programmatic edges, which only riptide's own kernels honour; build the graph again (Graph::update does) to run {kernel} there"
    )]
    NeedsFullEdges {
        /// The node.
        node: usize,
        /// The kernel that was to replace its launch.
        kernel: String,
    },
    /// A kernel update addressed a node that is not a kernel launch.
    #[error("node {node} is not a kernel launch")]
    NotAKernel {
        /// The node.
        node: usize,
    },
    /// Captured work on a forked stream was never joined back into the origin stream.
    #[error("capture ended with node {node} on a stream never joined back to the origin")]
    UnjoinedCapture {
        /// The source DAG node.
        node: usize,
    },
    /// An operation that cannot be part of a graph was attempted while recording one.
    #[error("{operation} is not allowed while recording a graph")]
    IllegalInCapture {
        /// What was attempted.
        operation: &'static str,
    },
    /// A zero-length copy or fill (a graph node must do something).
    #[error("{what} of zero bytes: leave the node out")]
    Empty {
        /// The operation.
        what: &'static str,
    },
    /// The launch stream belongs to another device.
    #[error("the graph belongs to {graph} but was launched on a stream of {stream}")]
    WrongStream {
        /// The graph's device.
        graph: String,
        /// The stream's device.
        stream: String,
    },
}

/// The one kernel launch `f` queues (any typed launcher), recorded instead of run: the
/// argument [`Graph::set_kernel`] and [`Dag::set_kernel`] take.
pub fn record_launch(
    device: &Device,
    f: impl FnOnce(&Stream) -> Result<()>,
) -> Result<crate::launch::KernelLaunch> {
    let mut dag = Dag::new();
    let id = dag.record_one(device, &[], f)?;
    match dag.nodes.swap_remove(id.0).op {
        dag::Op::Kernel(k) => Ok(k),
        other => Err(Error::InvalidArgument(format!(
            "record_launch: the closure queued a {:?}, not a kernel launch",
            other.kind()
        ))),
    }
}

fn check_stream(device: &Device, stream: &Stream) -> Result<()> {
    let s = stream.device();
    if s.backend() != device.backend() || s.ordinal() != device.ordinal() {
        return Err(Error::from(GraphError::WrongStream {
            graph: format!("{} device {}", device.backend(), device.ordinal()),
            stream: format!("{} device {}", s.backend(), s.ordinal()),
        }));
    }
    Ok(())
}
