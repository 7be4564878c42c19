//! Compiles the `gpu-kernels` crate to checked PTX with `riptide-build` and embeds it
//! (`$OUT_DIR/riptide_kernels.ptx`, included by `src/lib.rs`).
//!
//! The target architecture comes from `RIPTIDE_PTX_ARCH` (default `sm_80`; the driver
//! JIT-compiles PTX for newer GPUs). Besides riptide-build's own checks (no undefined
//! calls), the entries must be exactly `gpu_kernels::entries::ALL`.

fn main() {
    const ARCH_VAR: &str = "RIPTIDE_PTX_ARCH";
    println!("cargo:rerun-if-env-changed={ARCH_VAR}");
    let arch = std::env::var(ARCH_VAR).unwrap_or_else(|_| "sm_80".to_owned());
    let kernels = riptide_build::KernelCrate::new("gpu-kernels").arch(&arch);
    kernels.emit_rerun_if_changed();
    let result = kernels.build().and_then(|built| {
        built.check_entries(gpu_kernels::entries::ALL)?;
        let ptx = built
            .ptx_for(&arch)
            .expect("the one architecture asked for");
        let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("set by cargo"))
            .join("riptide_kernels.ptx");
        std::fs::copy(ptx, &dest)
            .map(drop)
            .map_err(|source| riptide_build::BuildError::Io { path: dest, source })
    });
    if let Err(e) = result {
        eprintln!("error: building the GPU kernels to PTX failed ({ARCH_VAR}={arch})\n{e}");
        std::process::exit(1);
    }
    println!("cargo:rustc-env={ARCH_VAR}={arch}");
}
