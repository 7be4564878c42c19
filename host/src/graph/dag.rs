//! The DAG a user builds: operations as nodes, dependencies as edges, and every buffer each
//! node reads or writes.
//!
//! Nodes hold their buffers' allocations (reference-counted), so a DAG — and every graph
//! made from it — owns the memory it touches: dropping a [`DeviceBuffer`] or
//! [`PinnedBuffer`](crate::PinnedBuffer) handle while a graph still refers to it keeps the
//! memory alive, and replay stays correct.
//!
//! [`DeviceBuffer`]: crate::DeviceBuffer

use std::fmt;
use std::sync::Arc;

use crate::backend::memory::HostRange;
pub use crate::backend::record::{HostCallback, OpKind};
pub(crate) use crate::backend::record::{Op, Recording, RecordingGuard, Touch};
use crate::backend::{DeviceRead, DeviceWrite, HostRead, HostWrite};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::launch::{Access, KernelLaunch};

use super::GraphError;

/// Identifies a node of a [`Dag`]: its position in insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) usize);

impl NodeId {
    /// The node's index in insertion order.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) label: String,
    /// Nodes that must complete before this one starts.
    pub(crate) deps: Vec<NodeId>,
}

/// A dependency graph of device operations, built node by node.
///
/// Each builder method takes the nodes the new one depends on and returns its [`NodeId`];
/// [`Dag::depend`] adds edges afterwards (which is how a cycle can arise — validation
/// reports it). Buffers are declared by the operation itself: a kernel's arguments say read or
/// write, a copy reads its source and writes its destination, a host callback lists the host
/// buffers it touches. Validation ([`Dag::validate`], run by every way of executing a DAG)
/// rejects cycles, buffers of another device and any two nodes that touch overlapping bytes,
/// one of them writing, with no path between them.
#[derive(Clone, Default)]
pub struct Dag {
    pub(crate) nodes: Vec<Node>,
}

impl fmt::Debug for Dag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (i, n) in self.nodes.iter().enumerate() {
            list.entry(&format_args!(
                "{i}: {:?} {:?} after {:?}",
                n.op.kind(),
                n.label,
                n.deps.iter().map(|d| d.0).collect::<Vec<_>>()
            ));
        }
        list.finish()
    }
}

impl Dag {
    /// An empty DAG.
    pub fn new() -> Dag {
        Dag::default()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the DAG has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The kind of node `id`.
    pub fn kind(&self, id: NodeId) -> Result<OpKind> {
        Ok(self.node(id)?.op.kind())
    }

    /// The nodes `id` depends on.
    pub fn dependencies(&self, id: NodeId) -> Result<&[NodeId]> {
        Ok(&self.node(id)?.deps)
    }

    pub(crate) fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes.get(id.0).ok_or_else(|| {
            GraphError::UnknownNode {
                node: id.0,
                len: self.nodes.len(),
            }
            .into()
        })
    }

    fn push(&mut self, op: Op, label: String, after: &[NodeId]) -> Result<NodeId> {
        for &d in after {
            self.node(d)?;
        }
        let mut deps = after.to_vec();
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node { op, label, deps });
        Ok(NodeId(self.nodes.len() - 1))
    }

    /// Adds a kernel launch (from a typed launcher) that runs after `after`.
    pub fn kernel(&mut self, launch: KernelLaunch, after: &[NodeId]) -> Result<NodeId> {
        let label = launch.kernel().name().to_owned();
        self.push(Op::Kernel(launch), label, after)
    }

    /// Adds a copy of host memory into device memory; lengths must match.
    pub fn copy_to_device<T: Element>(
        &mut self,
        src: impl HostRead<T>,
        dst: impl DeviceWrite<T>,
        after: &[NodeId],
    ) -> Result<NodeId> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "graph copy to device",
                src.elements(),
                dst.elements(),
            ));
        }
        let (src, dst) = (src.host_range(), dst.dev_range());
        non_empty("copy to device", src.bytes)?;
        let label = format!("{} -> {}", src.mem.label, dst.mem.label);
        self.push(Op::ToDevice { src, dst }, label, after)
    }

    /// Adds a copy of device memory into host memory; lengths must match.
    pub fn copy_to_host<T: Element>(
        &mut self,
        src: impl DeviceRead<T>,
        dst: impl HostWrite<T>,
        after: &[NodeId],
    ) -> Result<NodeId> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "graph copy to host",
                src.elements(),
                dst.elements(),
            ));
        }
        let (src, dst) = (src.dev_range(), dst.host_range());
        non_empty("copy to host", src.bytes)?;
        let label = format!("{} -> {}", src.mem.label, dst.mem.label);
        self.push(Op::ToHost { src, dst }, label, after)
    }

    /// Adds a device-to-device copy; lengths must match.
    pub fn copy_on_device<T: Element>(
        &mut self,
        src: impl DeviceRead<T>,
        dst: impl DeviceWrite<T>,
        after: &[NodeId],
    ) -> Result<NodeId> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "graph device copy",
                src.elements(),
                dst.elements(),
            ));
        }
        let (src, dst) = (src.dev_range(), dst.dev_range());
        non_empty("device copy", src.bytes)?;
        let label = format!("{} -> {}", src.mem.label, dst.mem.label);
        self.push(Op::OnDevice { src, dst }, label, after)
    }

    /// Adds zero-filling of device memory.
    pub fn fill_zero<T: Element>(
        &mut self,
        dst: impl DeviceWrite<T>,
        after: &[NodeId],
    ) -> Result<NodeId> {
        let dst = dst.dev_range();
        non_empty("zero fill", dst.bytes)?;
        let label = format!("zero {}", dst.mem.label);
        self.push(Op::Zero { dst }, label, after)
    }

    /// Adds a host callback that touches the host buffers in `touches` (declare them so the
    /// race check sees the callback's accesses).
    pub fn host_fn(
        &mut self,
        f: impl Fn() + Send + Sync + 'static,
        touches: HostTouches,
        after: &[NodeId],
    ) -> Result<NodeId> {
        self.push(
            Op::Host {
                f: Arc::new(f),
                touches: touches.0,
            },
            "host callback".to_owned(),
            after,
        )
    }

    /// Records what `f` queues on a recording stream of `device` — any typed launcher,
    /// copy or fill — as a chain of nodes, the first after `after`, and returns their ids
    /// in queue order. Synchronizing, allocating, event use and host access to pinned
    /// buffers inside `f` are refused with [`GraphError::IllegalInCapture`]; on any error
    /// nothing is added.
    pub fn record(
        &mut self,
        device: &crate::Device,
        after: &[NodeId],
        f: impl FnOnce(&crate::Stream) -> Result<()>,
    ) -> Result<Vec<NodeId>> {
        let ops = self.record_ops(device, after, f)?;
        Ok(self.push_chain(ops, after))
    }

    /// Like [`Dag::record`] for a closure that queues exactly one operation (one launcher
    /// call); returns its node.
    pub fn record_one(
        &mut self,
        device: &crate::Device,
        after: &[NodeId],
        f: impl FnOnce(&crate::Stream) -> Result<()>,
    ) -> Result<NodeId> {
        let ops = self.record_ops(device, after, f)?;
        if ops.len() != 1 {
            return Err(Error::InvalidArgument(format!(
                "record_one: the closure queued {} operations, expected exactly one",
                ops.len()
            )));
        }
        Ok(self.push_chain(ops, after)[0])
    }

    fn record_ops(
        &self,
        device: &crate::Device,
        after: &[NodeId],
        f: impl FnOnce(&crate::Stream) -> Result<()>,
    ) -> Result<Vec<Op>> {
        for &d in after {
            self.node(d)?;
        }
        let recording: Recording = Default::default();
        let stream = crate::Stream::recording(device, recording.clone());
        {
            let _guard = RecordingGuard::enter();
            f(&stream)?;
        }
        Ok(recording.take())
    }

    fn push_chain(&mut self, ops: Vec<Op>, after: &[NodeId]) -> Vec<NodeId> {
        let mut ids = Vec::with_capacity(ops.len());
        let mut prev = after.to_vec();
        for op in ops {
            let label = match &op {
                Op::Kernel(k) => k.kernel().name().to_owned(),
                other => format!("{:?}", other.kind()),
            };
            prev.sort_unstable();
            prev.dedup();
            self.nodes.push(Node {
                op,
                label,
                deps: prev,
            });
            let id = NodeId(self.nodes.len() - 1);
            prev = vec![id];
            ids.push(id);
        }
        ids
    }

    /// Makes `node` run after `before` as well (an edge added afterwards; may form a cycle,
    /// which validation reports).
    pub fn depend(&mut self, node: NodeId, before: NodeId) -> Result<()> {
        self.node(before)?;
        let deps = &mut self
            .nodes
            .get_mut(node.0)
            .ok_or(GraphError::UnknownNode {
                node: node.0,
                len: 0,
            })?
            .deps;
        if !deps.contains(&before) {
            deps.push(before);
            deps.sort_unstable();
        }
        Ok(())
    }

    /// Replaces the launch of kernel node `id` (same DAG shape, new arguments).
    pub fn set_kernel(&mut self, id: NodeId, launch: KernelLaunch) -> Result<()> {
        let node = self
            .nodes
            .get_mut(id.0)
            .ok_or(GraphError::UnknownNode { node: id.0, len: 0 })?;
        if !matches!(node.op, Op::Kernel(_)) {
            return Err(GraphError::NotAKernel { node: id.0 }.into());
        }
        node.label = launch.kernel().name().to_owned();
        node.op = Op::Kernel(launch);
        Ok(())
    }

    /// Checks the DAG: no cycle, every buffer on `device`, no unordered conflicting
    /// accesses. Every way of running a DAG calls this first.
    pub fn validate(&self, device: &crate::Device) -> Result<()> {
        super::check::Checked::new(self, device).map(|_| ())
    }
}

fn non_empty(what: &'static str, bytes: usize) -> Result<()> {
    if bytes == 0 {
        return Err(GraphError::Empty { what }.into());
    }
    Ok(())
}

/// The host buffers a host callback reads or writes.
#[derive(Clone, Default)]
pub struct HostTouches(pub(crate) Vec<(HostRange, Access)>);

impl fmt::Debug for HostTouches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(r, a)| (&r.mem.label, a)))
            .finish()
    }
}

impl HostTouches {
    /// A callback that touches no riptide buffer.
    pub fn none() -> HostTouches {
        HostTouches::default()
    }

    /// Declares a host buffer the callback reads.
    pub fn read<T: Element>(mut self, buf: impl HostRead<T>) -> HostTouches {
        self.0.push((buf.host_range(), Access::Read));
        self
    }

    /// Declares a host buffer the callback writes.
    pub fn write<T: Element>(mut self, buf: impl HostWrite<T>) -> HostTouches {
        self.0.push((buf.host_range(), Access::Write));
        self
    }
}
