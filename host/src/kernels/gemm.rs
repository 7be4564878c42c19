//! Launcher for the register-tiled SGEMM (docs/kernels.md, Matrix multiply).

use std::sync::Arc;

use gpu_kernels::config::{SGEMM_SHARED_BYTES, SGEMM_THREADS, sgemm_grid};
use gpu_kernels::entries;
use riptide_reference::bounds::RefSum;
use riptide_reference::gemm::{GemmShape, sgemm as reference_sgemm};

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Matrix shape: `A: m×k`, `B: k×n`, `C: m×n`, all row-major and contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
}

fn area(what: &str, r: usize, c: usize) -> Result<usize> {
    r.checked_mul(c)
        .ok_or_else(|| Error::InvalidArgument(format!("sgemm: {what} {r} × {c} overflows")))
}

/// Queues `C = alpha·A·B + beta·C` (f32, FMA accumulation along `k`). With `beta == 0`, `C`
/// is not read.
pub fn sgemm(
    stream: &Stream,
    shape: Shape,
    alpha: f32,
    a: impl DeviceRead<f32>,
    b: impl DeviceRead<f32>,
    beta: f32,
    c: impl DeviceWrite<f32>,
) -> Result<()> {
    let Shape { m, n, k } = shape;
    for (what, buf_len, want) in [
        ("A", a.elements(), area("A", m, k)?),
        ("B", b.elements(), area("B", k, n)?),
    ] {
        if buf_len != want {
            return Err(Error::length(format!("sgemm: {what}"), want, buf_len));
        }
    }
    let c_len = area("C", m, n)?;
    if c.elements() != c_len {
        return Err(Error::length("sgemm: C", c_len, c.elements()));
    }
    if c_len == 0 {
        return Ok(());
    }
    let (gx, gy) = sgemm_grid(m, n);
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::SGEMM_F32),
        LaunchConfig {
            grid: Dim3::xy(gx, gy),
            block: Dim3::x(SGEMM_THREADS),
            shared_bytes: SGEMM_SHARED_BYTES,
        },
        Arc::new(move |args| {
            let (a, b) = (args.read::<f32>(0)?, args.read::<f32>(1)?);
            let c = args.write::<f32>(2)?;
            let c_in = if beta == 0.0 { Vec::new() } else { c.to_vec() };
            let mut out = vec![RefSum::default(); c.len()];
            reference_sgemm(GemmShape { m, n, k }, alpha, a, b, beta, &c_in, &mut out)
                .map_err(backend_error)?;
            for (dst, r) in c.iter_mut().zip(&out) {
                *dst = r.value as f32;
            }
            Ok(())
        }),
    )
    .flops(2 * (m * n * k) as u64)
    .read(&a)
    .read(&b)
    .write(&c)
    .scalar(m)
    .scalar(n)
    .scalar(k)
    .scalar(alpha)
    .scalar(beta);
    stream.launch(&launch)
}
