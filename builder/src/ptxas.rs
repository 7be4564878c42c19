//! Finding NVIDIA's `ptxas` and assembling PTX into cubins with it.
//!
//! A cubin for the exact architecture of a GPU loads without JIT compilation. `ptxas` is
//! looked for in `RIPTIDE_PTXAS`, then on `PATH`; without it the build produces PTX only
//! unless cubins were required ([`crate::KernelCrate::require_cubins`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BuildError;

/// The environment variable naming the `ptxas` binary.
pub const PTXAS_VAR: &str = "RIPTIDE_PTXAS";

/// The `ptxas` to use, or why there is none.
pub fn find() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(PTXAS_VAR) {
        let p = PathBuf::from(p);
        return if runs(&p) {
            Ok(p)
        } else {
            Err(format!("{PTXAS_VAR}={} does not run", p.display()))
        };
    }
    let on_path = PathBuf::from("ptxas");
    if runs(&on_path) {
        Ok(on_path)
    } else {
        Err(format!("{PTXAS_VAR} is not set and no ptxas is on PATH"))
    }
}

fn runs(ptxas: &Path) -> bool {
    Command::new(ptxas)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Assembles `ptx` into `cubin` for `arch`.
pub(crate) fn assemble(
    ptxas: &Path,
    ptx: &Path,
    cubin: &Path,
    arch: &str,
) -> Result<(), BuildError> {
    let output = Command::new(ptxas)
        .arg(format!("-arch={arch}"))
        .arg("-o")
        .arg(cubin)
        .arg(ptx)
        .output()
        .map_err(|e| BuildError::Ptxas {
            arch: arch.to_owned(),
            message: format!("could not run {}: {e}", ptxas.display()),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BuildError::Ptxas {
            arch: arch.to_owned(),
            message: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}
