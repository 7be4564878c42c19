//! Property tests of the reductions (docs/kernels.md, Reductions): f32 sum and dot within
//! the bound of the kernel's documented summation depth, f32 min/max as IEEE
//! minNum/maxNum (NaN ignored, ±0 equal, empty → ±∞), exact integer sums, mins and maxes,
//! and the launchers' argument checks.
//!
//! One `ReduceScratch` serves every case of a test, so each launch also checks that the
//! previous one left the scratch's block counter at zero, across changing grid sizes.

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use std::cell::RefCell;

use gpu_kernels::config::{
    REDUCE_BLOCK, REDUCE_BLOCKS_PER_SM, REDUCE_SHARED_BYTES, reduce_f32_depth,
};
use gpu_kernels::entries;
use proptest::prelude::*;
use riptide::host::graph::record_launch;
use riptide::host::kernels::{self, ReduceScratch};
use riptide::host::{Device, Error, Result, Stream};
use riptide_reference::bounds::{dot_bound, sum_bound};
use riptide_reference::reduce as reference;

use support::{
    ANY, FINITE, Guarded, HALF, POISON_F32, POISON_U32, SUMMABLE, check, f32s, i32s, lens, offset,
    sprinkle_non_finite, u32s,
};

/// One reduction case.
#[derive(Debug, Clone)]
struct Case {
    len: usize,
    seed: u64,
    x_off: usize,
    y_off: usize,
    /// f32 sum: non-finite values sprinkled in (0 = none). f32 min/max: the value mode.
    mode: u32,
}

fn cases() -> impl Strategy<Value = Case> {
    (lens(), any::<u64>(), offset(), offset(), 0u32..8).prop_map(
        |(len, seed, x_off, y_off, mode)| Case {
            len,
            seed,
            x_off,
            y_off,
            mode,
        },
    )
}

/// Empty, one element, lengths around the vector and block sizes at unaligned offsets, and
/// one multi-million case (its grid is the device-filling one, with several vectors per
/// thread).
fn fixed_cases() -> Vec<Case> {
    let case = |len: usize, x_off: usize, y_off: usize, mode: u32| Case {
        len,
        seed: len as u64 + 3,
        x_off,
        y_off,
        mode,
    };
    vec![
        case(0, 0, 0, 0),
        case(1, 3, 1, 0),
        case(3, 1, 1, 1),
        case(1027, 2, 2, 2),
        case(2_100_003, 1, 1, 0),
    ]
}

/// The summation depth `d` of reduction kernel `entry` over `len` elements, from the
/// kernel's documented function (gpu_kernels::config::reduce_f32_depth) at the grid the
/// launcher uses (`kernels::reduction_grid`, which the scratch's capacity never caps).
fn depth(dev: &Device, entry: &'static str, len: usize) -> u32 {
    let grid = kernels::reduction_grid(dev, entry, len).expect("the kernel is loaded");
    assert!(grid <= REDUCE_BLOCKS_PER_SM * dev.info().multiprocessors.max(1));
    reduce_f32_depth(len, grid) as u32
}

fn sum_f32_case(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ReduceScratch>,
    c: &Case,
) -> Result<()> {
    // Magnitudes below 2^101, so no partial sum overflows (the bound assumes none); in 3
    // of 8 cases a few NaN/±∞, where the sum must be NaN or the same infinity.
    let mut x = f32s(c.len, c.seed, SUMMABLE);
    if c.mode < 3 {
        sprinkle_non_finite(&mut x, 1 + c.mode as usize, c.seed ^ 0x77);
    }
    let r = reference::sum_f32(&x);
    // NaN poison unless the sum is NaN: no bound admits NaN for a non-NaN reference.
    let poison = if r.value.is_nan() {
        POISON_F32
    } else {
        f32::NAN
    };
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    let mut out = Guarded::poisoned(dev, s, 1, c.y_off, poison)?;
    kernels::sum(s, gx.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
    let got = out.read(s)?[0];
    // docs/kernels.md: |s − Σx| ≤ d·u·Σ|x| with d the kernel's tree depth; sum_bound makes
    // it rigorous (γ_d instead of d·u) and adds the f64 reference's own 2^-48·Σ|x|.
    let d = depth(dev, entries::SUM_F32, c.len);
    let bound = sum_bound(r.abs_sum, d);
    assert!(
        r.admits(got, bound),
        "sum of {}: got {got:e}, exact {:e}, bound {bound:e} (depth {d})",
        c.len,
        r.value
    );
    // The kernel documents a bit-reproducible result for a given launch shape and
    // alignment: a second launch on the same data gives the same bits.
    kernels::sum(s, gx.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
    let again = out.read(s)?[0];
    assert_eq!(
        again.to_bits(),
        got.to_bits(),
        "sum of {} not repeatable",
        c.len
    );
    Ok(())
}

fn dot_case(dev: &Device, s: &Stream, scratch: &RefCell<ReduceScratch>, c: &Case) -> Result<()> {
    // Factors below 2^51: products below 2^102, partial sums cannot overflow. Subnormal
    // and tiny factors make products that underflow, which dot_bound covers.
    let x = f32s(c.len, c.seed, HALF);
    let y = f32s(c.len, c.seed ^ 0xD07, HALF);
    let r = reference::dot_f32(&x, &y).expect("lengths match");
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    // Equal offsets take the kernel's vector path, unequal ones its scalar path.
    let gy = Guarded::new(dev, s, &y, c.y_off, POISON_F32)?;
    let mut out = Guarded::poisoned(dev, s, 1, (c.x_off + 1) % 4, f32::NAN)?;
    kernels::dot(
        s,
        gx.data()?,
        gy.data()?,
        out.data_mut()?,
        &mut scratch.borrow_mut(),
    )?;
    let got = out.read(s)?[0];
    // docs/kernels.md: as sum with Σ|x·y| and one more u for the products: dot_bound uses
    // γ_{d+1}, plus len·2^-149 for products that land in the subnormal range.
    let d = depth(dev, entries::DOT_F32, c.len);
    let bound = dot_bound(r.abs_sum, d, c.len);
    assert!(
        r.admits(got, bound),
        "dot of {}: got {got:e}, exact {:e}, bound {bound:e} (depth {d})",
        c.len,
        r.value
    );
    Ok(())
}

/// minNum/maxNum written out from the spec: NaNs ignored, NaN only if every element is
/// NaN, empty → `empty`.
fn min_max_num(x: &[f32], want_min: bool, empty: f32) -> f32 {
    if x.is_empty() {
        return empty;
    }
    let mut best = f32::NAN;
    for &v in x {
        let better = if want_min { v < best } else { v > best };
        if !v.is_nan() && (best.is_nan() || better) {
            best = v;
        }
    }
    best
}

/// min/max inputs by mode: the full mix (NaN, ±∞, ±0, subnormals), finite only, all NaN,
/// all NaN but one value, only ±0 (the minimum is a zero of either sign).
fn min_max_inputs(c: &Case) -> Vec<f32> {
    let mut x = f32s(
        c.len,
        c.seed,
        if c.mode.is_multiple_of(2) {
            ANY
        } else {
            FINITE
        },
    );
    match c.mode {
        5 | 6 => {
            let one = x.first().copied();
            x.iter_mut().for_each(|v| *v = f32::from_bits(0x7FC0_0001));
            if let (6, Some(v)) = (c.mode, one) {
                let at = (c.seed % c.len as u64) as usize;
                x[at] = if v.is_nan() { -3.5 } else { v };
            }
        }
        7 => x
            .iter_mut()
            .for_each(|v| *v = if v.is_sign_negative() { -0.0 } else { 0.0 }),
        _ => {}
    }
    x
}

fn min_max_f32_case(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ReduceScratch>,
    c: &Case,
) -> Result<()> {
    let x = min_max_inputs(c);
    let gx = Guarded::new(dev, s, &x, c.x_off, POISON_F32)?;
    for want_min in [true, false] {
        let empty = if want_min {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        };
        let want = min_max_num(&x, want_min, empty);
        let poison = if want.is_nan() { POISON_F32 } else { f32::NAN };
        let mut out = Guarded::poisoned(dev, s, 1, c.y_off, poison)?;
        if want_min {
            kernels::min(s, gx.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
        } else {
            kernels::max(s, gx.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
        }
        let got = out.read(s)?[0];
        // docs/kernels.md: exact, −0 and +0 compare equal (so `==`), NaN only when every
        // element is NaN.
        assert!(
            (got.is_nan() && want.is_nan()) || got == want,
            "{} of {} (mode {}): got {got:e}, want {want:e}",
            if want_min { "min" } else { "max" },
            c.len,
            c.mode
        );
    }
    Ok(())
}

fn int_sums_case(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ReduceScratch>,
    c: &Case,
) -> Result<()> {
    // Values near 0 and near the type limits: a 32-bit accumulator would wrap.
    let u = u32s(c.len, c.seed);
    let gu = Guarded::new(dev, s, &u, c.x_off, POISON_U32)?;
    let mut out = Guarded::poisoned(dev, s, 1, c.y_off, 0xDEAD_BEEF_DEAD_BEEF_u64)?;
    kernels::sum(s, gu.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
    // docs/kernels.md: exact sum in 64 bits.
    let want: u64 = u.iter().map(|&v| u64::from(v)).sum();
    assert_eq!(out.read(s)?[0], want, "sum_u32 of {}", c.len);

    let i = i32s(c.len, c.seed ^ 0x1357);
    let gi = Guarded::new(dev, s, &i, c.y_off, POISON_U32 as i32)?;
    let mut out = Guarded::poisoned(dev, s, 1, c.x_off, 0xDEAD_BEEF_DEAD_BEEF_u64 as i64)?;
    kernels::sum(s, gi.data()?, out.data_mut()?, &mut scratch.borrow_mut())?;
    let want: i64 = i.iter().map(|&v| i64::from(v)).sum();
    assert_eq!(out.read(s)?[0], want, "sum_i32 of {}", c.len);
    Ok(())
}

fn int_min_max_case(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ReduceScratch>,
    c: &Case,
) -> Result<()> {
    let mut sc = scratch.borrow_mut();
    let u = u32s(c.len, c.seed);
    let gu = Guarded::new(dev, s, &u, c.x_off, POISON_U32)?;
    let mut out = Guarded::poisoned(dev, s, 2, c.y_off, POISON_U32)?;
    {
        let (lo, hi) = out.data_mut()?.split_at_mut(1)?;
        kernels::min(s, gu.data()?, lo, &mut sc)?;
        kernels::max(s, gu.data()?, hi, &mut sc)?;
    }
    // docs/kernels.md: exact; empty → the type's MAX (min) / MIN (max).
    let want = [
        u.iter().copied().fold(u32::MAX, u32::min),
        u.iter().copied().fold(u32::MIN, u32::max),
    ];
    assert_eq!(out.read(s)?, want, "min/max u32 of {}", c.len);

    let i = i32s(c.len, c.seed ^ 0x2468);
    let gi = Guarded::new(dev, s, &i, c.y_off, POISON_U32 as i32)?;
    let mut out = Guarded::poisoned(dev, s, 2, c.x_off, POISON_U32 as i32)?;
    {
        let (lo, hi) = out.data_mut()?.split_at_mut(1)?;
        kernels::min(s, gi.data()?, lo, &mut sc)?;
        kernels::max(s, gi.data()?, hi, &mut sc)?;
    }
    let want = [
        i.iter().copied().fold(i32::MAX, i32::min),
        i.iter().copied().fold(i32::MIN, i32::max),
    ];
    assert_eq!(out.read(s)?, want, "min/max i32 of {}", c.len);
    Ok(())
}

device_tests! {
    fn prop_sum_f32_within_tree_bound(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let scratch = RefCell::new(ReduceScratch::new(&s)?);
        // One block per 16384 elements up to one wave: 8,650,753 elements make 528 blocks
        // on a GPU of 88 or more SMs, more than 256, so the last block folds several
        // partials per thread (the ⌈grid / 256⌉ term of the depth).
        let mut fixed = fixed_cases();
        fixed.push(Case { len: 8_650_753, seed: 9, x_off: 2, y_off: 0, mode: 7 });
        check("prop_sum_f32_within_tree_bound", 96, &fixed, cases(), |c| {
            sum_f32_case(dev, &s, &scratch, c)
        });
        Ok(())
    }

    fn prop_dot_f32_within_tree_bound(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let scratch = RefCell::new(ReduceScratch::new(&s)?);
        check("prop_dot_f32_within_tree_bound", 96, &fixed_cases(), cases(), |c| {
            dot_case(dev, &s, &scratch, c)
        });
        Ok(())
    }

    fn prop_min_max_f32_ignore_nan_exactly(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let scratch = RefCell::new(ReduceScratch::new(&s)?);
        check("prop_min_max_f32_ignore_nan_exactly", 96, &fixed_cases(), cases(), |c| {
            min_max_f32_case(dev, &s, &scratch, c)
        });
        Ok(())
    }

    fn prop_integer_sums_exact_in_64_bits(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let scratch = RefCell::new(ReduceScratch::new(&s)?);
        check("prop_integer_sums_exact_in_64_bits", 80, &fixed_cases(), cases(), |c| {
            int_sums_case(dev, &s, &scratch, c)
        });
        Ok(())
    }

    fn prop_integer_min_max_exact(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let scratch = RefCell::new(ReduceScratch::new(&s)?);
        check("prop_integer_min_max_exact", 80, &fixed_cases()[..4], cases(), |c| {
            int_min_max_case(dev, &s, &scratch, c)
        });
        Ok(())
    }

    fn reduce_launchers_reject_bad_lengths(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let mut scratch = ReduceScratch::new(&s)?;
        let x = Guarded::new(dev, &s, &f32s(10, 1, FINITE), 0, POISON_F32)?;
        let y = Guarded::new(dev, &s, &f32s(9, 2, FINITE), 0, POISON_F32)?;
        let mut out = Guarded::poisoned(dev, &s, 2, 0, POISON_F32)?;
        // The result is one element; two are rejected, and so is none.
        let err = kernels::sum(&s, x.data()?, out.data_mut()?, &mut scratch).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        let err = kernels::min(&s, x.data()?, out.buf.slice_mut(0..0)?, &mut scratch).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 0, .. }), "{err}");
        let err = kernels::max(&s, x.data()?, out.data_mut()?, &mut scratch).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        // dot: y must be as long as x.
        let (mut one, _) = out.data_mut()?.split_at_mut(1)?;
        let err = kernels::dot(&s, x.data()?, y.data()?, &mut one, &mut scratch).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 10, actual: 9, .. }), "{err}");
        let mut wide = Guarded::poisoned(dev, &s, 2, 0, 0u64)?;
        let u = Guarded::new(dev, &s, &[1u32, 2, 3], 0, POISON_U32)?;
        let err = kernels::sum(&s, u.data()?, wide.data_mut()?, &mut scratch).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        // Nothing was queued: the outputs hold only poison.
        assert!(out.read(&s)?.iter().all(|v| v.to_bits() == POISON_F32.to_bits()));
        assert_eq!(wide.read(&s)?, [0, 0]);
        Ok(())
    }

    fn reduction_grids_are_one_wave_of_resident_blocks(dev: &Device) -> Result<()> {
        let sms = dev.info().multiprocessors.max(1);
        let all = [
            entries::SUM_F32,
            entries::MIN_F32,
            entries::MAX_F32,
            entries::DOT_F32,
            entries::SUM_U32,
            entries::SUM_I32,
            entries::MIN_U32,
            entries::MAX_U32,
            entries::MIN_I32,
            entries::MAX_I32,
        ];
        for entry in all {
            // The blocks an SM holds at once; a grid beyond them would leave a second,
            // partial wave (the CPU backend has no such limit: the cap applies).
            let resident = dev.resident_blocks_per_sm(entry, REDUCE_BLOCK, REDUCE_SHARED_BYTES)?;
            let per_sm = match resident {
                Some(r) => {
                    assert!(r >= 1, "{entry}: the driver says no block fits on an SM");
                    r.min(REDUCE_BLOCKS_PER_SM)
                }
                None => REDUCE_BLOCKS_PER_SM,
            };
            let full = kernels::reduction_grid(dev, entry, 1 << 31)?;
            assert_eq!(full, per_sm * sms, "{entry}: the largest grid is one full wave");
            // Below a wave, one block per 16 vectors of four elements per thread.
            let three = kernels::reduction_grid(dev, entry, 2 * 16384 + 1)?;
            assert_eq!(three, 3.min(full), "{entry}");
            assert_eq!(kernels::reduction_grid(dev, entry, 0)?, 1, "{entry}");
        }
        Ok(())
    }

    fn reduction_launchers_launch_one_wave_grids(dev: &Device) -> Result<()> {
        // What each launcher actually queues, recorded instead of run: one block per 16384
        // elements up to one full wave of the blocks an SM holds (at most
        // REDUCE_BLOCKS_PER_SM), the shape the f32 depth bounds assume.
        let sms = dev.info().multiprocessors.max(1);
        let mut scratch = ReduceScratch::new(&dev.stream()?)?;
        for len in [1, 2 * 16384 + 1, 1 << 24] {
            let (xf, yf) = (dev.alloc::<f32>(len, "x")?, dev.alloc::<f32>(len, "y")?);
            let (xu, xi) = (dev.alloc::<u32>(len, "x")?, dev.alloc::<i32>(len, "x")?);
            let mut of = dev.alloc::<f32>(1, "out")?;
            let (mut ou, mut oi) = (dev.alloc::<u32>(1, "out")?, dev.alloc::<i32>(1, "out")?);
            let (mut wu, mut wi) = (dev.alloc::<u64>(1, "out")?, dev.alloc::<i64>(1, "out")?);
            let sc = &mut scratch;
            let launches = [
                (entries::SUM_F32, record_launch(dev, |s| kernels::sum(s, &xf, &mut of, sc))?),
                (entries::MIN_F32, record_launch(dev, |s| kernels::min(s, &xf, &mut of, sc))?),
                (entries::MAX_F32, record_launch(dev, |s| kernels::max(s, &xf, &mut of, sc))?),
                (
                    entries::DOT_F32,
                    record_launch(dev, |s| kernels::dot(s, &xf, &yf, &mut of, sc))?,
                ),
                (entries::SUM_U32, record_launch(dev, |s| kernels::sum(s, &xu, &mut wu, sc))?),
                (entries::SUM_I32, record_launch(dev, |s| kernels::sum(s, &xi, &mut wi, sc))?),
                (entries::MIN_U32, record_launch(dev, |s| kernels::min(s, &xu, &mut ou, sc))?),
                (entries::MAX_U32, record_launch(dev, |s| kernels::max(s, &xu, &mut ou, sc))?),
                (entries::MIN_I32, record_launch(dev, |s| kernels::min(s, &xi, &mut oi, sc))?),
                (entries::MAX_I32, record_launch(dev, |s| kernels::max(s, &xi, &mut oi, sc))?),
            ];
            for (entry, launch) in launches {
                assert_eq!(launch.kernel().name(), entry);
                let per_sm = dev
                    .resident_blocks_per_sm(entry, REDUCE_BLOCK, REDUCE_SHARED_BYTES)?
                    .map_or(REDUCE_BLOCKS_PER_SM, |r| r.clamp(1, REDUCE_BLOCKS_PER_SM));
                let wave = per_sm * sms;
                let want = (len.div_ceil(16384) as u32).clamp(1, wave);
                let grid = launch.config().grid;
                assert_eq!((grid.x, grid.y, grid.z), (want, 1, 1), "{entry}, {len} elements");
            }
        }
        Ok(())
    }
}

/// The grid functions' cap: the smaller of what an SM holds and the configured most, at
/// least one block per SM (a driver answer of 0 still launches).
#[test]
fn grid_caps_take_the_smaller_of_resident_and_most() {
    use gpu_kernels::config::{HISTOGRAM_BLOCKS_PER_SM, histogram_grid, reduce_grid};
    let big = 1 << 31;
    assert_eq!(reduce_grid(big, 10, 3), 30);
    assert_eq!(reduce_grid(big, 10, 100), 10 * REDUCE_BLOCKS_PER_SM);
    assert_eq!(reduce_grid(big, 10, 0), 10);
    assert_eq!(histogram_grid(big, 10, 3), 30);
    assert_eq!(histogram_grid(big, 10, 100), 10 * HISTOGRAM_BLOCKS_PER_SM);
    assert_eq!(histogram_grid(big, 10, 0), 10);
    assert_eq!(histogram_grid(0, 10, 8), 1);
}
