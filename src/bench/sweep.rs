//! The sweeps of `riptide bench`: the pipeline over streams × chunk size × buffer depth, each
//! kernel workload against the device-to-device copy, and tracing on against off — written
//! as a [`BenchReport`] (serde JSON) that the plots and tables are drawn from.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use riptide_host::measure::{copy_ceilings, time_device};
use riptide_host::pipeline::workloads::{Elementwise, MapStep};
use riptide_host::pipeline::{Pipeline, PipelineConfig, RunStats};
use riptide_host::trace::{Trace, Tracer};
use riptide_host::{BackendKind, Device, Error, PinnedBuffer, Result};

use crate::bench::workloads::{KernelBuffers, KernelWorkload};

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOptions {
    /// Pipeline input bytes (f32; the output is as large).
    pub bytes: u64,
    /// Compute-stream counts.
    pub streams: Vec<usize>,
    /// Chunk sizes, bytes.
    pub chunks: Vec<u64>,
    /// Buffer depths (device slots per compute stream).
    pub depths: Vec<usize>,
    /// Elements per kernel workload.
    pub kernel_elems: usize,
    /// Timed runs per point (the fastest is kept; kernels take the median).
    pub repeats: usize,
    /// Traced/untraced run pairs for the tracing-cost measurement.
    pub overhead_runs: usize,
}

impl SweepOptions {
    /// Defaults for a GPU: 512 MiB through 1–4 streams × 8–64 MiB chunks × depth 2–3,
    /// kernels over 64 Mi elements.
    pub fn gpu() -> SweepOptions {
        SweepOptions {
            bytes: 512 << 20,
            streams: vec![1, 2, 3, 4],
            chunks: vec![8 << 20, 16 << 20, 32 << 20, 64 << 20],
            depths: vec![2, 3],
            kernel_elems: 64 << 20,
            repeats: 3,
            overhead_runs: 60,
        }
    }

    /// Small defaults for the cpu backend (seconds, not minutes).
    pub fn cpu() -> SweepOptions {
        SweepOptions {
            bytes: 8 << 20,
            streams: vec![1, 2],
            chunks: vec![1 << 20, 2 << 20],
            depths: vec![2],
            kernel_elems: 1 << 18,
            repeats: 2,
            overhead_runs: 20,
        }
    }

    /// Checks every list is non-empty and every value usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.bytes < 4 || !self.bytes.is_multiple_of(4) {
            return bad(format!(
                "--size must be a positive multiple of 4 bytes (got {})",
                self.bytes
            ));
        }
        if self.streams.is_empty() || self.chunks.is_empty() || self.depths.is_empty() {
            return bad("--streams, --chunks and --depths each need at least one value".into());
        }
        for &s in &self.streams {
            if s == 0 || s > PipelineConfig::MAX_STREAMS {
                return bad(format!(
                    "--streams: {s} is outside 1..={}",
                    PipelineConfig::MAX_STREAMS
                ));
            }
        }
        for &c in &self.chunks {
            if c < 4 || !c.is_multiple_of(4) || c > self.bytes {
                return bad(format!(
                    "--chunks: {c} bytes must be a positive multiple of 4, at most --size ({})",
                    self.bytes
                ));
            }
        }
        if let Some(&d) = self.depths.iter().find(|&&d| d == 0) {
            return bad(format!("--depths: {d} must be at least 1"));
        }
        if self.kernel_elems == 0 || self.repeats == 0 || self.overhead_runs == 0 {
            return bad("kernel elements, repeats and overhead runs must be at least 1".into());
        }
        Ok(())
    }

    /// Sweep points in the order they are run.
    pub fn points(&self) -> Vec<PipelineConfig> {
        let mut out = Vec::new();
        for &streams in &self.streams {
            for &chunk in &self.chunks {
                for &depth in &self.depths {
                    out.push(PipelineConfig::new((chunk / 4) as usize, streams, depth));
                }
            }
        }
        out
    }
}

/// Measured host-link ceilings, GB/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// Host to device alone.
    pub h2d_gbps: f64,
    /// Device to host alone.
    pub d2h_gbps: f64,
    /// Host to device while the same bytes move device to host, in 8 MiB copies on two
    /// streams ([`riptide_host::measure::CopyCeilings::duplex_h2d`]).
    pub duplex_h2d_gbps: f64,
    /// Device to host in that measurement (the same figure).
    pub duplex_d2h_gbps: f64,
}

/// One pipeline configuration's best run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelinePoint {
    /// Compute streams (1 for the serial baseline).
    pub streams: usize,
    /// Chunk size, bytes.
    pub chunk_bytes: u64,
    /// Buffer depth.
    pub depth: usize,
    /// All work on one stream with one buffer.
    pub serial: bool,
    /// Device time of the fastest run, ms (events).
    pub device_ms: f64,
    /// Host wall time of that run, ms.
    pub wall_ms: f64,
    /// Input plus output bytes per device second, GB/s.
    pub gbps: f64,
    /// The copy-ceiling time (both directions at once) over the device time, percent.
    pub percent_of_ceiling: f64,
    /// Device time of the fastest run with a tracer attached, ms (`None` for the serial
    /// baseline): which configuration is fastest to trace.
    #[serde(default)]
    pub traced_device_ms: Option<f64>,
}

/// One kernel workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelPoint {
    /// Workload name (see [`KernelWorkload::name`]).
    pub name: String,
    /// Elements.
    pub elements: usize,
    /// Bytes read plus written.
    pub bytes: u64,
    /// Median device time, ms (events).
    pub device_ms: f64,
    /// Bytes per device second, GB/s.
    pub gbps: f64,
    /// Share of the device-to-device copy rate measured in the same run, percent.
    pub percent_of_copy: f64,
}

/// The pipeline with and without a tracer attached, alternating runs: the fastest untraced
/// configuration traced and untraced, and (in [`Self::tuned`]) the fastest configuration to
/// trace against that same untraced run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracingOverhead {
    /// The configuration measured.
    pub streams: usize,
    /// Its chunk size, bytes.
    pub chunk_bytes: u64,
    /// Its depth.
    pub depth: usize,
    /// Pairs of adjacent runs, one traced and one not.
    pub runs: usize,
    /// Median device time untraced, ms.
    pub untraced_device_ms: f64,
    /// Median device time traced, ms.
    pub traced_device_ms: f64,
    /// Median host wall time untraced, ms.
    pub untraced_wall_ms: f64,
    /// Median host wall time traced, ms.
    pub traced_wall_ms: f64,
    /// Median host time to resolve one traced run's timestamps after it ([`Tracer::take`]), ms.
    pub resolve_ms: f64,
    /// Operations traced per run.
    pub ops_per_run: usize,
    /// Timing events the last traced run recorded: one per operation, plus a start event
    /// for each whose start could not be derived.
    #[serde(default)]
    pub timing_events_per_run: usize,
    /// The median over pairs of traced over untraced wall time, minus one, percent (the
    /// throughput cost). Adjacent runs share the machine's momentary state, so their ratio
    /// is steadier than a ratio of two separately taken medians.
    pub wall_overhead_percent: f64,
    /// The median over pairs of traced over untraced device time, minus one, percent.
    pub device_overhead_percent: f64,
    /// Median traced over median untraced wall time, minus one, percent.
    #[serde(default)]
    pub wall_medians_percent: f64,
    /// Median traced over median untraced device time, minus one, percent.
    #[serde(default)]
    pub device_medians_percent: f64,
    /// The first and third quartiles of the per-pair wall ratios, minus one, percent: how
    /// far single pairs scatter around [`Self::wall_overhead_percent`].
    #[serde(default)]
    pub wall_quartiles_percent: [f64; 2],
    /// The same for device time.
    #[serde(default)]
    pub device_quartiles_percent: [f64; 2],
    /// The configuration that ran fastest traced in the sweep, traced, against the untraced
    /// runs above: what tracing costs a run tuned with tracing on (as `riptide run` and
    /// `riptide process` tune a traced run). `None` in reports from before it was measured.
    #[serde(default)]
    pub tuned: Option<TunedTracing>,
}

/// The fastest configuration to trace, traced, against the fastest untraced configuration
/// untraced, in the same rounds of adjacent runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedTracing {
    /// Its compute streams.
    pub streams: usize,
    /// Its chunk size, bytes.
    pub chunk_bytes: u64,
    /// Its depth.
    pub depth: usize,
    /// Median device time traced, ms.
    pub traced_device_ms: f64,
    /// Median host wall time traced, ms.
    pub traced_wall_ms: f64,
    /// The median over rounds of its traced wall time over the untraced run's, minus one,
    /// percent.
    pub wall_overhead_percent: f64,
    /// The same for device time.
    pub device_overhead_percent: f64,
    /// The first and third quartiles of those wall ratios, minus one, percent.
    pub wall_quartiles_percent: [f64; 2],
    /// The same for device time.
    pub device_quartiles_percent: [f64; 2],
}

/// Eager streams against a captured graph for one workload; `riptide bench` fills
/// [`BenchReport::graph_vs_eager`] through a [`GraphSweep`] (`super::graphs::sweep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphVsEager {
    /// Workload name.
    pub workload: String,
    /// Nodes (operations) per replay.
    pub nodes: usize,
    /// Host wall time of one eager run (device synchronized), ms.
    pub eager_ms: f64,
    /// Host wall time of one graph replay (device synchronized), ms.
    pub graph_ms: f64,
}

/// The extension point for the graph comparison: a function measuring graph replay against
/// eager launches on `device`. [`run`] calls it when one is given.
pub type GraphSweep = fn(&Device, &SweepOptions) -> Result<Vec<GraphVsEager>>;

/// Everything `riptide bench` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Device name.
    pub device: String,
    /// "cuda" or "cpu".
    pub backend: String,
    /// Where device times come from.
    pub clock: String,
    /// Host-link ceilings measured at the start.
    pub ceilings: Ceilings,
    /// Pipeline input bytes.
    pub pipeline_bytes: u64,
    /// The one-stream baseline.
    pub serial: PipelinePoint,
    /// Every swept configuration.
    pub pipeline: Vec<PipelinePoint>,
    /// Kernel workloads, the copy first.
    pub kernels: Vec<KernelPoint>,
    /// Tracing on against off.
    pub tracing_overhead: TracingOverhead,
    /// Graph replay against eager launches; `None` when no [`GraphSweep`] was run.
    pub graph_vs_eager: Option<Vec<GraphVsEager>>,
}

impl BenchReport {
    /// The fastest swept pipeline configuration.
    pub fn best(&self) -> &PipelinePoint {
        self.pipeline
            .iter()
            .min_by(|a, b| a.device_ms.total_cmp(&b.device_ms))
            .unwrap_or(&self.serial)
    }
}

/// The pipeline's workload: the same chain as `riptide run` (compute k=2, then map_chain).
pub fn pipeline_workload() -> Elementwise {
    Elementwise(vec![
        MapStep::Compute {
            k: 2,
            a: 0.5,
            b: 0.25,
        },
        MapStep::Chain(riptide_host::kernels::MapChain {
            scale: 0.5,
            offset: 0.1,
            lo: -10.0,
            hi: 10.0,
        }),
    ])
}

fn median(v: Vec<f64>) -> f64 {
    quantile(v, 0.5)
}

/// The `q`-quantile of a non-empty `v` (the element at rank `⌊q·(len − 1)⌉`).
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(q * (v.len() - 1) as f64).round() as usize]
}

/// Runs every sweep on `device` and returns the report; `graph` adds the graph comparison.
/// The returned trace is one traced run of the fastest configuration to trace.
pub fn run(
    device: &Device,
    options: &SweepOptions,
    graph: Option<GraphSweep>,
) -> Result<(BenchReport, Trace)> {
    options.validate()?;
    let n = (options.bytes / 4) as usize;
    let gpu = device.backend() == BackendKind::Cuda;
    let ceil = copy_ceilings(
        device,
        (options.bytes.min(256 << 20)) as usize,
        if gpu { 5 } else { 2 },
    )?;
    let b = options.bytes as f64;
    let ceiling_ms = (b / ceil.duplex_h2d).max(b / ceil.duplex_d2h) * 1e3;
    let mut input = device.alloc_pinned::<f32>(n, "bench input")?;
    for (i, v) in input.write()?.iter_mut().enumerate() {
        *v = ((i % 4093) as f32 - 2046.0) / 512.0;
    }
    let mut output = device.alloc_pinned::<f32>(n, "bench output")?;
    let kernel = pipeline_workload();
    let points = options.points();
    let bar = crate::cli::progress::steps((points.len() + KernelWorkload::ALL.len() + 2) as u64);

    let tracer = Tracer::new();
    let traced_device = tracer.attach(device)?;
    // The fastest of `repeats` runs after a warm-up, on `on` (traced or not).
    let fastest =
        |on: &Device, config: PipelineConfig, output: &mut PinnedBuffer<f32>| -> Result<RunStats> {
            let mut p = Pipeline::new(on, config)?;
            p.run(&kernel, &input, Some(&mut *output))?;
            let mut best: Option<RunStats> = None;
            for _ in 0..options.repeats {
                let s = p.run(&kernel, &input, Some(&mut *output))?.1;
                if best.as_ref().is_none_or(|b| s.device_ms < b.device_ms) {
                    best = Some(s);
                }
            }
            Ok(best.expect("repeats >= 1"))
        };
    let measure =
        |config: PipelineConfig, output: &mut PinnedBuffer<f32>| -> Result<PipelinePoint> {
            let s = fastest(device, config, output)?;
            let traced_device_ms = if config.serial {
                None
            } else {
                let traced = fastest(&traced_device, config, output)?;
                tracer.take()?;
                Some(traced.device_ms)
            };
            Ok(PipelinePoint {
                streams: config.streams,
                chunk_bytes: config.chunk_elems as u64 * 4,
                depth: config.depth,
                serial: config.serial,
                device_ms: s.device_ms,
                wall_ms: s.wall.as_secs_f64() * 1e3,
                gbps: 2.0 * b / (s.device_ms / 1e3) / 1e9,
                percent_of_ceiling: 100.0 * ceiling_ms / s.device_ms,
                traced_device_ms,
            })
        };

    bar.set_message("serial baseline");
    let serial_chunk = options
        .chunks
        .iter()
        .copied()
        .max()
        .unwrap_or(options.bytes);
    let serial = measure(
        PipelineConfig::serial((serial_chunk / 4) as usize),
        &mut output,
    )?;
    bar.inc(1);
    let mut pipeline = Vec::with_capacity(points.len());
    for config in points {
        bar.set_message(format!(
            "{} streams, {} KiB chunks, depth {}",
            config.streams,
            config.chunk_elems * 4 / 1024,
            config.depth
        ));
        let point = measure(config, &mut output)?;
        tracing::info!(
            streams = point.streams,
            chunk_bytes = point.chunk_bytes,
            depth = point.depth,
            device_ms = point.device_ms,
            "pipeline sweep point"
        );
        pipeline.push(point);
        bar.inc(1);
    }

    let stream = device.stream()?;
    let mut buffers = KernelBuffers::new(&stream, options.kernel_elems)?;
    let mut kernels: Vec<KernelPoint> = Vec::new();
    for w in KernelWorkload::ALL {
        bar.set_message(format!("kernel {}", w.name()));
        let ms = time_device(&stream, 2, options.repeats.max(3), || {
            buffers.queue(&stream, w)
        })?;
        let bytes = w.bytes(buffers.len());
        let gbps = bytes as f64 / (ms / 1e3) / 1e9;
        let copy = kernels.first().map_or(gbps, |c| c.gbps);
        kernels.push(KernelPoint {
            name: w.name().to_owned(),
            elements: buffers.len(),
            bytes,
            device_ms: ms,
            gbps,
            percent_of_copy: 100.0 * gbps / copy,
        });
        bar.inc(1);
    }
    drop(buffers);

    bar.set_message("tracing on and off");
    let config_of =
        |p: &PipelinePoint| PipelineConfig::new((p.chunk_bytes / 4) as usize, p.streams, p.depth);
    let best = pipeline
        .iter()
        .min_by(|a, b| a.device_ms.total_cmp(&b.device_ms))
        .expect("at least one point");
    let best_traced = pipeline
        .iter()
        .min_by(|a, b| {
            let key = |p: &PipelinePoint| p.traced_device_ms.unwrap_or(f64::INFINITY);
            key(a).total_cmp(&key(b))
        })
        .expect("at least one point");
    let (tracing_overhead, trace) = tracing_cost(
        device,
        config_of(best),
        config_of(best_traced),
        options.overhead_runs,
        &input,
        &mut output,
    )?;
    bar.inc(1);
    bar.finish_and_clear();

    let graph_vs_eager = match graph {
        Some(sweep) => Some(sweep(device, options)?),
        None => None,
    };
    let report = BenchReport {
        device: device.info().name.clone(),
        backend: if gpu { "cuda" } else { "cpu" }.into(),
        clock: if gpu {
            "CUDA events".into()
        } else {
            "cpu backend (emulated device, host threads)".into()
        },
        ceilings: Ceilings {
            h2d_gbps: ceil.h2d / 1e9,
            d2h_gbps: ceil.d2h / 1e9,
            duplex_h2d_gbps: ceil.duplex_h2d / 1e9,
            duplex_d2h_gbps: ceil.duplex_d2h / 1e9,
        },
        pipeline_bytes: options.bytes,
        serial,
        pipeline,
        kernels,
        tracing_overhead,
        graph_vs_eager,
    };
    Ok((report, trace))
}

/// Runs `config` in `runs` adjacent untraced/traced pairs, joined in each round by a traced
/// run of `tuned` (the fastest configuration to trace) when that differs (after a warm-up of
/// each; the order rotates every round, so a drift favours none), and takes the median of
/// the per-round ratios against the untraced run, the medians of each side beside it.
/// Returns the last traced run of `tuned`'s trace.
pub fn tracing_cost(
    device: &Device,
    config: PipelineConfig,
    tuned: PipelineConfig,
    runs: usize,
    input: &PinnedBuffer<f32>,
    output: &mut PinnedBuffer<f32>,
) -> Result<(TracingOverhead, Trace)> {
    let kernel = pipeline_workload();
    let (same_tracer, tuned_tracer) = (Tracer::new(), Tracer::new());
    let mut pipelines = vec![
        Pipeline::new(device, config)?,
        Pipeline::new(&same_tracer.attach(device)?, config)?,
    ];
    if tuned != config {
        pipelines.push(Pipeline::new(&tuned_tracer.attach(device)?, tuned)?);
    }
    for p in &mut pipelines {
        p.run(&kernel, input, Some(&mut *output))?;
    }
    same_tracer.take()?;
    tuned_tracer.take()?;
    // Milliseconds per run, per pipeline: device time and host wall time.
    let mut device_ms = vec![Vec::new(); pipelines.len()];
    let mut wall_ms = vec![Vec::new(); pipelines.len()];
    let mut resolve = Vec::new();
    let (mut same_trace, mut tuned_trace) = (None, None);
    let rounds = runs.max(1);
    for round in 0..rounds {
        for k in 0..pipelines.len() {
            let i = (round + k) % pipelines.len();
            let started = Instant::now();
            let s = pipelines[i].run(&kernel, input, Some(&mut *output))?.1;
            wall_ms[i].push(started.elapsed().as_secs_f64() * 1e3);
            device_ms[i].push(s.device_ms);
        }
        // Resolving the timestamps happens after the run; reported on its own.
        let started = Instant::now();
        same_trace = Some(same_tracer.take()?);
        resolve.push(started.elapsed().as_secs_f64() * 1e3);
        tuned_trace = Some(tuned_tracer.take()?);
    }
    let same_trace = same_trace.expect("at least one round");
    let percent = |ratio: f64| 100.0 * (ratio - 1.0);
    // The `q`-quantile of the per-round ratios of pipeline `i`'s times to the untraced
    // pipeline's (index 0).
    let ratio = |times: &[Vec<f64>], i: usize, q: f64| {
        quantile(
            times[i].iter().zip(&times[0]).map(|(t, p)| t / p).collect(),
            q,
        )
    };
    let quartiles =
        |times: &[Vec<f64>], i: usize| [0.25, 0.75].map(|q| percent(ratio(times, i, q)));
    let (pd, pw) = (median(device_ms[0].clone()), median(wall_ms[0].clone()));
    let (td, tw) = (median(device_ms[1].clone()), median(wall_ms[1].clone()));
    let tuned_index = pipelines.len() - 1;
    Ok((
        TracingOverhead {
            streams: config.streams,
            chunk_bytes: config.chunk_elems as u64 * 4,
            depth: config.depth,
            runs: rounds,
            untraced_device_ms: pd,
            traced_device_ms: td,
            untraced_wall_ms: pw,
            traced_wall_ms: tw,
            resolve_ms: median(resolve),
            ops_per_run: same_trace.ops.len(),
            timing_events_per_run: same_trace.timing_events,
            wall_overhead_percent: percent(ratio(&wall_ms, 1, 0.5)),
            device_overhead_percent: percent(ratio(&device_ms, 1, 0.5)),
            wall_medians_percent: percent(tw / pw),
            device_medians_percent: percent(td / pd),
            wall_quartiles_percent: quartiles(&wall_ms, 1),
            device_quartiles_percent: quartiles(&device_ms, 1),
            tuned: Some(TunedTracing {
                streams: tuned.streams,
                chunk_bytes: tuned.chunk_elems as u64 * 4,
                depth: tuned.depth,
                traced_device_ms: median(device_ms[tuned_index].clone()),
                traced_wall_ms: median(wall_ms[tuned_index].clone()),
                wall_overhead_percent: percent(ratio(&wall_ms, tuned_index, 0.5)),
                device_overhead_percent: percent(ratio(&device_ms, tuned_index, 0.5)),
                wall_quartiles_percent: quartiles(&wall_ms, tuned_index),
                device_quartiles_percent: quartiles(&device_ms, tuned_index),
            }),
        },
        if tuned == config {
            same_trace
        } else {
            tuned_trace.expect("at least one round")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::{median, quantile};

    #[test]
    fn quantiles_pick_the_element_at_the_rounded_rank() {
        let v = vec![4.0, 1.0, 5.0, 3.0, 2.0];
        assert_eq!(quantile(v.clone(), 0.0), 1.0);
        assert_eq!(quantile(v.clone(), 0.25), 2.0);
        assert_eq!(median(v.clone()), 3.0);
        assert_eq!(quantile(v.clone(), 0.75), 4.0);
        assert_eq!(quantile(v, 1.0), 5.0);
        // Four elements: the median is the upper middle one (rank 1.5 rounds to 2).
        assert_eq!(median(vec![10.0, 40.0, 20.0, 30.0]), 30.0);
    }
}
