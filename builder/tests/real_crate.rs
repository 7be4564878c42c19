//! Builds small kernels crates for real (nested nvptx64 build of a throwaway crate in
//! cargo's test scratch directory): entries and parameters read from rustc's PTX, a second
//! build of an unchanged crate compiles nothing, an edit recompiles, and a call the driver
//! could not link fails the build with the explanation.
//!
//! Needs the pinned nightly with rust-src and the nvptx64 target (rust-toolchain.toml), as
//! every build of the workspace does. Both crates share one target directory, so `core` is
//! built for the device once (about 10–30 s cold).

use std::fs;
use std::path::{Path, PathBuf};

use riptide_build::{BuildError, KernelCrate};

const MANIFEST: &str = "[package]\nname = \"NAME\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
    [lib]\ncrate-type = [\"rlib\"]\n\n# Its own workspace, not riptide's.\n[workspace]\n";

const HEADER: &str = "#![no_std]\n#![cfg_attr(target_arch = \"nvptx64\", feature(abi_ptx))]\n\n\
    #[repr(C)]\n#[derive(Clone, Copy)]\npub struct Pair {\n    pub a: u64,\n    pub b: f32,\n}\n";

const GOOD: &str = "\n#[cfg(target_arch = \"nvptx64\")]\n#[unsafe(no_mangle)]\n\
    pub unsafe extern \"ptx-kernel\" fn scale_pair(x: *mut f32, n: u64, p: Pair) {\n\
    \x20   if n > 0 {\n        // SAFETY: n > 0 elements behind x (the test never launches it).\n\
    \x20       unsafe { *x = *x * p.b + p.a as f32 };\n    }\n}\n";

/// Calls a function of another crate that is never inlined: the PTX declares it `.extern`
/// and the driver could not link it.
const CALLS_OUT: &str = "\n#[cfg(target_arch = \"nvptx64\")]\n#[unsafe(no_mangle)]\n\
    pub unsafe extern \"ptx-kernel\" fn calls_out(x: *mut f32) {\n\
    \x20   // SAFETY: test-only kernel, never launched.\n\
    \x20   unsafe { *x = helper::helper_far(*x) };\n}\n";

const HELPER: &str = "#![no_std]\n#[unsafe(no_mangle)]\n#[inline(never)]\n\
    pub fn helper_far(x: f32) -> f32 {\n    x * 3.0 + 1.0\n}\n";

fn write_crate(root: &Path, name: &str, manifest_extra: &str, source: &str) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!("{}{manifest_extra}", MANIFEST.replace("NAME", name));
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::write(dir.join("src/lib.rs"), source).unwrap();
    dir
}

#[test]
fn builds_checks_and_caches_a_real_kernels_crate() -> Result<(), BuildError> {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("riptide-build-real");
    let _ = fs::remove_dir_all(root.join("good"));
    let _ = fs::remove_dir_all(root.join("calls_out"));
    let _ = fs::remove_dir_all(root.join("helper"));
    let target = root.join("target");

    let good = write_crate(&root, "good", "", &format!("{HEADER}{GOOD}"));
    let kernels = KernelCrate::new(&good)
        .arch("sm_80")
        .out_dir(root.join("out"))
        .target_dir(&target);
    let built = kernels.build()?;
    assert_eq!(built.compiled, ["sm_80"]);
    built.check_entries(&["scale_pair"])?;
    let params = &built.entry("scale_pair").expect("entry").params;
    let sizes: Vec<(usize, bool)> = params.iter().map(|p| (p.size, p.pointer)).collect();
    // *mut f32, u64, and the 16-byte #[repr(C)] struct by value.
    assert_eq!(sizes, [(8, true), (8, false), (16, false)]);
    let ptx = fs::read_to_string(built.ptx_for("sm_80").expect("PTX")).unwrap();
    assert_eq!(riptide_build::ptx::target(&ptx), Some("sm_80"));

    // Unchanged: nothing is compiled again.
    assert!(kernels.build()?.compiled.is_empty());
    // Changed: compiled again.
    let edited = format!("{HEADER}{GOOD}\n// an edit\n");
    fs::write(good.join("src/lib.rs"), edited).unwrap();
    assert_eq!(kernels.build()?.compiled, ["sm_80"]);

    write_crate(&root, "helper", "", HELPER);
    let deps = "\n[dependencies]\nhelper = { path = \"../helper\" }\n";
    let calls_out = write_crate(&root, "calls_out", deps, &format!("{HEADER}{CALLS_OUT}"));
    let err = KernelCrate::new(&calls_out)
        .arch("sm_80")
        .out_dir(root.join("out"))
        .target_dir(&target)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, BuildError::UnresolvedExterns { .. }),
        "{text}"
    );
    assert!(text.contains("[\"helper_far\"]"), "{text}");
    assert!(text.contains("mark it #[inline]"), "{text}");
    Ok(())
}
