//! Carrying out a [`Plan`]: onto real streams (eager runs, and CUDA stream capture), or
//! into a recorder that rebuilds the dependency graph the way stream capture does (the CPU
//! backend's emulation of capture).

use std::collections::BTreeSet;

use crate::backend::cuda::raw::{self, RepeatableCallback};
use crate::backend::{Event, Stream};
use crate::error::Result;

use super::GraphError;
use super::dag::{Dag, Node, NodeId, Op};
use super::plan::{Plan, Step};

/// Issues one plan step at a time.
pub(crate) trait Issue {
    fn run(&mut self, lane: usize, node: &Node, index: usize) -> Result<()>;
    fn record(&mut self, lane: usize, event: usize) -> Result<()>;
    fn wait(&mut self, lane: usize, event: usize) -> Result<()>;
}

/// Issues every step of `plan` over `dag` through `issuer`.
pub(crate) fn issue(plan: &Plan, dag: &Dag, issuer: &mut impl Issue) -> Result<()> {
    for step in &plan.steps {
        match *step {
            Step::Run { lane, node } => issuer.run(lane, &dag.nodes[node], node)?,
            Step::Record { lane, event } => issuer.record(lane, event)?,
            Step::Wait { lane, event } => issuer.wait(lane, event)?,
        }
    }
    Ok(())
}

/// How host callbacks are queued: once (eager) or repeatably (captured into a CUDA graph,
/// where the graph owns the callback and the driver calls it on every launch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Eager,
    Capture,
}

/// A hook called with each node's index and stream right after the node is queued.
pub(crate) type AfterRun<'a> = dyn FnMut(usize, &Stream) -> Result<()> + 'a;

/// Issues onto streams: `lanes[0]` is the caller's stream, the rest are the pool's.
pub(crate) struct StreamIssuer<'a> {
    pub(crate) lanes: Vec<&'a Stream>,
    pub(crate) events: &'a [Event],
    pub(crate) mode: Mode,
    /// Called after each node is queued (capture uses it to learn the node's handle).
    pub(crate) after_run: Option<&'a mut AfterRun<'a>>,
    /// Where capture keeps the host callbacks it hands the driver (stable addresses).
    #[allow(clippy::vec_box)]
    pub(crate) keep: Option<&'a mut Vec<Box<RepeatableCallback>>>,
}

impl Issue for StreamIssuer<'_> {
    fn run(&mut self, lane: usize, node: &Node, index: usize) -> Result<()> {
        let stream = self.lanes[lane];
        let fence = self.mode == Mode::Eager;
        match &node.op {
            Op::Kernel(k) => stream.launch(k)?,
            Op::ToDevice { src, dst } => stream.h2d_range(src.clone(), dst.clone(), fence)?,
            Op::ToHost { src, dst } => stream.d2h_range(src.clone(), dst.clone(), fence)?,
            Op::OnDevice { src, dst } => stream.d2d_range(src.clone(), dst.clone())?,
            Op::Zero { dst } => stream.zero_range(dst.clone())?,
            Op::Host { f, .. } => match (self.mode, stream.cuda(), self.keep.as_mut()) {
                (Mode::Capture, Some(s), Some(keep)) => {
                    let data = super::cuda::keep_callback(keep, f);
                    // SAFETY: the box lives in `keep`, owned by the captured graph until its
                    // executable is destroyed (after its last launch completed).
                    unsafe { raw::launch_host_fn_repeatable(s.ctx(), s.raw(), data) }?
                }
                _ => {
                    let f = f.clone();
                    stream.host_fn(move || f())?
                }
            },
        }
        if let Some(hook) = self.after_run.as_mut() {
            hook(index, stream)?;
        }
        Ok(())
    }

    fn record(&mut self, lane: usize, event: usize) -> Result<()> {
        self.lanes[lane].record(&self.events[event])
    }

    fn wait(&mut self, lane: usize, event: usize) -> Result<()> {
        self.lanes[lane].wait(&self.events[event])
    }
}

/// Rebuilds a DAG from issued steps with stream-capture semantics: a node depends on its
/// lane's frontier; a record snapshots the frontier into the event; a wait merges the
/// event's frontier into the lane's. Edges the plan failed to convey are absent from the
/// rebuilt DAG, and its validation then reports the race.
pub(crate) struct CaptureRecorder {
    frontier: Vec<BTreeSet<usize>>,
    event_frontier: Vec<BTreeSet<usize>>,
    pub(crate) captured: Dag,
    /// For each captured node, the source node it came from.
    pub(crate) source: Vec<usize>,
}

impl CaptureRecorder {
    pub(crate) fn new(lanes: usize, events: usize) -> CaptureRecorder {
        CaptureRecorder {
            frontier: vec![BTreeSet::new(); lanes],
            event_frontier: vec![BTreeSet::new(); events],
            captured: Dag::new(),
            source: Vec::new(),
        }
    }

    /// Ends the capture: every captured node must be joined back into lane 0 (an ancestor
    /// of lane 0's frontier), as CUDA requires of forked streams.
    pub(crate) fn finish(self) -> Result<(Dag, Vec<usize>)> {
        let n = self.captured.nodes.len();
        let mut joined = vec![false; n];
        let mut stack: Vec<usize> = self.frontier[0].iter().copied().collect();
        while let Some(i) = stack.pop() {
            if !joined[i] {
                joined[i] = true;
                stack.extend(self.captured.nodes[i].deps.iter().map(|d| d.0));
            }
        }
        if let Some(i) = joined.iter().position(|j| !j) {
            return Err(GraphError::UnjoinedCapture {
                node: self.source[i],
            }
            .into());
        }
        Ok((self.captured, self.source))
    }
}

impl Issue for CaptureRecorder {
    fn run(&mut self, lane: usize, node: &Node, index: usize) -> Result<()> {
        let deps: Vec<NodeId> = self.frontier[lane].iter().map(|&i| NodeId(i)).collect();
        self.captured.nodes.push(Node {
            op: node.op.clone(),
            label: node.label.clone(),
            deps,
        });
        self.source.push(index);
        self.frontier[lane] = BTreeSet::from([self.captured.nodes.len() - 1]);
        Ok(())
    }

    fn record(&mut self, lane: usize, event: usize) -> Result<()> {
        self.event_frontier[event] = self.frontier[lane].clone();
        Ok(())
    }

    fn wait(&mut self, lane: usize, event: usize) -> Result<()> {
        let merged: Vec<usize> = self.event_frontier[event].iter().copied().collect();
        self.frontier[lane].extend(merged);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuConfig;
    use crate::graph::check::Checked;

    /// The capture emulation sees exactly the dependencies the plan conveys: with one
    /// cross-stream wait removed from the plan, the rebuilt DAG has a race.
    #[test]
    fn a_lost_wait_shows_up_as_a_race_in_the_captured_dag() {
        let device = crate::Device::cpu(CpuConfig::default());
        let mut a = device.alloc::<f32>(8, "a").unwrap();
        let mut b = device.alloc::<f32>(8, "b").unwrap();
        let mut dag = Dag::new();
        let za = dag.fill_zero(&mut a, &[]).unwrap();
        let zb = dag.fill_zero(&mut b, &[]).unwrap();
        dag.copy_on_device(&a, &mut b, &[za, zb]).unwrap();
        let checked = Checked::new(&dag, &device).unwrap();
        let plan = Plan::new(&dag, &checked, 4);

        let rebuild = |plan: &Plan| -> Result<()> {
            let mut recorder = CaptureRecorder::new(plan.lanes, plan.events);
            issue(plan, &dag, &mut recorder)?;
            let (captured, _) = recorder.finish()?;
            Checked::new(&captured, &device).map(|_| ())
        };
        rebuild(&plan).expect("the full plan conveys every edge");

        let mut lossy = plan.clone();
        let wait = lossy
            .steps
            .iter()
            .position(|s| matches!(s, Step::Wait { event, .. } if *event >= plan.lanes))
            .expect("the copy waits for the other stream's fill");
        lossy.steps.remove(wait);
        let err = rebuild(&lossy).expect_err("a lost wait must be caught");
        assert!(
            matches!(&err, crate::Error::Graph(GraphError::Race { .. })),
            "{err}"
        );
    }
}
