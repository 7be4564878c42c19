//! Reductions: f32 sum and dot product (accurate f64 references with their bound's scale),
//! f32 min/max (IEEE minNum/maxNum), and exact integer sums, mins and maxes.
//!
//! The f32 sums fold compensated f64 accumulators per rayon task and merge them in
//! whatever tree rayon forms; the result is accurate to `REFERENCE_SLACK / 2 · abs_sum`
//! regardless of that tree. Everything else here is exact, so the combination order does
//! not matter.

use rayon::prelude::*;

use crate::MIN_TASK_LEN;
use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::{ReferenceError, same_len};

/// `Σ x[i]`: the exact sum (rounded to f64) and `Σ|x[i]|`, for [`crate::bounds::sum_bound`].
pub fn sum_f32(x: &[f32]) -> RefSum {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .fold(SumAcc::default, |mut acc, &v| {
            acc.add(f64::from(v));
            acc
        })
        .reduce(SumAcc::default, SumAcc::merge)
        .finish()
}

/// `Σ x[i]·y[i]`: the exact sum of exact products (rounded to f64) and `Σ|x[i]·y[i]|`, for
/// [`crate::bounds::dot_bound`]. f32 products are exact in f64.
///
/// Errors if `y` and `x` differ in length.
pub fn dot_f32(x: &[f32], y: &[f32]) -> Result<RefSum, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    Ok(x.par_iter()
        .zip(y.par_iter())
        .with_min_len(MIN_TASK_LEN)
        .fold(SumAcc::default, |mut acc, (&a, &b)| {
            acc.add(f64::from(a) * f64::from(b));
            acc
        })
        .reduce(SumAcc::default, SumAcc::merge)
        .finish())
}

/// IEEE minNum/maxNum of two values, deterministic for every input: a NaN loses to a
/// number; between `−0` and `+0` the minimum is `−0` and the maximum `+0`.
fn pick(a: f32, b: f32, want_min: bool) -> f32 {
    if a.is_nan() {
        return b;
    }
    if b.is_nan() {
        return a;
    }
    let a_first = if a == b {
        a.is_sign_negative() == want_min
    } else {
        (a < b) == want_min
    };
    if a_first { a } else { b }
}

/// minNum/maxNum over `x`; `empty` for no elements, the canonical NaN when all are NaN.
fn min_max_f32(x: &[f32], want_min: bool, empty: f32) -> f32 {
    if x.is_empty() {
        return empty;
    }
    // NaN is the identity of `pick`: it only survives when every element is NaN.
    let r = x
        .par_iter()
        .with_min_len(MIN_TASK_LEN)
        .copied()
        .reduce(|| f32::NAN, |a, b| pick(a, b, want_min));
    if r.is_nan() { f32::NAN } else { r }
}

/// IEEE minNum over `x`: NaNs are ignored; NaN only if every element is NaN; `+∞` if empty.
/// When the minimum is zero and both zeros occur, returns `−0` (the spec treats `±0` as
/// equal, so a test should compare with `==`).
pub fn min_f32(x: &[f32]) -> f32 {
    min_max_f32(x, true, f32::INFINITY)
}

/// IEEE maxNum over `x`: NaNs are ignored; NaN only if every element is NaN; `−∞` if empty.
/// When the maximum is zero and both zeros occur, returns `+0`.
pub fn max_f32(x: &[f32]) -> f32 {
    min_max_f32(x, false, f32::NEG_INFINITY)
}

/// The exact sum of `x` in 64 bits (wrapping modulo 2^64, which needs more than 2^32
/// elements).
pub fn sum_u32(x: &[u32]) -> u64 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .map(|&v| u64::from(v))
        .reduce(|| 0, u64::wrapping_add)
}

/// The exact sum of `x` in 64 bits (wrapping modulo 2^64, which needs more than 2^32
/// elements).
pub fn sum_i32(x: &[i32]) -> i64 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .map(|&v| i64::from(v))
        .reduce(|| 0, i64::wrapping_add)
}

/// The smallest element; `u32::MAX` if empty.
pub fn min_u32(x: &[u32]) -> u32 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .copied()
        .reduce(|| u32::MAX, u32::min)
}

/// The largest element; `u32::MIN` (0) if empty.
pub fn max_u32(x: &[u32]) -> u32 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .copied()
        .reduce(|| u32::MIN, u32::max)
}

/// The smallest element; `i32::MAX` if empty.
pub fn min_i32(x: &[i32]) -> i32 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .copied()
        .reduce(|| i32::MAX, i32::min)
}

/// The largest element; `i32::MIN` if empty.
pub fn max_i32(x: &[i32]) -> i32 {
    x.par_iter()
        .with_min_len(MIN_TASK_LEN)
        .copied()
        .reduce(|| i32::MIN, i32::max)
}
