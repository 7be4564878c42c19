//! Sequential `axpby`, `map_chain` and `compute`: one loop over the elements each.

use crate::ReferenceError;
use crate::elementwise::{MapChainParams, MapChainRef};
use crate::error::same_len;

/// Sequential [`crate::elementwise::axpby`].
pub fn axpby(a: f32, x: &[f32], b: f32, y: &mut [f32]) -> Result<(), ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    for i in 0..y.len() {
        let by = b * y[i];
        y[i] = a.mul_add(x[i], by);
    }
    Ok(())
}

/// Sequential [`crate::elementwise::axpby_in_place`].
pub fn axpby_in_place(a: f32, b: f32, y: &mut [f32]) {
    for v in y.iter_mut() {
        let by = b * *v;
        *v = a.mul_add(*v, by);
    }
}

/// Sequential [`crate::elementwise::map_chain`].
pub fn map_chain(
    x: &[f32],
    params: MapChainParams,
    out: &mut [MapChainRef],
) -> Result<(), ReferenceError> {
    same_len("out", out.len(), "x", x.len())?;
    for i in 0..x.len() {
        let mut v = x[i].mul_add(params.scale, params.offset);
        if v < params.lo {
            v = params.lo;
        } else if v > params.hi {
            v = params.hi;
        }
        out[i] = MapChainRef {
            v,
            value: f64::from(v).exp(),
        };
    }
    Ok(())
}

/// Sequential [`crate::elementwise::compute`].
pub fn compute(x: &[f32], a: f32, b: f32, k: u32, y: &mut [f32]) -> Result<(), ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    for i in 0..x.len() {
        let mut v = x[i];
        for _ in 0..k {
            v = v.mul_add(a, b);
        }
        y[i] = v;
    }
    Ok(())
}

/// Sequential [`crate::elementwise::compute_in_place`].
pub fn compute_in_place(a: f32, b: f32, k: u32, y: &mut [f32]) {
    for v in y.iter_mut() {
        for _ in 0..k {
            *v = v.mul_add(a, b);
        }
    }
}
