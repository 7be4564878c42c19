//! Prefix sums with a carry-in and a total: wrapping u32/i32 scans (exact) and the f32
//! scan's accurate f64 reference.
//!
//! Parallel decomposition, the same for every type: the input is cut into chunks of
//! `CHUNK` (8192) elements; their totals are computed in parallel, scanned sequentially from
//! the carry into per-chunk offsets, and then every chunk is scanned in parallel from its
//! offset. For integers this is exact (wrapping addition is associative); for f32 the
//! chunk totals and running sums are compensated f64 accumulators, so every output is
//! accurate to `REFERENCE_SLACK / 2 · abs_sum`.

use rayon::prelude::*;

use crate::bounds::RefSum;
use crate::compensated::SumAcc;
use crate::error::{ReferenceError, same_len};

/// Elements per chunk of the parallel scan.
const CHUNK: usize = 1 << 13;

/// Which prefix a scan output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanKind {
    /// `y[i] = carry + Σ_{j≤i} x[j]`.
    Inclusive,
    /// `y[i] = carry + Σ_{j<i} x[j]`.
    Exclusive,
}

/// The chunked parallel scan of an associative `add` with running state `S`: `chunk_sum`
/// folds one chunk into a state, `step` advances a running state by one element and
/// returns the output for it.
fn chunked_scan<T, S, O>(
    x: &[T],
    y: &mut [O],
    start: S,
    chunk_sum: impl Fn(S, &[T]) -> S + Sync,
    merge: impl Fn(S, S) -> S,
    step: impl Fn(&mut S, T) -> O + Sync,
    zero: S,
) -> S
where
    T: Copy + Sync,
    S: Copy + Send + Sync,
    O: Send,
{
    let totals: Vec<S> = x
        .par_chunks(CHUNK)
        .map(|chunk| chunk_sum(zero, chunk))
        .collect();
    let mut offsets = Vec::with_capacity(totals.len());
    let mut running = start;
    for &total in &totals {
        offsets.push(running);
        running = merge(running, total);
    }
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .zip(offsets.into_par_iter())
        .for_each(|((out, input), mut state)| {
            for (o, &v) in out.iter_mut().zip(input) {
                *o = step(&mut state, v);
            }
        });
    running
}

/// Wrapping scan shared by the integer types.
fn scan_wrapping<T>(
    x: &[T],
    carry: T,
    kind: ScanKind,
    y: &mut [T],
    add: fn(T, T) -> T,
    zero: T,
) -> Result<T, ReferenceError>
where
    T: Copy + Send + Sync,
{
    same_len("y", y.len(), "x", x.len())?;
    let total = chunked_scan(
        x,
        y,
        carry,
        |s, chunk| chunk.iter().fold(s, |a, &b| add(a, b)),
        add,
        |s, v| {
            let before = *s;
            *s = add(*s, v);
            match kind {
                ScanKind::Inclusive => *s,
                ScanKind::Exclusive => before,
            }
        },
        zero,
    );
    Ok(total)
}

/// Writes the `kind` prefix sums of `x` plus `carry` to `y`, wrapping modulo 2^32, and
/// returns `total = carry + Σ x[j]`.
///
/// Errors if `y` and `x` differ in length.
pub fn scan_u32(
    x: &[u32],
    carry: u32,
    kind: ScanKind,
    y: &mut [u32],
) -> Result<u32, ReferenceError> {
    scan_wrapping(x, carry, kind, y, u32::wrapping_add, 0)
}

/// Writes the `kind` prefix sums of `x` plus `carry` to `y`, wrapping modulo 2^32, and
/// returns `total = carry + Σ x[j]`.
///
/// Errors if `y` and `x` differ in length.
pub fn scan_i32(
    x: &[i32],
    carry: i32,
    kind: ScanKind,
    y: &mut [i32],
) -> Result<i32, ReferenceError> {
    scan_wrapping(x, carry, kind, y, i32::wrapping_add, 0)
}

/// Writes the reference for every `kind` prefix sum of `x` plus `carry` to `y` and returns
/// the reference for `total = carry + Σ x[j]`.
///
/// Each output's [`RefSum::abs_sum`] is `|carry| + Σ_{j≤i}|x[j]|` — including `x[i]` for
/// exclusive scans too, as the spec's bound states — for
/// [`crate::bounds::scan_bound`]; the total's is `|carry| + Σ|x[j]|`.
///
/// Errors if `y` and `x` differ in length.
pub fn scan_f32(
    x: &[f32],
    carry: f32,
    kind: ScanKind,
    y: &mut [RefSum],
) -> Result<RefSum, ReferenceError> {
    same_len("y", y.len(), "x", x.len())?;
    let mut start = SumAcc::default();
    start.add(f64::from(carry));
    let total = chunked_scan(
        x,
        y,
        start,
        |mut s, chunk| {
            for &v in chunk {
                s.add(f64::from(v));
            }
            s
        },
        SumAcc::merge,
        |s, v| {
            let before = s.value();
            s.add(f64::from(v));
            RefSum {
                value: match kind {
                    ScanKind::Inclusive => s.value(),
                    ScanKind::Exclusive => before,
                },
                abs_sum: s.abs_sum(),
            }
        },
        SumAcc::default(),
    );
    Ok(total.finish())
}
