//! Timing device work with events, and the copy ceilings every throughput figure is compared
//! with (measured in the same run, because absolute figures move from run to run).

use crate::backend::{Device, Stream};
use crate::error::Result;

/// Median device milliseconds of `iters` runs of `work` on `stream` (after `warmup` runs),
/// each timed between two events.
pub fn time_device(
    stream: &Stream,
    warmup: usize,
    iters: usize,
    mut work: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let device = stream.device();
    for _ in 0..warmup {
        work()?;
    }
    stream.synchronize()?;
    let (start, end) = (device.event(true)?, device.event(true)?);
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        stream.record(&start)?;
        work()?;
        stream.record(&end)?;
        end.synchronize()?;
        times.push(start.elapsed_ms(&end)? as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Host-link bandwidths in bytes per second, measured with pinned buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyCeilings {
    /// Host to device, alone.
    pub h2d: f64,
    /// Device to host, alone.
    pub d2h: f64,
    /// Host to device while a device-to-host copy of the same size runs.
    pub duplex_h2d: f64,
    /// Device to host while a host-to-device copy of the same size runs.
    pub duplex_d2h: f64,
}

/// Measures the host link with `bytes`-sized pinned copies (median of `iters`).
pub fn copy_ceilings(device: &Device, bytes: usize, iters: usize) -> Result<CopyCeilings> {
    let n = bytes / 4;
    let host_in = device.alloc_pinned::<f32>(n, "ceiling host in")?;
    let mut host_out = device.alloc_pinned::<f32>(n, "ceiling host out")?;
    let mut d_in = device.alloc::<f32>(n, "ceiling device in")?;
    let d_out = device.alloc::<f32>(n, "ceiling device out")?;
    let (up, down) = (device.stream()?, device.stream()?);
    down.fill_zero(&mut d_in)?;
    down.synchronize()?;
    let b = (n * 4) as f64;
    let h2d = time_device(&up, 1, iters, || up.copy_to_device(&host_in, &mut d_in))?;
    let d2h = time_device(&down, 1, iters, || down.copy_to_host(&d_out, &mut host_out))?;
    // Both directions at once: each stream timed with its own events, started together.
    let mut duplex = (Vec::new(), Vec::new());
    for i in 0..=iters.max(1) {
        let go = device.event(false)?;
        up.record(&go)?;
        down.wait(&go)?;
        let (a0, a1, b0, b1) = (
            device.event(true)?,
            device.event(true)?,
            device.event(true)?,
            device.event(true)?,
        );
        up.record(&a0)?;
        down.record(&b0)?;
        up.copy_to_device(&host_in, &mut d_in)?;
        down.copy_to_host(&d_out, &mut host_out)?;
        up.record(&a1)?;
        down.record(&b1)?;
        up.synchronize()?;
        down.synchronize()?;
        if i > 0 {
            duplex.0.push(a0.elapsed_ms(&a1)? as f64);
            duplex.1.push(b0.elapsed_ms(&b1)? as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(CopyCeilings {
        h2d: b / (h2d / 1e3),
        d2h: b / (d2h / 1e3),
        duplex_h2d: b / (median(duplex.0) / 1e3),
        duplex_d2h: b / (median(duplex.1) / 1e3),
    })
}
