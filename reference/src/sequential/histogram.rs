//! Sequential histograms: one pass adding into `counts`.

use crate::error::ReferenceError;

/// Sequential [`crate::histogram::histogram_u32`].
pub fn histogram_u32(
    values: &[u32],
    lo: u32,
    width: u32,
    counts: &mut [u32],
) -> Result<(), ReferenceError> {
    if width == 0 {
        return Err(ReferenceError::ZeroBinWidth);
    }
    for &v in values {
        if v >= lo {
            let bin = ((v - lo) / width) as usize;
            if bin < counts.len() {
                counts[bin] = counts[bin].wrapping_add(1);
            }
        }
    }
    Ok(())
}

/// Sequential [`crate::histogram::histogram_f32`].
pub fn histogram_f32(values: &[f32], lo: f32, scale: f32, counts: &mut [u32]) {
    for &x in values {
        if x.is_nan() {
            continue;
        }
        let diff = x - lo;
        let t = diff * scale;
        // Exact comparison with `bins`: both sides are exact in f64.
        if t >= 0.0 && f64::from(t) < counts.len() as f64 {
            let bin = t as u32 as usize;
            counts[bin] = counts[bin].wrapping_add(1);
        }
    }
}
