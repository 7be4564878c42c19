//! Graph workloads shared by `riptide bench`, the criterion benches and `benches/graphs.rs`:
//! a chain of small dependent kernels and a wide DAG of independent branches, each run
//! eagerly on a stream pool and replayed as a captured graph.

use std::time::Instant;

use riptide_host::graph::{Dag, EagerRunner, Graph, NodeId};
use riptide_host::kernels;
use riptide_host::{BackendKind, Device, DeviceBuffer, Result, Stream};

use super::sweep::{GraphVsEager, SweepOptions};

/// Elements each small kernel touches (one block of axpby).
pub const SMALL_KERNEL_LEN: usize = 256;

/// What each kernel of a [`GraphWorkload`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeBody {
    /// `y += x` over [`SMALL_KERNEL_LEN`] elements (one block of axpby): each kernel reads
    /// what the one before it wrote.
    Axpby,
    /// A kernel of one thread that touches no memory (the fault-injection kernel, disarmed):
    /// what launch-overhead figures such as "graph replay 0.79 µs per node" are quoted for.
    Empty,
}

/// A DAG of `branches` independent chains of `nodes / branches` kernels each, with the
/// buffers it names.
#[derive(Debug)]
pub struct GraphWorkload {
    /// "chain N" or "wide BxD".
    pub name: String,
    /// The DAG.
    pub dag: Dag,
    /// The first kernel node (the one benchmarks re-point).
    pub first_kernel: NodeId,
    /// The kernels' shared input (all ones).
    pub x: DeviceBuffer<f32>,
    /// One accumulator per branch (zeroed at build time).
    pub outs: Vec<DeviceBuffer<f32>>,
    /// Kernels per branch: each run adds this to every element of every accumulator.
    pub depth: usize,
    /// What the kernels do.
    pub body: NodeBody,
}

impl GraphWorkload {
    /// Builds `branches` chains of `nodes / branches` axpby kernels on `dev`.
    pub fn new(dev: &Device, nodes: usize, branches: usize) -> Result<GraphWorkload> {
        GraphWorkload::with_body(dev, nodes, branches, NodeBody::Axpby)
    }

    /// Builds `branches` chains of `nodes / branches` kernels doing `body` on `dev`.
    pub fn with_body(
        dev: &Device,
        nodes: usize,
        branches: usize,
        body: NodeBody,
    ) -> Result<GraphWorkload> {
        let branches = branches.max(1);
        let depth = (nodes / branches).max(1);
        let s = dev.stream()?;
        let mut x = dev.alloc::<f32>(SMALL_KERNEL_LEN, "x")?;
        s.upload(&vec![1.0; SMALL_KERNEL_LEN], &mut x)?;
        let mut outs: Vec<DeviceBuffer<f32>> = (0..branches)
            .map(|i| dev.alloc::<f32>(SMALL_KERNEL_LEN, &format!("y{i}")))
            .collect::<Result<_>>()?;
        let mut dag = Dag::new();
        let mut first_kernel = None;
        for y in outs.iter_mut() {
            s.fill_zero(&mut *y)?;
            let mut prev = Vec::new();
            for _ in 0..depth {
                let id = match body {
                    NodeBody::Axpby => {
                        dag.record_one(dev, &prev, |s| kernels::axpby(s, 1.0, &x, 1.0, &mut *y))?
                    }
                    NodeBody::Empty => dag.record_one(dev, &prev, kernels::debug::disarmed)?,
                };
                first_kernel.get_or_insert(id);
                prev = vec![id];
            }
        }
        s.synchronize()?;
        let shape = if branches == 1 {
            format!("chain {depth}")
        } else {
            format!("wide {branches}x{depth}")
        };
        let name = match body {
            NodeBody::Axpby => shape,
            NodeBody::Empty => format!("{shape}, empty kernels"),
        };
        Ok(GraphWorkload {
            name,
            dag,
            first_kernel: first_kernel.expect("at least one kernel"),
            x,
            outs,
            depth,
            body,
        })
    }

    /// Checks every accumulator holds `runs · depth` (each run adds `depth` ones; empty
    /// kernels leave them at zero).
    pub fn verify(&self, stream: &Stream, runs: usize) -> Result<()> {
        let want = match self.body {
            NodeBody::Axpby => (runs * self.depth) as f32,
            NodeBody::Empty => 0.0,
        };
        for y in &self.outs {
            let bad = stream.download(y)?.iter().filter(|v| **v != want).count();
            if bad > 0 {
                return Err(riptide_host::Error::Backend(format!(
                    "{}: {bad} elements differ from {want} after {runs} runs",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

/// Milliseconds per call of `f` over `reps` calls after `warm` unmeasured ones, host wall
/// time with the stream synchronized before the clock stops.
pub fn wall_ms_per_call(
    stream: &Stream,
    warm: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warm {
        f()?;
    }
    stream.synchronize()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    stream.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / reps.max(1) as f64)
}

/// The graph comparison of `riptide bench`: a 1,000-kernel chain and 8 × 125 branches on a
/// GPU (100 and 8 × 12 on the cpu backend), eager against the replay of the graph built
/// explicitly, host wall
/// time per run; every accumulator is verified afterwards.
pub fn sweep(dev: &Device, _options: &SweepOptions) -> Result<Vec<GraphVsEager>> {
    let gpu = dev.backend() == BackendKind::Cuda;
    let (nodes, reps) = if gpu { (1000, 20) } else { (100, 3) };
    let s = dev.stream()?;
    let mut rows = Vec::new();
    for branches in [1, 8] {
        let w = GraphWorkload::new(dev, nodes, branches)?;
        let eager = EagerRunner::new(w.dag.clone(), dev, 8)?;
        // Built explicitly: on Hopper, riptide's kernels then follow each other through
        // programmatic edges.
        let graph = Graph::build(w.dag.clone(), dev)?;
        let eager_ms = wall_ms_per_call(&s, 2, reps, || eager.run(&s))?;
        let graph_ms = wall_ms_per_call(&s, 2, reps, || graph.launch(&s))?;
        w.verify(&s, 2 * (2 + reps))?;
        rows.push(GraphVsEager {
            workload: w.name.clone(),
            nodes: w.dag.len(),
            eager_ms,
            graph_ms,
        });
    }
    Ok(rows)
}
