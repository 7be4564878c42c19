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
    /// List CUDA devices, or say which backend runs instead.
    Devices,
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
}

fn run_options(r: &RunArgs) -> cli::run::RunOptions {
    cli::run::RunOptions {
        bytes: r.size,
        config: r.chunk.map(|c| {
            riptide::host::pipeline::PipelineConfig::new(
                (c / 4).max(1) as usize,
                r.streams,
                r.depth,
            )
        }),
        use_cache: !r.no_cache,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging(args.verbose);
    cli::cancel::install();
    let result = args.backend.parse().and_then(|backend| match args.command {
        Some(Command::Devices) => cli::devices::run(backend),
        Some(Command::Process(p)) => cli::process::parse_op(&p.op).and_then(|op| {
            let options = cli::process::ProcessOptions {
                op,
                input: p.input.clone(),
                output: p.output.clone(),
                config: cli::plan::config_from_args(p.chunk, p.streams, p.depth)?,
                force: p.force,
            };
            cli::process::run(backend, &options)
        }),
        Some(Command::Run(r)) => cli::run::run(backend, &run_options(&r)),
        None => cli::run::run(backend, &run_options(&RunArgs::default())),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("riptide: {err}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
