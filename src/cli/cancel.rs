//! Ctrl-C: the first press asks the running job to stop (the pipeline checks
//! [`requested`] before every chunk, drains what is in flight, frees its device and pinned
//! memory and the job deletes its temporary output); a watchdog makes sure the process is
//! gone within a second even if the job is somewhere that does not check (tuning, a slow
//! read): it deletes every registered temporary file and exits with status 130.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How long after Ctrl-C the watchdog ends the process if the job has not stopped.
pub const GRACE: Duration = Duration::from_millis(800);

/// The exit status of a cancelled run (128 + SIGINT, as shells report it).
pub const EXIT_CODE: i32 = 130;

/// The flag the pipeline checks; set by Ctrl-C.
pub fn flag() -> &'static AtomicBool {
    &CANCELLED
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    CANCELLED.load(Ordering::Relaxed)
}

/// Installs the Ctrl-C handler (once per process). Failing to install it is not fatal: the
/// process then dies on Ctrl-C the default way.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if CANCELLED.swap(true, Ordering::SeqCst) {
                return;
            }
            eprintln!("riptide: cancelling…");
            std::thread::spawn(|| {
                std::thread::sleep(GRACE);
                remove_temp_files();
                eprintln!("riptide: cancelled");
                std::process::exit(EXIT_CODE);
            });
        });
        if let Err(e) = installed {
            tracing::warn!("cannot install the Ctrl-C handler: {e}");
        }
    });
}

/// Registers a temporary file the watchdog deletes if it has to end the process.
pub fn register_temp(path: &Path) {
    lock().push(path.to_owned());
}

/// Forgets a temporary file (renamed into place or deleted by its owner).
pub fn unregister_temp(path: &Path) {
    lock().retain(|p| p != path);
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove_temp_files() {
    for path in lock().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}
