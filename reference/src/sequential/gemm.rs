//! Sequential sgemm: the textbook triple loop.

use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::ReferenceError;
use crate::gemm::GemmShape;

/// Sequential [`crate::gemm::sgemm`].
pub fn sgemm(
    shape: GemmShape,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &[f32],
    out: &mut [RefSum],
) -> Result<(), ReferenceError> {
    let read_c = beta != 0.0;
    shape.validate(a.len(), b.len(), read_c.then_some(c.len()), out.len())?;
    let GemmShape { m, n, k } = shape;
    let alpha = f64::from(alpha);
    for i in 0..m {
        for j in 0..n {
            let mut acc = SumAcc::default();
            for l in 0..k {
                acc.add(f64::from(a[i * k + l]) * f64::from(b[l * n + j]));
            }
            let beta_c = if read_c {
                f64::from(beta) * f64::from(c[i * n + j])
            } else {
                0.0
            };
            out[i * n + j] = RefSum {
                value: alpha.mul_add(acc.value(), beta_c),
                abs_sum: alpha.abs() * acc.abs_sum() + beta_c.abs(),
            };
        }
    }
    Ok(())
}
