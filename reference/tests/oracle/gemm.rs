//! sgemm: parallel within the references' f64 error of sequential, `beta == 0` never reads
//! `C`, and a hand-checked example.

use proptest::prelude::*;
use riptide_reference::gemm::{GemmShape, sgemm};
use riptide_reference::{RefSum, sequential};

use crate::inputs::{Special, close, f32s, f64_sum_tol};

/// Dimensions including 0, 1 and non-multiples of common tile sizes.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=2,
        prop::sample::select(vec![15usize, 16, 17, 31, 33, 63, 65]),
        3usize..48,
    ]
}

fn scalar() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(0.0f32),
        Just(1.0),
        Just(-1.0),
        any::<u64>().prop_map(|s| f32s(1, s, Special::Finite)[0])
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_sgemm_parallel_within_f64_error_of_sequential(
        m in dim(), n in dim(), k in dim(), alpha in scalar(), beta in scalar(), seed: u64,
    ) {
        let shape = GemmShape { m, n, k };
        let a = f32s(m * k, seed, Special::Finite);
        let b = f32s(k * n, seed ^ 1, Special::Finite);
        let c = f32s(m * n, seed ^ 2, Special::Finite);
        let mut par = vec![RefSum::default(); m * n];
        let mut seq = vec![RefSum::default(); m * n];
        sgemm(shape, alpha, &a, &b, beta, &c, &mut par).unwrap();
        sequential::gemm::sgemm(shape, alpha, &a, &b, beta, &c, &mut seq).unwrap();
        for (i, (p, s)) in par.iter().zip(&seq).enumerate() {
            // Both: a compensated k-term sum scaled by alpha (one f64 rounding more) plus
            // beta·c (exact), rounded once: the sum's tolerance on the scaled magnitudes,
            // plus 2^-52 of the magnitude for the extra roundings.
            let tol = f64_sum_tol(k + 2, s.abs_sum) + 2f64.powi(-52) * s.abs_sum;
            prop_assert!(close(p.value, s.value, tol), "at {}: {:?} vs {:?}", i, p, s);
            prop_assert!(close(p.abs_sum, s.abs_sum, tol), "at {}: {:?} vs {:?}", i, p, s);
        }
    }

    #[test]
    fn prop_sgemm_beta_zero_does_not_read_c(
        m in dim(), n in dim(), k in dim(), alpha in scalar(), seed: u64,
    ) {
        let shape = GemmShape { m, n, k };
        let a = f32s(m * k, seed, Special::Finite);
        let b = f32s(k * n, seed ^ 1, Special::Finite);
        let nan_c = vec![f32::NAN; m * n];
        let mut with_nan = vec![RefSum::default(); m * n];
        let mut without = vec![RefSum::default(); m * n];
        sgemm(shape, alpha, &a, &b, 0.0, &nan_c, &mut with_nan).unwrap();
        sgemm(shape, alpha, &a, &b, -0.0, &[], &mut without).unwrap();
        prop_assert_eq!(&with_nan, &without);
        prop_assert!(with_nan.iter().all(|r| !r.value.is_nan()));
    }
}

#[test]
fn sgemm_small_example() {
    // A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: A·B = [[19, 22], [43, 50]].
    // alpha = 2, beta = −1, C = 1: 2·AB − 1; all products positive, so
    // abs_sum = 2·AB + |−1·1|.
    let shape = GemmShape { m: 2, n: 2, k: 2 };
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0, 7.0, 8.0];
    let mut out = [RefSum::default(); 4];
    sgemm(shape, 2.0, &a, &b, -1.0, &[1.0; 4], &mut out).unwrap();
    let values: Vec<f64> = out.iter().map(|r| r.value).collect();
    let abs: Vec<f64> = out.iter().map(|r| r.abs_sum).collect();
    assert_eq!(values, [37.0, 43.0, 85.0, 99.0]);
    assert_eq!(abs, [39.0, 45.0, 87.0, 101.0]);

    // Non-square: [1, −2, 3] (1 × 3) times [[1], [1], [1]] (3 × 1) = 2, abs 6.
    let mut out = [RefSum::default()];
    sgemm(
        GemmShape { m: 1, n: 1, k: 3 },
        1.0,
        &[1.0, -2.0, 3.0],
        &[1.0; 3],
        0.0,
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out[0],
        RefSum {
            value: 2.0,
            abs_sum: 6.0
        }
    );

    // k = 0: the product is empty, C = beta·C.
    let mut out = [RefSum::default(); 2];
    sgemm(
        GemmShape { m: 1, n: 2, k: 0 },
        3.0,
        &[],
        &[],
        0.5,
        &[4.0, -2.0],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        [
            RefSum {
                value: 2.0,
                abs_sum: 2.0
            },
            RefSum {
                value: -1.0,
                abs_sum: 1.0
            }
        ]
    );
}
