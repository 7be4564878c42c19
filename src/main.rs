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
    /// List CUDA devices, or say which backend runs instead.
    Devices,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging(args.verbose);
    let result = args.backend.parse().and_then(|backend| match args.command {
        Some(Command::Devices) | None => cli::devices::run(backend),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("riptide: {err}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
