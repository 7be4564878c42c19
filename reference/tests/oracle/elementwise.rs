//! `axpby`, `map_chain`, `compute`: parallel equals sequential bit for bit, and
//! hand-checked examples.

use proptest::prelude::*;
use riptide_reference::elementwise::{self, MapChainParams, MapChainRef};
use riptide_reference::sequential;

use crate::inputs::{Special, bits, f32s, len};

/// Scalars for the elementwise kernels: the same mix as the data.
fn scalar() -> impl Strategy<Value = f32> {
    any::<u64>().prop_map(|s| f32s(1, s, Special::NonFinite)[0])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_axpby_parallel_matches_sequential(
        n in len(), seed: u64, a in scalar(), b in scalar(),
    ) {
        let x = f32s(n, seed, Special::NonFinite);
        let y0 = f32s(n, seed ^ 1, Special::NonFinite);
        let (mut par, mut seq) = (y0.clone(), y0.clone());
        elementwise::axpby(a, &x, b, &mut par).unwrap();
        sequential::elementwise::axpby(a, &x, b, &mut seq).unwrap();
        prop_assert_eq!(bits(&par), bits(&seq));

        // In place is axpby with x = a copy of y.
        let mut inplace = y0.clone();
        let mut via_copy = y0.clone();
        elementwise::axpby_in_place(a, b, &mut inplace);
        elementwise::axpby(a, &y0, b, &mut via_copy).unwrap();
        prop_assert_eq!(bits(&inplace), bits(&via_copy));
        let mut seq_inplace = y0;
        sequential::elementwise::axpby_in_place(a, b, &mut seq_inplace);
        prop_assert_eq!(bits(&inplace), bits(&seq_inplace));
    }

    #[test]
    fn prop_map_chain_parallel_matches_sequential(
        n in len(), seed: u64, scale in scalar(), offset in scalar(),
        lo in -100f32..0.0, hi in 0f32..100.0,
    ) {
        let x = f32s(n, seed, Special::NonFinite);
        let params = MapChainParams { scale, offset, lo, hi };
        let mut par = vec![MapChainRef::default(); n];
        let mut seq = vec![MapChainRef::default(); n];
        elementwise::map_chain(&x, params, &mut par).unwrap();
        sequential::elementwise::map_chain(&x, params, &mut seq).unwrap();
        for (i, (p, s)) in par.iter().zip(&seq).enumerate() {
            // Same f32 operations and the same f64 `exp`: identical bits.
            prop_assert_eq!(p.v.to_bits(), s.v.to_bits(), "v at {}", i);
            prop_assert_eq!(p.value.to_bits(), s.value.to_bits(), "value at {}", i);
            // Clamping keeps v within [lo, hi] or NaN, and NaN comes only from NaN.
            prop_assert!(p.v.is_nan() || (lo..=hi).contains(&p.v));
            prop_assert_eq!(p.value.is_nan(), p.v.is_nan());
        }
    }

    #[test]
    fn prop_compute_parallel_matches_sequential(
        n in len(), seed: u64, a in scalar(), b in scalar(), k in 0u32..20,
    ) {
        let x = f32s(n, seed, Special::NonFinite);
        let (mut par, mut seq) = (vec![0.0; n], vec![0.0; n]);
        elementwise::compute(&x, a, b, k, &mut par).unwrap();
        sequential::elementwise::compute(&x, a, b, k, &mut seq).unwrap();
        prop_assert_eq!(bits(&par), bits(&seq));

        let mut inplace = x.clone();
        elementwise::compute_in_place(a, b, k, &mut inplace);
        prop_assert_eq!(bits(&inplace), bits(&par));
        let mut seq_inplace = x;
        sequential::elementwise::compute_in_place(a, b, k, &mut seq_inplace);
        prop_assert_eq!(bits(&seq_inplace), bits(&par));
    }
}

#[test]
fn axpby_small_example() {
    // y = 2·x + 3·y: 2 + 12, −6 + 3, 1 − 6.
    let mut y = [4.0, 1.0, -2.0];
    elementwise::axpby(2.0, &[1.0, -3.0, 0.5], 3.0, &mut y).unwrap();
    assert_eq!(y, [14.0, -3.0, -5.0]);
    let mut y = [1.0, -2.0];
    elementwise::axpby_in_place(2.0, 3.0, &mut y);
    assert_eq!(y, [5.0, -10.0]);
}

#[test]
fn axpby_rounds_once_after_the_product() {
    // a·x = (1 + 2^-12)² = 1 + 2^-11 + 2^-24 exactly; b·y = −(1 + 2^-11) exactly.
    // Fused: 2^-24. Rounding a·x first (a tie, to even 1 + 2^-11) would give 0.
    let a = 1.0 + 2f32.powi(-12);
    let b = -(1.0 + 2f32.powi(-11));
    let mut y = [1.0];
    elementwise::axpby(a, &[a], b, &mut y).unwrap();
    assert_eq!(y, [2f32.powi(-24)]);
    let mut y = [1.0];
    sequential::elementwise::axpby(a, &[a], b, &mut y).unwrap();
    assert_eq!(y, [2f32.powi(-24)]);
}

#[test]
fn compute_small_example() {
    // v ← 2v + 1 three times: 1 → 3 → 7 → 15 and 2 → 5 → 11 → 23.
    let mut y = [0.0; 2];
    elementwise::compute(&[1.0, 2.0], 2.0, 1.0, 3, &mut y).unwrap();
    assert_eq!(y, [15.0, 23.0]);
    // k = 0 copies.
    elementwise::compute(&[-0.0, 7.5], 2.0, 1.0, 0, &mut y).unwrap();
    assert_eq!(bits(&y), bits(&[-0.0, 7.5]));
    // Fused: (1 + 2^-12)·(1 + 2^-12) − (1 + 2^-11) = 2^-24 in one step.
    let a = 1.0 + 2f32.powi(-12);
    let mut z = [a];
    elementwise::compute_in_place(a, -(1.0 + 2f32.powi(-11)), 1, &mut z);
    assert_eq!(z, [2f32.powi(-24)]);
}

#[test]
fn map_chain_small_example() {
    // v = 2x + 1 clamped to [−1, 3].
    let params = MapChainParams {
        scale: 2.0,
        offset: 1.0,
        lo: -1.0,
        hi: 3.0,
    };
    let x = [
        0.0,
        5.0,
        -5.0,
        0.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut out = [MapChainRef::default(); 7];
    elementwise::map_chain(&x, params, &mut out).unwrap();
    let e = std::f64::consts::E;
    let expected = [(1.0, e), (3.0, e * e * e), (-1.0, 1.0 / e), (2.0, e * e)];
    for (o, (v, value)) in out.iter().zip(expected) {
        assert_eq!(o.v, v);
        assert!(
            (o.value - value).abs() <= 4.0 * f64::EPSILON * value,
            "{o:?}"
        );
    }
    assert!(out[4].v.is_nan() && out[4].value.is_nan());
    // ±∞ arguments are clamped like any other value.
    assert_eq!(out[5].v, 3.0);
    assert_eq!(out[6].v, -1.0);
}

#[test]
fn map_chain_clamps_lo_first_and_keeps_nan() {
    // lo > hi: `v < lo` is checked first, so every non-NaN v below lo becomes lo.
    let params = MapChainParams {
        scale: 1.0,
        offset: 0.0,
        lo: 2.0,
        hi: 1.0,
    };
    let mut out = [MapChainRef::default(); 3];
    elementwise::map_chain(&[0.0, 1.5, 3.0], params, &mut out).unwrap();
    assert_eq!([out[0].v, out[1].v, out[2].v], [2.0, 2.0, 1.0]);
}
