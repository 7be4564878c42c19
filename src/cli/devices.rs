//! `riptide devices`: what each CUDA device is and can do, or which backend runs instead.

use riptide_host::backend::cpu::CpuConfig;
use riptide_host::{BackendChoice, BackendKind, Result, backend};

/// Prints the device report for `choice` to stdout.
pub fn run(choice: BackendChoice) -> Result<()> {
    print!("{}", report(choice)?);
    Ok(())
}

/// The device report as text.
pub fn report(choice: BackendChoice) -> Result<String> {
    let (devices, fallback) =
        backend::open_devices(choice, None, crate::KERNELS, &CpuConfig::default())?;
    let mut out = String::new();
    if let Some(reason) = &fallback {
        out.push_str(&format!("no CUDA device: {reason}.\n"));
    }
    if devices
        .first()
        .is_some_and(|d| d.backend() == BackendKind::Cpu)
    {
        out.push_str("The cpu backend runs instead (emulated streams; kernels run through the CPU reference):\n");
    }
    for device in &devices {
        let i = device.info();
        let gib = i.total_memory as f64 / (1u64 << 30) as f64;
        match i.backend {
            BackendKind::Cuda => out.push_str(&format!(
                "cuda:{} {}\n  compute capability {}.{}, {} SMs, {:.1} GiB, L2 {} MiB, PCI bus {}\n  \
                 {} copy engine(s){}, copies {} kernels, concurrent kernels: {}\n",
                i.ordinal,
                i.name,
                i.compute_capability.0,
                i.compute_capability.1,
                i.multiprocessors,
                gib,
                i.l2_cache_bytes >> 20,
                i.pci_bus.map_or_else(|| "?".to_owned(), |b| b.to_string()),
                i.async_engines,
                if i.async_engines >= 2 { " (both copy directions at once)" } else { "" },
                if i.copy_overlaps_kernels { "overlap" } else { "do not overlap" },
                if i.concurrent_kernels { "yes" } else { "no" },
            )),
            BackendKind::Cpu => out.push_str(&format!(
                "cpu:{} {}\n  {:.1} GiB emulated device memory\n",
                i.ordinal, i.name, gib
            )),
        }
    }
    Ok(out)
}
