//! One DAG across several devices, run eagerly: each node runs on the device its buffers
//! live on, partial results move to device 0 by peer copies, and cross-device edges are
//! events. On the CPU backend with three virtual devices (race detector on) and, on a GPU
//! machine, over every CUDA device present.
//!
//! Values are small integers in f32, so every sum is exact and compared for equality.

mod common;

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime};
use riptide::host::graph::{Dag, EagerRunner, GraphError};
use riptide::host::kernels;
use riptide::host::{Device, Error, Result};

/// `out = Σ_d (d + 1)·in` over devices `d`: every device scales the input by `d + 1`
/// (`y = in + d·in` via axpby), copies its part to device 0, which accumulates.
fn gather_sum(devs: &[Device]) -> Result<()> {
    let len = 50_001;
    let data: Vec<f32> = (0..len).map(|i| (i % 97) as f32).collect();
    let mut h_in = devs[0].alloc_pinned::<f32>(len, "in")?;
    h_in.write()?.copy_from_slice(&data);
    let mut h_out = devs[0].alloc_pinned::<f32>(len, "out")?;
    h_out.write()?.fill(f32::NAN);
    let mut acc = devs[0].alloc::<f32>(len, "acc")?;
    let mut dag = Dag::new();
    let zero = dag.fill_zero(&mut acc, &[])?;
    let mut last = zero;
    let mut keep = Vec::new();
    for (d, dev) in devs.iter().enumerate() {
        let mut x = dev.alloc::<f32>(len, &format!("x{d}"))?;
        let mut y = dev.alloc::<f32>(len, &format!("y{d}"))?;
        let mut part = devs[0].alloc::<f32>(len, &format!("part{d}"))?;
        let up_x = dag.copy_to_device(&h_in, &mut x, &[])?;
        let up_y = dag.copy_to_device(&h_in, &mut y, &[])?;
        let scale = dag.record_one(dev, &[up_x, up_y], |s| {
            kernels::axpby(s, d as f32, &x, 1.0, &mut y)
        })?;
        let peer = dag.copy_on_device(&y, &mut part, &[scale])?;
        last = dag.record_one(&devs[0], &[peer, last], |s| {
            kernels::axpby(s, 1.0, &part, 1.0, &mut acc)
        })?;
        keep.push((x, y, part));
    }
    dag.copy_to_host(&acc, &mut h_out, &[last])?;
    let runner = EagerRunner::across(dag, devs, 2)?;
    let per_device = runner.streams_per_device();
    assert!(per_device.iter().all(|&n| n >= 1), "{per_device:?}");
    let weight: f32 = (1..=devs.len()).map(|k| k as f32).sum();
    let s = devs[0].stream()?;
    for _ in 0..2 {
        runner.run(&s)?;
        s.synchronize()?;
        let got = h_out.read()?;
        let bad = (0..len).filter(|&i| got[i] != weight * data[i]).count();
        assert_eq!(bad, 0, "{} devices", devs.len());
    }
    Ok(())
}

#[test]
fn prop_a_dag_across_virtual_devices_gives_the_reference() -> Result<()> {
    for n in [1, 2, 3] {
        let rt = CpuRuntime::new(CpuConfig::checked(), n);
        gather_sum(&rt.devices())?;
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn prop_a_dag_across_every_gpu_gives_the_reference() -> Result<()> {
    let Some(first) = common::gpu_device() else {
        return Ok(());
    };
    let count = riptide::host::backend::cuda_device_count().unwrap_or(1);
    let mut devs = vec![first];
    for i in 1..count {
        devs.push(Device::cuda(i, riptide::KERNELS)?);
    }
    eprintln!("DAG across {} CUDA device(s)", devs.len());
    gather_sum(&devs)
}

#[test]
fn foreign_buffers_and_repeated_devices_are_refused() -> Result<()> {
    let rt = CpuRuntime::new(CpuConfig::checked(), 2);
    let devs = rt.devices();
    let x = devs[0].alloc::<f32>(8, "x")?;
    let mut y = devs[1].alloc::<f32>(8, "y")?;
    let mut dag = Dag::new();
    // A launch on device 1 reading device 0's memory is refused as it is recorded.
    match dag.record_one(&devs[1], &[], |s| kernels::axpby(s, 1.0, &x, 1.0, &mut y)) {
        Err(Error::DeviceMismatch(m)) => assert!(m.contains("\"x\""), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(dag.is_empty());
    // A DAG naming a device outside the list is refused at validation.
    dag.fill_zero(&mut y, &[])?;
    match EagerRunner::across(dag, &devs[..1], 2) {
        Err(Error::Graph(GraphError::UnknownBuffer { buffer, .. })) => assert_eq!(buffer, "y"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let twice = [devs[0].clone(), devs[0].clone()];
    match EagerRunner::across(Dag::new(), &twice, 2) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("distinct"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    Ok(())
}
