//! `riptide process --op <chain> --input in.npy --output out.npy`: stream a `.npy` file
//! (memory-mapped, so larger than RAM works) through a kernel chain with the tuned pipeline
//! in producer–consumer mode, with a progress bar, writing the result atomically.
//!
//! Ops (`--op`), steps separated by `|`, parameters as `name:key=value,key=value`:
//! - `compute:k=K,a=A,b=B` and `map_chain:scale=S,offset=O,lo=L,hi=H` — f32, chained freely;
//! - `scan` or `scan:exclusive` — f32, u32 or i32 (integers wrap);
//! - `stencil` — one Jacobi sweep of a 2-D f32 array;
//! - `sum`, `min`, `max` — any of the three types; the result is printed and written as a
//!   one-element array (sums of u32/i32 are u64/i64);
//! - `histogram:bins=N,lo=L,width=W` (u32) or `histogram:bins=N,lo=L,hi=H` (f32) — u32 counts.

use std::collections::BTreeMap;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use riptide_host::backend::cpu::CpuConfig;
use riptide_host::backend::cpu::faults::{FAULTS_ENV, parse_plans};
use riptide_host::kernels::{MapChain, ScanKind};
use riptide_host::pipeline::recover::{Resilience, run_resilient};
use riptide_host::pipeline::workloads::{
    Binning, Elementwise, Extremum, Histogram, MapStep, Scan, Stencil, Sum,
};
use riptide_host::pipeline::{ChunkKernel, PipelineConfig, RunStats, tune};
use riptide_host::{BackendChoice, Device, Element, Error, Result, backend};

use crate::cli::cancel;
use crate::cli::npy::{Dtype, NpyInput, NpyOutput};

/// A parsed `--op`.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Elementwise f32 steps.
    Map(Vec<MapStep>),
    /// A prefix sum.
    Scan(ScanKind),
    /// One stencil sweep.
    Stencil,
    /// A sum.
    Sum,
    /// Minimum (`false`) or maximum (`true`).
    Extremum(bool),
    /// A histogram.
    Histogram {
        /// Bins.
        bins: usize,
        /// Binning.
        binning: Binning,
    },
}

const OPS: &str = "compute:k=,a=,b= | map_chain:scale=,offset=,lo=,hi= | scan[:exclusive] | stencil | sum | min | max | histogram:bins=,lo=,width= (u32) or bins=,lo=,hi= (f32)";

fn bad(message: String) -> Error {
    Error::InvalidArgument(format!("--op: {message}; valid ops: {OPS}"))
}

fn params(name: &str, text: &str, allowed: &[&str]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for kv in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| bad(format!("{name}: parameter {kv:?} is not key=value")))?;
        if !allowed.contains(&k.trim()) {
            return Err(bad(format!(
                "{name}: unknown parameter {k:?} (expected {})",
                allowed.join(", ")
            )));
        }
        if map
            .insert(k.trim().to_owned(), v.trim().to_owned())
            .is_some()
        {
            return Err(bad(format!("{name}: parameter {k:?} given twice")));
        }
    }
    Ok(map)
}

fn get<T: std::str::FromStr>(
    name: &str,
    map: &BTreeMap<String, String>,
    key: &str,
    default: Option<T>,
) -> Result<T> {
    match map.get(key) {
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("{name}: {key}={v:?} is not a valid number"))),
        None => default.ok_or_else(|| bad(format!("{name}: missing parameter {key}"))),
    }
}

/// Parses an op chain.
pub fn parse_op(text: &str) -> Result<Op> {
    let steps: Vec<&str> = text.split('|').map(str::trim).collect();
    let mut map_steps = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (name, rest) = step.split_once(':').unwrap_or((step, ""));
        let single = |op: Op| {
            if steps.len() == 1 {
                Ok(op)
            } else {
                Err(bad(format!("{name} cannot be chained with other steps")))
            }
        };
        match name.trim() {
            "compute" => {
                let p = params(name, rest, &["k", "a", "b"])?;
                map_steps.push(MapStep::Compute {
                    k: get(name, &p, "k", Some(1))?,
                    a: get(name, &p, "a", Some(1.0))?,
                    b: get(name, &p, "b", Some(0.0))?,
                });
            }
            "map_chain" => {
                let p = params(name, rest, &["scale", "offset", "lo", "hi"])?;
                map_steps.push(MapStep::Chain(MapChain {
                    scale: get(name, &p, "scale", Some(1.0))?,
                    offset: get(name, &p, "offset", Some(0.0))?,
                    lo: get(name, &p, "lo", Some(-80.0))?,
                    hi: get(name, &p, "hi", Some(80.0))?,
                }));
            }
            "scan" => {
                let kind = match rest.trim() {
                    "" | "inclusive" => ScanKind::Inclusive,
                    "exclusive" => ScanKind::Exclusive,
                    other => {
                        return Err(bad(format!(
                            "scan: {other:?} is neither inclusive nor exclusive"
                        )));
                    }
                };
                return single(Op::Scan(kind));
            }
            "stencil" => return single(Op::Stencil),
            "sum" => return single(Op::Sum),
            "min" => return single(Op::Extremum(false)),
            "max" => return single(Op::Extremum(true)),
            "histogram" => {
                let p = params(name, rest, &["bins", "lo", "width", "hi"])?;
                let bins: usize = get(name, &p, "bins", None)?;
                let binning = match (p.contains_key("width"), p.contains_key("hi")) {
                    (true, false) => Binning::Integer {
                        lo: get(name, &p, "lo", Some(0))?,
                        width: get(name, &p, "width", None)?,
                    },
                    (false, true) => Binning::Real {
                        lo: get(name, &p, "lo", None)?,
                        hi: get(name, &p, "hi", None)?,
                    },
                    _ => {
                        return Err(bad(
                            "histogram: give either width= (u32 input) or hi= (f32 input)".into(),
                        ));
                    }
                };
                return single(Op::Histogram { bins, binning });
            }
            "" => return Err(bad(format!("step {} is empty", i + 1))),
            other => return Err(bad(format!("unknown op {other:?}"))),
        }
    }
    Ok(Op::Map(map_steps))
}

/// Options of `riptide process`.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The op chain.
    pub op: Op,
    /// Input file.
    pub input: std::path::PathBuf,
    /// Output file.
    pub output: std::path::PathBuf,
    /// Fixed configuration instead of tuning.
    pub config: Option<PipelineConfig>,
    /// Overwrite an existing output.
    pub force: bool,
    /// Where to write the run's Chrome trace and SVG timeline.
    pub trace: crate::cli::trace_out::TraceOutputs,
}

/// Runs `riptide process`.
pub fn run(choice: BackendChoice, o: &ProcessOptions) -> Result<()> {
    if o.output.exists() && !o.force {
        return Err(Error::File {
            path: o.output.display().to_string(),
            message: "already exists (pass --force to overwrite)".into(),
        });
    }
    if o.input
        .canonicalize()
        .ok()
        .is_some_and(|a| o.output.canonicalize().ok() == Some(a))
    {
        return Err(Error::InvalidArgument(
            "--input and --output are the same file".into(),
        ));
    }
    o.trace.validate()?;
    let input = NpyInput::open(&o.input)?;
    let cpu_config = CpuConfig {
        faults: match std::env::var(FAULTS_ENV) {
            Ok(text) => parse_plans(&text)?,
            Err(_) => Vec::new(),
        },
        ..CpuConfig::default()
    };
    let (devices, fallback) =
        backend::open_devices(choice, Some(&[0]), crate::KERNELS, &cpu_config)?;
    let dev = devices
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("no device selected".into()))?;
    if let Some(reason) = fallback {
        eprintln!("no CUDA device ({reason}); running on the cpu backend");
    }
    if input.len == 0 && matches!(o.op, Op::Extremum(_)) {
        return Err(Error::InvalidArgument(format!(
            "the minimum or maximum of an empty array is undefined ({} has shape {:?})",
            o.input.display(),
            input.shape
        )));
    }
    let device_name = dev.info().name.clone();
    // Tuning runs on `tune_on` (dropped before the run); the pipeline itself on `dev`,
    // traced when asked. A traced run is tuned traced (by the tuner's own tracer).
    let tune_on = dev.clone();
    let (tracer, dev, tune_on) = match o.trace.attach(&tune_on)? {
        Some((tracer, traced)) => (Some(tracer), traced.clone(), traced),
        None => (None, dev, tune_on),
    };
    let start = Instant::now();
    let (stats, summary) = match (&o.op, input.dtype) {
        (Op::Map(steps), Dtype::F32) => stream_to_file(
            tune_on,
            dev,
            o,
            &input,
            &Elementwise(steps.clone()),
            &input.shape,
        )?,
        (Op::Scan(kind), Dtype::F32) => {
            stream_to_file::<f32, _>(tune_on, dev, o, &input, &Scan { kind: *kind }, &input.shape)?
        }
        (Op::Scan(kind), Dtype::U32) => {
            stream_to_file::<u32, _>(tune_on, dev, o, &input, &Scan { kind: *kind }, &input.shape)?
        }
        (Op::Scan(kind), Dtype::I32) => {
            stream_to_file::<i32, _>(tune_on, dev, o, &input, &Scan { kind: *kind }, &input.shape)?
        }
        (Op::Stencil, Dtype::F32) => {
            let [_, cols] = input.shape[..] else {
                return Err(Error::InvalidArgument(format!(
                    "stencil needs a 2-D array; {} has shape {:?}",
                    o.input.display(),
                    input.shape
                )));
            };
            if cols == 0 {
                return Err(Error::InvalidArgument(format!(
                    "stencil needs at least one column; {} has shape {:?}",
                    o.input.display(),
                    input.shape
                )));
            }
            stream_to_file(tune_on, dev, o, &input, &Stencil { cols }, &input.shape)?
        }
        (Op::Sum, Dtype::F32) => {
            reduce_to_file::<f32, _>(tune_on, dev, o, &input, &Sum, Dtype::F32)?
        }
        (Op::Sum, Dtype::U32) => {
            reduce_to_file::<u32, _>(tune_on, dev, o, &input, &Sum, Dtype::U64)?
        }
        (Op::Sum, Dtype::I32) => {
            reduce_to_file::<i32, _>(tune_on, dev, o, &input, &Sum, Dtype::I64)?
        }
        (Op::Extremum(max), Dtype::F32) => {
            reduce_to_file::<f32, _>(tune_on, dev, o, &input, &Extremum { max: *max }, Dtype::F32)?
        }
        (Op::Extremum(max), Dtype::U32) => {
            reduce_to_file::<u32, _>(tune_on, dev, o, &input, &Extremum { max: *max }, Dtype::U32)?
        }
        (Op::Extremum(max), Dtype::I32) => {
            reduce_to_file::<i32, _>(tune_on, dev, o, &input, &Extremum { max: *max }, Dtype::I32)?
        }
        (Op::Histogram { bins, binning }, Dtype::U32) => {
            histogram_to_file::<u32>(tune_on, dev, o, &input, *bins, *binning)?
        }
        (Op::Histogram { bins, binning }, Dtype::F32) => {
            histogram_to_file::<f32>(tune_on, dev, o, &input, *bins, *binning)?
        }
        (op, dtype) => {
            return Err(Error::InvalidArgument(format!(
                "op {op:?} does not accept {dtype:?} input ({})",
                o.input.display()
            )));
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let bytes = (input.len * input.dtype.size()) as f64;
    println!(
        "processed {} ({} elements, {:?}) on {}: {:.2} s wall, {:.1} MB/s; device time {:.2} ms over {} chunks ({} MiB chunks, {} streams, depth {}){}",
        o.input.display(),
        input.len,
        input.dtype,
        device_name,
        secs,
        bytes / secs / 1e6,
        stats.device_ms,
        stats.chunks,
        (stats.config.chunk_elems * input.dtype.size()) >> 20,
        stats.config.streams,
        stats.config.depth,
        summary
    );
    if let Some(tracer) = tracer {
        let title = format!("riptide process {} on {device_name}", o.input.display());
        let trace = tracer.take()?;
        print!("{}", riptide_host::trace::metrics::metrics(&trace, None));
        o.trace.write(&trace, &title)?;
    }
    Ok(())
}

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {percent:>3}% {human_pos}/{human_len} elements, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn config_for<T: Element, K: ChunkKernel<T>>(
    dev: &Device,
    o: &ProcessOptions,
    kernel: &K,
    len: usize,
) -> Result<PipelineConfig> {
    let config = match o.config {
        Some(c) => c,
        None => tune::tune(dev, kernel, len.clamp(1, 64 << 20), true)?.best,
    };
    let chunk_bytes = (config.chunk_elems as u64).saturating_mul(size_of::<T>() as u64);
    let total = dev.info().total_memory;
    if chunk_bytes > total {
        return Err(Error::LimitExceeded {
            what: format!(
                "--chunk: bytes per chunk on {} (the device's memory)",
                dev.info().name
            ),
            requested: chunk_bytes,
            max: total,
        });
    }
    Ok(config)
}

/// Streams `input` through `kernel` with recovery (out of memory: smaller chunks; a sticky
/// fault: recreate the device, retry the chunk once) and Ctrl-C checked before every chunk;
/// `consume` receives every streamed result.
fn stream_resilient<T: Element, K: ChunkKernel<T>>(
    tune_on: Device,
    dev: Device,
    o: &ProcessOptions,
    input: &NpyInput,
    kernel: &K,
    consume: impl FnMut(std::ops::Range<usize>, &[T]) -> Result<()> + Send,
) -> Result<(K::Output, RunStats)> {
    let data = input.data::<T>()?;
    let config = config_for(&tune_on, o, kernel, input.len)?;
    // Recovery recreates the device's context: hold no other handle while the run goes on.
    drop(tune_on);
    let notify = |message: &str| eprintln!("riptide: {message}");
    let resilience = Resilience {
        cancel: Some(cancel::flag()),
        notify: &notify,
        ..Resilience::default()
    };
    let done = run_resilient(
        dev,
        config,
        kernel,
        input.len,
        resilience,
        |range, buf| {
            buf.copy_from_slice(&data[range]);
            Ok(())
        },
        consume,
    )?;
    Ok((done.output, done.stats))
}

fn stream_to_file<T: Element, K: ChunkKernel<T>>(
    tune_on: Device,
    dev: Device,
    o: &ProcessOptions,
    input: &NpyInput,
    kernel: &K,
    shape: &[usize],
) -> Result<(RunStats, String)> {
    let mut out = NpyOutput::create(&o.output, input.dtype, shape)?;
    let bar = progress(input.len);
    let (_, stats) = {
        let dst = out.data_mut::<T>()?;
        stream_resilient(tune_on, dev, o, input, kernel, |range, buf| {
            bar.inc(range.len() as u64);
            dst[range].copy_from_slice(buf);
            Ok(())
        })?
    };
    bar.finish_and_clear();
    out.commit()?;
    Ok((stats, format!("; wrote {}", o.output.display())))
}

fn reduce_to_file<T: Element, K: ChunkKernel<T>>(
    tune_on: Device,
    dev: Device,
    o: &ProcessOptions,
    input: &NpyInput,
    kernel: &K,
    out_dtype: Dtype,
) -> Result<(RunStats, String)>
where
    K::Output: Element + std::fmt::Display,
{
    let mut out = NpyOutput::create(&o.output, out_dtype, &[1])?;
    let (value, stats) = stream_resilient(tune_on, dev, o, input, kernel, |_, _| Ok(()))?;
    out.data_mut::<K::Output>()?[0] = value;
    out.commit()?;
    Ok((
        stats,
        format!(
            "; {} = {value}; wrote {}",
            kernel.name(),
            o.output.display()
        ),
    ))
}

fn histogram_to_file<T: riptide_host::pipeline::workloads::HistogramElement>(
    tune_on: Device,
    dev: Device,
    o: &ProcessOptions,
    input: &NpyInput,
    bins: usize,
    binning: Binning,
) -> Result<(RunStats, String)> {
    let kernel = Histogram { bins, binning };
    let mut out = NpyOutput::create(&o.output, Dtype::U32, &[bins])?;
    let (counts, stats) = stream_resilient::<T, _>(tune_on, dev, o, input, &kernel, |_, _| Ok(()))?;
    out.data_mut::<u32>()?.copy_from_slice(&counts);
    out.commit()?;
    let counted: u64 = counts.iter().map(|&c| c as u64).sum();
    Ok((
        stats,
        format!("; {counted} values counted; wrote {}", o.output.display()),
    ))
}
