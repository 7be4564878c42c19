//! Reductions: parallel equals sequential (exactly for min/max and integers, within the
//! references' f64 error for f32 sums), and hand-checked examples.

use proptest::prelude::*;
use riptide_reference::{reduce, sequential};

use crate::inputs::{Special, close, f32s, f64_sum_tol, i32s, len, u32s};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_sum_f32_parallel_within_f64_error_of_sequential(n in len(), seed: u64) {
        // Finite inputs: the spec gives f32 sums no NaN/∞ semantics.
        let x = f32s(n, seed, Special::Finite);
        let par = reduce::sum_f32(&x);
        let seq = sequential::reduce::sum_f32(&x);
        // Different merge orders of compensated f64 sums: see `f64_sum_tol`.
        let tol = f64_sum_tol(n, seq.abs_sum);
        prop_assert!(close(par.value, seq.value, tol), "{:?} vs {:?}", par, seq);
        prop_assert!(close(par.abs_sum, seq.abs_sum, tol), "{:?} vs {:?}", par, seq);
        prop_assert!(par.value.abs() <= par.abs_sum * (1.0 + 1e-15));
    }

    #[test]
    fn prop_dot_f32_parallel_within_f64_error_of_sequential(n in len(), seed: u64) {
        let x = f32s(n, seed, Special::Finite);
        let y = f32s(n, seed.wrapping_add(7), Special::Finite);
        let par = reduce::dot_f32(&x, &y).unwrap();
        let seq = sequential::reduce::dot_f32(&x, &y).unwrap();
        // Products are exact in f64; only the summation order differs.
        let tol = f64_sum_tol(n, seq.abs_sum);
        prop_assert!(close(par.value, seq.value, tol), "{:?} vs {:?}", par, seq);
        prop_assert!(close(par.abs_sum, seq.abs_sum, tol), "{:?} vs {:?}", par, seq);
    }

    #[test]
    fn prop_min_max_f32_parallel_matches_sequential(n in len(), seed: u64, nan_only: bool) {
        let mut x = f32s(n, seed, Special::NonFinite);
        if nan_only {
            x.iter_mut().for_each(|v| *v = f32::NAN);
        }
        // Exact, and deterministic down to the sign of zero and the canonical NaN.
        let (pmin, smin) = (reduce::min_f32(&x), sequential::reduce::min_f32(&x));
        let (pmax, smax) = (reduce::max_f32(&x), sequential::reduce::max_f32(&x));
        prop_assert_eq!(pmin.to_bits(), smin.to_bits());
        prop_assert_eq!(pmax.to_bits(), smax.to_bits());
        // minNum/maxNum: no non-NaN element lies outside [min, max].
        for &v in x.iter().filter(|v| !v.is_nan()) {
            prop_assert!(pmin <= v && v <= pmax);
        }
        prop_assert_eq!(pmin.is_nan(), !x.is_empty() && x.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn prop_integer_reductions_parallel_match_sequential(n in len(), seed: u64) {
        let u = u32s(n, seed);
        let i = i32s(n, seed);
        prop_assert_eq!(reduce::sum_u32(&u), sequential::reduce::sum_u32(&u));
        prop_assert_eq!(reduce::sum_i32(&i), sequential::reduce::sum_i32(&i));
        prop_assert_eq!(reduce::min_u32(&u), sequential::reduce::min_u32(&u));
        prop_assert_eq!(reduce::max_u32(&u), sequential::reduce::max_u32(&u));
        prop_assert_eq!(reduce::min_i32(&i), sequential::reduce::min_i32(&i));
        prop_assert_eq!(reduce::max_i32(&i), sequential::reduce::max_i32(&i));
        // The 64-bit sums are the exact sums (i128 cannot overflow here).
        let exact_u: u128 = u.iter().map(|&v| u128::from(v)).sum();
        let exact_i: i128 = i.iter().map(|&v| i128::from(v)).sum();
        prop_assert_eq!(u128::from(reduce::sum_u32(&u)), exact_u);
        prop_assert_eq!(i128::from(reduce::sum_i32(&i)), exact_i);
    }
}

#[test]
fn sum_and_dot_small_examples() {
    let s = reduce::sum_f32(&[1.0, 2.0, -0.5]);
    assert_eq!((s.value, s.abs_sum), (2.5, 3.5));
    // 1e8 + 1 − 1e8: an f32 left-to-right sum gives 0; the exact sum is 1.
    let s = reduce::sum_f32(&[1e8, 1.0, -1e8]);
    assert_eq!((s.value, s.abs_sum), (1.0, 200_000_001.0));
    let s = reduce::sum_f32(&[]);
    assert_eq!((s.value, s.abs_sum), (0.0, 0.0));
    // 4 − 10 + 18 = 12; 4 + 10 + 18 = 32.
    let d = reduce::dot_f32(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]).unwrap();
    assert_eq!((d.value, d.abs_sum), (12.0, 32.0));
    // Products of f32 are exact: (1 + 2^-23)² = 1 + 2^-22 + 2^-46.
    let a = 1.0 + f32::EPSILON;
    let d = reduce::dot_f32(&[a], &[a]).unwrap();
    assert_eq!(d.value, 1.0 + 2f64.powi(-22) + 2f64.powi(-46));
}

#[test]
fn sum_is_exact_for_massive_cancellation() {
    // 2^100, then 1000 ones, then −2^100: f64 alone would lose the ones.
    let mut x = vec![2f32.powi(100)];
    x.extend(std::iter::repeat_n(1.0, 1000));
    x.push(-(2f32.powi(100)));
    for s in [reduce::sum_f32(&x), sequential::reduce::sum_f32(&x)] {
        assert_eq!(s.value, 1000.0);
    }
}

#[test]
fn min_max_f32_small_examples() {
    let x = [3.0, f32::NAN, -1.0, 2.0];
    assert_eq!(reduce::min_f32(&x), -1.0);
    assert_eq!(reduce::max_f32(&x), 3.0);
    assert!(reduce::min_f32(&[f32::NAN, f32::NAN]).is_nan());
    assert!(reduce::max_f32(&[f32::NAN]).is_nan());
    assert_eq!(reduce::min_f32(&[]), f32::INFINITY);
    assert_eq!(reduce::max_f32(&[]), f32::NEG_INFINITY);
    assert_eq!(reduce::min_f32(&[0.0, -0.0]).to_bits(), (-0.0f32).to_bits());
    assert_eq!(reduce::max_f32(&[-0.0, 0.0]).to_bits(), 0.0f32.to_bits());
    assert_eq!(
        reduce::min_f32(&[f32::NEG_INFINITY, 5.0, f32::NAN]),
        f32::NEG_INFINITY
    );
    assert_eq!(reduce::max_f32(&[f32::NAN, -7.0]), -7.0);
}

#[test]
fn integer_reductions_small_examples() {
    // 2·(2^32 − 1) + 2 = 2^33.
    assert_eq!(reduce::sum_u32(&[u32::MAX, u32::MAX, 2]), 8_589_934_592);
    // 2·(−2^31) − 1 = −2^32 − 1.
    assert_eq!(reduce::sum_i32(&[i32::MIN, i32::MIN, -1]), -4_294_967_297);
    assert_eq!(reduce::sum_u32(&[]), 0);
    assert_eq!(reduce::sum_i32(&[]), 0);
    assert_eq!(reduce::min_u32(&[7, 3, 9]), 3);
    assert_eq!(reduce::max_u32(&[7, 3, 9]), 9);
    assert_eq!(reduce::min_i32(&[-7, 3, 9]), -7);
    assert_eq!(reduce::max_i32(&[-7, 3, -9]), 3);
    assert_eq!(reduce::min_u32(&[]), u32::MAX);
    assert_eq!(reduce::max_u32(&[]), 0);
    assert_eq!(reduce::min_i32(&[]), i32::MAX);
    assert_eq!(reduce::max_i32(&[]), i32::MIN);
}
