//! `riptide bench`: the sweeps of [`crate::bench::sweep`] on one device, printed as tables
//! and written as `bench.json`, `pipeline.svg` and `kernels.svg` in an output directory.

use std::path::PathBuf;

use riptide_host::backend::cpu::CpuConfig;
use riptide_host::{BackendChoice, BackendKind, Error, Result, backend};

use crate::bench::plot;
use crate::bench::sweep::{self, BenchReport, SweepOptions};
use crate::cli::trace_out::{TraceOutputs, write_atomic};

/// Options of `riptide bench`; `None` fields take the backend's defaults
/// ([`SweepOptions::gpu`] or [`SweepOptions::cpu`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchOptions {
    /// Pipeline input bytes.
    pub bytes: Option<u64>,
    /// Compute-stream counts to sweep.
    pub streams: Option<Vec<usize>>,
    /// Chunk sizes to sweep, bytes.
    pub chunks: Option<Vec<u64>>,
    /// Buffer depths to sweep.
    pub depths: Option<Vec<usize>>,
    /// Elements per kernel workload.
    pub kernel_elems: Option<usize>,
    /// Directory for bench.json, pipeline.svg and kernels.svg (created if missing).
    pub out_dir: PathBuf,
    /// Trace and timeline of one traced run of the fastest configuration.
    pub trace: TraceOutputs,
}

/// Runs the sweeps, prints the tables and writes the report and charts.
pub fn run(choice: BackendChoice, o: &BenchOptions) -> Result<BenchReport> {
    o.trace.validate()?;
    if o.out_dir.exists() && !o.out_dir.is_dir() {
        return Err(Error::File {
            path: o.out_dir.display().to_string(),
            message: "--out exists and is not a directory".into(),
        });
    }
    let (devices, fallback) =
        backend::open_devices(choice, Some(&[0]), crate::KERNELS, &CpuConfig::default())?;
    let dev = devices
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("no device selected".into()))?;
    if let Some(reason) = fallback {
        println!("no CUDA device ({reason}); running on the cpu backend with small sizes");
    }
    let mut opts = if dev.backend() == BackendKind::Cuda {
        SweepOptions::gpu()
    } else {
        SweepOptions::cpu()
    };
    if let Some(b) = o.bytes {
        opts.bytes = b;
    }
    if let Some(s) = &o.streams {
        opts.streams = s.clone();
    }
    if let Some(c) = &o.chunks {
        opts.chunks = c.clone();
    }
    if let Some(d) = &o.depths {
        opts.depths = d.clone();
    }
    if let Some(k) = o.kernel_elems {
        opts.kernel_elems = k;
    }
    opts.validate()?;
    std::fs::create_dir_all(&o.out_dir).map_err(|e| Error::File {
        path: o.out_dir.display().to_string(),
        message: format!("cannot create --out directory: {e}"),
    })?;

    let (report, trace) = sweep::run(&dev, &opts, Some(crate::bench::graphs::sweep))?;
    print_tables(&report);
    let json = serde_json::to_string_pretty(&report).expect("the report always serializes");
    let files = [
        ("bench.json", json),
        ("pipeline.svg", plot::pipeline_chart(&report)),
        ("kernels.svg", plot::kernel_chart(&report)),
    ];
    for (name, text) in &files {
        write_atomic(&o.out_dir.join(name), text.as_bytes())?;
    }
    println!(
        "wrote {} (bench.json, pipeline.svg, kernels.svg)",
        o.out_dir.display()
    );
    // The trace is of the fastest configuration to trace.
    let t = &report.tracing_overhead;
    let (streams, chunk_bytes, depth) = match &t.tuned {
        Some(u) => (u.streams, u.chunk_bytes, u.depth),
        None => (t.streams, t.chunk_bytes, t.depth),
    };
    o.trace.write(
        &trace,
        &format!(
            "riptide bench on {}: {streams} streams, {} KiB chunks, depth {depth}",
            report.device,
            chunk_bytes >> 10,
        ),
    )?;
    Ok(report)
}

/// Prints the report as tables.
pub fn print_tables(r: &BenchReport) {
    println!(
        "\nriptide bench on {} ({}; times are device time from {})",
        r.device, r.backend, r.clock
    );
    println!(
        "host link: H2D {:.1} GB/s, D2H {:.1} GB/s alone; {:.1} GB/s each way both at once (8 MiB copies on two streams)",
        r.ceilings.h2d_gbps,
        r.ceilings.d2h_gbps,
        r.ceilings.duplex_h2d_gbps.min(r.ceilings.duplex_d2h_gbps)
    );
    println!(
        "\npipeline, {} MiB in + out (fastest of the timed runs per point)",
        r.pipeline_bytes >> 20
    );
    println!(
        "{:>8} {:>12} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "streams", "chunk KiB", "depth", "ms", "wall ms", "GB/s", "% ceiling", "traced ms"
    );
    for p in std::iter::once(&r.serial).chain(&r.pipeline) {
        println!(
            "{:>8} {:>12} {:>6} {:>10.3} {:>10.3} {:>10.1} {:>9.1}% {:>10}",
            if p.serial {
                "serial".to_owned()
            } else {
                p.streams.to_string()
            },
            p.chunk_bytes >> 10,
            p.depth,
            p.device_ms,
            p.wall_ms,
            p.gbps,
            p.percent_of_ceiling,
            p.traced_device_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}"))
        );
    }
    println!("\nkernels against the device-to-device copy (median device time)");
    println!(
        "{:<12} {:>12} {:>10} {:>10} {:>8}",
        "kernel", "elements", "ms", "GB/s", "% copy"
    );
    for k in &r.kernels {
        println!(
            "{:<12} {:>12} {:>10.3} {:>10.1} {:>7.1}%",
            k.name, k.elements, k.device_ms, k.gbps, k.percent_of_copy
        );
    }
    let t = &r.tracing_overhead;
    println!(
        "\ntracing cost, the fastest untraced configuration traced as it is ({} streams, {} KiB chunks, depth {}; {} rounds of adjacent runs):\n  wall {:+.2}% (median round ratio; quartiles {:+.2}% … {:+.2}%); medians {:.3} ms untraced, {:.3} ms traced ({:+.2}%)\n  device {:+.2}% (median round ratio; quartiles {:+.2}% … {:+.2}%); medians {:.3} ms untraced, {:.3} ms traced ({:+.2}%)\n  {} timing events for {} ops; resolving their timestamps afterwards: {:.3} ms",
        t.streams,
        t.chunk_bytes >> 10,
        t.depth,
        t.runs,
        t.wall_overhead_percent,
        t.wall_quartiles_percent[0],
        t.wall_quartiles_percent[1],
        t.untraced_wall_ms,
        t.traced_wall_ms,
        t.wall_medians_percent,
        t.device_overhead_percent,
        t.device_quartiles_percent[0],
        t.device_quartiles_percent[1],
        t.untraced_device_ms,
        t.traced_device_ms,
        t.device_medians_percent,
        t.timing_events_per_run,
        t.ops_per_run,
        t.resolve_ms
    );
    if let Some(u) = &t.tuned {
        println!(
            "tracing cost tuned with tracing on ({} streams, {} KiB chunks, depth {} traced — the fastest traced point — against the untraced runs above, same rounds):\n  wall {:+.2}% (median round ratio; quartiles {:+.2}% … {:+.2}%); median {:.3} ms traced\n  device {:+.2}% (median round ratio; quartiles {:+.2}% … {:+.2}%); median {:.3} ms traced",
            u.streams,
            u.chunk_bytes >> 10,
            u.depth,
            u.wall_overhead_percent,
            u.wall_quartiles_percent[0],
            u.wall_quartiles_percent[1],
            u.traced_wall_ms,
            u.device_overhead_percent,
            u.device_quartiles_percent[0],
            u.device_quartiles_percent[1],
            u.traced_device_ms
        );
    }
    match &r.graph_vs_eager {
        None => println!("graph vs eager: not measured"),
        Some(rows) => {
            for g in rows {
                println!(
                    "graph vs eager, {} ({} nodes, wall time per run): eager {:.3} ms, graph {:.3} ms ({:.2}x)",
                    g.workload,
                    g.nodes,
                    g.eager_ms,
                    g.graph_ms,
                    g.eager_ms / g.graph_ms
                );
            }
        }
    }
}
