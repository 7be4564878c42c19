//! Compiles the `gpu-kernels` crate to PTX with rustc's own `nvptx64-nvidia-cuda` backend
//! and embeds it (`$OUT_DIR/riptide_kernels.ptx`, included by `src/lib.rs`).
//!
//! A nested cargo builds the kernels crate with `-Zbuild-std=core` and immediate-abort
//! panics into its own target directory. The PTX target architecture comes from
//! `RIPTIDE_PTX_ARCH` (default `sm_80`; the driver JIT-compiles PTX for newer GPUs). The
//! build fails, saying how to fix it, when the PTX calls a function it does not define or
//! when its entry points differ from `gpu_kernels::entries::ALL`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use gpu_kernels::entries;

const ARCH_VAR: &str = "RIPTIDE_PTX_ARCH";
const DEFAULT_ARCH: &str = "sm_80";
const TARGET: &str = "nvptx64-nvidia-cuda";

fn main() {
    if let Err(message) = build() {
        eprintln!("error: building the GPU kernels to PTX failed\n{message}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let kernels_dir = manifest_dir.join("gpu-kernels");
    println!(
        "cargo:rerun-if-changed={}",
        kernels_dir.join("src").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        kernels_dir.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed={ARCH_VAR}");

    let arch = env::var(ARCH_VAR).unwrap_or_else(|_| DEFAULT_ARCH.to_owned());
    validate_arch(&arch)?;
    println!("cargo:rustc-env=RIPTIDE_PTX_ARCH={arch}");

    // One target directory per architecture, so switching RIPTIDE_PTX_ARCH never picks up
    // another architecture's PTX.
    let target_dir = out_dir.join(format!("ptx-target-{arch}"));
    let deps = target_dir.join(TARGET).join("release").join("deps");
    run_nested_cargo(&kernels_dir, &target_dir, &arch)?;
    let asm = find_asm(&deps)?;
    let ptx = fs::read_to_string(&asm).map_err(|e| format!("reading {}: {e}", asm.display()))?;
    check_ptx(&ptx)?;
    let dest = out_dir.join("riptide_kernels.ptx");
    fs::write(&dest, &ptx).map_err(|e| format!("writing {}: {e}", dest.display()))
}

fn validate_arch(arch: &str) -> Result<(), String> {
    let digits = arch.strip_prefix("sm_").map(|d| d.trim_end_matches('a'));
    match digits {
        Some(d) if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err(format!(
            "{ARCH_VAR}={arch:?} is not a PTX target architecture; expected a name like sm_80, sm_90 or sm_90a"
        )),
    }
}

fn run_nested_cargo(kernels_dir: &Path, target_dir: &Path, arch: &str) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(kernels_dir)
        .args([
            "rustc",
            "--release",
            "--lib",
            "--target",
            TARGET,
            "-Zbuild-std=core",
        ])
        .arg("--manifest-path")
        .arg(kernels_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--", "--emit=asm"])
        // The host's flags reach build scripts through these; they must not reach the device.
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
    let output = cmd
        .output()
        .map_err(|e| format!("could not run cargo for the nvptx64 build: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo rustc for {TARGET} failed ({}).\n{}\nThe kernels need the pinned nightly with \
             rust-src and the {TARGET} target: `rustup toolchain install` in the repository \
             installs what rust-toolchain.toml names.",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// The PTX the nested build wrote. When the kernels did not change, cargo leaves the file
/// of the previous build in place; if several exist (a changed dependency graph), the newest
/// is this build's.
fn find_asm(deps: &Path) -> Result<PathBuf, String> {
    let newest = fs::read_dir(deps)
        .map_err(|e| format!("reading {}: {e}", deps.display()))?
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("gpu_kernels-") && n.ends_with(".s")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max_by_key(|(modified, _)| *modified);
    newest.map(|(_, path)| path).ok_or_else(|| {
        format!(
            "the nvptx64 build emitted no PTX file in {}",
            deps.display()
        )
    })
}

fn check_ptx(ptx: &str) -> Result<(), String> {
    let unresolved: Vec<&str> = entries::ptx_unresolved_functions(ptx).collect();
    if !unresolved.is_empty() {
        return Err(format!(
            "the PTX calls functions it does not define: {unresolved:?}. The driver cannot \
             link these, so the module would fail to load. Usual causes: a panic path \
             (indexing with bounds checks, `unwrap`, arithmetic overflow checks) — use raw \
             pointers with lengths checked on the host; or a non-inlined function from \
             another crate — keep gpu-kernels self-contained or mark it #[inline]."
        ));
    }
    let present: Vec<&str> = entries::ptx_entry_names(ptx).collect();
    let missing: Vec<&&str> = entries::ALL
        .iter()
        .filter(|n| !present.contains(n))
        .collect();
    let unlisted: Vec<&&str> = present
        .iter()
        .filter(|n| !entries::ALL.contains(n))
        .collect();
    if !missing.is_empty() || !unlisted.is_empty() {
        return Err(format!(
            "the PTX entry points differ from gpu_kernels::entries::ALL.\n  listed but not in \
             the PTX: {missing:?} (is the kernel `#[unsafe(no_mangle)] pub unsafe extern \
             \"ptx-kernel\"` and compiled only under cfg(target_arch = \"nvptx64\")?)\n  in the \
             PTX but not listed: {unlisted:?} (add a constant to gpu-kernels/src/entries.rs)"
        ));
    }
    Ok(())
}
