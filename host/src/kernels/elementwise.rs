//! Launchers for the memory-bound elementwise kernels: axpby, the fused map chain and the
//! compute-intensity kernel (docs/kernels.md, Elementwise).

use std::sync::Arc;

use gpu_kernels::config::ELEMENTWISE_BLOCK;
use gpu_kernels::entries;
use riptide_reference::elementwise::{self as reference, MapChainParams, MapChainRef};

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::error::{Error, Result};
use crate::kernels::{backend_error, grid_stride_config};
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
            reference::axpby(a, x, b, y).map_err(backend_error)
        }),
    )
    .read(&x)
    .write(&y)
    .scalar(len)
    .scalar(a)
    .scalar(b);
    stream.launch(&launch)
}

/// Parameters of the fused elementwise chain: `y = e^clamp(x·scale + offset, lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapChain {
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling (fused).
    pub offset: f32,
    /// Lower clamp bound.
    pub lo: f32,
    /// Upper clamp bound.
    pub hi: f32,
}

impl MapChain {
    fn check(&self) -> Result<()> {
        let finite = [self.scale, self.offset, self.lo, self.hi]
            .iter()
            .all(|v| v.is_finite());
        if !finite || self.lo > self.hi {
            return Err(Error::InvalidArgument(format!(
                "map_chain: scale, offset, lo and hi must be finite with lo <= hi (got {self:?})"
            )));
        }
        Ok(())
    }

    fn reference(&self) -> MapChainParams {
        MapChainParams {
            scale: self.scale,
            offset: self.offset,
            lo: self.lo,
            hi: self.hi,
        }
    }
}

fn map_chain_cpu(params: MapChainParams, x: &[f32], y: &mut [f32]) -> Result<()> {
    let mut refs = vec![MapChainRef::default(); x.len()];
    reference::map_chain(x, params, &mut refs).map_err(backend_error)?;
    for (out, r) in y.iter_mut().zip(&refs) {
        *out = r.value as f32;
    }
    Ok(())
}

fn map_chain_launch(stream: &Stream, m: MapChain, len: usize, in_place: bool) -> KernelLaunch {
    let params = m.reference();
    KernelLaunch::new(
        KernelRef::Builtin(entries::MAP_CHAIN_F32),
        grid_stride_config(stream, len.div_ceil(8), ELEMENTWISE_BLOCK),
        Arc::new(move |args| {
            if in_place {
                let y = args.write::<f32>(1)?;
                let x = y.to_vec();
                map_chain_cpu(params, &x, y)
            } else {
                let x = args.read::<f32>(0)?;
                map_chain_cpu(params, x, args.write::<f32>(1)?)
            }
        }),
    )
}

/// Queues `y[i] = e^clamp(fma(x[i], scale, offset), lo, hi)` (`exp` through the GPU's
/// approximate `ex2`; a NaN stays NaN).
pub fn map_chain(
    stream: &Stream,
    m: MapChain,
    x: impl DeviceRead<f32>,
    y: impl DeviceWrite<f32>,
) -> Result<()> {
    m.check()?;
    let len = y.elements();
    if x.elements() != len {
        return Err(Error::length(
            "map_chain: x (y's length)",
            len,
            x.elements(),
        ));
    }
    if len == 0 {
        return Ok(());
    }
    let launch = map_chain_launch(stream, m, len, false)
        .read(&x)
        .write(&y)
        .scalar(len)
        .scalar(m.scale)
        .scalar(m.offset)
        .scalar(m.lo)
        .scalar(m.hi);
    stream.launch(&launch)
}

/// [`map_chain`] in place on `y`.
pub fn map_chain_in_place(stream: &Stream, m: MapChain, y: impl DeviceWrite<f32>) -> Result<()> {
    m.check()?;
    let len = y.elements();
    if len == 0 {
        return Ok(());
    }
    let launch = map_chain_launch(stream, m, len, true)
        .write(&y)
        .write(&y)
        .scalar(len)
        .scalar(m.scale)
        .scalar(m.offset)
        .scalar(m.lo)
        .scalar(m.hi);
    stream.launch(&launch)
}

fn compute_launch(
    stream: &Stream,
    a: f32,
    b: f32,
    k: u32,
    len: usize,
    in_place: bool,
) -> KernelLaunch {
    KernelLaunch::new(
        KernelRef::Builtin(entries::COMPUTE_F32),
        grid_stride_config(stream, len.div_ceil(8), ELEMENTWISE_BLOCK),
        Arc::new(move |args| {
            if in_place {
                reference::compute_in_place(a, b, k, args.write::<f32>(1)?);
                Ok(())
            } else {
                let x = args.read::<f32>(0)?;
                reference::compute(x, a, b, k, args.write::<f32>(1)?).map_err(backend_error)
            }
        }),
    )
    .flops(2 * k as u64 * len as u64)
}

/// Queues the compute-intensity kernel: `v = x[i]`, then `k` times `v = fma(v, a, b)`,
/// `y[i] = v` — `2k` flops per element for pipeline experiments.
pub fn compute(
    stream: &Stream,
    k: u32,
    a: f32,
    b: f32,
    x: impl DeviceRead<f32>,
    y: impl DeviceWrite<f32>,
) -> Result<()> {
    let len = y.elements();
    if x.elements() != len {
        return Err(Error::length("compute: x (y's length)", len, x.elements()));
    }
    if len == 0 {
        return Ok(());
    }
    let launch = compute_launch(stream, a, b, k, len, false)
        .read(&x)
        .write(&y)
        .scalar(len)
        .scalar(a)
        .scalar(b)
        .scalar(k);
    stream.launch(&launch)
}

/// [`compute`] in place on `y`.
pub fn compute_in_place(
    stream: &Stream,
    k: u32,
    a: f32,
    b: f32,
    y: impl DeviceWrite<f32>,
) -> Result<()> {
    let len = y.elements();
    if len == 0 {
        return Ok(());
    }
    let launch = compute_launch(stream, a, b, k, len, true)
        .write(&y)
        .write(&y)
        .scalar(len)
        .scalar(a)
        .scalar(b)
        .scalar(k);
    stream.launch(&launch)
}
