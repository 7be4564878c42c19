//! What the `riptide` binary does, one module per subcommand, kept in the library so tests
//! can drive it without spawning processes.

pub mod bench;
pub mod cancel;
pub mod devices;
pub mod fuzzing;
pub mod npy;
pub mod plan;
pub mod process;
pub mod progress;
pub mod restart;
pub mod run;
pub mod run_multi;
pub mod summary;
pub mod trace_out;

use riptide_host::{Error, ErrorKind};

/// Exit code for an error: 2 invalid input, 3 no CUDA device, 4 device or backend failure,
/// 5 out of memory, 6 hazards found, 7 device fault or device lost, 130 cancelled (Ctrl-C, as
/// shells report SIGINT).
pub fn exit_code(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::NoDevice => 3,
        ErrorKind::Device => 4,
        ErrorKind::OutOfMemory => 5,
        ErrorKind::Hazard => 6,
        ErrorKind::DeviceFault => 7,
        ErrorKind::Cancelled => 130,
    }
}

/// Sends `tracing` output to stderr at a level set by `-v` flags or `RUST_LOG`.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Parses a byte size: a number with an optional `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`) suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512MiB, 2GiB, 1048576)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; use KiB, MiB or GiB"
            ));
        }
    };
    value
        .checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}
