//! Example 04: testing your own multi-stream code without a GPU.
//!
//! [`axpy_two_streams`] is the kind of code a riptide user writes: copies on one stream,
//! the kernel and the copy back on another, ordered by an event. Its tests
//! (`tests/races.rs`) run it on the cpu backend, where
//!
//! - [`CpuConfig::checked`](riptide::host::backend::cpu::CpuConfig::checked) turns on the
//!   race detector: every queued operation's byte ranges are checked against earlier ones,
//!   and a synchronization that follows a race fails with
//!   [`ErrorKind::Hazard`](riptide::host::ErrorKind::Hazard), naming both operations,
//!   their streams and the bytes;
//! - chaos mode ([`Chaos`](riptide::host::backend::cpu::Chaos)) runs queued work in an
//!   adversarial order chosen by a seed, so a missing wait shows up as a wrong result that
//!   the same seed reproduces.
//!
//! [`Ordering::Missing`] leaves the event out, the bug both catch.

use riptide::host::kernels;
use riptide::host::{Device, Result};

/// Whether the kernel's stream waits for the uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// An event recorded after the uploads, waited on before the kernel.
    Event,
    /// No wait: the kernel may run before or during the uploads (a bug).
    Missing,
}

/// `y + a·x` on `device`: uploads on one stream, the kernel and the download on another.
pub fn axpy_two_streams(
    device: &Device,
    a: f32,
    x: &[f32],
    y: &[f32],
    ordering: Ordering,
) -> Result<Vec<f32>> {
    let n = x.len();
    let (copies, compute) = (device.stream()?, device.stream()?);
    let mut host_x = device.alloc_pinned::<f32>(n, "host x")?;
    let mut host_y = device.alloc_pinned::<f32>(n, "host y")?;
    host_x.write()?.copy_from_slice(x);
    host_y.write()?.copy_from_slice(y);
    let mut dev_x = device.alloc::<f32>(n, "device x")?;
    let mut dev_y = device.alloc::<f32>(n, "device y")?;
    copies.copy_to_device(&host_x, &mut dev_x)?;
    copies.copy_to_device(&host_y, &mut dev_y)?;
    if ordering == Ordering::Event {
        let uploaded = device.event(false)?;
        copies.record(&uploaded)?;
        compute.wait(&uploaded)?;
    }
    kernels::axpby(&compute, a, &dev_x, 1.0, &mut dev_y)?;
    compute.copy_to_host(&dev_y, &mut host_y)?;
    compute.synchronize()?;
    copies.synchronize()?;
    Ok(host_y.read()?.to_vec())
}
