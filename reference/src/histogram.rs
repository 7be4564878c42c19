//! Histograms of u32 and f32 values, added into the caller's counters.
//!
//! Counts are exact. Each rayon task fills a private histogram over its chunks; the
//! private histograms are summed and then added to `counts` (wrapping modulo 2^32, as
//! GPU atomic additions do). Small inputs skip the private copies.

use rayon::prelude::*;

use crate::error::ReferenceError;

/// Values per chunk; inputs shorter than this are counted directly into `counts`.
const CHUNK: usize = 1 << 14;

/// The bin of a u32 value: `(v − lo) / width` when `v ≥ lo` and that bin is `< bins`.
fn bin_u32(v: u32, lo: u32, width: u32, bins: usize) -> Option<usize> {
    let bin = (v.checked_sub(lo)? / width) as usize;
    (bin < bins).then_some(bin)
}

/// The bin of an f32 value: `t = (x − lo) * scale` with two separate roundings (no FMA);
/// bin `t as u32` when `t ≥ 0` and `t < bins` (compared exactly) and `x` is not NaN.
fn bin_f32(x: f32, lo: f32, scale: f32, bins: usize) -> Option<usize> {
    if x.is_nan() {
        return None;
    }
    let diff = x - lo;
    let t = diff * scale;
    // `t < bins` as real numbers: f32 and usize (≤ 2^53 here) both convert to f64 exactly.
    // A NaN `t` fails both comparisons.
    if t >= 0.0 && f64::from(t) < bins as f64 {
        Some(t as u32 as usize)
    } else {
        None
    }
}

/// Adds the histogram of `values` (binned by `bin`) into `counts`.
fn accumulate<T: Copy + Sync>(
    values: &[T],
    counts: &mut [u32],
    bin: impl Fn(T) -> Option<usize> + Sync,
) {
    let count_into = |h: &mut [u32], chunk: &[T]| {
        for &v in chunk {
            if let Some(b) = bin(v) {
                h[b] = h[b].wrapping_add(1);
            }
        }
    };
    if values.len() <= CHUNK || counts.is_empty() {
        count_into(counts, values);
        return;
    }
    let bins = counts.len();
    let partial = values
        .par_chunks(CHUNK)
        .fold(
            || vec![0u32; bins],
            |mut h, chunk| {
                count_into(&mut h, chunk);
                h
            },
        )
        .reduce_with(|mut a, b| {
            add_into(&mut a, &b);
            a
        });
    if let Some(p) = partial {
        add_into(counts, &p);
    }
}

/// `acc[i] += other[i]`, wrapping.
fn add_into(acc: &mut [u32], other: &[u32]) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = a.wrapping_add(b);
    }
}

/// Adds the histogram of `values` into `counts` (`bins = counts.len()`): `v` goes to bin
/// `(v − lo) / width` (integer division) when `v ≥ lo` and that bin is `< bins`; other
/// values are not counted.
///
/// Errors if `width` is 0.
pub fn histogram_u32(
    values: &[u32],
    lo: u32,
    width: u32,
    counts: &mut [u32],
) -> Result<(), ReferenceError> {
    if width == 0 {
        return Err(ReferenceError::ZeroBinWidth);
    }
    let bins = counts.len();
    accumulate(values, counts, |v| bin_u32(v, lo, width, bins));
    Ok(())
}

/// Adds the histogram of `values` into `counts` (`bins = counts.len()`):
/// `t = (x − lo) * scale` as two rounded f32 operations (no FMA); `x` is counted in bin
/// `t as u32` when `t ≥ 0`, `t < bins` and `x` is not NaN; otherwise not counted.
///
/// `t < bins` is compared exactly, as real numbers (identical to the f32 comparison
/// `t < bins as f32` whenever `bins ≤ 2^24`).
pub fn histogram_f32(values: &[f32], lo: f32, scale: f32, counts: &mut [u32]) {
    let bins = counts.len();
    accumulate(values, counts, |x| bin_f32(x, lo, scale, bins));
}
