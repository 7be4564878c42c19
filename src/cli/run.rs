//! `riptide run`, the main job: generate a dataset, stream it through a kernel chain
//! serially on one stream and then through the tuned pipeline, verify every output element
//! against the CPU reference, and print time, throughput, speedup and the share of the copy
//! ceiling measured in the same run.

use crate::cli::summary;
use rayon::prelude::*;
use riptide_host::kernels::MapChain;
use riptide_host::measure::copy_ceilings;
use riptide_host::pipeline::workloads::{Elementwise, MapStep};
use riptide_host::pipeline::{Pipeline, PipelineConfig, RunStats, tune};
use riptide_host::{BackendChoice, BackendKind, Error, Result, backend};
use riptide_reference::elementwise::{MapChainParams, MapChainRef, compute_in_place, map_chain};

/// Options of `riptide run`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Input bytes (f32 elements × 4); `None` picks 2 GiB on a GPU, 64 MiB on the CPU backend.
    pub bytes: Option<u64>,
    /// Fixed pipeline configuration instead of auto-tuning.
    pub config: Option<PipelineConfig>,
    /// Use and update the tuning cache.
    pub use_cache: bool,
    /// Devices to run on (all by default); with more than one, the job also runs split
    /// across them.
    pub devices: riptide_host::multi::DeviceList,
    /// Where to write the traced run's Chrome trace and SVG timeline.
    pub trace: crate::cli::trace_out::TraceOutputs,
}

const CHAIN: MapChain = MapChain {
    scale: 0.5,
    offset: 0.1,
    lo: -10.0,
    hi: 10.0,
};
const COMPUTE: (u32, f32, f32) = (2, 0.5, 0.25);
const MIB: u64 = 1 << 20;

fn workload() -> Elementwise {
    let (k, a, b) = COMPUTE;
    Elementwise(vec![MapStep::Compute { k, a, b }, MapStep::Chain(CHAIN)])
}

/// Runs the main job and prints its table; fails if any output element is wrong.
pub fn run(choice: BackendChoice, options: &RunOptions) -> Result<()> {
    let cpu = super::run_multi::cpu_config(&options.devices)?;
    options.trace.validate()?;
    let (devices, fallback) =
        backend::open_devices(choice, options.devices.ordinals(), crate::KERNELS, &cpu)?;
    let dev = devices
        .first()
        .cloned()
        .ok_or_else(|| Error::InvalidArgument("no device selected".into()))?;
    if let Some(reason) = fallback {
        println!("no CUDA device ({reason}); running on the cpu backend");
    }
    let gpu = dev.backend() == BackendKind::Cuda;
    let bytes = options
        .bytes
        .unwrap_or(if gpu { 2048 * MIB } else { 64 * MIB });
    if bytes < 4 || !bytes.is_multiple_of(4) {
        return Err(Error::InvalidArgument(format!(
            "--size must be a positive multiple of 4 bytes (got {bytes})"
        )));
    }
    let n = usize::try_from(bytes / 4)
        .map_err(|_| Error::InvalidArgument("--size is too large for this machine".into()))?;

    let mut input = dev.alloc_pinned::<f32>(n, "run input")?;
    input
        .write()?
        .par_iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = generate(i));
    let mut output = dev.alloc_pinned::<f32>(n, "run output")?;
    let bar = crate::cli::progress::steps(5);
    bar.set_message("measuring the host link");
    let ceil = copy_ceilings(
        &dev,
        (bytes.min(256 * MIB)) as usize,
        if gpu { 5 } else { 2 },
    )?;

    let kernel = workload();
    bar.inc(1);
    bar.set_message("serial run");
    let serial = run_once(
        &dev,
        PipelineConfig::serial(((32 * MIB).min(bytes) / 4) as usize),
        &kernel,
        &input,
        &mut output,
    )?;
    let serial_bad = verify(&input.read()?, &output.read()?, gpu);
    bar.inc(1);
    bar.set_message("tuning");
    // The traced run is tuned with a tracer attached: its timestamps change which
    // configuration is fastest (riptide_host::pipeline::tune).
    let tune_for = |traced: bool| -> Result<(PipelineConfig, String)> {
        let Some(c) = options.config else {
            let sample = n.min((256 * MIB / 4) as usize);
            let tune = if traced {
                tune::tune_traced
            } else {
                tune::tune
            };
            let t = tune(&dev, &kernel, sample, options.use_cache)?;
            let traced = if traced { " with tracing on" } else { "" };
            let note = if t.cached {
                format!("tuned{traced}, cached")
            } else {
                format!("tuned{traced} over {} candidates", t.trials.len())
            };
            return Ok((t.best, note));
        };
        Ok((c, "given".to_owned()))
    };
    let (config, tuned_note) = tune_for(false)?;
    output.write()?.fill(f32::NAN);
    bar.inc(1);
    bar.set_message("pipelined run");
    let tuned = run_once(&dev, config, &kernel, &input, &mut output)?;
    let tuned_bad = verify(&input.read()?, &output.read()?, gpu);
    output.write()?.fill(f32::NAN);
    bar.inc(1);
    bar.set_message("tuning traced, traced run");
    let (traced_config, traced_note) = tune_for(true)?;
    let traced = summary::traced_run(
        &dev,
        traced_config,
        &kernel,
        &input,
        Some(&mut output),
        Some(&ceil),
    )?;
    let traced_bad = verify(&input.read()?, &output.read()?, gpu);

    bar.finish_and_clear();
    let b = bytes as f64;
    let ceiling_ms = (b / ceil.duplex_h2d).max(b / ceil.duplex_d2h) * 1e3;
    println!(
        "\nriptide run on {} — {} MiB in, {} MiB out, compute(k={}) → map_chain",
        dev.info().name,
        bytes / MIB,
        bytes / MIB,
        COMPUTE.0
    );
    println!(
        "host link measured now: H2D {:.1} GB/s, D2H {:.1} GB/s alone, {:.1} GB/s each way both at once (8 MiB copies on two streams) → copy ceiling {:.2} ms",
        ceil.h2d / 1e9,
        ceil.d2h / 1e9,
        ceil.duplex_h2d.min(ceil.duplex_d2h) / 1e9,
        ceiling_ms
    );
    println!(
        "{:<52} {:>9} {:>12} {:>8} {:>10} {:>9}",
        "variant (device time)", "ms", "GB/s in+out", "speedup", "% ceiling", "verified"
    );
    let row = |name: String, s: &RunStats, bad: usize| {
        println!(
            "{:<52} {:>9.2} {:>12.1} {:>7.2}x {:>9.1}% {:>9}",
            name,
            s.device_ms,
            2.0 * b / (s.device_ms / 1e3) / 1e9,
            serial.device_ms / s.device_ms,
            100.0 * ceiling_ms / s.device_ms,
            if bad == 0 {
                "all".to_owned()
            } else {
                format!("{bad} BAD")
            }
        );
    };
    row(
        "serial: one stream, one buffer, 32 MiB chunks".into(),
        &serial,
        serial_bad,
    );
    row(
        format!(
            "pipelined: {} MiB chunks, {} streams, depth {} ({tuned_note})",
            config.chunk_elems as u64 * 4 / MIB,
            config.streams,
            config.depth
        ),
        &tuned,
        tuned_bad,
    );
    let mut multi_bad = 0;
    if devices.len() > 1 {
        output.write()?.fill(f32::NAN);
        let stats = super::run_multi::run(&devices, config, &kernel, &input, &mut output)?;
        multi_bad = verify(&input.read()?, &output.read()?, gpu);
        let wall = RunStats {
            device_ms: stats.wall.as_secs_f64() * 1e3,
            ..tuned.clone()
        };
        row(
            format!("{} devices, balanced (wall time)", devices.len()),
            &wall,
            multi_bad,
        );
        super::run_multi::print(&stats, b);
    }
    summary::print(&traced, traced_config, &traced_note, &tuned);
    let title = format!(
        "riptide run on {}: {} MiB pipelined",
        dev.info().name,
        bytes / MIB
    );
    options.trace.write(&traced.trace, &title)?;
    if serial_bad + tuned_bad + multi_bad + traced_bad > 0 {
        return Err(Error::Backend(format!(
            "{} output elements differ from the CPU reference",
            serial_bad + tuned_bad + multi_bad + traced_bad
        )));
    }
    Ok(())
}

/// One warm-up run, then the faster of two timed runs (device time), all writing `output`.
fn run_once(
    dev: &riptide_host::Device,
    config: PipelineConfig,
    kernel: &Elementwise,
    input: &riptide_host::PinnedBuffer<f32>,
    output: &mut riptide_host::PinnedBuffer<f32>,
) -> Result<RunStats> {
    let mut p = Pipeline::new(dev, config)?;
    p.run(kernel, input, Some(&mut *output))?;
    let first = p.run(kernel, input, Some(&mut *output))?.1;
    let second = p.run(kernel, input, Some(output))?.1;
    Ok(if second.device_ms < first.device_ms {
        second
    } else {
        first
    })
}

/// A deterministic, varied input in [−4, 4), cheap to generate in parallel.
fn generate(i: usize) -> f32 {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
}

/// Counts output elements the reference does not admit (exactly equal on the CPU backend;
/// within the documented `exp` bound on a GPU).
fn verify(input: &[f32], output: &[f32], approximate_exp: bool) -> usize {
    let (k, a, b) = COMPUTE;
    let params = MapChainParams {
        scale: CHAIN.scale,
        offset: CHAIN.offset,
        lo: CHAIN.lo,
        hi: CHAIN.hi,
    };
    input
        .par_chunks(1 << 16)
        .zip(output.par_chunks(1 << 16))
        .map(|(x, y)| {
            let mut v = x.to_vec();
            compute_in_place(a, b, k, &mut v);
            let mut refs = vec![MapChainRef::default(); v.len()];
            if map_chain(&v, params, &mut refs).is_err() {
                return x.len();
            }
            refs.iter()
                .zip(y)
                .filter(|(r, g)| {
                    if approximate_exp {
                        !r.admits(**g)
                    } else {
                        (r.value as f32).to_bits() != g.to_bits()
                    }
                })
                .count()
        })
        .sum()
}
