//! Launchers for the shared-memory privatized histograms (docs/kernels.md, Histogram).
//! Counts are added to the `counts` buffer, so chunks accumulate into one histogram.

use std::sync::Arc;

use gpu_kernels::config::{
    HISTOGRAM_BLOCK, HISTOGRAM_BLOCKS_PER_SM, histogram_grid, histogram_shared_bytes,
};
use gpu_kernels::entries;
use riptide_reference::histogram as reference;

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// The launch shape of `entry` for `len` values into `bins` bins: [`histogram_grid`] for the
/// blocks of it an SM holds with the bins' shared memory (the driver's occupancy answer;
/// `HISTOGRAM_BLOCKS_PER_SM` on the CPU backend).
fn config(stream: &Stream, entry: &'static str, len: usize, bins: u32) -> Result<LaunchConfig> {
    let shared_bytes = histogram_shared_bytes(bins);
    let device = stream.device();
    let resident = device
        .resident_blocks_per_sm(entry, HISTOGRAM_BLOCK, shared_bytes)?
        .unwrap_or(HISTOGRAM_BLOCKS_PER_SM);
    Ok(LaunchConfig {
        grid: Dim3::x(histogram_grid(
            len,
            device.info().multiprocessors.max(1),
            resident,
        )),
        block: Dim3::x(HISTOGRAM_BLOCK),
        shared_bytes,
    })
}

fn bins_of(counts: usize) -> Result<u32> {
    match u32::try_from(counts) {
        Ok(0) => Err(Error::InvalidArgument(
            "histogram: at least one bin is needed".into(),
        )),
        Ok(b) => Ok(b),
        Err(_) => Err(Error::limit(
            "histogram: bins",
            counts as u64,
            u32::MAX as u64,
        )),
    }
}

/// Queues counting each `v` of `values` in bin `(v − lo) / width` when `v ≥ lo` and the bin
/// is below `counts.len()`; counts are added to `counts`.
pub fn histogram_u32(
    stream: &Stream,
    values: impl DeviceRead<u32>,
    lo: u32,
    width: u32,
    counts: impl DeviceWrite<u32>,
) -> Result<()> {
    if width == 0 {
        return Err(Error::InvalidArgument(
            "histogram: bin width must be at least 1".into(),
        ));
    }
    let bins = bins_of(counts.elements())?;
    let len = values.elements();
    if len == 0 {
        return Ok(());
    }
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::HISTOGRAM_U32),
        config(stream, entries::HISTOGRAM_U32, len, bins)?,
        Arc::new(move |args| {
            let v = args.read::<u32>(0)?;
            reference::histogram_u32(v, lo, width, args.write::<u32>(5)?).map_err(backend_error)
        }),
    )
    .read(&values)
    .scalar(len)
    .scalar(lo)
    .scalar(width)
    .scalar(bins)
    .write(&counts);
    stream.launch(&launch)
}

/// Queues counting each `x` of `values` in `counts.len()` equal bins over `[lo, hi)`:
/// `t = (x − lo)·scale` with `scale = bins / (hi − lo)` in f32, counted in bin `t as u32`
/// when `0 ≤ t < bins` (NaN never counted); counts are added to `counts`.
pub fn histogram_f32(
    stream: &Stream,
    values: impl DeviceRead<f32>,
    lo: f32,
    hi: f32,
    counts: impl DeviceWrite<u32>,
) -> Result<()> {
    let bins = bins_of(counts.elements())?;
    let width = hi - lo;
    let scale = bins as f32 / width;
    // `hi − lo` must itself be finite: if it overflows, `scale` rounds to 0 and every value
    // would land in bin 0.
    if !(lo.is_finite()
        && hi.is_finite()
        && lo < hi
        && width.is_finite()
        && scale.is_finite()
        && scale > 0.0)
    {
        return Err(Error::InvalidArgument(format!(
            "histogram: the range must be finite with lo < hi (got {lo}..{hi})"
        )));
    }
    let len = values.elements();
    if len == 0 {
        return Ok(());
    }
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::HISTOGRAM_F32),
        config(stream, entries::HISTOGRAM_F32, len, bins)?,
        Arc::new(move |args| {
            let v = args.read::<f32>(0)?;
            reference::histogram_f32(v, lo, scale, args.write::<u32>(5)?);
            Ok(())
        }),
    )
    .read(&values)
    .scalar(len)
    .scalar(lo)
    .scalar(scale)
    .scalar(bins)
    .write(&counts);
    stream.launch(&launch)
}
