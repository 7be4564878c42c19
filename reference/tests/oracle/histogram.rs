//! Histograms: parallel equals sequential exactly, counts accumulate, and hand-checked
//! examples of the binning rules (including the two separate f32 roundings).

use proptest::prelude::*;
use riptide_reference::{histogram, sequential};

use crate::inputs::{Rng, Special, f32s, len, u32s};

fn bins() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), 1usize..40, Just(256), 1000usize..70_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_histogram_u32_parallel_matches_sequential(
        n in len(), seed: u64, bins in bins(), lo: u32, width in 1u32..1_000_000_000,
    ) {
        let values = u32s(n, seed);
        // Counters start non-zero (counts are added) and near wrapping.
        let mut rng = Rng::new(seed ^ 3);
        let start: Vec<u32> = (0..bins).map(|_| crate::inputs::u32_value(&mut rng)).collect();
        let (mut par, mut seq) = (start.clone(), start.clone());
        histogram::histogram_u32(&values, lo, width, &mut par).unwrap();
        sequential::histogram::histogram_u32(&values, lo, width, &mut seq).unwrap();
        prop_assert!(par == seq);
        // Exactly the in-range values were added, wrapping.
        let counted = values
            .iter()
            .filter(|&&v| v >= lo && (((v - lo) / width) as usize) < bins)
            .count() as u64;
        let added: u64 = par.iter().zip(&start).map(|(p, s)| u64::from(p.wrapping_sub(*s))).sum();
        prop_assert_eq!(added, counted);
    }

    #[test]
    fn prop_histogram_f32_parallel_matches_sequential(
        n in len(), seed: u64, bins in bins(), lo in -10f32..10.0, width in 0.001f32..100.0,
    ) {
        let values = f32s(n, seed, Special::NonFinite);
        let hi = lo + width;
        // As the host does: scale = bins / (hi − lo) in f32.
        let scale = bins as f32 / (hi - lo);
        let start: Vec<u32> = (0..bins as u32).collect();
        let (mut par, mut seq) = (start.clone(), start.clone());
        histogram::histogram_f32(&values, lo, scale, &mut par);
        sequential::histogram::histogram_f32(&values, lo, scale, &mut seq);
        prop_assert!(par == seq);
        // NaN is never counted; values far outside [lo, hi] are not counted.
        let countable = values
            .iter()
            .filter(|v| !v.is_nan() && **v >= lo - 1.0 && **v <= hi + 1.0)
            .count() as u64;
        let added: u64 = par.iter().zip(&start).map(|(p, s)| u64::from(p - s)).sum();
        prop_assert!(added <= countable);
    }
}

#[test]
fn histogram_u32_small_example() {
    // lo = 5, width = 5, 4 bins cover [5, 25): 0 and 4 are below, 25 and 100 above.
    let values = [0, 5, 9, 10, 11, 24, 25, 100, 4];
    let mut counts = [1, 0, 0, 0];
    histogram::histogram_u32(&values, 5, 5, &mut counts).unwrap();
    assert_eq!(counts, [3, 2, 0, 1]);
    // No bins: nothing counted, nothing written.
    histogram::histogram_u32(&values, 0, 1, &mut []).unwrap();
    // A full u32 range in one bin.
    let mut counts = [0];
    histogram::histogram_u32(&[0, u32::MAX, 7], 0, u32::MAX, &mut counts).unwrap();
    assert_eq!(counts, [2]);
    // Counters wrap like GPU atomics.
    let mut counts = [u32::MAX];
    histogram::histogram_u32(&[3], 3, 1, &mut counts).unwrap();
    assert_eq!(counts, [0]);
}

#[test]
fn histogram_f32_small_example() {
    // lo = −1, scale = 2, 4 bins cover [−1, 1): t = (x + 1)·2.
    let values = [
        -1.0,
        -0.75,
        -0.5,
        0.0,
        0.99,
        1.0,
        -1.01,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut counts = [0; 4];
    histogram::histogram_f32(&values, -1.0, 2.0, &mut counts);
    assert_eq!(counts, [2, 1, 1, 1]);
}

#[test]
fn histogram_f32_rounds_the_difference_before_scaling() {
    // x − lo = (1 − 2^-24) + 2^-25 = 1 − 2^-25 exactly, a tie between 1 − 2^-24 (odd) and
    // 1 (even): it rounds to 1, so t = 1 and x lands in bin 1. Computed exactly (or as
    // fma(x, scale, −lo·scale)) t would be just below 1: bin 0.
    let x = 1.0 - 2f32.powi(-24);
    let mut counts = [0; 2];
    histogram::histogram_f32(&[x], -(2f32.powi(-25)), 1.0, &mut counts);
    assert_eq!(counts, [0, 1]);
    sequential::histogram::histogram_f32(&[x], -(2f32.powi(-25)), 1.0, &mut counts);
    assert_eq!(counts, [0, 2]);
}

#[test]
fn histogram_f32_edge_values() {
    // t = −0 (x = lo, negative scale) satisfies t ≥ 0: bin 0.
    let mut counts = [0];
    histogram::histogram_f32(&[2.0], 2.0, -1.0, &mut counts);
    assert_eq!(counts, [1]);
    // t = bins exactly is out; just below is the last bin.
    let mut counts = [0; 3];
    histogram::histogram_f32(&[3.0, 3.0 - 2f32.powi(-22)], 0.0, 1.0, &mut counts);
    assert_eq!(counts, [0, 0, 1]);
    // ∞ − ∞ is NaN: not counted.
    let mut counts = [0; 3];
    histogram::histogram_f32(&[f32::INFINITY], f32::INFINITY, 1.0, &mut counts);
    assert_eq!(counts, [0; 3]);
}
