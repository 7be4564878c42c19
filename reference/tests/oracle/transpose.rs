//! Transpose: parallel equals sequential exactly, transposing twice is the identity, and
//! hand-checked examples for several element types.

use proptest::prelude::*;
use riptide_reference::{sequential, transpose::transpose};

use crate::inputs::{Special, bits, f32s, u32s};

/// Matrix sides, including 0, 1 and non-multiples of common tile sizes.
fn side() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=3,
        prop::sample::select(vec![15usize, 16, 17, 31, 32, 33, 63, 65, 127, 129]),
        4usize..300,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_transpose_parallel_matches_sequential(rows in side(), cols in side(), seed: u64) {
        let x = f32s(rows * cols, seed, Special::NonFinite);
        let (mut par, mut seq) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        transpose(&x, rows, cols, &mut par).unwrap();
        sequential::transpose::transpose(&x, rows, cols, &mut seq).unwrap();
        // Moved as bits, NaN payloads included.
        prop_assert_eq!(bits(&par), bits(&seq));
        let mut back = vec![0.0; x.len()];
        transpose(&par, cols, rows, &mut back).unwrap();
        prop_assert_eq!(bits(&back), bits(&x));

        let u = u32s(rows * cols, seed);
        let (mut par, mut seq) = (vec![0; u.len()], vec![0; u.len()]);
        transpose(&u, rows, cols, &mut par).unwrap();
        sequential::transpose::transpose(&u, rows, cols, &mut seq).unwrap();
        prop_assert!(par == seq);
    }
}

#[test]
fn transpose_small_examples() {
    // [[1, 2, 3], [4, 5, 6]] → [[1, 4], [2, 5], [3, 6]].
    let mut out = [0i32; 6];
    transpose(&[1, 2, 3, 4, 5, 6], 2, 3, &mut out).unwrap();
    assert_eq!(out, [1, 4, 2, 5, 3, 6]);
    let mut out = [0u32; 6];
    transpose(&[1, 2, 3, 4, 5, 6], 3, 2, &mut out).unwrap();
    assert_eq!(out, [1, 3, 5, 2, 4, 6]);
    // Rows or columns of one: the same sequence.
    let mut out = [0.0f32; 3];
    transpose(&[1.0, -0.0, 2.5], 1, 3, &mut out).unwrap();
    assert_eq!(bits(&out), bits(&[1.0, -0.0, 2.5]));
    // Any Copy element type.
    let mut out = [(0u8, 0u64); 2];
    transpose(&[(1, 10), (2, 20)], 2, 1, &mut out).unwrap();
    assert_eq!(out, [(1, 10), (2, 20)]);
    let mut out: [u16; 0] = [];
    transpose(&[], 0, 5, &mut out).unwrap();
    transpose(&[], 5, 0, &mut out).unwrap();
}
