//! Sequential reductions: left-to-right loops.

use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::{ReferenceError, same_len};

/// Sequential [`crate::reduce::sum_f32`].
pub fn sum_f32(x: &[f32]) -> RefSum {
    let mut acc = SumAcc::default();
    for &v in x {
        acc.add(f64::from(v));
    }
    acc.finish()
}

/// Sequential [`crate::reduce::dot_f32`].
pub fn dot_f32(x: &[f32], y: &[f32]) -> Result<RefSum, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    let mut acc = SumAcc::default();
    for i in 0..x.len() {
        acc.add(f64::from(x[i]) * f64::from(y[i]));
    }
    Ok(acc.finish())
}

/// Sequential [`crate::reduce::min_f32`]: the smallest non-NaN element (`−0` before `+0`).
pub fn min_f32(x: &[f32]) -> f32 {
    let mut best: Option<f32> = None;
    for &v in x {
        if v.is_nan() {
            continue;
        }
        best = match best {
            Some(b) if b < v || (b == v && b.is_sign_negative()) => Some(b),
            _ => Some(v),
        };
    }
    match best {
        Some(b) => b,
        None if x.is_empty() => f32::INFINITY,
        None => f32::NAN,
    }
}

/// Sequential [`crate::reduce::max_f32`]: the largest non-NaN element (`+0` before `−0`).
pub fn max_f32(x: &[f32]) -> f32 {
    let mut best: Option<f32> = None;
    for &v in x {
        if v.is_nan() {
            continue;
        }
        best = match best {
            Some(b) if b > v || (b == v && b.is_sign_positive()) => Some(b),
            _ => Some(v),
        };
    }
    match best {
        Some(b) => b,
        None if x.is_empty() => f32::NEG_INFINITY,
        None => f32::NAN,
    }
}

/// Sequential [`crate::reduce::sum_u32`].
pub fn sum_u32(x: &[u32]) -> u64 {
    let mut s = 0u64;
    for &v in x {
        s = s.wrapping_add(u64::from(v));
    }
    s
}

/// Sequential [`crate::reduce::sum_i32`].
pub fn sum_i32(x: &[i32]) -> i64 {
    let mut s = 0i64;
    for &v in x {
        s = s.wrapping_add(i64::from(v));
    }
    s
}

/// Sequential [`crate::reduce::min_u32`].
pub fn min_u32(x: &[u32]) -> u32 {
    let mut m = u32::MAX;
    for &v in x {
        if v < m {
            m = v;
        }
    }
    m
}

/// Sequential [`crate::reduce::max_u32`].
pub fn max_u32(x: &[u32]) -> u32 {
    let mut m = u32::MIN;
    for &v in x {
        if v > m {
            m = v;
        }
    }
    m
}

/// Sequential [`crate::reduce::min_i32`].
pub fn min_i32(x: &[i32]) -> i32 {
    let mut m = i32::MAX;
    for &v in x {
        if v < m {
            m = v;
        }
    }
    m
}

/// Sequential [`crate::reduce::max_i32`].
pub fn max_i32(x: &[i32]) -> i32 {
    let mut m = i32::MIN;
    for &v in x {
        if v > m {
            m = v;
        }
    }
    m
}
