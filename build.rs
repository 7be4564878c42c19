//! Compiles the `gpu-kernels` crate to checked PTX with `riptide-build` and embeds it: one
//! module per target architecture (`$OUT_DIR/riptide_kernels.<arch>.ptx`), listed in
//! `$OUT_DIR/riptide_kernel_images.rs`, which `src/lib.rs` includes.
//!
//! By default `sm_80` (the driver JIT-compiles it for any newer GPU) and `sm_90` (Hopper:
//! the kernels wait for prior grids with `griddepcontrol`, so graphs may join them with
//! programmatic edges); a device loads the newest one it runs. `RIPTIDE_PTX_ARCH=sm_NN`
//! builds that one architecture only. Besides riptide-build's own checks (no undefined
//! calls), the entries must be exactly `gpu_kernels::entries::ALL`.

use std::path::Path;

fn main() {
    const ARCH_VAR: &str = "RIPTIDE_PTX_ARCH";
    println!("cargo:rerun-if-env-changed={ARCH_VAR}");
    let arches: Vec<String> = match std::env::var(ARCH_VAR) {
        Ok(one) => vec![one],
        Err(_) => vec!["sm_80".to_owned(), "sm_90".to_owned()],
    };
    let mut kernels = riptide_build::KernelCrate::new("gpu-kernels");
    for arch in &arches {
        kernels = kernels.arch(arch);
    }
    kernels.emit_rerun_if_changed();
    let out = std::env::var("OUT_DIR").expect("set by cargo");
    let result = kernels.build().and_then(|built| {
        built.check_entries(gpu_kernels::entries::ALL)?;
        let mut list = String::from("&[\n");
        for arch in &arches {
            let ptx = built.ptx_for(arch).expect("every architecture asked for");
            let name = format!("riptide_kernels.{arch}.ptx");
            let dest = Path::new(&out).join(&name);
            std::fs::copy(ptx, &dest)
                .map_err(|source| riptide_build::BuildError::Io { path: dest, source })?;
            list.push_str(&format!(
                "    (\"{arch}\", include_str!(concat!(env!(\"OUT_DIR\"), \"/{name}\"))),\n"
            ));
        }
        list.push(']');
        let dest = Path::new(&out).join("riptide_kernel_images.rs");
        std::fs::write(&dest, list)
            .map_err(|source| riptide_build::BuildError::Io { path: dest, source })
    });
    if let Err(e) = result {
        eprintln!(
            "error: building the GPU kernels to PTX failed ({ARCH_VAR}={})\n{e}",
            arches.join(",")
        );
        std::process::exit(1);
    }
    println!("cargo:rustc-env={ARCH_VAR}={}", arches[0]);
}
