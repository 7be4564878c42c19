//! A bounded soak: pipelined runs of several kernels, back to back, with faults injected now
//! and then and one run per round cancelled mid-way, checking every result and that the
//! live resource counters (streams, events, pinned bytes, device bytes) return to their
//! post-warm-up values after every run — a leak of any of them fails the test. A few
//! seconds on the cpu backend; on a GPU (ignored here) for `RIPTIDE_SOAK_SECS` seconds,
//! 600 by default:
//!
//! `cargo test --release --test soak -- --ignored --nocapture`

mod common;

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use riptide::host::backend::cpu::{CpuConfig, FaultEffect, FaultOp, FaultPlan};
use riptide::host::backend::{Resources, resources};
use riptide::host::kernels::ScanKind;
use riptide::host::pipeline::PipelineConfig;
use riptide::host::pipeline::recover::{Resilience, run_resilient};
use riptide::host::pipeline::workloads::{Scan, Sum};
use riptide::host::{Device, Error, Result};

/// One round: an exact u32 sum and an inclusive u32 scan of `len` elements, both checked
/// against closed forms / a sequential loop. Returns the device (recreated after a fault)
/// and how many recoveries the round needed.
fn round(dev: Device, len: usize, chunk: usize) -> Result<(Device, usize)> {
    let x: Vec<u32> = (0..len as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let quiet = |_: &str| {};
    let resilience = Resilience {
        notify: &quiet,
        min_chunk_elems: 256,
        ..Resilience::default()
    };
    let config = PipelineConfig::new(chunk, 2, 2);
    let feed = |r: Range<usize>, buf: &mut [u32]| {
        buf.copy_from_slice(&x[r]);
        Ok(())
    };
    let sum = run_resilient(dev, config, &Sum, len, resilience, feed, |_, _| Ok(()))?;
    let want: u64 = x.iter().map(|&v| v as u64).sum();
    assert_eq!(sum.output, want, "sum of {len}");
    let out = Mutex::new(vec![0u32; len]);
    let scan = run_resilient(
        sum.device,
        config,
        &Scan {
            kind: ScanKind::Inclusive,
        },
        len,
        resilience,
        feed,
        |r, buf| {
            out.lock().unwrap()[r].copy_from_slice(buf);
            Ok(())
        },
    )?;
    let mut acc = 0u32;
    let bad = out
        .into_inner()
        .unwrap()
        .iter()
        .zip(&x)
        .filter(|&(&g, &v)| {
            acc = acc.wrapping_add(v);
            g != acc
        })
        .count();
    assert_eq!(bad, 0, "scan of {len}: elements differ");
    // A run cancelled after a few chunks, as Ctrl-C does: it must stop with `Cancelled`
    // and release what it held like any other run (checked by the caller's counters). It
    // gets a clone of the device, because a failed run consumes the handle it was given;
    // on the CPU backend a recovery with a clone alive is harmless.
    let cancel = AtomicBool::new(false);
    let produced = AtomicUsize::new(0);
    let cancelled = run_resilient(
        scan.device.clone(),
        config,
        &Sum,
        len,
        Resilience {
            cancel: Some(&cancel),
            ..resilience
        },
        |r: Range<usize>, buf: &mut [u32]| {
            buf.copy_from_slice(&x[r]);
            if produced.fetch_add(1, Ordering::Relaxed) == 2 {
                cancel.store(true, Ordering::Relaxed);
            }
            Ok(())
        },
        |_, _| Ok(()),
    );
    let chunks = len.div_ceil(chunk);
    match cancelled {
        Err(Error::Cancelled) => assert!(chunks > 3, "{len} elements: cancelled too early"),
        Ok(_) => assert!(chunks <= 3, "{len} elements were not cancelled"),
        Err(e) => return Err(e),
    }
    Ok((scan.device, sum.recoveries.len() + scan.recoveries.len()))
}

fn soak(dev: Device, duration: Duration, lens: &[usize], chunk: usize) -> Result<()> {
    let backend = dev.backend();
    // Warm-up: one round, then the counters must stay at what is left.
    let (mut dev, _) = round(dev, lens[0], chunk)?;
    let baseline: Resources = resources(backend);
    let start = Instant::now();
    let (mut rounds, mut recoveries) = (0usize, 0usize);
    while start.elapsed() < duration {
        let len = lens[rounds % lens.len()];
        let (d, r) = round(dev, len, chunk)?;
        dev = d;
        recoveries += r;
        rounds += 1;
        let now = resources(backend);
        assert_eq!(
            now, baseline,
            "round {rounds} ({len} elements): live resources changed from {baseline:?}"
        );
    }
    eprintln!(
        "soak on {}: {rounds} rounds in {:.1} s, {recoveries} recoveries, resources flat at {baseline:?}",
        dev.info().name,
        start.elapsed().as_secs_f64()
    );
    assert!(
        rounds >= 3,
        "the soak must run more than a couple of rounds"
    );
    Ok(())
}

#[test]
fn soak_cpu_counters_stay_flat_through_faults() -> Result<()> {
    // Faults now and then: an out-of-memory, sticky kernel and copy faults; recovery must
    // release everything the failed attempt held.
    let faults = vec![
        FaultPlan::once(FaultOp::DeviceAlloc, 40, FaultEffect::OutOfMemory),
        FaultPlan::once(FaultOp::Kernel, 90, FaultEffect::DeviceFault),
        FaultPlan::once(FaultOp::CopyH2d, 300, FaultEffect::DeviceFault),
        FaultPlan::once(FaultOp::CopyD2h, 500, FaultEffect::DeviceFault),
    ];
    let dev = Device::cpu(CpuConfig {
        faults,
        ..CpuConfig::default()
    });
    let probe = dev.clone();
    soak(
        dev,
        Duration::from_secs(3),
        &[50_000, 123_457, 8_192, 1],
        4_096,
    )?;
    assert!(
        probe.as_cpu().unwrap().injected_faults() >= 2,
        "faults must have been injected during the soak"
    );
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn soak_gpu_counters_stay_flat() -> Result<()> {
    let Some(dev) = common::gpu_device() else {
        return Ok(());
    };
    let secs: u64 = std::env::var("RIPTIDE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    soak(
        dev,
        Duration::from_secs(secs),
        &[64 << 20, (48 << 20) + 17, 1 << 16, 1],
        4 << 20,
    )
}
