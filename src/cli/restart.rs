//! The last resort after a sticky device fault: the same command once more, in a fresh
//! process.
//!
//! A trap or an illegal address poisons the CUDA context, and for some of these errors the
//! driver refuses every later CUDA call in the process, even after the primary context is
//! reset (NVIDIA documents a restart as the way out; an H100 with driver 580 behaves so). The
//! pipeline first recreates the context in-process and retries the chunk; when that fails,
//! `riptide process` — whose output is only renamed into place on success, so nothing was
//! written — runs itself again, once, and exits with the second run's status.

use std::process::Command;

use riptide_host::{Error, ErrorKind};

/// Set in the environment of the second run, so that it never restarts again.
pub const RESTARTED_ENV: &str = "RIPTIDE_RESTARTED_AFTER_FAULT";

/// Whether `err` calls for a restart of this process (a device fault, not already restarted).
pub fn wanted(err: &Error) -> bool {
    err.kind() == ErrorKind::DeviceFault && std::env::var_os(RESTARTED_ENV).is_none()
}

/// Runs this executable again with the same arguments; returns its exit status code. Faults
/// injected into the cpu backend (`RIPTIDE_CPU_FAULTS`) belonged to the first process and
/// are not passed on.
pub fn run_again(err: &Error) -> Result<i32, Error> {
    eprintln!("riptide: {err}");
    eprintln!("riptide: running the job again in a fresh process (a new device context)");
    let exe = std::env::current_exe()
        .map_err(|e| Error::Backend(format!("cannot find this executable to restart: {e}")))?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(RESTARTED_ENV, "1")
        .env_remove(riptide_host::backend::cpu::faults::FAULTS_ENV)
        .status()
        .map_err(|e| Error::Backend(format!("restarting after the fault failed: {e}")))?;
    Ok(status.code().unwrap_or(1))
}
