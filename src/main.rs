//! The `riptide` command line: `run` (the default), `process`, `bench`, `devices`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use riptide::cli;

#[derive(Debug, Parser)]
#[command(name = "riptide", version, about = "CUDA stream concurrency in Rust")]
struct Args {
    /// Backend: auto (CUDA when a device exists), cuda or cpu.
    #[arg(long, global = true, env = "RIPTIDE_BACKEND", default_value = "auto")]
    backend: String,

    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job (the default): stream a generated dataset through a kernel chain,
    /// serially and pipelined, verify every element and print the table.
    Run(RunArgs),
    /// Stream a .npy file (f32, u32, i32; C order) through an op chain into a new .npy file.
    Process(ProcessArgs),
    /// Sweep the pipeline (streams × chunk size × depth), the kernels against the device
    /// copy and tracing on against off; print tables, write JSON and SVG charts.
    Bench(BenchArgs),
    /// List CUDA devices, or say which backend runs instead.
    Devices,
}

/// `--trace` and `--timeline`, shared by run, process and bench.
#[derive(Debug, Default, clap::Args)]
struct TraceArgs {
    /// Write a Chrome trace JSON of the pipeline run (opens in https://ui.perfetto.dev).
    #[arg(long, value_name = "FILE.json")]
    trace: Option<std::path::PathBuf>,
    /// Write a self-contained SVG timeline of the pipeline run.
    #[arg(long, value_name = "FILE.svg")]
    timeline: Option<std::path::PathBuf>,
}

impl TraceArgs {
    fn outputs(&self) -> cli::trace_out::TraceOutputs {
        cli::trace_out::TraceOutputs {
            trace: self.trace.clone(),
            timeline: self.timeline.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Pipeline input size (default 512 MiB on a GPU, 8 MiB on the cpu backend).
    #[arg(long, value_parser = cli::parse_size)]
    size: Option<u64>,
    /// Compute-stream counts to sweep, e.g. 1,2,3,4.
    #[arg(long, value_delimiter = ',')]
    streams: Option<Vec<usize>>,
    /// Chunk sizes to sweep, e.g. 8MiB,16MiB,32MiB.
    #[arg(long, value_delimiter = ',', value_parser = cli::parse_size)]
    chunks: Option<Vec<u64>>,
    /// Buffer depths to sweep, e.g. 2,3.
    #[arg(long, value_delimiter = ',')]
    depths: Option<Vec<usize>>,
    /// Elements per kernel workload (default 64 Mi on a GPU, 256 Ki on the cpu backend).
    #[arg(long)]
    kernel_elems: Option<usize>,
    /// Output directory for bench.json, pipeline.svg and kernels.svg.
    #[arg(long, default_value = "bench-out")]
    out: std::path::PathBuf,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Debug, clap::Args)]
struct ProcessArgs {
    /// The op chain, e.g. "compute:k=4,a=0.5,b=0.1|map_chain:scale=0.5,lo=-8,hi=8", "scan",
    /// "stencil", "sum", "histogram:bins=256,lo=0,hi=1".
    #[arg(long)]
    op: String,
    /// Input .npy file (memory-mapped).
    #[arg(long)]
    input: std::path::PathBuf,
    /// Output .npy file (written to a temporary file, renamed on success).
    #[arg(long)]
    output: std::path::PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// Chunk size (e.g. 16MiB); with --streams and --depth, replaces auto-tuning.
    #[arg(long, value_parser = cli::parse_size)]
    chunk: Option<u64>,
    /// Compute streams of the pipeline.
    #[arg(long, default_value_t = 2)]
    streams: usize,
    /// Device buffers per compute stream.
    #[arg(long, default_value_t = 2)]
    depth: usize,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Debug, Default, clap::Args)]
struct RunArgs {
    /// Input size, e.g. 2GiB, 512MiB, 1000000 (bytes of f32); default 2 GiB on a GPU, 64 MiB on the cpu backend.
    #[arg(long, value_parser = cli::parse_size)]
    size: Option<u64>,
    /// Chunk size (e.g. 16MiB); with --streams and --depth, replaces auto-tuning.
    #[arg(long, value_parser = cli::parse_size)]
    chunk: Option<u64>,
    /// Compute streams of the pipeline.
    #[arg(long, default_value_t = 2)]
    streams: usize,
    /// Device buffers per compute stream (2 = double, 3 = triple buffering).
    #[arg(long, default_value_t = 2)]
    depth: usize,
    /// Tune afresh instead of using the per-device tuning cache.
    #[arg(long)]
    no_cache: bool,
    /// Devices to use: `all` (the default) or distinct ordinals such as 0,2.
    #[arg(long, env = "RIPTIDE_DEVICES")]
    devices: Option<String>,
    #[command(flatten)]
    trace: TraceArgs,
}

fn run_options(r: &RunArgs) -> riptide::host::Result<cli::run::RunOptions> {
    let devices = match &r.devices {
        Some(list) => riptide::host::multi::DeviceList::parse(list).map_err(|e| match e {
            riptide::host::Error::InvalidArgument(m) => riptide::host::Error::InvalidArgument(
                format!("--devices (or {}): {m}", riptide::host::multi::DEVICES_ENV),
            ),
            other => other,
        })?,
        None => riptide::host::multi::DeviceList::All,
    };
    Ok(cli::run::RunOptions {
        devices,
        bytes: r.size,
        config: r.chunk.map(|c| {
            riptide::host::pipeline::PipelineConfig::new(
                (c / 4).max(1) as usize,
                r.streams,
                r.depth,
            )
        }),
        use_cache: !r.no_cache,
        trace: r.trace.outputs(),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging(args.verbose);
    cli::cancel::install();
    let restartable = matches!(args.command, Some(Command::Process(_)));
    let result = args.backend.parse().and_then(|backend| match args.command {
        Some(Command::Devices) => cli::devices::run(backend),
        Some(Command::Process(p)) => cli::process::parse_op(&p.op).and_then(|op| {
            let options = cli::process::ProcessOptions {
                op,
                input: p.input.clone(),
                output: p.output.clone(),
                config: cli::plan::config_from_args(p.chunk, p.streams, p.depth)?,
                force: p.force,
                trace: p.trace.outputs(),
            };
            cli::process::run(backend, &options)
        }),
        Some(Command::Bench(b)) => {
            let options = cli::bench::BenchOptions {
                bytes: b.size,
                streams: b.streams,
                chunks: b.chunks,
                depths: b.depths,
                kernel_elems: b.kernel_elems,
                out_dir: b.out,
                trace: b.trace.outputs(),
            };
            cli::bench::run(backend, &options).map(drop)
        }
        Some(Command::Run(r)) => run_options(&r).and_then(|o| cli::run::run(backend, &o)),
        None => {
            let from_env = RunArgs {
                devices: std::env::var(riptide::host::multi::DEVICES_ENV)
                    .ok()
                    .filter(|v| !v.trim().is_empty()),
                ..RunArgs::default()
            };
            run_options(&from_env).and_then(|o| cli::run::run(backend, &o))
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if restartable && cli::restart::wanted(&err) => {
            match cli::restart::run_again(&err) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => {
                    eprintln!("riptide: {e}");
                    ExitCode::from(cli::exit_code(&err))
                }
            }
        }
        Err(err) => {
            eprintln!("riptide: {err}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
