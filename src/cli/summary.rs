//! The metrics block of a run summary: one traced run of the chosen pipeline configuration,
//! what its trace says (copy rates per direction against the measured ceiling, kernel time,
//! engine overlap, idle gaps, device balance), and what tracing cost against an untraced run.

use riptide_host::measure::CopyCeilings;
use riptide_host::pipeline::{ChunkKernel, Pipeline, PipelineConfig, RunStats};
use riptide_host::trace::metrics::{Ceiling, Metrics, metrics};
use riptide_host::trace::{Trace, Tracer};
use riptide_host::{Device, Element, PinnedBuffer, Result};

/// A traced run: its statistics, trace and metrics.
#[derive(Debug, Clone)]
pub struct TracedRun {
    /// The traced run's statistics.
    pub stats: RunStats,
    /// Its trace.
    pub trace: Trace,
    /// What the trace says.
    pub metrics: Metrics,
}

/// Runs `kernel` with `config` on a traced handle of `device`: a traced warm-up (its trace
/// discarded), then the recorded run.
pub fn traced_run<T: Element, K: ChunkKernel<T>>(
    device: &Device,
    config: PipelineConfig,
    kernel: &K,
    input: &PinnedBuffer<T>,
    mut output: Option<&mut PinnedBuffer<T>>,
    ceilings: Option<&CopyCeilings>,
) -> Result<TracedRun> {
    let tracer = Tracer::new();
    let traced = tracer.attach(device)?;
    let mut pipeline = Pipeline::new(&traced, config)?;
    pipeline.run(kernel, input, output.as_deref_mut())?;
    tracer.take()?;
    let (_, stats) = pipeline.run(kernel, input, output)?;
    let trace = tracer.take()?;
    let metrics = metrics(
        &trace,
        ceilings.map(|c| Ceiling {
            h2d: c.h2d,
            d2h: c.d2h,
        }),
    );
    Ok(TracedRun {
        stats,
        trace,
        metrics,
    })
}

/// Prints the metrics and the traced run's device time against `untraced`'s; `config` is
/// the traced run's configuration and `note` how it was chosen.
pub fn print(run: &TracedRun, config: PipelineConfig, note: &str, untraced: &RunStats) {
    println!(
        "\ntrace of one more run, {} MiB chunks, {} streams, depth {} ({note}{}; {:?} clock; copy rates are per busy second, against the one-direction ceiling):",
        (config.chunk_elems * size_of::<f32>()) >> 20,
        config.streams,
        config.depth,
        if config == untraced.config {
            ", as untraced"
        } else {
            ""
        },
        run.trace.clock
    );
    print!("{}", run.metrics);
    println!(
        "  tracing cost: traced run {:.2} ms vs untraced {:.2} ms device time ({:+.1}%, one run each: noise included; `riptide bench` measures it properly)",
        run.stats.device_ms,
        untraced.device_ms,
        100.0 * (run.stats.device_ms / untraced.device_ms - 1.0)
    );
}
