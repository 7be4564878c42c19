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
    /// Host to device while the same bytes move device to host, in
    /// [`DUPLEX_CHUNK_BYTES`] copies on two streams (the way a pipeline moves them): the
    /// bytes of one direction over the time until both directions are done.
    pub duplex_h2d: f64,
    /// Device to host in that measurement (equal to `duplex_h2d`: both directions move the
    /// same bytes over the same time).
    pub duplex_d2h: f64,
}

/// Bytes per copy when both directions are measured at once: the pipeline's usual chunk.
/// Two single large copies started together do not overlap for their whole length and
/// share the link differently, so they understate what a chunked pipeline gets.
pub const DUPLEX_CHUNK_BYTES: usize = 8 << 20;

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
    // Both directions at once: chunks queued on both streams after one start event, timed
    // until the later stream is done.
    let chunk = (DUPLEX_CHUNK_BYTES / 4).clamp(1, n.max(1));
    let mut duplex = Vec::new();
    for i in 0..=iters.max(1) {
        let (start, up_end, down_end) = (
            device.event(true)?,
            device.event(true)?,
            device.event(true)?,
        );
        up.record(&start)?;
        down.wait(&start)?;
        for at in (0..n).step_by(chunk) {
            let r = at..(at + chunk).min(n);
            up.copy_to_device(host_in.slice(r.clone())?, d_in.slice_mut(r.clone())?)?;
            down.copy_to_host(d_out.slice(r.clone())?, host_out.slice_mut(r)?)?;
        }
        up.record(&up_end)?;
        down.record(&down_end)?;
        up.synchronize()?;
        down.synchronize()?;
        if i > 0 {
            let both = start.elapsed_ms(&up_end)?.max(start.elapsed_ms(&down_end)?);
            duplex.push(both as f64);
        }
    }
    duplex.sort_by(f64::total_cmp);
    let duplex = b / (duplex[duplex.len() / 2] / 1e3);
    Ok(CopyCeilings {
        h2d: b / (h2d / 1e3),
        d2h: b / (d2h / 1e3),
        duplex_h2d: duplex,
        duplex_d2h: duplex,
    })
}
