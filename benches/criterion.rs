//! Criterion benchmarks: each kernel workload and the pipeline.
//!
//! - `kernels/device-time/<workload>`: device time measured with timing events around the
//!   batch of iterations criterion asks for (`iter_custom`), reported as bytes read plus
//!   written per second. The group name says it is device time.
//! - `pipeline/host-time/<streams>x<chunk>`: host wall time of whole pipeline runs, data in
//!   and out through pinned memory, as criterion measures by default.
//!
//! On a GPU the sizes are 64 Mi elements and 512 MiB; without one the same benches run on
//! the cpu backend at small sizes (the cpu backend's "device time" is its worker threads'
//! wall time), so the harness itself is exercised anywhere.
//! - `graph/host-time/<workload>/<eager|replay>`: host wall time of one run of a DAG of small
//!   kernels (a 1,000-kernel chain, 8 branches × 125), queued eagerly on a stream pool or
//!   replayed as a captured graph, the stream synchronized at the end of each run.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use riptide::bench::graphs::GraphWorkload;
use riptide::bench::sweep::pipeline_workload;
use riptide::bench::workloads::{KernelBuffers, KernelWorkload};
use riptide::host::backend::cpu::CpuConfig;
use riptide::host::graph::{EagerRunner, Graph};
use riptide::host::pipeline::{Pipeline, PipelineConfig};
use riptide::host::{BackendKind, Device, Result};

fn device() -> Device {
    Device::cuda(0, riptide::KERNELS).unwrap_or_else(|e| {
        eprintln!("no CUDA device ({e}): benchmarking the cpu backend at small sizes");
        Device::cpu(CpuConfig::default())
    })
}

fn kernels(c: &mut Criterion) {
    let dev = device();
    let gpu = dev.backend() == BackendKind::Cuda;
    let n = if gpu { 64 << 20 } else { 1 << 16 };
    let mut run = || -> Result<()> {
        let stream = dev.stream()?;
        let mut buffers = KernelBuffers::new(&stream, n)?;
        let mut group = c.benchmark_group(format!("kernels/device-time/{}", dev.info().name));
        for w in KernelWorkload::ALL {
            group.throughput(Throughput::Bytes(w.bytes(n)));
            group.bench_function(BenchmarkId::from_parameter(w.name()), |b| {
                b.iter_custom(|iters| {
                    device_time(&stream, iters, || buffers.queue(&stream, w))
                        .expect("kernel workload runs")
                })
            });
        }
        group.finish();
        Ok(())
    };
    run().expect("kernel benches set up");
}

/// Device time of `iters` runs of `work`, between two timing events.
fn device_time(
    stream: &riptide::host::Stream,
    iters: u64,
    mut work: impl FnMut() -> Result<()>,
) -> Result<Duration> {
    let dev = stream.device();
    let (start, end) = (dev.event(true)?, dev.event(true)?);
    stream.record(&start)?;
    for _ in 0..iters {
        work()?;
    }
    stream.record(&end)?;
    end.synchronize()?;
    Ok(Duration::from_secs_f64(
        f64::from(start.elapsed_ms(&end)?).max(0.0) / 1e3,
    ))
}

fn pipeline(c: &mut Criterion) {
    let dev = device();
    let gpu = dev.backend() == BackendKind::Cuda;
    let bytes: usize = if gpu { 512 << 20 } else { 4 << 20 };
    let n = bytes / 4;
    let mut run = || -> Result<()> {
        let input = dev.alloc_pinned::<f32>(n, "bench input")?;
        let mut output = dev.alloc_pinned::<f32>(n, "bench output")?;
        let kernel = pipeline_workload();
        let mut group = c.benchmark_group(format!("pipeline/host-time/{}", dev.info().name));
        group.throughput(Throughput::Bytes(2 * bytes as u64));
        if gpu {
            group.sample_size(10);
        }
        let chunk = n / 16;
        for (label, config) in [
            ("serial".to_owned(), PipelineConfig::serial(chunk)),
            ("2 streams".to_owned(), PipelineConfig::new(chunk, 2, 2)),
            ("3 streams".to_owned(), PipelineConfig::new(chunk, 3, 2)),
        ] {
            let mut p = Pipeline::new(&dev, config)?;
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter(|| {
                    p.run(&kernel, &input, Some(&mut output))
                        .expect("pipeline runs")
                })
            });
        }
        group.finish();
        Ok(())
    };
    run().expect("pipeline benches set up");
}

fn graphs(c: &mut Criterion) {
    let dev = device();
    let nodes = if dev.backend() == BackendKind::Cuda {
        1000
    } else {
        100
    };
    let mut run = || -> Result<()> {
        let stream = dev.stream()?;
        let mut group = c.benchmark_group(format!("graph/host-time/{}", dev.info().name));
        for branches in [1, 8] {
            let w = GraphWorkload::new(&dev, nodes, branches)?;
            let eager = EagerRunner::new(w.dag.clone(), &dev, 8)?;
            let graph = Graph::capture(w.dag.clone(), &dev, 8)?;
            group.bench_function(BenchmarkId::new(&w.name, "eager"), |b| {
                b.iter(|| {
                    eager.run(&stream).expect("eager run");
                    stream.synchronize().expect("sync")
                })
            });
            group.bench_function(BenchmarkId::new(&w.name, "replay"), |b| {
                b.iter(|| {
                    graph.launch(&stream).expect("replay");
                    stream.synchronize().expect("sync")
                })
            });
        }
        group.finish();
        Ok(())
    };
    run().expect("graph benches set up");
}

criterion_group!(benches, kernels, pipeline, graphs);
criterion_main!(benches);
