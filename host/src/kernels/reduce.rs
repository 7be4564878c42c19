//! Launchers for the one-launch grid-wide reductions: sum, min, max and dot product
//! (docs/kernels.md, Reductions).
//!
//! Each launch needs a [`ReduceScratch`]: the kernels' cross-block partials and block
//! counter, zeroed once. Launches that may run at the same time (different streams) need
//! different scratch buffers; the race detector reports sharing one without ordering.

use std::sync::Arc;

use gpu_kernels::config::{
    REDUCE_BLOCK, REDUCE_BLOCKS_PER_SM, REDUCE_SHARED_BYTES, reduce_grid, reduce_scratch_words,
};
use gpu_kernels::entries;
use riptide_reference::reduce as reference;

use crate::backend::{Device, DeviceBuffer, DeviceRead, DeviceWrite, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Scratch for reduction launches on one stream (partials and the block counter).
#[derive(Debug)]
pub struct ReduceScratch {
    words: DeviceBuffer<u64>,
    max_grid: u32,
}

impl ReduceScratch {
    /// Allocates and zeroes scratch sized for the device's largest reduction grid; the
    /// zeroing is queued on `stream` and waited for.
    pub fn new(stream: &Stream) -> Result<ReduceScratch> {
        let max_grid = REDUCE_BLOCKS_PER_SM * stream.device().info().multiprocessors.max(1);
        let mut words = stream
            .device()
            .alloc::<u64>(reduce_scratch_words(max_grid), "reduce scratch")?;
        stream.fill_zero(&mut words)?;
        stream.synchronize()?;
        Ok(ReduceScratch { words, max_grid })
    }
}

/// The element types with a sum kernel, and the type the sum is returned in.
pub trait SumElement: Element {
    /// The sum's type: `f32` for `f32`, `u64` for `u32`, `i64` for `i32`.
    type Sum: Element;
    #[doc(hidden)]
    const ENTRY: &'static str;
    #[doc(hidden)]
    fn cpu_sum(x: &[Self]) -> Self::Sum;
}

/// The element types with min and max kernels.
pub trait MinMaxElement: Element {
    #[doc(hidden)]
    const MIN: &'static str;
    #[doc(hidden)]
    const MAX: &'static str;
    #[doc(hidden)]
    fn cpu_min(x: &[Self]) -> Self;
    #[doc(hidden)]
    fn cpu_max(x: &[Self]) -> Self;
}

impl SumElement for f32 {
    type Sum = f32;
    const ENTRY: &'static str = entries::SUM_F32;
    fn cpu_sum(x: &[f32]) -> f32 {
        reference::sum_f32(x).value as f32
    }
}

impl SumElement for u32 {
    type Sum = u64;
    const ENTRY: &'static str = entries::SUM_U32;
    fn cpu_sum(x: &[u32]) -> u64 {
        reference::sum_u32(x)
    }
}

impl SumElement for i32 {
    type Sum = i64;
    const ENTRY: &'static str = entries::SUM_I32;
    fn cpu_sum(x: &[i32]) -> i64 {
        reference::sum_i32(x)
    }
}

impl MinMaxElement for f32 {
    const MIN: &'static str = entries::MIN_F32;
    const MAX: &'static str = entries::MAX_F32;
    fn cpu_min(x: &[f32]) -> f32 {
        reference::min_f32(x)
    }
    fn cpu_max(x: &[f32]) -> f32 {
        reference::max_f32(x)
    }
}

impl MinMaxElement for u32 {
    const MIN: &'static str = entries::MIN_U32;
    const MAX: &'static str = entries::MAX_U32;
    fn cpu_min(x: &[u32]) -> u32 {
        reference::min_u32(x)
    }
    fn cpu_max(x: &[u32]) -> u32 {
        reference::max_u32(x)
    }
}

impl MinMaxElement for i32 {
    const MIN: &'static str = entries::MIN_I32;
    const MAX: &'static str = entries::MAX_I32;
    fn cpu_min(x: &[i32]) -> i32 {
        reference::min_i32(x)
    }
    fn cpu_max(x: &[i32]) -> i32 {
        reference::max_i32(x)
    }
}

/// The grid a reduction kernel `entry` (e.g. `gpu_kernels::entries::SUM_F32`) launches
/// with over `len` elements on `device`: [`reduce_grid`] for the blocks of it an SM holds
/// (the driver's occupancy answer; `REDUCE_BLOCKS_PER_SM` on the CPU backend). The `f32`
/// results' summation depth depends on it (`gpu_kernels::config::reduce_f32_depth`).
pub fn reduction_grid(device: &Device, entry: &'static str, len: usize) -> Result<u32> {
    let resident = device
        .resident_blocks_per_sm(entry, REDUCE_BLOCK, REDUCE_SHARED_BYTES)?
        .unwrap_or(REDUCE_BLOCKS_PER_SM);
    Ok(reduce_grid(
        len,
        device.info().multiprocessors.max(1),
        resident,
    ))
}

/// The launch shape of `entry` for `len` elements, checked against the scratch.
fn config(
    stream: &Stream,
    entry: &'static str,
    len: usize,
    scratch: &ReduceScratch,
) -> Result<LaunchConfig> {
    let grid = reduction_grid(stream.device(), entry, len)?.min(scratch.max_grid);
    Ok(LaunchConfig {
        grid: Dim3::x(grid),
        block: Dim3::x(REDUCE_BLOCK),
        shared_bytes: REDUCE_SHARED_BYTES,
    })
}

fn one_output<T: Element>(what: &str, out: &impl DeviceWrite<T>) -> Result<()> {
    if out.elements() != 1 {
        return Err(Error::length(format!("{what}: out"), 1, out.elements()));
    }
    Ok(())
}

fn launch_unary<T: Element, A: Element>(
    stream: &Stream,
    entry: &'static str,
    x: impl DeviceRead<T>,
    out: impl DeviceWrite<A>,
    scratch: &mut ReduceScratch,
    cpu: fn(&[T]) -> A,
) -> Result<()> {
    one_output(entry, &out)?;
    let len = x.elements();
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entry),
        config(stream, entry, len, scratch)?,
        Arc::new(move |args| {
            let x = args.read::<T>(0)?;
            args.write::<A>(2)?[0] = cpu(x);
            Ok(())
        }),
    )
    .read(&x)
    .scalar(len)
    .write(&out)
    .write(&&mut scratch.words);
    stream.launch(&launch)
}

/// Queues `out[0] = Σ x` (f32: a tree sum whose depth `gpu_kernels::config::reduce_f32_depth`
/// states; u32 → u64 and i32 → i64 exactly).
pub fn sum<T: SumElement>(
    stream: &Stream,
    x: impl DeviceRead<T>,
    out: impl DeviceWrite<T::Sum>,
    scratch: &mut ReduceScratch,
) -> Result<()> {
    launch_unary(stream, T::ENTRY, x, out, scratch, T::cpu_sum)
}

/// Queues `out[0] = min x` (f32: NaNs ignored; empty → the type's largest value or +∞).
pub fn min<T: MinMaxElement>(
    stream: &Stream,
    x: impl DeviceRead<T>,
    out: impl DeviceWrite<T>,
    scratch: &mut ReduceScratch,
) -> Result<()> {
    launch_unary(stream, T::MIN, x, out, scratch, T::cpu_min)
}

/// Queues `out[0] = max x` (f32: NaNs ignored; empty → the type's smallest value or −∞).
pub fn max<T: MinMaxElement>(
    stream: &Stream,
    x: impl DeviceRead<T>,
    out: impl DeviceWrite<T>,
    scratch: &mut ReduceScratch,
) -> Result<()> {
    launch_unary(stream, T::MAX, x, out, scratch, T::cpu_max)
}

/// Queues `out[0] = Σ x[i]·y[i]` over f32.
pub fn dot(
    stream: &Stream,
    x: impl DeviceRead<f32>,
    y: impl DeviceRead<f32>,
    out: impl DeviceWrite<f32>,
    scratch: &mut ReduceScratch,
) -> Result<()> {
    one_output("dot", &out)?;
    let len = x.elements();
    if y.elements() != len {
        return Err(Error::length("dot: y (x's length)", len, y.elements()));
    }
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::DOT_F32),
        config(stream, entries::DOT_F32, len, scratch)?,
        Arc::new(|args| {
            let (x, y) = (args.read::<f32>(0)?, args.read::<f32>(1)?);
            args.write::<f32>(3)?[0] =
                reference::dot_f32(x, y).map_err(backend_error)?.value as f32;
            Ok(())
        }),
    )
    .read(&x)
    .read(&y)
    .scalar(len)
    .write(&out)
    .write(&&mut scratch.words);
    stream.launch(&launch)
}
