//! Elementwise f32 kernels: `axpby`, `map_chain` and `compute`, in parallel over the
//! elements.
//!
//! `axpby` and `compute` are bit-exact: each element goes through exactly the specified
//! f32 operations. `map_chain`'s `exp` is approximate on the GPU, so the reference keeps
//! the exactly specified f32 argument `v` and computes `e^v` in f64 ([`MapChainRef`]).
//!
//! On the GPU `x` and `y` are either disjoint or the same buffer; the `_in_place` variants
//! are the same-buffer case.

use rayon::prelude::*;

use crate::MIN_TASK_LEN;
use crate::bounds::{F32_MIN_SUBNORMAL, exp_rel_bound};
use crate::error::{ReferenceError, same_len};

/// `y[i] = fma(a, x[i], b * y[i])`: `b * y[i]` rounded, then one fused rounding.
///
/// Errors if `y` and `x` differ in length.
pub fn axpby(a: f32, x: &[f32], b: f32, y: &mut [f32]) -> Result<(), ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    y.par_iter_mut()
        .zip(x.par_iter())
        .with_min_len(MIN_TASK_LEN)
        .for_each(|(yi, &xi)| *yi = a.mul_add(xi, b * *yi));
    Ok(())
}

/// `axpby` with `x` and `y` the same buffer: `y[i] = fma(a, y[i], b * y[i])`.
pub fn axpby_in_place(a: f32, b: f32, y: &mut [f32]) {
    y.par_iter_mut()
        .with_min_len(MIN_TASK_LEN)
        .for_each(|yi| *yi = a.mul_add(*yi, b * *yi));
}

/// The parameters of `map_chain`: `v = clamp(fma(x, scale, offset), lo, hi)`, `y = e^v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapChainParams {
    /// Multiplier of the fused multiply-add.
    pub scale: f32,
    /// Addend of the fused multiply-add.
    pub offset: f32,
    /// Lower clamp: `v < lo` becomes `lo` (checked first).
    pub lo: f32,
    /// Upper clamp: `v > hi` becomes `hi`.
    pub hi: f32,
}

impl MapChainParams {
    /// The exactly specified f32 argument of `exp`: `v = fma(x, scale, offset)`, then
    /// `lo` if `v < lo`, else `hi` if `v > hi`, else `v` (a NaN stays NaN).
    fn argument(&self, x: f32) -> f32 {
        let v = x.mul_add(self.scale, self.offset);
        if v < self.lo {
            self.lo
        } else if v > self.hi {
            self.hi
        } else {
            v
        }
    }

    /// The reference for one element.
    fn reference(&self, x: f32) -> MapChainRef {
        let v = self.argument(x);
        MapChainRef {
            v,
            value: f64::from(v).exp(),
        }
    }
}

/// The reference for one `map_chain` output: the exact f32 argument and `e^v` in f64.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MapChainRef {
    /// `v = clamp(fma(x, scale, offset), lo, hi)`, bit-exact as the GPU computes it.
    pub v: f32,
    /// `e^v` computed in f64 (NaN for a NaN `v`).
    pub value: f64,
}

impl MapChainRef {
    /// Whether the GPU's output `gpu` meets the spec: NaN exactly when `v` is NaN;
    /// otherwise within [`exp_rel_bound`]`(v)·e^v` of `e^v`, plus `2^-149` absolute for
    /// results in the subnormal range (where f32 rounding error is absolute, so a relative
    /// bound cannot hold; a kernel that flushes subnormal results to zero fails above
    /// `2^-149`). `+∞` is admitted when `e^v` is within the bound of overflowing f32; an
    /// infinite `v` admits only the exact `e^v` (`+∞` or `0`).
    pub fn admits(&self, gpu: f32) -> bool {
        if self.value.is_nan() || gpu.is_nan() {
            return self.value.is_nan() && gpu.is_nan();
        }
        let g = f64::from(gpu);
        if self.v.is_infinite() {
            return g == self.value;
        }
        let rel = exp_rel_bound(self.v);
        if gpu == f32::INFINITY {
            return self.value * (1.0 + rel) >= f64::from(f32::MAX);
        }
        (g - self.value).abs() <= rel * self.value + F32_MIN_SUBNORMAL
    }
}

/// `out[i]` = the reference for `y[i] = e^v`, `v = clamp(fma(x[i], scale, offset), lo, hi)`.
///
/// Errors if `out` and `x` differ in length.
pub fn map_chain(
    x: &[f32],
    params: MapChainParams,
    out: &mut [MapChainRef],
) -> Result<(), ReferenceError> {
    same_len("out", out.len(), "x", x.len())?;
    out.par_iter_mut()
        .zip(x.par_iter())
        .with_min_len(MIN_TASK_LEN)
        .for_each(|(o, &xi)| *o = params.reference(xi));
    Ok(())
}

/// `v = x[i]`, then `k` times `v = fma(v, a, b)`; `y[i] = v`.
///
/// Errors if `y` and `x` differ in length.
pub fn compute(x: &[f32], a: f32, b: f32, k: u32, y: &mut [f32]) -> Result<(), ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    y.par_iter_mut()
        .zip(x.par_iter())
        .with_min_len(min_len_for(k))
        .for_each(|(yi, &xi)| *yi = iterate(xi, a, b, k));
    Ok(())
}

/// `compute` with `x` and `y` the same buffer.
pub fn compute_in_place(a: f32, b: f32, k: u32, y: &mut [f32]) {
    y.par_iter_mut()
        .with_min_len(min_len_for(k))
        .for_each(|yi| *yi = iterate(*yi, a, b, k));
}

/// `k` fused multiply-adds `v = fma(v, a, b)` starting from `v`.
fn iterate(mut v: f32, a: f32, b: f32, k: u32) -> f32 {
    for _ in 0..k {
        v = v.mul_add(a, b);
    }
    v
}

/// Elements per task for `compute`: fewer when each element costs `k` operations.
fn min_len_for(k: u32) -> usize {
    (MIN_TASK_LEN / (k as usize).max(1)).max(1)
}
