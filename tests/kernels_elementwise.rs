//! Property tests of the elementwise kernels (docs/kernels.md, Elementwise): `axpby` and
//! `compute` bit-exact against the spec's operations, `map_chain` within the spec's bound
//! on `exp`, in place bit-identical to out of place, and the launchers' argument checks.
//!
//! Every body runs on the CPU backend (race detector on) and, with `--include-ignored`, on
//! the GPU. Inputs mix ±0, subnormals, huge and tiny magnitudes, NaN (quiet and signalling)
//! and ±∞; buffers sit at every offset from a 16-byte boundary; outputs are poisoned and
//! guarded (see `kernels_support/mod.rs`).

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use proptest::prelude::*;
use riptide::host::kernels::{self, MapChain};
use riptide::host::{Device, Error, Result, Stream};
use riptide_reference::elementwise::{MapChainParams, MapChainRef, map_chain as ref_map_chain};

use support::{
    ANY, FINITE, Guarded, POISON_F32, Rng, assert_bits_eq, check, f32_value, f32s, lens, offset,
};

/// Lengths of the fixed huge cases: above 2M, not a multiple of 4 or of the block size.
const HUGE: usize = 2_097_155;

/// A scalar parameter from the mix (`mix` decides whether NaN and ±∞ occur).
fn scalar(mix: support::Mix) -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<u64>().prop_map(move |s| f32_value(&mut Rng::new(s), mix)),
        1 => prop::sample::select(vec![0.0f32, -0.0, 1.0, -1.0, 0.5, 2.0]),
    ]
}

/// One axpby / compute case.
#[derive(Debug, Clone)]
struct Case {
    len: usize,
    seed: u64,
    x_off: usize,
    y_off: usize,
    a: f32,
    b: f32,
    /// FMAs per element (compute only).
    k: u32,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        lens(),
        any::<u64>(),
        offset(),
        offset(),
        scalar(ANY),
        scalar(ANY),
        prop_oneof![Just(0u32), 1u32..=8, 9u32..=40],
    )
        .prop_map(|(len, seed, x_off, y_off, a, b, k)| Case {
            len,
            seed,
            x_off,
            y_off,
            a,
            b,
            k,
        })
}

fn fixed(len: usize, x_off: usize, y_off: usize, k: u32) -> Case {
    Case {
        len,
        seed: len as u64 + 7,
        x_off,
        y_off,
        a: 1.5,
        b: -0.75,
        k,
    }
}

/// Edge cases every run covers: empty, one element at unaligned offsets, equal unaligned
/// offsets (head + vector body + tail), and one multi-million case.
fn fixed_cases() -> Vec<Case> {
    vec![
        fixed(0, 0, 0, 1),
        fixed(1, 3, 1, 2),
        fixed(257, 2, 2, 3),
        fixed(HUGE, 0, 0, 2),
    ]
}

fn axpby_case(dev: &Device, s: &Stream, c: &Case) -> Result<()> {
    let x = f32s(c.len, c.seed, ANY);
    let y0 = f32s(c.len, c.seed ^ 0xA5A5, ANY);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    // `y` is read and written, so it holds `y0`, not poison; an unwritten element keeps
    // `y0[i]`, which differs from the expected value for almost every random input.
    let mut gy = Guarded::new(dev, s, &y0, c.y_off, POISON_F32)?;
    kernels::axpby(s, c.a, gx.data()?, c.b, gy.data_mut()?)?;
    let got = gy.read(s)?;
    // docs/kernels.md: y[i] = fma(a, x[i], b * y[i]), bit-exact (b * y[i] rounded, then
    // one fused rounding); any NaN equals any NaN.
    let want: Vec<f32> = x
        .iter()
        .zip(&y0)
        .map(|(&xi, &yi)| c.a.mul_add(xi, c.b * yi))
        .collect();
    assert_bits_eq("axpby", &got, &want);
    // The input is read-only: exactly its bits, payloads included.
    support::assert_exact_bits("axpby: x afterwards", &gx.read(s)?, &x);
    Ok(())
}

/// The spec's `compute`: `k` times `v = fma(v, a, b)`.
fn compute_expected(x: &[f32], a: f32, b: f32, k: u32) -> Vec<f32> {
    x.iter()
        .map(|&v| (0..k).fold(v, |v, _| v.mul_add(a, b)))
        .collect()
}

fn compute_case(dev: &Device, s: &Stream, c: &Case) -> Result<()> {
    let x = f32s(c.len, c.seed, ANY);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    let mut gy = Guarded::poisoned(dev, s, c.len, c.y_off, POISON_F32)?;
    kernels::compute(s, c.k, c.a, c.b, gx.data()?, gy.data_mut()?)?;
    let got = gy.read(s)?;
    // docs/kernels.md: bit-exact; k = 0 copies x (NaN payloads may change: NaN equals NaN).
    assert_bits_eq("compute", &got, &compute_expected(&x, c.a, c.b, c.k));
    Ok(())
}

fn compute_in_place_case(dev: &Device, s: &Stream, c: &Case) -> Result<()> {
    let x = f32s(c.len, c.seed, ANY);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    let mut out = Guarded::poisoned(dev, s, c.len, c.y_off, POISON_F32)?;
    kernels::compute(s, c.k, c.a, c.b, gx.data()?, out.data_mut()?)?;
    let out_of_place = out.read(s)?;
    // In place on a buffer at an offset of its own, so the head/vector/tail split may
    // differ from the out-of-place launch's.
    let mut gz = Guarded::new(dev, s, &x, (c.x_off + c.y_off) % 4, POISON_F32)?;
    kernels::compute_in_place(s, c.k, c.a, c.b, gz.data_mut()?)?;
    // Reference-free: the same element function, so the same bits (NaN equals NaN).
    assert_bits_eq(
        "compute in place vs out of place",
        &gz.read(s)?,
        &out_of_place,
    );
    Ok(())
}

device_tests! {
    fn prop_axpby_bit_exact(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_axpby_bit_exact", 96, &fixed_cases(), cases(), |c| axpby_case(dev, &s, c));
        Ok(())
    }

    fn prop_compute_bit_exact(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_compute_bit_exact", 96, &fixed_cases(), cases(), |c| compute_case(dev, &s, c));
        Ok(())
    }

    fn prop_compute_in_place_bits_equal_out_of_place(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check(
            "prop_compute_in_place_bits_equal_out_of_place",
            64,
            &fixed_cases()[..3],
            cases(),
            |c| compute_in_place_case(dev, &s, c),
        );
        Ok(())
    }
}

/// One map_chain case.
#[derive(Debug, Clone)]
struct MapCase {
    len: usize,
    seed: u64,
    x_off: usize,
    y_off: usize,
    m: MapChain,
}

/// Parameters: finite (the launcher's precondition), `lo ≤ hi` anywhere in `[-130, 100]`,
/// so results range from 0 (underflow) through subnormals (`e^v < 2^-126` for
/// `v < -87.3`) to +∞ (`v > 88.7`).
fn map_params() -> impl Strategy<Value = MapChain> {
    let scale = prop_oneof![
        3 => -4.0f32..4.0,
        1 => prop::sample::select(vec![0.0f32, -0.0, 1.0, -1.0, 1e-30, 1e20]),
        1 => -1000.0f32..1000.0,
    ];
    let offset = prop_oneof![3 => -50.0f32..50.0, 1 => Just(0.0f32)];
    let bound = prop_oneof![
        3 => -130.0f32..100.0,
        1 => prop::sample::select(vec![-104.0f32, -87.5, -87.0, 0.0, -0.0, 88.0, 88.8]),
    ];
    (scale, offset, bound.clone(), bound).prop_map(|(scale, offset, p, q)| MapChain {
        scale,
        offset,
        lo: p.min(q),
        hi: p.max(q),
    })
}

fn map_cases() -> impl Strategy<Value = MapCase> {
    (lens(), any::<u64>(), offset(), offset(), map_params()).prop_map(
        |(len, seed, x_off, y_off, m)| MapCase {
            len,
            seed,
            x_off,
            y_off,
            m,
        },
    )
}

fn map_fixed() -> Vec<MapCase> {
    let m = MapChain {
        scale: 1.0,
        offset: 0.0,
        lo: -110.0,
        hi: 95.0,
    };
    let case = |len: usize, x_off: usize, y_off: usize| MapCase {
        len,
        seed: len as u64 + 11,
        x_off,
        y_off,
        m,
    };
    vec![
        case(0, 0, 0),
        case(1, 1, 3),
        case(259, 2, 2),
        case(HUGE + 2, 1, 1),
    ]
}

/// map_chain's inputs: the full mix, plus values that land on the clamp bounds and in the
/// subnormal and overflowing ranges of `exp` after `fma(x, scale, offset)`.
fn map_inputs(c: &MapCase) -> Vec<f32> {
    let mut rng = Rng::new(c.seed ^ 0x3C3C);
    f32s(c.len, c.seed, ANY)
        .into_iter()
        .map(|v| match rng.below(8) {
            0 => -120.0 + 220.0 * (rng.below(1 << 20) as f32 / (1 << 20) as f32),
            1 if c.m.scale != 0.0 => (c.m.lo - c.m.offset) / c.m.scale,
            2 if c.m.scale != 0.0 => (c.m.hi - c.m.offset) / c.m.scale,
            _ => v,
        })
        .collect()
}

fn ref_params(m: MapChain) -> MapChainParams {
    MapChainParams {
        scale: m.scale,
        offset: m.offset,
        lo: m.lo,
        hi: m.hi,
    }
}

fn map_chain_case(dev: &Device, s: &Stream, c: &MapCase) -> Result<()> {
    let x = map_inputs(c);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    // Poison: negative, which no e^v is, so an unwritten element is never admitted.
    let mut gy = Guarded::poisoned(dev, s, c.len, c.y_off, POISON_F32)?;
    kernels::map_chain(s, c.m, gx.data()?, gy.data_mut()?)?;
    let got = gy.read(s)?;
    let mut refs = vec![MapChainRef::default(); c.len];
    ref_map_chain(&x, ref_params(c.m), &mut refs).expect("lengths match");
    // docs/kernels.md: relative error ≤ 2^-22 + |v·log2 e|·2u·ln 2 + u against the exact
    // e^v (ex2.approx, the rounding of v·LOG2_E and of the result); NaN in → NaN out.
    // `admits` evaluates exactly that bound (bounds::exp_rel_bound) around the f64 e^v of
    // the bit-exact argument v, plus 2^-149 absolute for subnormal results and +∞ only
    // where e^v is within the bound of overflowing.
    if let Some(i) = refs.iter().zip(&got).position(|(r, &g)| !r.admits(g)) {
        panic!(
            "map_chain element {i} of {}: x = {:e}, v = {:e}, got {:e}, e^v = {:e}",
            c.len, x[i], refs[i].v, got[i], refs[i].value
        );
    }
    Ok(())
}

fn map_chain_in_place_case(dev: &Device, s: &Stream, c: &MapCase) -> Result<()> {
    let x = map_inputs(c);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    let mut out = Guarded::poisoned(dev, s, c.len, c.y_off, POISON_F32)?;
    kernels::map_chain(s, c.m, gx.data()?, out.data_mut()?)?;
    let out_of_place = out.read(s)?;
    let mut gz = Guarded::new(dev, s, &x, (c.x_off + c.y_off) % 4, POISON_F32)?;
    kernels::map_chain_in_place(s, c.m, gz.data_mut()?)?;
    // Reference-free: each element goes through the same operations (the approximate exp
    // is a deterministic instruction), whichever path and buffer layout carries it.
    assert_bits_eq(
        "map_chain in place vs out of place",
        &gz.read(s)?,
        &out_of_place,
    );
    Ok(())
}

device_tests! {
    fn prop_map_chain_within_exp_bound(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_map_chain_within_exp_bound", 96, &map_fixed(), map_cases(), |c| {
            map_chain_case(dev, &s, c)
        });
        Ok(())
    }

    fn prop_map_chain_in_place_bits_equal_out_of_place(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check(
            "prop_map_chain_in_place_bits_equal_out_of_place",
            64,
            &map_fixed()[..3],
            map_cases(),
            |c| map_chain_in_place_case(dev, &s, c),
        );
        Ok(())
    }

    fn elementwise_launchers_reject_bad_arguments(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let x = Guarded::new(dev, &s, &f32s(10, 1, FINITE), 0, POISON_F32)?;
        let mut y = Guarded::poisoned(dev, &s, 11, 1, POISON_F32)?;
        let err = kernels::axpby(&s, 1.0, x.data()?, 1.0, y.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 11, actual: 10, .. }), "{err}");
        let err = kernels::compute(&s, 3, 1.0, 1.0, x.data()?, y.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 11, actual: 10, .. }), "{err}");
        let ok = MapChain { scale: 1.0, offset: 0.0, lo: -1.0, hi: 1.0 };
        let err = kernels::map_chain(&s, ok, x.data()?, y.data_mut()?).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 11, actual: 10, .. }), "{err}");
        // Parameters must be finite with lo <= hi; lengths match here, so only they fail.
        let mut z = Guarded::poisoned(dev, &s, 10, 2, POISON_F32)?;
        let bad = [
            MapChain { lo: 2.0, ..ok },
            MapChain { scale: f32::NAN, ..ok },
            MapChain { offset: f32::INFINITY, ..ok },
            MapChain { hi: f32::INFINITY, ..ok },
            MapChain { lo: f32::NAN, ..ok },
        ];
        for m in bad {
            let err = kernels::map_chain(&s, m, x.data()?, z.data_mut()?).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{m:?}: {err}");
            let err = kernels::map_chain_in_place(&s, m, z.data_mut()?).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{m:?}: {err}");
        }
        // A rejected launch queues nothing: the outputs still hold only poison.
        for (what, out) in [("y", y.read(&s)?), ("z", z.read(&s)?)] {
            assert!(out.iter().all(|v| v.to_bits() == POISON_F32.to_bits()), "{what} was written");
        }
        Ok(())
    }
}
