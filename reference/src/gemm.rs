//! `sgemm_f32`: `C = alpha·A·B + beta·C`, row-major, as an accurate f64 reference per
//! element with the magnitude its bound scales with.
//!
//! Products of f32 values are exact in f64; each element's dot product is a compensated
//! f64 sum (see `compensated`), then `alpha·S + beta·c` is one f64 fused multiply-add of
//! the exact `beta·c`. Output elements are computed in parallel; `B` is transposed first
//! so each dot product reads two contiguous rows.

use rayon::prelude::*;

use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::{ReferenceError, shape_len};
use crate::transpose::transpose;

/// The dimensions of `C = alpha·A·B + beta·C`: `A` is `m × k`, `B` is `k × n`, `C` is
/// `m × n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GemmShape {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Columns of `A`, rows of `B` (the inner dimension).
    pub k: usize,
}

impl GemmShape {
    /// Checks the four slices' lengths against the shape. `c` is checked only when read.
    pub(crate) fn validate(
        &self,
        a: usize,
        b: usize,
        c: Option<usize>,
        out: usize,
    ) -> Result<(), ReferenceError> {
        shape_len("a", a, "m × k", self.m, self.k)?;
        shape_len("b", b, "k × n", self.k, self.n)?;
        if let Some(c) = c {
            shape_len("c", c, "m × n", self.m, self.n)?;
        }
        shape_len("out", out, "m × n", self.m, self.n)
    }
}

/// The reference for one element: `alpha·Σ products + beta·c`, with
/// `abs_sum = |alpha|·Σ|products| + |beta·c|`; `c` is `None` when `beta == 0`.
fn element(acc: &SumAcc, alpha: f32, beta: f32, c: Option<f32>) -> RefSum {
    let alpha = f64::from(alpha);
    let (scaled_c, abs_c) = match c {
        Some(c) => {
            let bc = f64::from(beta) * f64::from(c);
            (bc, bc.abs())
        }
        None => (0.0, 0.0),
    };
    RefSum {
        value: alpha.mul_add(acc.value(), scaled_c),
        abs_sum: alpha.abs() * acc.abs_sum() + abs_c,
    }
}

/// Writes to `out[i·n + j]` the reference for `C[i][j] = alpha·Σ_l A[i][l]·B[l][j] +
/// beta·C[i][j]`, with [`RefSum::abs_sum`] `= |alpha|·Σ_l|A[i][l]·B[l][j]| + |beta·C[i][j]|`
/// for [`crate::bounds::sgemm_bound`].
///
/// When `beta == 0`, `c` is not read (it may hold NaN, or be empty).
///
/// Errors if `a` is not `m × k`, `b` not `k × n`, `out` (or, when read, `c`) not `m × n`.
pub fn sgemm(
    shape: GemmShape,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &[f32],
    out: &mut [RefSum],
) -> Result<(), ReferenceError> {
    let c = (beta != 0.0).then_some(c);
    shape.validate(a.len(), b.len(), c.map(<[f32]>::len), out.len())?;
    let GemmShape { n, k, .. } = shape;
    // An empty output covers `n == 0` (no element to index by `n`).
    if out.is_empty() {
        return Ok(());
    }
    let mut bt = vec![0.0f32; b.len()];
    transpose(b, k, n, &mut bt)?;
    // Parallel over elements (not rows), so a single long row still spreads out.
    out.par_iter_mut()
        .enumerate()
        .with_min_len((crate::MIN_TASK_LEN / k.max(1)).max(1))
        .for_each(|(idx, o)| {
            let (i, j) = (idx / n, idx % n);
            let mut acc = SumAcc::default();
            for (&x, &y) in a[i * k..(i + 1) * k].iter().zip(&bt[j * k..(j + 1) * k]) {
                acc.add(f64::from(x) * f64::from(y));
            }
            *o = element(&acc, alpha, beta, c.map(|c| c[idx]));
        });
    Ok(())
}
