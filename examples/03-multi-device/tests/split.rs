//! Example 03 as a test: the split job equals `x·A + B` (one fused multiply-add, as the
//! kernel's specification and `f32::mul_add` both round once) on four virtual devices of
//! different speeds, every element processed once, and the faster devices took more.

use riptide::host::Result;
use riptide_example_multi_device::{A, B, split_job, virtual_devices};

#[test]
fn a_split_job_is_exact_and_leans_on_the_faster_devices() -> Result<()> {
    let (_runtime, devices) = virtual_devices(4);
    let data: Vec<f32> = (0..200_003)
        .map(|i| (i % 977) as f32 * 0.03 - 7.0)
        .collect();
    let (out, stats) = split_job(&devices, &data, 2)?;
    let wrong = (0..data.len())
        .filter(|&i| out[i].to_bits() != data[i].mul_add(A, B).to_bits())
        .count();
    assert_eq!(wrong, 0);
    let covered: usize = stats.devices.iter().map(|d| d.elements).sum();
    assert_eq!(covered, data.len());
    // Device 0 is the fastest and device 3 the slowest (2.5× slower).
    assert!(
        stats.devices[0].elements > stats.devices[3].elements,
        "{:?}",
        stats.devices
    );
    Ok(())
}
