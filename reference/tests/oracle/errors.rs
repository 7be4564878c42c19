//! Argument errors: every length or parameter mismatch is an error naming the mismatch,
//! never a panic, and nothing is written.

use riptide_reference::elementwise::{self, MapChainParams, MapChainRef};
use riptide_reference::gemm::{GemmShape, sgemm};
use riptide_reference::scan::{self, ScanKind};
use riptide_reference::stencil::{Jacobi5Block, jacobi5};
use riptide_reference::{RefSum, ReferenceError, histogram, reduce, sequential, transpose};

#[test]
fn elementwise_length_mismatches() {
    let x = [1.0; 10];
    let mut y = [7.0; 9];
    let e = elementwise::axpby(1.0, &x, 1.0, &mut y).unwrap_err();
    assert_eq!(e.to_string(), "y has 9 elements, x has 10");
    assert_eq!(
        e,
        ReferenceError::LengthMismatch {
            name: "y",
            len: 9,
            other: "x",
            other_len: 10
        }
    );
    assert_eq!(y, [7.0; 9]);
    assert!(elementwise::compute(&x, 1.0, 1.0, 3, &mut y).is_err());
    assert_eq!(y, [7.0; 9]);
    let params = MapChainParams {
        scale: 1.0,
        offset: 0.0,
        lo: 0.0,
        hi: 1.0,
    };
    let mut out = [MapChainRef::default(); 11];
    let e = elementwise::map_chain(&x, params, &mut out).unwrap_err();
    assert_eq!(e.to_string(), "out has 11 elements, x has 10");
    assert!(sequential::elementwise::axpby(1.0, &x, 1.0, &mut y).is_err());
    assert!(sequential::elementwise::compute(&x, 1.0, 1.0, 3, &mut y).is_err());
    assert!(sequential::elementwise::map_chain(&x, params, &mut out).is_err());
}

#[test]
fn reduce_and_scan_length_mismatches() {
    let e = reduce::dot_f32(&[1.0, 2.0], &[1.0]).unwrap_err();
    assert_eq!(e.to_string(), "y has 1 elements, x has 2");
    assert!(sequential::reduce::dot_f32(&[1.0, 2.0], &[1.0]).is_err());
    let mut y = [0u32; 2];
    let e = scan::scan_u32(&[1, 2, 3], 0, ScanKind::Inclusive, &mut y).unwrap_err();
    assert_eq!(e.to_string(), "y has 2 elements, x has 3");
    assert_eq!(y, [0, 0]);
    assert!(scan::scan_i32(&[1], 0, ScanKind::Exclusive, &mut []).is_err());
    assert!(
        scan::scan_f32(
            &[1.0],
            0.0,
            ScanKind::Inclusive,
            &mut [RefSum::default(); 2]
        )
        .is_err()
    );
    assert!(sequential::scan::scan_u32(&[1], 0, ScanKind::Inclusive, &mut []).is_err());
    assert!(sequential::scan::scan_i32(&[1], 0, ScanKind::Inclusive, &mut []).is_err());
    assert!(sequential::scan::scan_f32(&[1.0], 0.0, ScanKind::Inclusive, &mut []).is_err());
}

#[test]
fn histogram_zero_width() {
    let mut counts = [0; 4];
    let e = histogram::histogram_u32(&[1, 2], 0, 0, &mut counts).unwrap_err();
    assert_eq!(e, ReferenceError::ZeroBinWidth);
    assert_eq!(e.to_string(), "histogram bin width is 0");
    assert!(sequential::histogram::histogram_u32(&[1, 2], 0, 0, &mut counts).is_err());
    assert_eq!(counts, [0; 4]);
}

#[test]
fn transpose_shape_mismatches() {
    let mut out = [0u32; 6];
    let e = transpose::transpose(&[1u32; 5], 2, 3, &mut out).unwrap_err();
    assert_eq!(e.to_string(), "input has 5 elements, rows × cols is 6");
    let e = transpose::transpose(&[1u32; 6], 2, 3, &mut out[..4]).unwrap_err();
    assert_eq!(e.to_string(), "out has 4 elements, input has 6");
    let e = transpose::transpose(&[1u32; 6], usize::MAX, 2, &mut out).unwrap_err();
    assert_eq!(
        e,
        ReferenceError::ShapeOverflow {
            shape: "rows × cols"
        }
    );
    assert_eq!(e.to_string(), "rows × cols overflows usize");
    assert!(sequential::transpose::transpose(&[1u32; 5], 2, 3, &mut out).is_err());
    assert_eq!(out, [0; 6]);
}

#[test]
fn sgemm_shape_mismatches() {
    let shape = GemmShape { m: 2, n: 2, k: 2 };
    let mut out = [RefSum::default(); 4];
    let e = sgemm(shape, 1.0, &[1.0; 4], &[1.0; 3], 0.0, &[], &mut out).unwrap_err();
    assert_eq!(e.to_string(), "b has 3 elements, k × n is 4");
    let e = sgemm(shape, 1.0, &[1.0; 5], &[1.0; 4], 0.0, &[], &mut out).unwrap_err();
    assert_eq!(e.to_string(), "a has 5 elements, m × k is 4");
    // C is checked when it is read (beta ≠ 0).
    let e = sgemm(shape, 1.0, &[1.0; 4], &[1.0; 4], 1.0, &[], &mut out).unwrap_err();
    assert_eq!(e.to_string(), "c has 0 elements, m × n is 4");
    let e = sgemm(shape, 1.0, &[1.0; 4], &[1.0; 4], 0.0, &[], &mut out[..3]).unwrap_err();
    assert_eq!(e.to_string(), "out has 3 elements, m × n is 4");
    assert!(sequential::gemm::sgemm(shape, 1.0, &[1.0; 4], &[1.0; 4], 1.0, &[], &mut out).is_err());
    assert_eq!(out, [RefSum::default(); 4]);
}

#[test]
fn jacobi5_parameter_errors() {
    let ok = Jacobi5Block {
        rows: 3,
        cols: 3,
        row_offset: 0,
        global_rows: 3,
        row_begin: 0,
        row_end: 3,
    };
    let input = [1.0; 9];
    let mut out = [0.0; 9];
    let check = |b: Jacobi5Block, input: &[f32], out: &mut [f32], msg: &str| {
        let e = jacobi5(&b, input, out).unwrap_err();
        assert_eq!(e.to_string(), msg);
        assert_eq!(sequential::stencil::jacobi5(&b, input, out).unwrap_err(), e);
    };
    check(
        ok,
        &input[..8],
        &mut out,
        "input has 8 elements, rows × cols is 9",
    );
    check(
        ok,
        &input,
        &mut out[..6],
        "out has 6 elements, (row_end − row_begin) × cols is 9",
    );
    check(
        Jacobi5Block {
            row_begin: 2,
            row_end: 1,
            ..ok
        },
        &input,
        &mut out[..0],
        "output rows 2..1 are not a range within the block's 3 rows",
    );
    check(
        Jacobi5Block { row_end: 4, ..ok },
        &input,
        &mut out,
        "output rows 0..4 are not a range within the block's 3 rows",
    );
    check(
        Jacobi5Block {
            row_offset: 1,
            ..ok
        },
        &input,
        &mut out,
        "a block of 3 rows at global row 1 extends past the grid's 3 rows",
    );
    // Global row 1 of 10 is interior, but block row 0 has no row above it in the block.
    check(
        Jacobi5Block {
            row_offset: 1,
            global_rows: 10,
            row_end: 1,
            ..ok
        },
        &input,
        &mut out[..3],
        "interior output row 0 needs the rows above and below it, but the block has rows 0..3",
    );
    check(
        Jacobi5Block {
            row_offset: 0,
            global_rows: 10,
            row_begin: 2,
            row_end: 3,
            ..ok
        },
        &input,
        &mut out[..3],
        "interior output row 2 needs the rows above and below it, but the block has rows 0..3",
    );
    assert_eq!(out, [0.0; 9]);
    // With two columns every cell is a boundary cell: no halo needed.
    let b = Jacobi5Block {
        rows: 1,
        cols: 2,
        row_offset: 4,
        global_rows: 10,
        row_begin: 0,
        row_end: 1,
    };
    let mut out2 = [0.0; 2];
    jacobi5(&b, &[3.0, 4.0], &mut out2).unwrap();
    assert_eq!(out2, [3.0, 4.0]);
}

#[test]
fn errors_are_std_errors() {
    let e: Box<dyn std::error::Error> = Box::new(ReferenceError::ZeroBinWidth);
    assert_eq!(e.to_string(), "histogram bin width is 0");
}
