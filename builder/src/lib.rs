//! Builds a `#![no_std]` Rust kernels crate into checked PTX from a build script.
//!
//! riptide-build is what a project calls from its own `build.rs` to turn a kernels crate
//! into something the host can load: it compiles the crate with rustc's own
//! `nvptx64-nvidia-cuda` backend for one or more target architectures, checks the PTX (no
//! calls to functions it does not define; the same entries for every architecture),
//! assembles cubins with NVIDIA's `ptxas` where it is available, and reads every kernel
//! entry's parameter list from the PTX, so a host-side launcher can be checked against it
//! when the module is loaded.
//!
//! ```no_run
//! // In the build.rs of a crate that launches the kernels in ../my-kernels:
//! let kernels = riptide_build::KernelCrate::new("../my-kernels")
//!     .arch("sm_80") // PTX for sm_80 and newer (the driver JIT-compiles it)
//!     .cubin("sm_90"); // plus a ready-made H100 binary where ptxas is available
//! kernels.emit_rerun_if_changed();
//! let built = kernels.build()?;
//! // `include!(concat!(env!("OUT_DIR"), "/my_kernels.rs"))` then gives PTX and CUBINS.
//! built.write_embed_module("my_kernels.rs")?;
//! # Ok::<(), riptide_build::BuildError>(())
//! ```
//!
//! # How the crate is compiled
//! A nested `cargo rustc --release --target nvptx64-nvidia-cuda -Zbuild-std=core` with
//! `-Cpanic=immediate-abort -Ctarget-cpu=<arch>` and `--emit=asm`, into a target directory
//! of its own per architecture (under `OUT_DIR` unless [`KernelCrate::target_dir`] says
//! otherwise). The host's compiler flags are kept away from it. It needs a nightly toolchain
//! with `rust-src` and the `nvptx64-nvidia-cuda` target.
//!
//! # Caching
//! An unchanged kernels crate is not rebuilt: [`KernelCrate::emit_rerun_if_changed`] tells
//! cargo to rerun the build script only when the crate's sources or manifest change; when it
//! does run, the nested cargo finds the crate fresh and does nothing, the PTX files are
//! rewritten only when their contents change, and a cubin is assembled again only when it
//! is older than its PTX. Path dependencies of the kernels crate are not watched: list them
//! with `cargo:rerun-if-changed` yourself.
//!
//! # ptxas and cubins
//! `ptxas` is taken from `RIPTIDE_PTXAS`, else from `PATH`. Without it the build yields PTX
//! only and [`Built::ptxas_missing`] says why — not an error, because the driver can always
//! JIT-compile PTX — unless [`KernelCrate::require_cubins`] was set.

pub mod error;
mod nested;
pub mod ptx;
pub mod ptxas;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::BuildError;
pub use nested::TARGET;
pub use ptx::{EntryInfo, ParamInfo};

use error::io;

/// A kernels crate to compile, and what to produce from it.
#[derive(Debug, Clone)]
pub struct KernelCrate {
    dir: PathBuf,
    arches: Vec<String>,
    cubins: Vec<String>,
    require_cubins: bool,
    out_dir: Option<PathBuf>,
    target_dir: Option<PathBuf>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The kernels crate's library name (`my_kernels`).
    pub lib_name: String,
    /// One PTX file per requested architecture, in the order they were asked for.
    pub ptx: Vec<(String, PathBuf)>,
    /// One cubin per requested cubin architecture, when `ptxas` was found.
    pub cubins: Vec<(String, PathBuf)>,
    /// The kernel entries with their parameter lists (the same for every architecture).
    pub entries: Vec<EntryInfo>,
    /// Why no cubins were assembled although some were requested (no `ptxas`), if so.
    pub ptxas_missing: Option<String>,
    /// The architectures the crate was compiled for by this build; the others were fresh
    /// (unchanged since the previous build) and not recompiled.
    pub compiled: Vec<String>,
    out_dir: PathBuf,
}

impl KernelCrate {
    /// The kernels crate in `dir` (the folder holding its `Cargo.toml`). A relative path is
    /// taken from `CARGO_MANIFEST_DIR` (the package whose build script runs), else from the
    /// current directory.
    pub fn new(dir: impl Into<PathBuf>) -> KernelCrate {
        let dir = dir.into();
        let dir = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(base) if dir.is_relative() => PathBuf::from(base).join(dir),
            _ => dir,
        };
        KernelCrate {
            dir,
            arches: Vec::new(),
            cubins: Vec::new(),
            require_cubins: false,
            out_dir: None,
            target_dir: None,
        }
    }

    /// Adds a PTX target architecture (`sm_80`, `sm_90`, `sm_90a`). PTX for `sm_NN` runs on
    /// that architecture and every newer one. Without any, `sm_80` is built.
    pub fn arch(mut self, arch: impl Into<String>) -> KernelCrate {
        self.arches.push(arch.into());
        self
    }

    /// Adds a cubin to assemble (with `ptxas`, where found) for exactly architecture `arch`,
    /// from the PTX of the newest requested architecture not newer than it.
    pub fn cubin(mut self, arch: impl Into<String>) -> KernelCrate {
        self.cubins.push(arch.into());
        self
    }

    /// Makes a missing `ptxas` an error when cubins were requested (default: PTX only).
    pub fn require_cubins(mut self, required: bool) -> KernelCrate {
        self.require_cubins = required;
        self
    }

    /// Where the PTX and cubin files go (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> KernelCrate {
        self.out_dir = Some(dir.into());
        self
    }

    /// The nested build's target directory; one folder per architecture is made inside
    /// (default: `riptide-build` in the output directory).
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> KernelCrate {
        self.target_dir = Some(dir.into());
        self
    }

    /// Prints the `cargo:rerun-if-changed` and `cargo:rerun-if-env-changed` lines that make
    /// cargo rerun the calling build script only when the kernels crate (its `src/`,
    /// `Cargo.toml` and `build.rs`) or the `ptxas` setting changes.
    pub fn emit_rerun_if_changed(&self) {
        for watched in ["src", "Cargo.toml", "build.rs"] {
            let path = self.dir.join(watched);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        println!("cargo:rerun-if-env-changed={}", ptxas::PTXAS_VAR);
    }

    fn arches(&self) -> Vec<String> {
        if self.arches.is_empty() {
            vec!["sm_80".to_owned()]
        } else {
            let mut seen = Vec::new();
            for a in &self.arches {
                if !seen.contains(a) {
                    seen.push(a.clone());
                }
            }
            seen
        }
    }

    /// Compiles the crate for every architecture, checks the PTX, assembles the requested
    /// cubins where `ptxas` is available, and reads the entries.
    pub fn build(&self) -> Result<Built, BuildError> {
        let arches = self.arches();
        for a in arches.iter().chain(&self.cubins) {
            arch_number(a)?;
        }
        let manifest = self.dir.join("Cargo.toml");
        let manifest_text = fs::read_to_string(&manifest).map_err(|e| {
            BuildError::Config(format!(
                "{} is not a crate: reading {}: {e}",
                self.dir.display(),
                manifest.display()
            ))
        })?;
        let lib_name = nested::lib_name(&manifest_text).ok_or_else(|| {
            BuildError::Config(format!(
                "{} names no package (a [package] with a name is needed)",
                manifest.display()
            ))
        })?;
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                BuildError::Config(
                    "OUT_DIR is not set: call build() from a build script or set out_dir()"
                        .to_owned(),
                )
            })?),
        };
        let target_root = self
            .target_dir
            .clone()
            .unwrap_or_else(|| out_dir.join("riptide-build"));
        fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;

        let mut ptx_files = Vec::new();
        let mut compiled = Vec::new();
        let mut entries: Option<(String, Vec<EntryInfo>)> = None;
        for arch in &arches {
            let target_dir = target_root.join(format!("{lib_name}-{arch}"));
            let (asm, rebuilt) = nested::compile(&manifest, &lib_name, &target_dir, arch)?;
            if rebuilt {
                compiled.push(arch.clone());
            }
            let text = fs::read_to_string(&asm).map_err(io(&asm))?;
            let found = check_ptx(&text, arch)?;
            match &entries {
                None => entries = Some((arch.clone(), found)),
                Some((first, known)) => compare_entries(first, known, arch, &found)?,
            }
            let dest = out_dir.join(format!("{lib_name}.{arch}.ptx"));
            write_if_changed(&dest, text.as_bytes())?;
            ptx_files.push((arch.clone(), dest));
        }

        let mut cubins = Vec::new();
        let mut ptxas_missing = None;
        if !self.cubins.is_empty() {
            match ptxas::find() {
                Ok(ptxas) => {
                    for arch in &self.cubins {
                        let source = ptx_for_cubin(&ptx_files, arch)?;
                        let dest = out_dir.join(format!("{lib_name}.{arch}.cubin"));
                        if is_stale(&dest, source) {
                            ptxas::assemble(&ptxas, source, &dest, arch)?;
                        }
                        cubins.push((arch.clone(), dest));
                    }
                }
                Err(why) if self.require_cubins => return Err(BuildError::PtxasMissing(why)),
                Err(why) => ptxas_missing = Some(why),
            }
        }
        Ok(Built {
            lib_name,
            ptx: ptx_files,
            cubins,
            entries: entries.map(|(_, e)| e).unwrap_or_default(),
            ptxas_missing,
            compiled,
            out_dir,
        })
    }
}

impl Built {
    /// The PTX file built for `arch`.
    pub fn ptx_for(&self, arch: &str) -> Option<&Path> {
        self.ptx
            .iter()
            .find(|(a, _)| a == arch)
            .map(|(_, p)| p.as_path())
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryInfo> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Checks that the PTX's entries are exactly `expected` (in any order), naming both
    /// the missing and the unexpected ones otherwise.
    pub fn check_entries(&self, expected: &[&str]) -> Result<(), BuildError> {
        let present: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        let missing: Vec<String> = expected
            .iter()
            .filter(|n| !present.contains(n))
            .map(|n| n.to_string())
            .collect();
        let unexpected: Vec<String> = present
            .iter()
            .filter(|n| !expected.contains(n))
            .map(|n| n.to_string())
            .collect();
        if missing.is_empty() && unexpected.is_empty() {
            Ok(())
        } else {
            Err(BuildError::Entries {
                missing,
                unexpected,
            })
        }
    }

    /// Writes `file_name` into the output directory: a Rust source file to `include!` that
    /// embeds the build's products as `PTX: &[(&str, &str)]` (architecture, PTX text) and
    /// `CUBINS: &[(&str, &[u8])]` (architecture, cubin), each with rustdoc. Returns its path.
    pub fn write_embed_module(&self, file_name: &str) -> Result<PathBuf, BuildError> {
        let mut src = format!(
            "// Generated by riptide-build from the `{0}` kernels crate. Do not edit.\n\n\
             /// PTX of the `{0}` kernels, one module per target architecture: \
             `(architecture, PTX text)`.\n\
             pub const PTX: &[(&str, &str)] = &[\n",
            self.lib_name
        );
        for (arch, path) in &self.ptx {
            src.push_str(&format!(
                "    ({arch:?}, include_str!({:?})),\n",
                path_str(path)?
            ));
        }
        src.push_str(&format!(
            "];\n\n/// Cubins of the `{0}` kernels assembled by ptxas, one per architecture: \
             `(architecture, cubin)`; empty when ptxas was not available.\n\
             pub const CUBINS: &[(&str, &[u8])] = &[\n",
            self.lib_name
        ));
        for (arch, path) in &self.cubins {
            src.push_str(&format!(
                "    ({arch:?}, include_bytes!({:?})),\n",
                path_str(path)?
            ));
        }
        src.push_str("];\n");
        let dest = self.out_dir.join(file_name);
        write_if_changed(&dest, src.as_bytes())?;
        Ok(dest)
    }
}

fn path_str(path: &Path) -> Result<&str, BuildError> {
    path.to_str().ok_or_else(|| {
        BuildError::Config(format!(
            "output path {} is not UTF-8, so it cannot be embedded",
            path.display()
        ))
    })
}

/// Checks one architecture's PTX and reads its entries.
fn check_ptx(text: &str, arch: &str) -> Result<Vec<EntryInfo>, BuildError> {
    let functions = ptx::unresolved_functions(text);
    if !functions.is_empty() {
        return Err(BuildError::UnresolvedExterns {
            arch: arch.to_owned(),
            functions,
        });
    }
    Ok(ptx::entries(text)?)
}

/// Fails unless two architectures' PTX declare the same entries with the same parameters.
fn compare_entries(
    first: &str,
    known: &[EntryInfo],
    arch: &str,
    found: &[EntryInfo],
) -> Result<(), BuildError> {
    let sig = |e: &[EntryInfo]| -> Vec<(String, Vec<usize>)> {
        e.iter()
            .map(|e| (e.name.clone(), e.params.iter().map(|p| p.size).collect()))
            .collect()
    };
    if sig(known) == sig(found) {
        Ok(())
    } else {
        Err(BuildError::ArchMismatch(format!(
            "{first} declares {:?} but {arch} declares {:?} (entry, parameter sizes)",
            sig(known),
            sig(found)
        )))
    }
}

/// The numeric part of an architecture name, after checking its form (`sm_90`, `sm_90a`).
fn arch_number(arch: &str) -> Result<u32, BuildError> {
    let digits = arch
        .strip_prefix("sm_")
        .map(|d| d.trim_end_matches(['a', 'f']));
    digits
        .filter(|d| !d.is_empty() && d.len() <= 4 && d.chars().all(|c| c.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            BuildError::Config(format!(
                "{arch:?} is not a target architecture; expected a name like sm_80, sm_90 or sm_90a"
            ))
        })
}

/// The PTX a cubin for `arch` is assembled from: the same architecture's, else the newest
/// generic one not newer than it (an `a`/`f`-suffixed PTX serves only its own architecture).
fn ptx_for_cubin<'a>(ptx: &'a [(String, PathBuf)], arch: &str) -> Result<&'a Path, BuildError> {
    if let Some((_, p)) = ptx.iter().find(|(a, _)| a == arch) {
        return Ok(p);
    }
    let wanted = arch_number(arch)?;
    let mut best: Option<(u32, &Path)> = None;
    for (a, p) in ptx {
        if a.ends_with(['a', 'f']) {
            continue;
        }
        let n = arch_number(a)?;
        if n <= wanted && best.is_none_or(|(b, _)| n > b) {
            best = Some((n, p));
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        BuildError::Config(format!(
            "a cubin for {arch} needs PTX for {arch} or an older architecture; add .arch(\"{arch}\") \
             or an older one"
        ))
    })
}

/// Writes `bytes` unless the file already holds exactly them (keeping its modification
/// time, so whatever depends on it stays fresh).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(io(path))
}

/// Whether `output` is missing or older than `input`.
fn is_stale(output: &Path, input: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(output), modified(input)) {
        (Some(out), Some(inp)) => out < inp,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_names_are_checked() {
        assert_eq!(arch_number("sm_80").unwrap(), 80);
        assert_eq!(arch_number("sm_90a").unwrap(), 90);
        assert_eq!(arch_number("sm_100f").unwrap(), 100);
        for bad in ["80", "sm_", "sm_9x", "compute_80", "sm_80 "] {
            let err = arch_number(bad).unwrap_err().to_string();
            assert!(err.contains("sm_80, sm_90"), "{bad}: {err}");
        }
    }

    #[test]
    fn cubins_come_from_the_newest_ptx_not_newer_than_them() {
        let ptx = vec![
            ("sm_70".to_owned(), PathBuf::from("a70")),
            ("sm_80".to_owned(), PathBuf::from("a80")),
            ("sm_90a".to_owned(), PathBuf::from("a90a")),
        ];
        assert_eq!(ptx_for_cubin(&ptx, "sm_90").unwrap(), Path::new("a80"));
        assert_eq!(ptx_for_cubin(&ptx, "sm_90a").unwrap(), Path::new("a90a"));
        assert_eq!(ptx_for_cubin(&ptx, "sm_75").unwrap(), Path::new("a70"));
        let err = ptx_for_cubin(&ptx, "sm_60").unwrap_err().to_string();
        assert!(err.contains("add .arch(\"sm_60\")"), "{err}");
    }

    #[test]
    fn unresolved_externs_fail_the_check_with_the_fix() {
        let ptx = ".version 7.8\n.target sm_80\n\
                   .extern .func _ZN4core9panicking18panic_bounds_check(\n.param .b64 a\n);\n\
                   .visible .entry k(.param .u64 k_param_0)\n{\n\tret;\n}\n";
        let err = check_ptx(ptx, "sm_80").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("panic_bounds_check"), "{text}");
        assert!(text.contains("get_unchecked"), "{text}");
        assert!(matches!(err, BuildError::UnresolvedExterns { .. }));
        let ok = ".visible .entry k(.param .u64 k_param_0)\n{\n\tret;\n}\n";
        assert_eq!(check_ptx(ok, "sm_80").unwrap()[0].params.len(), 1);
    }

    #[test]
    fn entry_lists_are_compared_both_ways() {
        let built = Built {
            lib_name: "k".into(),
            ptx: vec![],
            cubins: vec![],
            entries: ptx::entries(".entry a()\n{}\n.entry b()\n{}\n").unwrap(),
            ptxas_missing: None,
            compiled: vec![],
            out_dir: PathBuf::new(),
        };
        assert!(built.check_entries(&["b", "a"]).is_ok());
        let err = built.check_entries(&["a", "c"]).unwrap_err();
        match &err {
            BuildError::Entries {
                missing,
                unexpected,
            } => {
                assert_eq!(missing, &["c"]);
                assert_eq!(unexpected, &["b"]);
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("ptx-kernel"));
    }

    #[test]
    fn differing_architectures_are_reported() {
        let a = ptx::entries(".entry k(.param .u64 p0)\n{}\n").unwrap();
        let b = ptx::entries(".entry k(.param .u32 p0)\n{}\n").unwrap();
        assert!(compare_entries("sm_80", &a, "sm_80", &a).is_ok());
        let err = compare_entries("sm_80", &a, "sm_90", &b)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sm_90 declares"), "{err}");
    }

    #[test]
    fn a_missing_crate_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("riptide-build-none-{}", std::process::id()));
        let err = KernelCrate::new(&dir)
            .out_dir(&dir)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a crate"), "{err}");
        let err = KernelCrate::new(&dir)
            .arch("sm80")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"sm80\" is not a target architecture"),
            "{err}"
        );
    }

    #[test]
    fn embed_module_lists_every_product() {
        let dir = std::env::temp_dir().join(format!("riptide-build-embed-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let built = Built {
            lib_name: "my_kernels".into(),
            ptx: vec![("sm_80".into(), dir.join("my_kernels.sm_80.ptx"))],
            cubins: vec![("sm_90".into(), dir.join("my_kernels.sm_90.cubin"))],
            entries: vec![],
            ptxas_missing: None,
            compiled: vec![],
            out_dir: dir.clone(),
        };
        let path = built.write_embed_module("embed.rs").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let ptx_line = format!(
            "(\"sm_80\", include_str!({:?}))",
            dir.join("my_kernels.sm_80.ptx").to_str().unwrap()
        );
        assert!(text.contains(&ptx_line), "{text}");
        assert!(text.contains("(\"sm_90\", include_bytes!("), "{text}");
        assert!(
            text.contains("pub const CUBINS: &[(&str, &[u8])]"),
            "{text}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
