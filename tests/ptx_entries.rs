//! The embedded PTX and the launchers agree: every `.entry` in the PTX is listed in
//! `gpu_kernels::entries::ALL` (the build checks this too), the PTX calls no undefined
//! function, and every entry is launched by some typed launcher (recorded by the CPU
//! backend while the launcher catalogue in `launch_every_kernel` runs).

mod common;

use std::collections::BTreeSet;

use gpu_kernels::entries;

#[test]
fn ptx_entries_are_exactly_the_listed_kernels() {
    let in_ptx: BTreeSet<&str> = entries::ptx_entry_names(riptide::PTX).collect();
    let listed: BTreeSet<&str> = entries::ALL.iter().copied().collect();
    assert_eq!(in_ptx, listed);
    assert_eq!(listed.len(), entries::ALL.len(), "a kernel is listed twice");
}

#[test]
fn ptx_has_no_unresolved_functions() {
    let unresolved: Vec<&str> = entries::ptx_unresolved_functions(riptide::PTX).collect();
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

#[test]
fn entry_parsers_read_a_hand_written_module() {
    let ptx = ".version 7.8\n.target sm_80\n.extern .func (.param .b32 r) vprintf(\n\
               .param .b64 a\n);\n.visible .entry k_one(\n.param .u64 p\n)\n{\nret;\n}\n\
               .visible .entry k_two(\n)\n{\nret;\n}\n.extern .func abort(\n)\n";
    assert_eq!(
        entries::ptx_entry_names(ptx).collect::<Vec<_>>(),
        ["k_one", "k_two"]
    );
    assert_eq!(
        entries::ptx_unresolved_functions(ptx).collect::<Vec<_>>(),
        ["vprintf", "abort"]
    );
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
    let in_ptx: BTreeSet<String> = entries::ptx_entry_names(riptide::PTX)
        .map(str::to_owned)
        .collect();
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
