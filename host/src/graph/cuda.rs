//! CUDA graphs made from a DAG: built node by node through the driver's graph API, or
//! captured from the eager plan's stream work; both keep a handle per DAG node so that
//! parameters can be updated in the executable without re-instantiating.

use std::sync::Arc;

use crate::backend::cuda::raw::{self, CopyEnd, GraphNode, KernelNode, RepeatableCallback};
use crate::backend::cuda::{CudaDevice, KernelParams, device_ptr};
use crate::backend::{Device, DeviceImpl, Event, Stream};
use crate::error::{Error, Result};
use crate::launch::{KernelLaunch, KernelRef};

use super::check::Checked;
use super::dag::{Dag, NodeId, Op};
use super::issue::{Mode, StreamIssuer, issue};
use super::plan::Plan;

/// An instantiated CUDA graph and what it needs to stay valid.
pub(crate) struct CudaGraph {
    device: Arc<CudaDevice>,
    pub(crate) exec: raw::GraphExec,
    /// The template: node handles belong to it.
    _graph: raw::Graph,
    /// The driver's node for each DAG node.
    nodes: Vec<GraphNode>,
    /// Per DAG node: whether it follows kernel predecessors through programmatic edges, so
    /// that only kernels waiting for prior grids may run there.
    programmatic_in: Vec<bool>,
    /// Host callbacks the driver calls by address: boxed so a growing vector never moves
    /// them.
    #[allow(clippy::vec_box)]
    callbacks: Vec<Box<RepeatableCallback>>,
}

impl std::fmt::Debug for CudaGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaGraph")
            .field("nodes", &self.nodes.len())
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: node handles are plain identifiers used only through `&mut self` updates.
unsafe impl Send for CudaGraph {}
// SAFETY: as for Send.
unsafe impl Sync for CudaGraph {}

fn cuda_device(device: &Device) -> Result<&Arc<CudaDevice>> {
    match &device.inner {
        DeviceImpl::Cuda(d) => Ok(d),
        DeviceImpl::Cpu(_) => Err(Error::DeviceMismatch(
            "a CUDA graph needs a CUDA device".to_owned(),
        )),
    }
}

impl CudaGraph {
    /// Builds the graph node by node through the driver's graph API.
    pub(crate) fn build(dag: &Dag, checked: &Checked, device: &Device) -> Result<CudaGraph> {
        let cuda = cuda_device(device)?;
        let graph = raw::Graph::new(&cuda.ctx)?;
        let mut nodes: Vec<GraphNode> = vec![std::ptr::null_mut(); dag.nodes.len()];
        let mut programmatic_in = vec![false; dag.nodes.len()];
        let mut callbacks = Vec::new();
        for &i in &checked.order {
            let node = &dag.nodes[i];
            let deps: Vec<GraphNode> = node.deps.iter().map(|d| nodes[d.0]).collect();
            // In every arm below: the DAG owns every allocation its nodes name and the graph
            // owns the DAG for as long as the executable exists.
            nodes[i] = match &node.op {
                Op::Kernel(k) => {
                    // A riptide kernel waits for prior grids on entry, so it may follow its
                    // kernel predecessors programmatically: launched while they finish.
                    let waits = waits_for_prior_grids(cuda, k);
                    let (early, full): (Vec<&NodeId>, Vec<&NodeId>) = node
                        .deps
                        .iter()
                        .partition(|d| waits && matches!(dag.nodes[d.0].op, Op::Kernel(_)));
                    programmatic_in[i] = !early.is_empty();
                    let early: Vec<GraphNode> = early.iter().map(|d| nodes[d.0]).collect();
                    let full: Vec<GraphNode> = full.iter().map(|d| nodes[d.0]).collect();
                    let mut params = KernelParams::new(cuda, k)?;
                    let mut pointers = params.pointers();
                    // SAFETY: the arguments come from a typed launcher (parameters matched to
                    // the PTX entry, lengths checked) and the shape was checked in validation;
                    // the DAG keeps every buffer alive (see above); programmatic edges lead
                    // only to kernels that wait for prior grids before touching memory.
                    unsafe {
                        graph.add_kernel(&full, &early, kernel_node(k, &params, &mut pointers))
                    }?
                }
                Op::Host { f, .. } => {
                    let data = keep_callback(&mut callbacks, f);
                    // SAFETY: the box lives in `callbacks`, owned with the executable.
                    unsafe { graph.add_host(&deps, data) }?
                }
                Op::Zero { dst } => {
                    let ptr = device_ptr(dst)?;
                    // SAFETY: a bounds-checked range of an allocation the DAG keeps alive.
                    unsafe { graph.add_zero(&deps, ptr, dst.bytes) }?
                }
                op => {
                    let (dst, src, bytes) = copy_ends(op)?;
                    // SAFETY: bounds-checked ranges; host ends are pinned allocations; the
                    // DAG keeps both alive.
                    unsafe { graph.add_copy(&deps, dst, src, bytes) }?
                }
            };
        }
        let exec = graph.instantiate()?;
        Ok(CudaGraph {
            device: Arc::clone(cuda),
            exec,
            _graph: graph,
            nodes,
            programmatic_in,
            callbacks,
        })
    }

    /// Kernel nodes that follow at least one predecessor through a programmatic edge.
    pub(crate) fn programmatic_nodes(&self) -> usize {
        self.programmatic_in.iter().filter(|&&p| p).count()
    }

    /// Whether node `index` may take `op` in place: anything, except a kernel that does not
    /// wait for prior grids on a node with programmatic edges in.
    pub(crate) fn accepts(&self, index: usize, op: &Op) -> bool {
        match op {
            Op::Kernel(k) => !self.programmatic_in[index] || waits_for_prior_grids(&self.device, k),
            _ => true,
        }
    }

    /// Captures the eager plan's stream work into a graph.
    pub(crate) fn capture(
        dag: &Dag,
        checked: &Checked,
        device: &Device,
        max_streams: usize,
    ) -> Result<CudaGraph> {
        let cuda = cuda_device(device)?;
        let plan = Plan::new(dag, checked, max_streams);
        // Captured work does not run at capture time: there is nothing to trace, and the
        // tracer's events may not be queried inside a capture.
        let mut device = device.clone();
        device.tracer = None;
        let device = &device;
        let lanes: Vec<Stream> = (0..plan.lanes)
            .map(|_| device.stream())
            .collect::<Result<_>>()?;
        let events: Vec<Event> = (0..plan.events)
            .map(|_| device.event(false))
            .collect::<Result<_>>()?;
        let origin = lanes[0]
            .cuda()
            .map(|s| s.raw())
            .ok_or_else(|| Error::DeviceMismatch("capture needs a CUDA stream".to_owned()))?;
        let mut nodes: Vec<GraphNode> = vec![std::ptr::null_mut(); dag.nodes.len()];
        let mut callbacks = Vec::new();
        let mut learn = |index: usize, stream: &Stream| -> Result<()> {
            if let Some(s) = stream.cuda() {
                nodes[index] = raw::last_captured_node(s.raw())?;
            }
            Ok(())
        };
        let capturing = raw::begin_capture(&cuda.ctx, origin)?;
        let issued = issue(
            &plan,
            dag,
            &mut StreamIssuer {
                lanes: lanes.iter().collect(),
                events: &events,
                mode: Mode::Capture,
                after_run: Some(&mut learn),
                keep: Some(&mut callbacks),
            },
        );
        // End the capture whatever happened, so the stream is usable again.
        let ended = raw::end_capture(&cuda.ctx, origin);
        drop(capturing);
        issued?;
        let graph = ended?;
        let exec = graph.instantiate()?;
        Ok(CudaGraph {
            device: Arc::clone(cuda),
            exec,
            _graph: graph,
            programmatic_in: vec![false; nodes.len()],
            nodes,
            callbacks,
        })
    }

    /// Points node `index` of the executable at `op`'s new parameters (same node kind).
    pub(crate) fn set(&mut self, index: usize, op: &Op) -> Result<()> {
        if let (false, Op::Kernel(k)) = (self.accepts(index, op), op) {
            return Err(super::GraphError::NeedsFullEdges {
                node: index,
                kernel: k.kernel().name().to_owned(),
            }
            .into());
        }
        let node = self.nodes[index];
        // In every arm: as in `build`; the caller puts `op` into the DAG the graph owns, so
        // its allocations stay alive as long as the executable.
        match op {
            Op::Kernel(k) => {
                let mut params = KernelParams::new(&self.device, k)?;
                let mut pointers = params.pointers();
                // SAFETY: as for `add_kernel` in `build`.
                unsafe {
                    self.exec
                        .set_kernel(node, kernel_node(k, &params, &mut pointers))
                }
            }
            Op::Host { f, .. } => {
                // Earlier callbacks stay alive too: a launch still in flight may call them.
                let data = keep_callback(&mut self.callbacks, f);
                // SAFETY: the box lives in `callbacks`, owned with the executable.
                unsafe { self.exec.set_host(node, data) }
            }
            Op::Zero { dst } => {
                let ptr = device_ptr(dst)?;
                // SAFETY: as for `add_zero` in `build`.
                unsafe { self.exec.set_zero(node, ptr, dst.bytes) }
            }
            op => {
                let (dst, src, bytes) = copy_ends(op)?;
                // SAFETY: as for `add_copy` in `build`.
                unsafe { self.exec.set_copy(node, dst, src, bytes) }
            }
        }
    }
}

/// Whether launch `k` runs one of riptide's kernels from a module whose every kernel waits
/// for prior grids on entry (PTX for sm_90 and newer): only then may it follow a kernel node
/// through a programmatic edge.
fn waits_for_prior_grids(device: &CudaDevice, k: &KernelLaunch) -> bool {
    device.programmatic_edges && matches!(k.kernel(), KernelRef::Builtin(_))
}

/// The kernel node for launch `k` with its marshalled `params` (`pointers` from them).
fn kernel_node<'a>(
    k: &KernelLaunch,
    params: &KernelParams,
    pointers: &'a mut [*mut std::ffi::c_void],
) -> KernelNode<'a> {
    let c = k.config();
    KernelNode {
        func: params.func,
        grid: (c.grid.x, c.grid.y, c.grid.z),
        block: (c.block.x, c.block.y, c.block.z),
        shared_bytes: c.shared_bytes,
        params: pointers,
    }
}

/// Boxes a clone of `f` into `keep` and returns its address, stable for as long as `keep`
/// holds the box (the driver calls a graph's host callbacks by that address).
#[allow(clippy::vec_box)]
pub(crate) fn keep_callback(
    keep: &mut Vec<Box<RepeatableCallback>>,
    f: &RepeatableCallback,
) -> *const RepeatableCallback {
    let boxed = Box::new(f.clone());
    let data: *const RepeatableCallback = &*boxed;
    keep.push(boxed);
    data
}

fn copy_ends(op: &Op) -> Result<(CopyEnd, CopyEnd, usize)> {
    Ok(match op {
        Op::ToDevice { src, dst } => (
            CopyEnd::Device(device_ptr(dst)?),
            // SAFETY: the offset was bounds-checked against the allocation when the range
            // was made.
            CopyEnd::Host(unsafe { src.mem.ptr.add(src.offset) }),
            src.bytes,
        ),
        Op::ToHost { src, dst } => (
            // SAFETY: as above.
            CopyEnd::Host(unsafe { dst.mem.ptr.add(dst.offset) }),
            CopyEnd::Device(device_ptr(src)?),
            src.bytes,
        ),
        Op::OnDevice { src, dst } => (
            CopyEnd::Device(device_ptr(dst)?),
            CopyEnd::Device(device_ptr(src)?),
            src.bytes,
        ),
        _ => unreachable!("copy_ends is only called for copies"),
    })
}
