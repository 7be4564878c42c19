//! The embedded PTX and the launchers agree: every `.entry` in the PTX is listed in
//! `gpu_kernels::entries::ALL` (the build checks this too), the PTX calls no undefined
//! function, and every entry is launched by some typed launcher (recorded by the CPU
//! backend while the launcher catalogue in `launch_every_kernel` runs).

mod common;

use std::collections::BTreeSet;

use gpu_kernels::entries;

fn entry_names(ptx: &str) -> BTreeSet<String> {
    riptide_build::ptx::entries(ptx)
        .expect("the embedded PTX's entries can be read")
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[test]
fn ptx_entries_are_exactly_the_listed_kernels() {
    let in_ptx = entry_names(riptide::PTX);
    let in_ptx: BTreeSet<&str> = in_ptx.iter().map(String::as_str).collect();
    let listed: BTreeSet<&str> = entries::ALL.iter().copied().collect();
    assert_eq!(in_ptx, listed);
    assert_eq!(listed.len(), entries::ALL.len(), "a kernel is listed twice");
}

#[test]
fn ptx_has_no_unresolved_functions() {
    let unresolved = riptide_build::ptx::unresolved_functions(riptide::PTX);
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

#[test]
fn every_ptx_entry_has_a_launcher() -> riptide::Result<()> {
    let runtime = riptide::host::backend::cpu::CpuRuntime::new(
        riptide::host::backend::cpu::CpuConfig::checked(),
        1,
    );
    let device = runtime.devices().remove(0);
    riptide::host::kernels::catalogue::launch_every_kernel(&device)?;
    let launched: BTreeSet<String> = runtime.launched_kernels();
    let in_ptx = entry_names(riptide::PTX);
    let without_launcher: Vec<&String> = in_ptx.difference(&launched).collect();
    let not_in_ptx: Vec<&String> = launched.difference(&in_ptx).collect();
    assert!(
        without_launcher.is_empty(),
        "PTX entries no launcher used: {without_launcher:?}"
    );
    assert!(
        not_in_ptx.is_empty(),
        "launchers used kernels missing from the PTX: {not_in_ptx:?}"
    );
    Ok(())
}
