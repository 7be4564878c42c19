//! How a riptide user tests multi-stream code on a machine without a GPU: the cpu backend
//! with the race detector on, and chaos scheduling over several seeds.

use riptide::host::backend::cpu::{Chaos, ChaosPolicy, CpuConfig};
use riptide::host::{Device, ErrorKind, Result};
use riptide_example_cpu_backend_tests::{Ordering, axpy_two_streams};

fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..n).map(|i| (i % 1000) as f32 * 0.5 - 250.0).collect();
    let y = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
    (x, y)
}

/// `y + a·x` in f64, rounded once to f32. The kernel rounds `fma(a, x, y)` once, so the
/// two differ at most by the f64 rounding of the sum (double rounding): one f32 ulp.
fn count_mismatches(a: f32, x: &[f32], y: &[f32], got: &[f32]) -> usize {
    x.iter()
        .zip(y)
        .zip(got)
        .filter(|((x, y), g)| {
            let want = (a as f64 * **x as f64 + **y as f64) as f32;
            (want - **g).abs() > want.abs() * f32::EPSILON
        })
        .count()
}

#[test]
fn ordered_code_is_race_free_and_correct() -> Result<()> {
    let (x, y) = inputs(50_000);
    let out = axpy_two_streams(
        &Device::cpu(CpuConfig::checked()),
        1.5,
        &x,
        &y,
        Ordering::Event,
    )?;
    assert_eq!(count_mismatches(1.5, &x, &y, &out), 0);
    Ok(())
}

#[test]
fn the_race_detector_reports_the_missing_wait() {
    let (x, y) = inputs(1000);
    let device = Device::cpu(CpuConfig::checked());
    let err = axpy_two_streams(&device, 1.5, &x, &y, Ordering::Missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Hazard, "{err}");
    let hazards = device.as_cpu().expect("a cpu device").hazards();
    // The kernel reads `device x` while the upload may still write it.
    assert!(
        hazards
            .iter()
            .any(|h| h.kind == "read after write" && h.buffer.contains("device x")),
        "{hazards:#?}"
    );
}

fn chaos(seed: u64, policy: ChaosPolicy, hazard_check: bool) -> CpuConfig {
    CpuConfig {
        chaos: Some(Chaos { seed, policy }),
        hazard_check,
        fail_on_hazard: hazard_check,
        ..CpuConfig::default()
    }
}

#[test]
fn ordered_code_survives_adversarial_schedules() -> Result<()> {
    let (x, y) = inputs(10_000);
    for seed in 0..8 {
        for policy in [ChaosPolicy::Random, ChaosPolicy::LatestFirst] {
            let device = Device::cpu(chaos(seed, policy, true));
            let out = axpy_two_streams(&device, -0.75, &x, &y, Ordering::Event)?;
            assert_eq!(
                count_mismatches(-0.75, &x, &y, &out),
                0,
                "seed {seed}, {policy:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn chaos_turns_the_missing_wait_into_a_wrong_result() -> Result<()> {
    // With the detector off, only the data shows the bug: latest-queued-first runs the
    // kernel before the uploads it should have waited for.
    let (x, y) = inputs(10_000);
    let device = Device::cpu(chaos(1, ChaosPolicy::LatestFirst, false));
    let out = axpy_two_streams(&device, -0.75, &x, &y, Ordering::Missing)?;
    assert!(
        count_mismatches(-0.75, &x, &y, &out) > 0,
        "the schedule hid the bug"
    );
    Ok(())
}

#[test]
fn the_example_binary_reports_the_race() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_04-cpu-backend-tests"))
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ordered by an event: no hazards"),
        "{stdout}"
    );
    assert!(stdout.contains("hazard(s) found"), "{stdout}");
}
