//! Property tests of the matrix kernels: the transpose moves exact bits (and transposing
//! twice is the identity); SGEMM stays within the spec's bound (on a GPU also bit-exact,
//! up to the sign of zero, against the kernel's documented accumulation order); and the
//! launchers of the grid-shaped kernels refuse bad arguments. Shapes run from empty through
//! non-multiples of the 32×32 transpose and 128×128 SGEMM tiles to grids past the 65535
//! limit on grid y.

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use proptest::prelude::*;
use riptide::host::kernels::{self, GemmShape, StencilBlock, Word32};
use riptide::host::{BackendKind, Device, Error, Result, Stream};
use riptide_reference::RefSum;
use riptide_reference::bounds::sgemm_bound;
use riptide_reference::gemm::{GemmShape as RefShape, sgemm as ref_sgemm};

use support::{
    Bits, FINITE, Guarded, HALF, POISON_F32, POISON_U32, Rng, assert_bits_eq, assert_exact_bits,
    check, f32s, offset,
};

// ---------------------------------------------------------------------------------------
// Transpose

/// One transpose case; `ty` picks the element type (0: f32 bit patterns, NaN payloads
/// included; 1: u32; 2: i32).
#[derive(Debug, Clone)]
struct TransposeCase {
    rows: usize,
    cols: usize,
    seed: u64,
    in_off: usize,
    out_off: usize,
    ty: u8,
}

fn transpose_cases() -> impl Strategy<Value = TransposeCase> {
    let dim = || {
        prop_oneof![
            3 => 0usize..=40,
            3 => prop::sample::select(vec![31usize, 32, 33, 63, 64, 65, 95, 97, 255, 256, 257]),
            2 => 41usize..=300,
        ]
    };
    (dim(), dim(), any::<u64>(), offset(), offset(), 0u8..3).prop_map(
        |(rows, cols, seed, in_off, out_off, ty)| TransposeCase {
            rows,
            cols,
            seed,
            in_off,
            out_off,
            ty,
        },
    )
}

fn transpose_fixed() -> Vec<TransposeCase> {
    let case = |rows: usize, cols: usize, ty: u8| TransposeCase {
        rows,
        cols,
        seed: (rows ^ cols) as u64,
        in_off: 1,
        out_off: 3,
        ty,
    };
    vec![
        case(0, 7, 0),
        case(7, 0, 1),
        case(1, 1, 2),
        case(33, 65, 0),
        // 2049 tile columns keep 8 tiles per block (transpose_grid), so each block moves
        // both tile rows, the second one partial; the last tile column is partial too.
        case(40, 65_537, 1),
        // 524290 tile rows in one tile column: grid y is capped at 65535, so block rows
        // move up to 9 tiles each.
        case((1 << 24) + 40, 1, 0),
    ]
}

/// Random bits of each element type; f32 patterns include signalling and quiet NaNs with
/// payloads, which a transpose must move unchanged.
trait TransposeElement: Word32 + Bits {
    fn random(len: usize, seed: u64) -> Vec<Self>;
    const POISON: Self;
}

impl TransposeElement for f32 {
    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..len)
            .map(|_| match rng.below(4) {
                0 => f32::from_bits(0x7F80_0001 | rng.next_u32()),
                _ => f32::from_bits(rng.next_u32()),
            })
            .collect()
    }
    const POISON: f32 = POISON_F32;
}

impl TransposeElement for u32 {
    fn random(len: usize, seed: u64) -> Vec<u32> {
        let mut rng = Rng::new(seed);
        (0..len).map(|_| rng.next_u32()).collect()
    }
    const POISON: u32 = POISON_U32;
}

impl TransposeElement for i32 {
    fn random(len: usize, seed: u64) -> Vec<i32> {
        let mut rng = Rng::new(seed);
        (0..len).map(|_| rng.next_u32() as i32).collect()
    }
    const POISON: i32 = POISON_U32 as i32;
}

fn transpose_typed<T: TransposeElement>(dev: &Device, s: &Stream, c: &TransposeCase) -> Result<()> {
    let (rows, cols) = (c.rows, c.cols);
    let input = T::random(rows * cols, c.seed);
    let gi = Guarded::new(dev, s, &input, c.in_off, T::POISON)?;
    let mut go = Guarded::poisoned(dev, s, rows * cols, c.out_off, T::POISON)?;
    kernels::transpose(s, gi.data()?, rows, cols, go.data_mut()?)?;
    let got = go.read(s)?;
    // docs/kernels.md: out[c·rows + r] = in[r·cols + c], exact (moved as bits).
    let mut want = vec![T::POISON; rows * cols];
    for r in 0..rows {
        for col in 0..cols {
            want[col * rows + r] = input[r * cols + col];
        }
    }
    assert_exact_bits("transpose", &got, &want);
    // Reference-free: transposing the result back (a cols × rows matrix) restores the input.
    let mut back = Guarded::poisoned(dev, s, rows * cols, c.in_off ^ 2, T::POISON)?;
    kernels::transpose(s, go.data()?, cols, rows, back.data_mut()?)?;
    assert_exact_bits("transpose twice", &back.read(s)?, &input);
    Ok(())
}

fn transpose_case(dev: &Device, s: &Stream, c: &TransposeCase) -> Result<()> {
    match c.ty {
        0 => transpose_typed::<f32>(dev, s, c),
        1 => transpose_typed::<u32>(dev, s, c),
        _ => transpose_typed::<i32>(dev, s, c),
    }
}

// ---------------------------------------------------------------------------------------
// SGEMM

/// One SGEMM case.
#[derive(Debug, Clone)]
struct GemmCase {
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    seed: u64,
    a_off: usize,
    b_off: usize,
    c_off: usize,
}

fn gemm_cases() -> impl Strategy<Value = GemmCase> {
    let dim = || {
        prop_oneof![
            3 => 0usize..=9,
            2 => prop::sample::select(vec![16usize, 31, 32, 64, 127, 128, 129, 131, 255, 257]),
            2 => 10usize..=70,
        ]
    };
    let k = prop_oneof![
        3 => 0usize..=20,
        2 => prop::sample::select(vec![7usize, 8, 9, 15, 16, 17, 63, 64, 65, 127, 129]),
    ];
    let alpha = prop_oneof![
        2 => prop::sample::select(vec![1.0f32, -1.0, 0.0, 0.5, 1e-30, 3e4]),
        2 => -4.0f32..4.0,
    ];
    // β = 0 and −0: C is not read (it is poisoned with NaN).
    let beta = prop_oneof![
        2 => prop::sample::select(vec![0.0f32, -0.0, 1.0, -1.0]),
        1 => -2.0f32..2.0,
    ];
    (
        dim(),
        dim(),
        k,
        alpha,
        beta,
        any::<u64>(),
        offset(),
        offset(),
        offset(),
    )
        .prop_filter("CPU time: m·n·k ≤ 2^21", |&(m, n, k, ..)| {
            m * n * k.max(1) <= 1 << 21
        })
        .prop_map(
            |(m, n, k, alpha, beta, seed, a_off, b_off, c_off)| GemmCase {
                m,
                n,
                k,
                alpha,
                beta,
                seed,
                a_off,
                b_off,
                c_off,
            },
        )
}

fn gemm_fixed() -> Vec<GemmCase> {
    let case = |m: usize, n: usize, k: usize, alpha: f32, beta: f32, off: usize| GemmCase {
        m,
        n,
        k,
        alpha,
        beta,
        seed: (m * 1_000_003 + n * 1009 + k) as u64,
        a_off: off,
        b_off: off,
        c_off: off,
    };
    vec![
        case(0, 5, 3, 1.0, 0.0, 0),
        case(5, 0, 3, 1.0, 1.0, 0),
        case(3, 4, 0, 2.0, 0.5, 1),
        case(1, 1, 1, -1.0, 0.0, 3),
        // Whole 16-byte vectors (n, k multiples of 4, aligned) with partial edge tiles.
        case(129, 132, 36, 0.75, 0.0, 0),
        case(257, 129, 9, 1.5, -0.5, 0),
        // 65537 row tiles of 128: beyond grid y's 65535, blocks loop over the rest.
        case(65_537 * 128 - 127, 1, 1, 1.0, 0.0, 0),
    ]
}

/// A and B entries: moderate values, ±0, subnormals and tiny values (products that
/// underflow), small integers and magnitudes up to 2^50 — finite, so no product or sum of
/// up to 2^21 terms overflows (the bound assumes no overflow).
fn gemm_values(len: usize, seed: u64) -> Vec<f32> {
    f32s(len, seed, HALF)
}

fn gemm_case(dev: &Device, s: &Stream, g: &GemmCase) -> Result<()> {
    let (m, n, k) = (g.m, g.n, g.k);
    let a = gemm_values(m * k, g.seed);
    let b = gemm_values(k * n, g.seed ^ 0xB);
    let reads_c = g.beta != 0.0;
    let c0 = if reads_c {
        f32s(m * n, g.seed ^ 0xC, HALF)
    } else {
        Vec::new()
    };
    let ga = Guarded::new(dev, s, &a, g.a_off, POISON_F32)?;
    let gb = Guarded::new(dev, s, &b, g.b_off, POISON_F32)?;
    // With β = 0, C is not read: it holds NaN (as the spec allows), which also poisons
    // every element the kernel might not write.
    let mut gc = if reads_c {
        Guarded::new(dev, s, &c0, g.c_off, POISON_F32)?
    } else {
        Guarded::poisoned(dev, s, m * n, g.c_off, f32::NAN)?
    };
    let shape = GemmShape { m, n, k };
    kernels::sgemm(
        s,
        shape,
        g.alpha,
        ga.data()?,
        gb.data()?,
        g.beta,
        gc.data_mut()?,
    )?;
    let got = gc.read(s)?;
    // docs/kernels.md: |c − exact| ≤ (k + 2)·u·(|alpha|·Σ_l|a_il·b_lj| + |beta·c_ij|);
    // sgemm_bound is that with γ_{k+2}, plus (k·|alpha| + 2)·2^-149 for products and
    // scalings that land in the subnormal range, around the f64 reference.
    let mut refs = vec![RefSum::default(); m * n];
    ref_sgemm(
        RefShape { m, n, k },
        g.alpha,
        &a,
        &b,
        g.beta,
        &c0,
        &mut refs,
    )
    .expect("shapes");
    let bound = |r: &RefSum| sgemm_bound(r.abs_sum, k, g.alpha);
    if let Some(i) = refs
        .iter()
        .zip(&got)
        .position(|(r, &v)| !r.admits(v, bound(r)))
    {
        panic!(
            "sgemm {m}×{n}×{k}: C[{}][{}] = {:e}, exact {:e}, bound {:e}",
            i / n.max(1),
            i % n.max(1),
            got[i],
            refs[i].value,
            bound(&refs[i])
        );
    }
    // On a GPU, additionally bit for bit: gpu-kernels/src/kernels/gemm.rs documents the
    // accumulation order (acc = +0; acc = fma(a[i][l], b[l][j], acc) for l = 0..k; then
    // alpha·acc, or fma(alpha, acc, beta·c)) and a deterministic result. The CPU backend
    // emulates the kernel with the f64 reference, which rounds differently.
    if dev.backend() == BackendKind::Cuda {
        let mut want = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let acc = (0..k).fold(0.0f32, |acc, l| a[i * k + l].mul_add(b[l * n + j], acc));
                want.push(if reads_c {
                    g.alpha.mul_add(acc, g.beta * c0[i * n + j])
                } else {
                    g.alpha * acc
                });
            }
        }
        // The sign of an exact zero is not part of the kernel's contract (docs/kernels.md
        // gives SGEMM a bound, under which ±0 are equal; seen on an H100: the kernel returns
        // −0 where an accumulation from +0 gives +0). Everything else must match bit for bit.
        let unsign = |v: &[f32]| {
            v.iter()
                .map(|&x| if x == 0.0 { 0.0 } else { x })
                .collect::<Vec<f32>>()
        };
        assert_bits_eq(
            "sgemm vs the kernel's documented order",
            &unsign(&got),
            &unsign(&want),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------

device_tests! {    fn prop_transpose_exact_and_twice_identity(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check(
            "prop_transpose_exact_and_twice_identity",
            96,
            &transpose_fixed(),
            transpose_cases(),
            |c| transpose_case(dev, &s, c),
        );
        Ok(())
    }

    fn prop_sgemm_within_bound(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_sgemm_within_bound", 80, &gemm_fixed(), gemm_cases(), |g| {
            gemm_case(dev, &s, g)
        });
        Ok(())
    }

    fn grid_launchers_reject_bad_arguments(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let vu = Guarded::new(dev, &s, &[1u32, 2, 3], 0, POISON_U32)?;
        let vf = Guarded::new(dev, &s, &[1.0f32, 2.0, 3.0], 0, POISON_F32)?;
        let mut counts = Guarded::poisoned(dev, &s, 4, 1, POISON_U32)?;
        // Histograms: width 0, no bins, an empty or non-finite range.
        let err = kernels::histogram_u32(&s, vu.data()?, 0, 0, counts.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let none = counts.buf.slice_mut(0..0)?;
        let err = kernels::histogram_u32(&s, vu.data()?, 0, 1, none).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        for (lo, hi) in [(1.0, 1.0), (2.0, 1.0), (f32::NAN, 1.0), (0.0, f32::INFINITY)] {
            let err = kernels::histogram_f32(&s, vf.data()?, lo, hi, counts.data_mut()?)
                .unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "[{lo}, {hi}): {err}");
        }
        let none = counts.buf.slice_mut(0..0)?;
        let err = kernels::histogram_f32(&s, vf.data()?, 0.0, 1.0, none).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

        // Stencil: input and output lengths, and geometry.
        let input = Guarded::new(dev, &s, &f32s(20, 1, FINITE), 0, POISON_F32)?;
        let mut out = Guarded::poisoned(dev, &s, 20, 0, POISON_F32)?;
        let whole = StencilBlock::whole(4, 5);
        let err = kernels::jacobi5(&s, StencilBlock::whole(4, 6), input.data()?, out.data_mut()?)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 24, actual: 20, .. }), "{err}");
        let short = out.buf.slice_mut(0..15)?;
        let err = kernels::jacobi5(&s, whole, input.data()?, short).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 20, actual: 15, .. }), "{err}");
        let past = StencilBlock { row_end: 5, ..whole };
        let err = kernels::jacobi5(&s, past, input.data()?, out.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        // Rows 1..3 of a 10-row grid, without their halo rows in the block.
        let no_halo = StencilBlock {
            rows: 4,
            cols: 5,
            row_offset: 1,
            global_rows: 10,
            row_begin: 0,
            row_end: 4,
        };
        let err = kernels::jacobi5(&s, no_halo, input.data()?, out.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let outside = StencilBlock { row_offset: 1, ..whole };
        let err = kernels::jacobi5(&s, outside, input.data()?, out.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

        // Transpose: input and output must hold rows × cols; the product must not overflow.
        let err = kernels::transpose(&s, input.data()?, 3, 5, out.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 15, actual: 20, .. }), "{err}");
        let err = kernels::transpose(&s, input.data()?.slice(..15)?, 3, 5, out.data_mut()?)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 15, actual: 20, .. }), "{err}");
        let err = kernels::transpose(&s, input.data()?, usize::MAX, 2, out.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

        // SGEMM: A must be m × k, B k × n, C m × n.
        let shape = GemmShape { m: 4, n: 5, k: 3 };
        let a = input.data()?.slice(..12)?;
        let b = input.data()?.slice(..15)?;
        let err = kernels::sgemm(&s, shape, 1.0, input.data()?.slice(..11)?, b, 0.0, out.data_mut()?)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 12, actual: 11, .. }), "{err}");
        let err = kernels::sgemm(&s, shape, 1.0, a, input.data()?.slice(..16)?, 0.0, out.data_mut()?)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 15, actual: 16, .. }), "{err}");
        let short = out.buf.slice_mut(0..19)?;
        let err = kernels::sgemm(&s, shape, 1.0, a, b, 0.0, short).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 20, actual: 19, .. }), "{err}");

        // Nothing was queued: the outputs hold only poison.
        assert!(counts.read(&s)?.iter().all(|&v| v == POISON_U32), "counts written");
        assert!(out.read(&s)?.iter().all(|v| v.to_bits() == POISON_F32.to_bits()), "out written");
        Ok(())
    }
}
