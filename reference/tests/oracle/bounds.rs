//! The error-bound helpers against f32 computations done here, the way a GPU kernel might
//! do them: correct computations satisfy the bounds (with the depth the computation
//! really has), and wrong ones — an element dropped, a depth understated, an underflow
//! term left out, an `exp` a little too far off — violate them. So the bounds are neither
//! too tight nor vacuous.

use proptest::prelude::*;
use riptide_reference::bounds::{
    U, dot_bound, exp_rel_bound, gamma, scan_bound, sgemm_bound, sum_bound,
};
use riptide_reference::elementwise::{MapChainParams, MapChainRef, map_chain};
use riptide_reference::gemm::{GemmShape, sgemm};
use riptide_reference::scan::{ScanKind, scan_f32};
use riptide_reference::{RefSum, reduce};

use crate::inputs::{Rng, Special, f32s, len, moderate_f32s};

/// `⌈log2 n⌉` for `n ≥ 1`.
fn ceil_log2(n: usize) -> u32 {
    n.next_power_of_two().trailing_zeros()
}

/// Recursive pairwise f32 sum: depth `⌈log2 n⌉`.
fn pairwise(x: &[f32]) -> f32 {
    match x.len() {
        0 => 0.0,
        1 => x[0],
        n => pairwise(&x[..n.div_ceil(2)]) + pairwise(&x[n.div_ceil(2)..]),
    }
}

/// A GPU-style sum: `threads` grid-stride accumulators, then a pairwise tree over them.
/// The spec's depth for it is `⌈n/T⌉ + ⌈log2 T⌉ + 1`.
fn grid_stride(x: &[f32], threads: usize) -> f32 {
    let partial: Vec<f32> = (0..threads)
        .map(|t| {
            x.iter()
                .skip(t)
                .step_by(threads)
                .fold(0.0f32, |s, &v| s + v)
        })
        .collect();
    pairwise(&partial)
}

/// Values in `[1, 2)`: every partial sum grows, so dropping any element is a large error.
fn positive_f32s(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| 1.0 + (rng.below(1 << 23) as f32) * f32::EPSILON)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn prop_f32_sums_satisfy_sum_bound(n in len(), seed: u64, threads in 1usize..1000) {
        let x = f32s(n, seed, Special::Summable);
        let r = reduce::sum_f32(&x);
        // Pairwise: depth ⌈log2 n⌉.
        let d = ceil_log2(n.max(1));
        prop_assert!(r.admits(pairwise(&x), sum_bound(r.abs_sum, d)));
        // Grid-stride then tree, the spec's example shape.
        let d = n.div_ceil(threads) as u32 + ceil_log2(threads) + 1;
        prop_assert!(r.admits(grid_stride(&x, threads), sum_bound(r.abs_sum, d)));
        // Left to right: depth n − 1.
        let seq = x.iter().fold(0.0f32, |s, &v| s + v);
        prop_assert!(r.admits(seq, sum_bound(r.abs_sum, n.saturating_sub(1) as u32)));
    }

    #[test]
    fn prop_sum_missing_an_element_violates_sum_bound(n in 2usize..100_000, seed: u64, drop: usize) {
        let x = positive_f32s(n, seed);
        let r = reduce::sum_f32(&x);
        let mut short = x.clone();
        short.remove(drop % n);
        // Off by ≥ 1 while the bound is ≤ 17·u·2n < 0.21.
        prop_assert!(!r.admits(pairwise(&short), sum_bound(r.abs_sum, ceil_log2(n))));
    }

    #[test]
    fn prop_f32_dots_satisfy_dot_bound(n in len(), seed: u64) {
        let x = f32s(n, seed, Special::Summable);
        let y = f32s(n, seed ^ 9, Special::Summable);
        // Keep the f32 products finite: the bound assumes no overflow.
        let (x, y): (Vec<f32>, Vec<f32>) = x
            .into_iter()
            .zip(y)
            .filter(|(a, b)| (a * b).is_finite() && (f64::from(*a) * f64::from(*b)).abs() < 1e30)
            .unzip();
        let n = x.len();
        let r = reduce::dot_f32(&x, &y).unwrap();
        // Products rounded, then a pairwise tree of depth ⌈log2 n⌉.
        let products: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        prop_assert!(r.admits(pairwise(&products), dot_bound(r.abs_sum, ceil_log2(n.max(1)), n)));
        // A fused multiply-add chain: depth n (each fma rounds once).
        let fma = x.iter().zip(&y).fold(0.0f32, |s, (a, b)| a.mul_add(*b, s));
        prop_assert!(r.admits(fma, dot_bound(r.abs_sum, n.saturating_sub(1) as u32, n)));
    }

    #[test]
    fn prop_f32_scans_satisfy_scan_bound(n in 0usize..20_000, seed: u64, block in 1usize..600) {
        let x = f32s(n, seed, Special::Summable);
        let carry = f32s(1, seed ^ 5, Special::Summable)[0];
        let mut r = vec![RefSum::default(); n];
        scan_f32(&x, carry, ScanKind::Inclusive, &mut r).unwrap();
        // Blocked like a GPU scan: block totals scanned left to right, each block scanned
        // left to right from its offset. Output i's tree: ⌊i/B⌋ block totals of depth
        // ≤ B − 1, then its own ≤ B − 1 additions: depth ≤ ⌊i/B⌋ + 2(B − 1) + 1, then
        // the carry (scan_bound's + 1).
        let mut offset = carry;
        for (bi, chunk) in x.chunks(block).enumerate() {
            let mut s = offset;
            for (j, &v) in chunk.iter().enumerate() {
                s += v;
                let i = bi * block + j;
                let d = (i / block + 2 * block) as u32;
                prop_assert!(r[i].admits(s, scan_bound(r[i].abs_sum, d)), "output {}", i);
            }
            offset += chunk.iter().fold(0.0f32, |a, &v| a + v);
        }
    }

    #[test]
    fn prop_f32_sgemm_satisfies_sgemm_bound(
        m in 1usize..20, n in 1usize..20, k in 0usize..300, seed: u64,
        alpha in -4f32..4.0, beta in prop_oneof![Just(0.0f32), -4f32..4.0],
    ) {
        let a = moderate_f32s(m * k, seed);
        let b = moderate_f32s(k * n, seed ^ 1);
        let c = moderate_f32s(m * n, seed ^ 2);
        let mut r = vec![RefSum::default(); m * n];
        sgemm(GemmShape { m, n, k }, alpha, &a, &b, beta, &c, &mut r).unwrap();
        for i in 0..m {
            for j in 0..n {
                // fma accumulation, then alpha·acc + beta·c.
                let acc = (0..k).fold(0.0f32, |s, l| a[i * k + l].mul_add(b[l * n + j], s));
                let gpu = if beta == 0.0 { alpha * acc } else { alpha.mul_add(acc, beta * c[i * n + j]) };
                let e = r[i * n + j];
                prop_assert!(e.admits(gpu, sgemm_bound(e.abs_sum, k, alpha)), "({}, {})", i, j);
            }
        }
    }
}

#[test]
fn understated_depth_violates_sum_bound() {
    // 1 followed by m copies of 2^-24, left to right in f32: every addition is a tie that
    // rounds back to 1, so the error is m·2^-24, while Σ|x| ≈ 1. The true depth m admits
    // it; half that depth does not.
    let m = 1000;
    let mut x = vec![1.0f32];
    x.extend(std::iter::repeat_n(2f32.powi(-24), m));
    let seq = x.iter().fold(0.0f32, |s, &v| s + v);
    assert_eq!(seq, 1.0);
    let r = reduce::sum_f32(&x);
    assert!(r.admits(seq, sum_bound(r.abs_sum, m as u32)));
    assert!(!r.admits(seq, sum_bound(r.abs_sum, m as u32 / 2)));
}

#[test]
fn underflowing_products_need_dot_bound_len_term() {
    // 1e-30 · 1e-20 = 1e-50 underflows to 0 in f32: the f32 dot product is 0, the exact one
    // n·1e-50. Only the underflow term admits it.
    let n = 1000;
    let (x, y) = (vec![1e-30f32; n], vec![1e-20f32; n]);
    let gpu = x.iter().zip(&y).fold(0.0f32, |s, (a, b)| s + a * b);
    assert_eq!(gpu, 0.0);
    let r = reduce::dot_f32(&x, &y).unwrap();
    assert!(r.admits(gpu, dot_bound(r.abs_sum, n as u32, n)));
    assert!(!r.admits(gpu, dot_bound(r.abs_sum, n as u32, 0)));
}

#[test]
fn scan_missing_an_element_violates_scan_bound() {
    let x = positive_f32s(2000, 1);
    let mut r = vec![RefSum::default(); x.len()];
    scan_f32(&x, 0.0, ScanKind::Inclusive, &mut r).unwrap();
    // Skipping x[0]: every output is off by x[0] ≥ 1, beyond γ_i·Σ|x| ≤ 2000·u·4000 < 0.5.
    let mut s = 0.0f32;
    for (i, &v) in x.iter().enumerate().skip(1) {
        s += v;
        assert!(
            !r[i].admits(s, scan_bound(r[i].abs_sum, i as u32)),
            "output {i}"
        );
    }
}

#[test]
fn sgemm_missing_a_term_violates_sgemm_bound() {
    let k = 200;
    let a = positive_f32s(k, 3);
    let b = positive_f32s(k, 4);
    let mut r = [RefSum::default()];
    sgemm(GemmShape { m: 1, n: 1, k }, 1.0, &a, &b, 0.0, &[], &mut r).unwrap();
    let all = (0..k).fold(0.0f32, |s, l| a[l].mul_add(b[l], s));
    let short = (1..k).fold(0.0f32, |s, l| a[l].mul_add(b[l], s));
    assert!(r[0].admits(all, sgemm_bound(r[0].abs_sum, k, 1.0)));
    assert!(!r[0].admits(short, sgemm_bound(r[0].abs_sum, k, 1.0)));
}

/// An `ex2.approx`-like `e^v`: `t = fl(v·log2 e)`, then `2^t` off by `rel`, rounded to f32.
///
/// `t` is the exact product rounded once, as the spec's bound models it. (Multiplying by
/// the f32 constant `LOG2_E`, itself `0.224·u` low, adds up to `0.224·|t|·u·ln 2` more and
/// can exceed the spec's bound by a few percent for `|v| ≳ 20`.)
fn approx_exp(v: f32, rel: f64) -> f32 {
    let t = (f64::from(v) * std::f64::consts::LOG2_E) as f32;
    (f64::from(t).exp2() * (1.0 + rel)) as f32
}

#[test]
fn map_chain_bound_admits_approximate_exp_and_rejects_worse() {
    let params = MapChainParams {
        scale: 1.0,
        offset: 0.0,
        lo: -1000.0,
        hi: 1000.0,
    };
    let mut rng = Rng::new(11);
    let x: Vec<f32> = (0..20_000)
        .map(|_| (rng.below(1 << 24) as f32 / 16_777_216.0 - 0.5) * 200.0)
        .collect();
    let mut r = vec![MapChainRef::default(); x.len()];
    map_chain(&x, params, &mut r).unwrap();
    let max_rel = 2f64.powi(-22);
    for e in &r {
        // Correctly rounded f32 exp, and ex2.approx at its worst in both directions.
        assert!(e.admits(e.v.exp()), "{e:?}");
        assert!(e.admits(approx_exp(e.v, max_rel)), "{e:?}");
        assert!(e.admits(approx_exp(e.v, -max_rel)), "{e:?}");
        // Twice the relative error, for results in the normal range, is rejected.
        if e.value > 1e-37 && e.value < 1e37 {
            let bad = (e.value * (1.0 + 2.0 * exp_rel_bound(e.v))) as f32;
            assert!(!e.admits(bad), "{e:?} admitted {bad}");
        }
    }
}

#[test]
fn map_chain_admits_edge_cases() {
    let params = MapChainParams {
        scale: 1.0,
        offset: 0.0,
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };
    let x = [
        f32::NAN,
        100.0,
        -100.0,
        -200.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
    ];
    let mut r = [MapChainRef::default(); 7];
    map_chain(&x, params, &mut r).unwrap();
    // NaN in, NaN out, and only NaN.
    assert!(r[0].admits(f32::NAN) && !r[0].admits(1.0) && !r[1].admits(f32::NAN));
    // e^100 overflows f32: +∞ (or f32::MAX) is admitted.
    assert!(r[1].admits(f32::INFINITY) && r[1].admits(100f32.exp()));
    // e^-100 is subnormal in f32; e^-200 underflows to 0.
    assert!(r[2].admits((-100f32).exp()) && r[3].admits(0.0));
    // Infinite arguments admit only the exact result.
    assert!(r[4].admits(f32::INFINITY) && !r[4].admits(f32::MAX));
    assert!(r[5].admits(0.0) && !r[5].admits(f32::from_bits(1)));
    assert!(r[6].admits(1.0) && !r[6].admits(1.0 + 2f32.powi(-20)));
}

#[test]
fn gamma_is_first_order_for_small_depths() {
    assert_eq!(gamma(0), 0.0);
    let g = gamma(1000);
    assert!(g > 1000.0 * U && g < 1000.0 * U * (1.0 + 1e-4));
    assert_eq!(gamma(1 << 24), f64::INFINITY);
}
