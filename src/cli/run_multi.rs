//! The several-devices part of `riptide run`: the same job split across every selected
//! device by the balancer, verified, with each device's share, busy time and throughput
//! and the balance of the run.

use riptide_host::backend::cpu::CpuConfig;
use riptide_host::multi::{DeviceList, MultiPipeline, MultiStats};
use riptide_host::pipeline::PipelineConfig;
use riptide_host::pipeline::workloads::Elementwise;
use riptide_host::{Device, Error, PinnedBuffer, Result};

/// Most virtual devices the cpu backend emulates for `riptide run`.
pub const MAX_CPU_DEVICES: usize = 8;

/// The cpu backend's configuration for a device list: as many virtual devices as the list
/// names (one for "all").
pub fn cpu_config(devices: &DeviceList) -> Result<CpuConfig> {
    let count = devices
        .ordinals()
        .and_then(|list| list.iter().max())
        .map_or(1, |&max| max + 1);
    if count > MAX_CPU_DEVICES {
        return Err(Error::InvalidArgument(format!(
            "device {} does not exist: the cpu backend emulates at most {MAX_CPU_DEVICES} devices (0..{MAX_CPU_DEVICES})",
            count - 1
        )));
    }
    Ok(CpuConfig {
        virtual_devices: count,
        ..CpuConfig::default()
    })
}

/// Runs `kernel` across `devices` (a warm-up that measures each device, then a timed run
/// starting from the measured split) into `output`.
pub fn run(
    devices: &[Device],
    config: PipelineConfig,
    kernel: &Elementwise,
    input: &PinnedBuffer<f32>,
    output: &mut PinnedBuffer<f32>,
) -> Result<MultiStats> {
    let mut multi = MultiPipeline::new(devices, config)?;
    let (_, warm) = multi.run(kernel, input, Some(&mut *output))?;
    multi.learn(&warm);
    Ok(multi.run(kernel, input, Some(output))?.1)
}

/// Prints one line per device and the balance.
pub fn print(stats: &MultiStats, bytes: f64) {
    let total: usize = stats
        .devices
        .iter()
        .map(|d| d.elements)
        .sum::<usize>()
        .max(1);
    println!(
        "  {:<44} {:>7} {:>7} {:>9} {:>12}",
        "device", "chunks", "share", "busy ms", "GB/s in+out"
    );
    for d in &stats.devices {
        println!(
            "  {:<44} {:>7} {:>6.1}% {:>9.2} {:>12.1}",
            format!("{}: {}", d.ordinal, d.name),
            d.chunks,
            100.0 * d.elements as f64 / total as f64,
            d.busy_ms,
            d.throughput_bytes_per_s() / 1e9
        );
    }
    println!(
        "  balance {:.2} (mean busy / max busy), {} of {} chunks stolen, combine: {}, total {:.1} GB/s in+out",
        stats.balance(),
        stats.stolen,
        stats.chunks,
        stats.combine,
        2.0 * bytes / stats.wall.as_secs_f64() / 1e9
    );
}
