//! The nested `cargo rustc` that compiles a kernels crate for `nvptx64-nvidia-cuda`.
//!
//! It runs with `-Zbuild-std=core` and immediate-abort panics (no panic machinery the
//! driver could not link), into its own target directory per architecture, and emits
//! assembly (`--emit=asm`, which for nvptx64 is PTX). Cargo's own freshness check makes an
//! unchanged crate a no-op: the `.s` file of the previous build stays in place.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{BuildError, io};

/// The rustc target the kernels are compiled for.
pub const TARGET: &str = "nvptx64-nvidia-cuda";

/// Compiles the crate at `manifest` for `arch` into `target_dir`; returns the PTX's path
/// and whether it was compiled now (`false`: cargo found the crate fresh).
pub(crate) fn compile(
    manifest: &Path,
    lib_name: &str,
    target_dir: &Path,
    arch: &str,
) -> Result<(PathBuf, bool), BuildError> {
    let deps = target_dir.join(TARGET).join("release").join("deps");
    let before = newest_asm(&deps, lib_name)
        .ok()
        .and_then(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([
            "rustc",
            "--release",
            "--lib",
            "--target",
            TARGET,
            "-Zbuild-std=core",
        ])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--", "--emit=asm"])
        // Cargo hands the host's flags to build scripts through these; they must not reach
        // the device build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env(
            "RUSTFLAGS",
            format!("-Zunstable-options -Cpanic=immediate-abort -Ctarget-cpu={arch}"),
        );
    let output = cmd.output().map_err(|e| BuildError::Compile {
        arch: arch.to_owned(),
        message: format!("could not run cargo: {e}"),
    })?;
    if !output.status.success() {
        return Err(BuildError::Compile {
            arch: arch.to_owned(),
            message: format!(
                "cargo exited with {}:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    let asm = newest_asm(&deps, lib_name)?;
    let after = fs::metadata(&asm).and_then(|m| m.modified()).ok();
    let fresh = before.is_some_and(|(modified, path)| path == asm && Some(modified) == after);
    Ok((asm, !fresh))
}

/// The PTX the nested build wrote. When the kernels did not change, cargo leaves the file
/// of the previous build in place; if several exist (a changed dependency graph), the
/// newest is this build's.
fn newest_asm(deps: &Path, lib_name: &str) -> Result<PathBuf, BuildError> {
    let prefix = format!("{lib_name}-");
    let newest = fs::read_dir(deps)
        .map_err(io(deps))?
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(".s")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max_by_key(|(modified, _)| *modified);
    newest
        .map(|(_, path)| path)
        .ok_or_else(|| BuildError::Compile {
            arch: String::new(),
            message: format!(
                "the build emitted no PTX ({prefix}*.s) in {}; is the library's name `{lib_name}`?",
                deps.display()
            ),
        })
}

/// The library name (`[lib] name`, else the package name with `-` as `_`) from a manifest.
///
/// A small reader for the two keys needed, so the builder has no dependencies.
pub(crate) fn lib_name(manifest_text: &str) -> Option<String> {
    let mut section = "";
    let (mut package, mut lib) = (None, None);
    for line in manifest_text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "name" {
            continue;
        }
        let value = value.trim().trim_matches('"').to_owned();
        match section {
            "[package]" => package = Some(value),
            "[lib]" => lib = Some(value),
            _ => {}
        }
    }
    lib.or(package).map(|n| n.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::lib_name;

    #[test]
    fn library_name_comes_from_lib_then_package() {
        let plain = "[package]\nname = \"my-kernels\"\nversion = \"0.1.0\"\n\n[dependencies]\nname = \"x\"\n";
        assert_eq!(lib_name(plain).as_deref(), Some("my_kernels"));
        let renamed = "[package]\nname = \"my-kernels\"\n[lib]\nname = \"device\"\n";
        assert_eq!(lib_name(renamed).as_deref(), Some("device"));
        assert_eq!(lib_name("[workspace]\nmembers = []\n"), None);
    }
}
