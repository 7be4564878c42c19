//! Example 03: one job split across devices, balanced while it runs.
//!
//! [`split_job`] streams `y = x·a + b` (the `compute` kernel, one fused multiply-add per
//! element) over every given device with a [`MultiPipeline`]: each device gets its own
//! streams and slots, the planner hands out chunks in proportion to measured speed, and a
//! device that runs out steals from the others. On the cpu backend, virtual devices of
//! different simulated speeds show the balancing without any GPU.

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime, TimingModel};
use riptide::host::multi::{MultiPipeline, MultiStats};
use riptide::host::pipeline::PipelineConfig;
use riptide::host::pipeline::workloads::{Elementwise, MapStep};
use riptide::host::{Device, Result};

/// The multiply and the add of the job.
pub const A: f32 = 0.5;
/// See [`A`].
pub const B: f32 = 0.25;

/// `count` virtual devices whose simulated speeds differ: device `i` is `1 + i/2` times
/// slower than an H100 model. Keep the runtime alive as long as the devices.
pub fn virtual_devices(count: usize) -> (CpuRuntime, Vec<Device>) {
    let config = CpuConfig {
        timing: Some(TimingModel::H100_PCIE),
        device_slowdown: (0..count).map(|i| 1.0 + i as f64 / 2.0).collect(),
        ..CpuConfig::checked()
    };
    let runtime = CpuRuntime::new(config, count);
    let devices = runtime.devices();
    (runtime, devices)
}

/// Streams `data` through `y = x·A + B` split across `devices`; returns the output and the
/// per-device statistics of the last of `runs` runs (each run starts from the split the
/// previous one measured).
pub fn split_job(devices: &[Device], data: &[f32], runs: usize) -> Result<(Vec<f32>, MultiStats)> {
    let chunk = (data.len() / 64).max(1024);
    let mut multi = MultiPipeline::new(devices, PipelineConfig::new(chunk, 2, 2))?;
    let first = &devices[0];
    let mut input = first.alloc_pinned::<f32>(data.len(), "input")?;
    input.write()?.copy_from_slice(data);
    let mut output = first.alloc_pinned::<f32>(data.len(), "output")?;
    let kernel = Elementwise(vec![MapStep::Compute { k: 1, a: A, b: B }]);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let (_, stats) = multi.run(&kernel, &input, Some(&mut output))?;
        multi.learn(&stats);
        last = Some(stats);
    }
    let out = output.read()?.to_vec();
    Ok((out, last.expect("at least one run")))
}
