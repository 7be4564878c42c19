//! The embedded PTX and the launchers agree: every `.entry` in every architecture's PTX is
//! listed in `gpu_kernels::entries::ALL` (the build checks this too), the PTX calls no
//! undefined function, and every entry is launched by some typed launcher (recorded by the
//! CPU backend while the launcher catalogue in `launch_every_kernel` runs). On `sm_90` and
//! newer every entry waits for prior grids first, which is what lets graphs give riptide's
//! kernel nodes programmatic edges.

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

/// Every embedded module, with its architecture.
fn images() -> &'static [(&'static str, &'static str)] {
    match riptide::KERNELS {
        riptide::host::PtxImages::Set(images) => images,
        riptide::host::PtxImages::Single(_) => panic!("the build embeds a set of modules"),
    }
}

#[test]
fn ptx_entries_are_exactly_the_listed_kernels() {
    let listed: BTreeSet<&str> = entries::ALL.iter().copied().collect();
    assert_eq!(listed.len(), entries::ALL.len(), "a kernel is listed twice");
    for (arch, ptx) in images() {
        let in_ptx = entry_names(ptx);
        let in_ptx: BTreeSet<&str> = in_ptx.iter().map(String::as_str).collect();
        assert_eq!(in_ptx, listed, "{arch}");
    }
    assert_eq!(
        images()[0].1,
        riptide::PTX,
        "PTX is the oldest architecture's"
    );
}

#[test]
fn ptx_has_no_unresolved_functions() {
    for (arch, ptx) in images() {
        let unresolved = riptide_build::ptx::unresolved_functions(ptx);
        assert!(unresolved.is_empty(), "{arch}: unresolved: {unresolved:?}");
    }
}

/// The body of each `.entry` of `ptx` (up to the next function), by name.
fn entry_bodies(ptx: &str) -> Vec<(String, &str)> {
    ptx.split(".entry ")
        .skip(1)
        .map(|rest| {
            let name = rest.split('(').next().unwrap_or_default().trim().to_owned();
            (name, rest.split(".func ").next().unwrap_or(rest))
        })
        .collect()
}

#[test]
fn hopper_kernels_wait_for_prior_grids_and_older_ones_cannot() {
    for (arch, ptx) in images() {
        let number: u32 = arch.trim_start_matches("sm_").parse().expect("sm_NN");
        let bodies = entry_bodies(ptx);
        assert_eq!(bodies.len(), entries::ALL.len(), "{arch}");
        for (name, body) in bodies {
            // griddepcontrol exists from sm_90 on; before, the kernels are built without it.
            assert_eq!(
                body.contains("griddepcontrol.wait"),
                number >= 90,
                "{arch}: {name}"
            );
        }
    }
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
