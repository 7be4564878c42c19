//! Example 02: one DAG, captured once as a graph, replayed with new inputs and with a
//! kernel's parameters updated in place.
//!
//! The DAG computes `out = a·in + 2·in` on two branches that meet: upload `in` twice, scale
//! one copy by `a` (`axpby`), double the other, add them, download. Each replay reads
//! whatever the pinned input holds at that moment, so feeding new data needs no rebuild;
//! changing `a` is one [`Graph::set_kernel`] on the scale node.

use riptide::host::graph::{Dag, Graph, NodeId, record_launch};
use riptide::host::{Device, DeviceBuffer, PinnedBuffer, Result, Stream, kernels};

/// A captured graph with the buffers it reads and writes.
#[derive(Debug)]
pub struct ScaledSum {
    device: Device,
    graph: Graph,
    input: PinnedBuffer<f32>,
    output: PinnedBuffer<f32>,
    scaled: DeviceBuffer<f32>,
    zeros: DeviceBuffer<f32>,
    scale_node: NodeId,
}

impl ScaledSum {
    /// Builds the DAG for `len` elements and captures it on `device` over up to 4 streams.
    pub fn new(device: &Device, len: usize, a: f32) -> Result<ScaledSum> {
        let input = device.alloc_pinned::<f32>(len, "input")?;
        let output = device.alloc_pinned::<f32>(len, "output")?;
        let mut scaled = device.alloc::<f32>(len, "scaled")?;
        let mut doubled = device.alloc::<f32>(len, "doubled")?;
        let mut zeros = device.alloc::<f32>(len, "zeros")?;
        let mut dag = Dag::new();
        let up_a = dag.copy_to_device(&input, &mut scaled, &[])?;
        let up_b = dag.copy_to_device(&input, &mut doubled, &[])?;
        let zero = dag.fill_zero(&mut zeros, &[])?;
        // scaled = 0·zeros + a·scaled
        let scale_node = dag.record_one(device, &[up_a, zero], |s| {
            kernels::axpby(s, 0.0, &zeros, a, &mut scaled)
        })?;
        // doubled = 0·zeros + 2·doubled
        let double = dag.record_one(device, &[up_b, zero], |s| {
            kernels::axpby(s, 0.0, &zeros, 2.0, &mut doubled)
        })?;
        // doubled = scaled + doubled
        let sum = dag.record_one(device, &[scale_node, double], |s| {
            kernels::axpby(s, 1.0, &scaled, 1.0, &mut doubled)
        })?;
        let mut out = output;
        dag.copy_to_host(&doubled, &mut out, &[sum])?;
        let graph = Graph::capture(dag, device, 4)?;
        Ok(ScaledSum {
            device: device.clone(),
            graph,
            input,
            output: out,
            scaled,
            zeros,
            scale_node,
        })
    }

    /// Replays the graph on `stream` over `data`; returns the output.
    pub fn run(&mut self, stream: &Stream, data: &[f32]) -> Result<Vec<f32>> {
        self.input.write()?.copy_from_slice(data);
        self.graph.launch(stream)?;
        stream.synchronize()?;
        Ok(self.output.read()?.to_vec())
    }

    /// Changes `a` in the instantiated graph (no re-instantiation).
    pub fn set_scale(&mut self, a: f32) -> Result<()> {
        let (zeros, scaled) = (&self.zeros, &mut self.scaled);
        let launch = record_launch(&self.device, |s| kernels::axpby(s, 0.0, zeros, a, scaled))?;
        self.graph.set_kernel(self.scale_node, launch)
    }
}
