//! Launchers for the memory-bound elementwise kernels.

use std::sync::Arc;

use gpu_kernels::config::ELEMENTWISE_BLOCK;
use gpu_kernels::entries;

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::error::{Error, Result};
use crate::kernels::grid_stride_config;
use crate::launch::{KernelLaunch, KernelRef};

/// Queues `y[i] = a·x[i] + b·y[i]` (one fused rounding after `b·y[i]`) on `stream`.
///
/// `x` and `y` must have the same length; `y` is written in place.
pub fn axpby(
    stream: &Stream,
    a: f32,
    x: impl DeviceRead<f32>,
    b: f32,
    y: impl DeviceWrite<f32>,
) -> Result<()> {
    let len = y.elements();
    if x.elements() != len {
        return Err(Error::length("axpby: x (y's length)", len, x.elements()));
    }
    if len == 0 {
        return Ok(());
    }
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::AXPBY_F32),
        grid_stride_config(stream, len.div_ceil(4), ELEMENTWISE_BLOCK),
        Arc::new(move |args| {
            let x = args.read::<f32>(0)?;
            let y = args.write::<f32>(1)?;
            riptide_reference::elementwise::axpby(a, x, b, y)
                .map_err(|e| Error::Backend(e.to_string()))
        }),
    )
    .read(&x)
    .write(&y)
    .scalar(len)
    .scalar(a)
    .scalar(b);
    stream.launch(&launch)
}
