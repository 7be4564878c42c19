//! Builds the example's kernels crate (`kernels/`) with riptide-build: PTX for sm_80 (runs
//! on every newer GPU through the driver's JIT) and, where ptxas is available, an sm_90
//! cubin that an H100 loads without JIT. `src/lib.rs` includes the generated embed file.

fn main() {
    let kernels = riptide_build::KernelCrate::new("kernels")
        .arch("sm_80")
        .cubin("sm_90");
    kernels.emit_rerun_if_changed();
    let built = kernels
        .build()
        .and_then(|built| {
            built.check_entries(&[riptide_example_kernels::SOFT_CLIP_F32])?;
            built.write_embed_module("example_kernels.rs")?;
            Ok(built)
        })
        .unwrap_or_else(|e| {
            eprintln!("error: building the example kernels failed\n{e}");
            std::process::exit(1);
        });
    if let Some(why) = built.ptxas_missing {
        println!("cargo:warning=PTX only, no sm_90 cubin: {why}");
    }
}
