//! Shared test support: the devices a test body runs on, and the macro that instantiates one
//! test body per device.
//!
//! Every test body runs on the CPU backend with the race detector on (hazards fail the
//! synchronization that follows them) and, as a separate `#[ignore = "needs a CUDA GPU"]`
//! test, on CUDA device 0. On a GPU machine run them all with `--include-ignored`; with
//! `RIPTIDE_REQUIRE_GPU=1` a missing GPU fails the GPU tests instead of skipping them.

#![allow(dead_code, unreachable_pub)]

use riptide::host::backend::cpu::CpuConfig;
use riptide::host::{Device, Result};

/// A CPU-backend device with the race detector on and hazards failing synchronizations.
pub fn cpu_device() -> Device {
    Device::cpu(CpuConfig::checked())
}

/// CUDA device 0, or `None` (with the reason printed) when there is none — unless
/// `RIPTIDE_REQUIRE_GPU=1`, which turns a missing GPU into a panic.
pub fn gpu_device() -> Option<Device> {
    match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => Some(d),
        Err(e) => {
            if std::env::var("RIPTIDE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("RIPTIDE_REQUIRE_GPU=1 but no usable CUDA device: {e}");
            }
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// Instantiates each body as `<name>_cpu` (always runs) and `<name>_gpu` (ignored unless
/// asked for; skips without a GPU unless `RIPTIDE_REQUIRE_GPU=1`).
#[macro_export]
macro_rules! device_tests {
    ($(fn $name:ident($dev:ident: &Device) -> Result<()> $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                fn body($dev: &riptide::host::Device) -> riptide::host::Result<()> $body

                #[test]
                fn cpu() -> riptide::host::Result<()> {
                    body(&$crate::common::cpu_device())
                }

                #[test]
                #[ignore = "needs a CUDA GPU"]
                fn gpu() -> riptide::host::Result<()> {
                    match $crate::common::gpu_device() {
                        Some(d) => body(&d),
                        None => Ok(()),
                    }
                }
            }
        )*
    };
}

/// Deterministic pseudo-random f32s in [-1, 1) (a fixed-seed xorshift, so failures reproduce).
pub fn random_f32(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// How many elements of `got` differ bit for bit from `want`, printing the first one.
pub fn mismatches(got: &[f32], want: &[f32]) -> usize {
    let bad: Vec<usize> = (0..want.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .collect();
    if let Some(&i) = bad.first() {
        eprintln!(
            "{} mismatches; first at {i}: got {} want {}",
            bad.len(),
            got[i],
            want[i]
        );
    }
    bad.len()
}

/// Result alias re-exported for test bodies.
pub type TestResult = Result<()>;
