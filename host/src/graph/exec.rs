//! [`Graph`]: a DAG instantiated once — by stream capture or built explicitly — and
//! launched many times, with parameter updates in place.
//!
//! On the CUDA backend a graph is a driver graph executable. On the CPU backend it is
//! emulated: the explicit build keeps the DAG as is; capture rebuilds the DAG from the
//! planned stream work with stream-capture semantics (so a dependency the plan fails to
//! convey is lost exactly as it would be on a GPU, and validation of the rebuilt DAG
//! reports it); replay issues it on the backend's streams with the race detector on.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::memory::{HostMemory, Pending};
use crate::backend::{Device, DeviceImpl, Stream};
use crate::error::Result;
use crate::launch::KernelLaunch;

use super::GraphError;
use super::check::{Checked, conflicting};
use super::cuda::CudaGraph;
use super::dag::{Dag, NodeId, Op, Touch};
use super::eager::EagerRunner;
use super::issue::{CaptureRecorder, issue};
use super::plan::Plan;

/// How a [`Graph`] was made from its DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphMethod {
    /// Stream capture of the eager plan (fork/join over a stream pool).
    Captured {
        /// Streams the capture forked into, at most.
        max_streams: usize,
    },
    /// Node by node through the driver's graph API.
    Explicit,
}

/// What [`Graph::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Same topology: every node's parameters were replaced in the executable.
    Updated,
    /// The topology changed: the graph was instantiated again.
    Reinstantiated,
}

/// Streams an emulated explicit graph runs on (a GPU runs a graph's independent branches
/// concurrently without a stream limit; the emulation needs some bound).
const EMULATED_STREAMS: usize = 16;

#[derive(Debug)]
enum Backend {
    Cuda(CudaGraph),
    Cpu(EagerRunner),
}

/// An instantiated graph. It owns its DAG, and so every buffer and host staging area the
/// nodes name: they stay allocated until the graph is dropped.
#[derive(Debug)]
pub struct Graph {
    device: Device,
    method: GraphMethod,
    dag: Dag,
    checked: Checked,
    /// Accesses per allocation, for checking single-node updates without a full pass.
    touches: HashMap<u64, Vec<(usize, Touch)>>,
    /// Host allocations the graph copies to or from: fenced after every launch.
    host: Vec<Arc<HostMemory>>,
    backend: Backend,
}

impl Graph {
    /// Validates `dag` and captures it into a graph over at most `max_streams` streams.
    pub fn capture(dag: Dag, device: &Device, max_streams: usize) -> Result<Graph> {
        Graph::make(dag, device, GraphMethod::Captured { max_streams })
    }

    /// Validates `dag` and builds it node by node into a graph.
    pub fn build(dag: Dag, device: &Device) -> Result<Graph> {
        Graph::make(dag, device, GraphMethod::Explicit)
    }

    fn make(dag: Dag, device: &Device, method: GraphMethod) -> Result<Graph> {
        let checked = Checked::new(&dag, device)?;
        Graph::from_checked(dag, checked, device, method)
    }

    fn from_checked(
        dag: Dag,
        checked: Checked,
        device: &Device,
        method: GraphMethod,
    ) -> Result<Graph> {
        let backend = instantiate(&dag, &checked, device, method)?;
        Ok(Graph {
            device: device.clone(),
            method,
            touches: index_touches(&dag),
            host: host_memories(&dag),
            dag,
            checked,
            backend,
        })
    }

    /// How the graph was made.
    pub fn method(&self) -> GraphMethod {
        self.method
    }

    /// The DAG the graph runs (with every update applied).
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Queues one run of the whole graph on `stream`, behind its current work. Host access
    /// to the graph's pinned buffers then waits for this run.
    pub fn launch(&self, stream: &Stream) -> Result<()> {
        super::check_stream(&self.device, stream)?;
        let _range = crate::trace::nvtx_range("graph launch");
        match &self.backend {
            Backend::Cpu(runner) => runner.run(stream),
            Backend::Cuda(g) => {
                let s = stream.cuda().ok_or_else(|| {
                    crate::Error::DeviceMismatch("a CUDA graph needs a CUDA stream".to_owned())
                })?;
                // SAFETY: the graph owns its DAG and so every allocation its nodes point to;
                // host callbacks are boxed in the graph; all outlive the executable.
                unsafe { g.exec.launch(s.raw()) }?;
                stream.trace_untimed_work();
                if !self.host.is_empty() {
                    let fence = Pending::Cuda(s.fence()?);
                    for mem in &self.host {
                        mem.add_pending(stream.id(), fence.clone());
                    }
                }
                Ok(())
            }
        }
    }

    /// Kernel nodes launched while their kernel predecessors finish (programmatic edges):
    /// in a graph built with [`Graph::build`] on a GPU whose module's kernels wait for prior
    /// grids (Hopper and newer), every riptide kernel that follows a kernel; 0 for captured
    /// graphs and on the CPU backend.
    pub fn programmatic_nodes(&self) -> usize {
        match &self.backend {
            Backend::Cuda(g) => g.programmatic_nodes(),
            Backend::Cpu(_) => 0,
        }
    }

    /// Replaces kernel node `node`'s launch (new scalars, other buffers, another grid) in
    /// the instantiated graph, without re-instantiating. The new launch's buffers must keep
    /// the DAG race-free and live on the graph's device.
    /// On a node that follows kernels through programmatic edges
    /// ([`Graph::programmatic_nodes`]) only riptide's own kernels fit: another kernel gives
    /// [`GraphError::NeedsFullEdges`] (and [`Graph::update`] instantiates again instead).
    pub fn set_kernel(&mut self, node: NodeId, launch: KernelLaunch) -> Result<()> {
        let i = node.0;
        if !matches!(self.dag.node(node)?.op, Op::Kernel(_)) {
            return Err(GraphError::NotAKernel { node: i }.into());
        }
        let op = Op::Kernel(launch);
        super::check::check_node(&op, i, std::slice::from_ref(&self.device))?;
        let new_touches = op.accesses();
        self.check_against_others(i, &new_touches)?;
        if let Backend::Cuda(g) = &mut self.backend {
            g.set(i, &op)?;
        }
        self.replace_op(i, op, new_touches);
        Ok(())
    }

    /// Points the graph at `dag`'s parameters. With the same topology (node kinds and
    /// edges), every node is updated in place; otherwise the graph is instantiated again
    /// from `dag` the same way it was made.
    pub fn update(&mut self, dag: Dag) -> Result<UpdateOutcome> {
        let checked = Checked::new(&dag, &self.device)?;
        let in_place = same_topology(&self.dag, &dag)
            && match &self.backend {
                // A kernel that does not wait for prior grids cannot take a node joined by
                // programmatic edges: such an update instantiates the graph again.
                Backend::Cuda(g) => (0..dag.nodes.len()).all(|i| g.accepts(i, &dag.nodes[i].op)),
                Backend::Cpu(_) => true,
            };
        if !in_place {
            *self = Graph::from_checked(dag, checked, &self.device, self.method)?;
            return Ok(UpdateOutcome::Reinstantiated);
        }
        if let Backend::Cuda(g) = &mut self.backend {
            for (i, node) in dag.nodes.iter().enumerate() {
                g.set(i, &node.op)?;
            }
        }
        if let Backend::Cpu(runner) = &mut self.backend {
            sync_emulated(runner, &dag);
        }
        self.touches = index_touches(&dag);
        self.host = host_memories(&dag);
        self.dag = dag;
        self.checked = checked;
        Ok(UpdateOutcome::Updated)
    }

    fn check_against_others(&self, i: usize, new: &[Touch]) -> Result<()> {
        for t in new.iter().filter(|t| !t.bytes.is_empty()) {
            for (j, u) in self.touches.get(&t.allocation).into_iter().flatten() {
                if conflicting(t, u) && !self.checked.ordered(i, *j) {
                    return Err(GraphError::Race {
                        first: format!("updated node {i} touches {:?}", t.label),
                        second: format!(
                            "node {j} ({}) touches {:?} bytes {}..{}",
                            self.dag.nodes[*j].label, u.label, u.bytes.start, u.bytes.end
                        ),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    fn replace_op(&mut self, i: usize, op: Op, new_touches: Vec<Touch>) {
        for t in self.dag.nodes[i].op.accesses() {
            if let Some(list) = self.touches.get_mut(&t.allocation) {
                list.retain(|(j, _)| *j != i);
            }
        }
        for t in new_touches {
            self.touches.entry(t.allocation).or_default().push((i, t));
        }
        if let Op::Kernel(k) = &op {
            self.dag.nodes[i].label = k.kernel().name().to_owned();
        }
        self.dag.nodes[i].op = op.clone();
        if let Backend::Cpu(runner) = &mut self.backend {
            // The emulated graph's DAG (rebuilt by capture, or a copy) keeps source order.
            runner.dag_mut().nodes[i].op = op;
        }
    }
}

/// Keeps an emulated graph's DAG in step with the source DAG after an in-place update.
fn sync_emulated(runner: &mut EagerRunner, source: &Dag) {
    // Emulated capture renumbers the rebuilt DAG back to source order, so indices coincide.
    for (i, node) in source.nodes.iter().enumerate() {
        runner.dag_mut().nodes[i].op = node.op.clone();
        runner.dag_mut().nodes[i].label = node.label.clone();
    }
}

fn instantiate(
    dag: &Dag,
    checked: &Checked,
    device: &Device,
    method: GraphMethod,
) -> Result<Backend> {
    match (&device.inner, method) {
        (DeviceImpl::Cuda(_), GraphMethod::Explicit) => {
            Ok(Backend::Cuda(CudaGraph::build(dag, checked, device)?))
        }
        (DeviceImpl::Cuda(_), GraphMethod::Captured { max_streams }) => Ok(Backend::Cuda(
            CudaGraph::capture(dag, checked, device, max_streams)?,
        )),
        (DeviceImpl::Cpu(_), GraphMethod::Explicit) => Ok(Backend::Cpu(EagerRunner::from_checked(
            dag.clone(),
            checked,
            std::slice::from_ref(device),
            EMULATED_STREAMS,
        )?)),
        (DeviceImpl::Cpu(_), GraphMethod::Captured { max_streams }) => {
            let rebuilt = emulate_capture(dag, checked, max_streams)?;
            let rebuilt_checked = Checked::new(&rebuilt, device)?;
            Ok(Backend::Cpu(EagerRunner::from_checked(
                rebuilt,
                &rebuilt_checked,
                std::slice::from_ref(device),
                max_streams,
            )?))
        }
    }
}

/// Records the plan's stream work with capture semantics and returns the captured DAG,
/// renumbered to the source DAG's node order.
fn emulate_capture(dag: &Dag, checked: &Checked, max_streams: usize) -> Result<Dag> {
    let plan = Plan::new(dag, checked, max_streams);
    let mut recorder = CaptureRecorder::new(plan.lanes, plan.events);
    issue(&plan, dag, &mut recorder)?;
    let (captured, source) = recorder.finish()?;
    let mut position = vec![0usize; source.len()];
    for (captured_index, &s) in source.iter().enumerate() {
        position[captured_index] = s;
    }
    let mut nodes: Vec<Option<super::dag::Node>> = vec![None; dag.nodes.len()];
    for (captured_index, mut node) in captured.nodes.into_iter().enumerate() {
        for d in &mut node.deps {
            d.0 = position[d.0];
        }
        node.deps.sort_unstable();
        nodes[position[captured_index]] = Some(node);
    }
    Ok(Dag {
        nodes: nodes
            .into_iter()
            .map(|n| n.expect("capture records every node once"))
            .collect(),
    })
}

fn same_topology(a: &Dag, b: &Dag) -> bool {
    a.nodes.len() == b.nodes.len()
        // Every way of adding a node or an edge keeps `deps` sorted and free of repeats.
        && a
            .nodes
            .iter()
            .zip(&b.nodes)
            .all(|(x, y)| x.op.kind() == y.op.kind() && x.deps == y.deps)
}

fn index_touches(dag: &Dag) -> HashMap<u64, Vec<(usize, Touch)>> {
    let mut map: HashMap<u64, Vec<(usize, Touch)>> = HashMap::new();
    for (i, node) in dag.nodes.iter().enumerate() {
        for t in node.op.accesses() {
            map.entry(t.allocation).or_default().push((i, t));
        }
    }
    map
}

fn host_memories(dag: &Dag) -> Vec<Arc<HostMemory>> {
    let mut seen = std::collections::BTreeMap::new();
    for node in &dag.nodes {
        for r in node.op.host_ranges() {
            seen.entry(r.mem.id).or_insert_with(|| Arc::clone(&r.mem));
        }
    }
    seen.into_values().collect()
}
