//! Scans: parallel equals sequential (exactly for integers, within the references' f64
//! error for f32), chunk chaining through the carry, and hand-checked examples.

use proptest::prelude::*;
use riptide_reference::scan::{self, ScanKind};
use riptide_reference::{RefSum, sequential};

use crate::inputs::{Special, close, f32s, f64_sum_tol, i32s, len, u32s};

fn kind() -> impl Strategy<Value = ScanKind> {
    prop_oneof![Just(ScanKind::Inclusive), Just(ScanKind::Exclusive)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_integer_scans_parallel_match_sequential(
        n in len(), seed: u64, kind in kind(), cu: u32, ci: i32,
    ) {
        // Values near the limits make the sums wrap.
        let u = u32s(n, seed);
        let (mut par, mut seq) = (vec![0; n], vec![0; n]);
        let pt = scan::scan_u32(&u, cu, kind, &mut par).unwrap();
        let st = sequential::scan::scan_u32(&u, cu, kind, &mut seq).unwrap();
        prop_assert_eq!(pt, st);
        prop_assert!(par == seq);

        let i = i32s(n, seed);
        let (mut par, mut seq) = (vec![0; n], vec![0; n]);
        let pt = scan::scan_i32(&i, ci, kind, &mut par).unwrap();
        let st = sequential::scan::scan_i32(&i, ci, kind, &mut seq).unwrap();
        prop_assert_eq!(pt, st);
        prop_assert!(par == seq);
        // The total is the wrapped exact sum.
        let exact = i.iter().fold(i64::from(ci), |s, &v| s + i64::from(v));
        prop_assert_eq!(pt, exact as i32);
    }

    #[test]
    fn prop_f32_scan_parallel_within_f64_error_of_sequential(
        n in len(), seed: u64, kind in kind(), carry_seed: u64,
    ) {
        let x = f32s(n, seed, Special::Finite);
        let carry = f32s(1, carry_seed, Special::Finite)[0];
        let mut par = vec![RefSum::default(); n];
        let mut seq = vec![RefSum::default(); n];
        let pt = scan::scan_f32(&x, carry, kind, &mut par).unwrap();
        let st = sequential::scan::scan_f32(&x, carry, kind, &mut seq).unwrap();
        // Output i sums the carry and at most i + 1 values, in different merge orders.
        for (i, (p, s)) in par.iter().zip(&seq).enumerate() {
            let tol = f64_sum_tol(i + 2, s.abs_sum);
            prop_assert!(close(p.value, s.value, tol), "at {}: {:?} vs {:?}", i, p, s);
            prop_assert!(close(p.abs_sum, s.abs_sum, tol), "at {}: {:?} vs {:?}", i, p, s);
        }
        let tol = f64_sum_tol(n + 1, st.abs_sum);
        prop_assert!(close(pt.value, st.value, tol) && close(pt.abs_sum, st.abs_sum, tol));
    }

    #[test]
    fn prop_chunked_scan_through_carry_equals_whole_scan(
        n in 0usize..20_000, seed: u64, kind in kind(), split_seed: u64,
    ) {
        // Chunk k starts from chunk k−1's total: the host's chaining without round trips.
        let x = u32s(n, seed);
        let mut whole = vec![0; n];
        let total = scan::scan_u32(&x, 5, kind, &mut whole).unwrap();
        let split = if n == 0 { 0 } else { (split_seed % n as u64) as usize };
        let mut chunked = vec![0; n];
        let (x0, x1) = x.split_at(split);
        let (y0, y1) = chunked.split_at_mut(split);
        let mid = scan::scan_u32(x0, 5, kind, y0).unwrap();
        let end = scan::scan_u32(x1, mid, kind, y1).unwrap();
        prop_assert_eq!(end, total);
        prop_assert!(chunked == whole);
    }
}

#[test]
fn integer_scan_small_examples() {
    let mut y = [0u32; 3];
    assert_eq!(
        scan::scan_u32(&[1, 2, 3], 10, ScanKind::Inclusive, &mut y),
        Ok(16)
    );
    assert_eq!(y, [11, 13, 16]);
    assert_eq!(
        scan::scan_u32(&[1, 2, 3], 10, ScanKind::Exclusive, &mut y),
        Ok(16)
    );
    assert_eq!(y, [10, 11, 13]);
    // Wrapping: (2^32 − 1) + 2 = 1 (mod 2^32).
    let mut y = [0u32; 2];
    assert_eq!(
        scan::scan_u32(&[u32::MAX, 2], 0, ScanKind::Inclusive, &mut y),
        Ok(1)
    );
    assert_eq!(y, [u32::MAX, 1]);
    // i32::MAX + 1 wraps to i32::MIN; MIN − 3 wraps to MAX − 2.
    let mut y = [0i32; 3];
    let total = scan::scan_i32(&[i32::MAX, 1, -3], 0, ScanKind::Inclusive, &mut y);
    assert_eq!(total, Ok(i32::MAX - 2));
    assert_eq!(y, [i32::MAX, i32::MIN, i32::MAX - 2]);
    // Empty input: the total is the carry.
    assert_eq!(
        scan::scan_i32(&[], -4, ScanKind::Exclusive, &mut []),
        Ok(-4)
    );
}

#[test]
fn f32_scan_small_example() {
    let x = [1.0, 2.0, -4.0];
    let mut y = [RefSum::default(); 3];
    let total = scan::scan_f32(&x, 0.5, ScanKind::Inclusive, &mut y).unwrap();
    let values: Vec<f64> = y.iter().map(|r| r.value).collect();
    let abs: Vec<f64> = y.iter().map(|r| r.abs_sum).collect();
    assert_eq!(values, [1.5, 3.5, -0.5]);
    assert_eq!(abs, [1.5, 3.5, 7.5]);
    assert_eq!(
        total,
        RefSum {
            value: -0.5,
            abs_sum: 7.5
        }
    );

    // Exclusive: values exclude x[i], magnitudes include it, as the spec's bound does.
    scan::scan_f32(&x, 0.5, ScanKind::Exclusive, &mut y).unwrap();
    let values: Vec<f64> = y.iter().map(|r| r.value).collect();
    let abs: Vec<f64> = y.iter().map(|r| r.abs_sum).collect();
    assert_eq!(values, [0.5, 1.5, 3.5]);
    assert_eq!(abs, [1.5, 3.5, 7.5]);

    let total = scan::scan_f32(&[], -2.0, ScanKind::Inclusive, &mut []).unwrap();
    assert_eq!(
        total,
        RefSum {
            value: -2.0,
            abs_sum: 2.0
        }
    );
}
