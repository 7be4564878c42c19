//! Property tests of the prefix sums (docs/kernels.md, Scan): f32 outputs and total within
//! the bound of the kernel's documented depth, u32/i32 scans exact modulo 2^32, and the
//! reference-free invariants — a carry `c` shifts an integer scan by `c`, two scans chained
//! through `total_out` equal one scan, in place equals out of place bit for bit — plus the
//! launchers' argument checks.
//!
//! One `ScanScratch` serves every case of a test, so launches also check the epoch-tagged
//! status words: stale words of earlier launches (other lengths, kinds, types) must never
//! be taken for this launch's.

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use std::cell::RefCell;

use gpu_kernels::config::scan_f32_depth;
use proptest::prelude::*;
use riptide::host::kernels::{self, ScanElement, ScanKind, ScanScratch};
use riptide::host::{Device, Error, Result, Stream};
use riptide_reference::RefSum;
use riptide_reference::bounds::scan_bound;
use riptide_reference::scan::{ScanKind as RefKind, scan_f32};

use support::{
    Bits, Guarded, POISON_F32, POISON_U32, Rng, SUMMABLE, assert_bits_eq, check, f32_value, f32s,
    i32s, lens, offset, sprinkle_non_finite, u32_value, u32s,
};

/// 1343 tiles of 4096, the last one partial: crosses a look-back super-group boundary at
/// 2^22 elements (where the depth function steps), and more tiles than a 132-SM GPU runs
/// blocks (10 per SM), so blocks claim several tiles each.
const HUGE: usize = 5_500_001;

/// Scratch capacity: the largest case.
const CAPACITY: usize = HUGE;

/// One scan case.
#[derive(Debug, Clone)]
struct Case {
    kind: ScanKind,
    len: usize,
    seed: u64,
    x_off: usize,
    y_off: usize,
    /// Seed of the carry value.
    carry_seed: u64,
    /// f32: NaN/±∞ sprinkled into the input (0 = none). Chained scans: the split point.
    extra: u64,
}

fn kind() -> impl Strategy<Value = ScanKind> {
    prop_oneof![Just(ScanKind::Inclusive), Just(ScanKind::Exclusive)]
}

fn cases() -> impl Strategy<Value = Case> {
    (
        kind(),
        lens(),
        any::<u64>(),
        offset(),
        offset(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(kind, len, seed, x_off, y_off, carry_seed, extra)| Case {
            kind,
            len,
            seed,
            x_off,
            y_off,
            carry_seed,
            extra,
        })
}

/// Empty, one element, one tile, a tile plus one, a group of 32 tiles plus one, and the
/// huge case across a super-group; both kinds, aligned and unaligned.
fn fixed_cases(huge: bool) -> Vec<Case> {
    let case = |kind, len: usize, x_off, y_off| Case {
        kind,
        len,
        seed: len as u64 + 5,
        x_off,
        y_off,
        carry_seed: len as u64,
        extra: 0,
    };
    let mut v = vec![
        case(ScanKind::Inclusive, 0, 0, 0),
        case(ScanKind::Exclusive, 0, 1, 1),
        case(ScanKind::Exclusive, 1, 3, 1),
        case(ScanKind::Inclusive, 4096, 0, 0),
        case(ScanKind::Exclusive, 4097, 2, 2),
        case(ScanKind::Inclusive, 131_073, 1, 3),
    ];
    if huge {
        v.push(case(ScanKind::Inclusive, HUGE, 0, 0));
    }
    v
}

fn ref_kind(kind: ScanKind) -> RefKind {
    match kind {
        ScanKind::Inclusive => RefKind::Inclusive,
        ScanKind::Exclusive => RefKind::Exclusive,
    }
}

/// Output `i` of a scan within its bound: docs/kernels.md gives
/// `|y[i] − exact| ≤ (d + 1)·u·(|carry| + Σ_{j≤i}|x[j]|)` with `d = scan_f32_depth(i)`
/// documented by the kernel; scan_bound evaluates it rigorously (γ_{d+1}) with the f64
/// reference's own slack, around the reference's value and `abs_sum` (which includes
/// `|carry|` and, for exclusive scans too, `|x[i]|`, as the spec states).
fn assert_scan_within(what: &str, refs: &[RefSum], got: &[f32], depth: impl Fn(usize) -> u32) {
    for (i, (r, &g)) in refs.iter().zip(got).enumerate() {
        let bound = scan_bound(r.abs_sum, depth(i));
        let ok = if r.value.is_finite() && !r.abs_sum.is_finite() {
            // Only for an exclusive output whose own x[i] is NaN or ±∞: the exact value
            // (carry + Σ_{j<i} x[j]) is finite, but the spec's magnitude includes |x[i]|,
            // so the bound is infinite (or NaN): every finite result and nothing else.
            g.is_finite()
        } else {
            r.admits(g, bound)
        };
        assert!(
            ok,
            "{what}: output {i} of {}: got {g:e}, exact {:e}, bound {bound:e}",
            got.len(),
            r.value
        );
    }
}

/// The f32 input of a case: magnitudes below 2^101 (no prefix can overflow, which the
/// bound assumes), in a quarter of the cases with a few NaN/±∞ (every later output must
/// then be NaN or that infinity — and the earlier ones unaffected).
fn f32_input(c: &Case) -> (Vec<f32>, f32) {
    let mut x = f32s(c.len, c.seed, SUMMABLE);
    if c.extra % 4 == 1 {
        sprinkle_non_finite(&mut x, 1 + (c.extra / 4 % 3) as usize, c.seed ^ 0x99);
    }
    let carry = f32_value(&mut Rng::new(c.carry_seed), SUMMABLE);
    (x, carry)
}

/// Runs one scan of `x` from `carry` with the case's offsets; returns `(y, total)`.
fn run_scan<T: ScanElement + Bits>(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
    x: &[T],
    carry: T,
    poison: T,
) -> Result<(Vec<T>, T)> {
    let gx = Guarded::new(dev, s, x, c.x_off, poison)?;
    let mut gy = Guarded::poisoned(dev, s, x.len(), c.y_off, poison)?;
    let gc = Guarded::new(dev, s, &[carry], (c.x_off + 1) % 4, poison)?;
    let mut gt = Guarded::poisoned(dev, s, 1, (c.y_off + 1) % 4, poison)?;
    kernels::scan(
        s,
        c.kind,
        gx.data()?,
        gy.data_mut()?,
        gc.data()?,
        gt.data_mut()?,
        &mut scratch.borrow_mut(),
    )?;
    let y = gy.read(s)?;
    let total = gt.read(s)?[0];
    // The inputs are read-only.
    assert_eq!(gc.read(s)?[0].bits(), carry.bits(), "carry_in changed");
    Ok((y, total))
}

fn scan_f32_case(dev: &Device, s: &Stream, scratch: &RefCell<ScanScratch>, c: &Case) -> Result<()> {
    let (x, carry) = f32_input(c);
    let mut refs = vec![RefSum::default(); c.len];
    let total_ref = scan_f32(&x, carry, ref_kind(c.kind), &mut refs).expect("lengths match");
    // NaN poison, which no bound admits for a non-NaN reference; with non-finite inputs a
    // finite one (NaN outputs are expected then).
    let poison = if c.extra % 4 == 1 {
        POISON_F32
    } else {
        f32::NAN
    };
    let (y, total) = run_scan(dev, s, scratch, c, &x, carry, poison)?;
    assert_scan_within("scan_f32", &refs, &y, |i| scan_f32_depth(i) as u32);
    // `total` is the inclusive value at len − 1 (the carry when empty), same depth.
    let d = scan_f32_depth(c.len.saturating_sub(1)) as u32;
    let bound = scan_bound(total_ref.abs_sum, d);
    assert!(
        total_ref.admits(total, bound),
        "scan_f32 total of {}: got {total:e}, exact {:e}, bound {bound:e}",
        c.len,
        total_ref.value
    );
    Ok(())
}

/// The integer scans' element types: wrapping addition and an input mix near the limits.
trait ScanInt: ScanElement + Bits {
    fn wadd(self, other: Self) -> Self;
    fn inputs(len: usize, seed: u64) -> Vec<Self>;
    fn scalar(seed: u64) -> Self;
    const ZERO: Self;
    const POISON: Self;
}

impl ScanInt for u32 {
    fn wadd(self, other: u32) -> u32 {
        self.wrapping_add(other)
    }
    fn inputs(len: usize, seed: u64) -> Vec<u32> {
        u32s(len, seed)
    }
    fn scalar(seed: u64) -> u32 {
        u32_value(&mut Rng::new(seed))
    }
    const ZERO: u32 = 0;
    const POISON: u32 = POISON_U32;
}

impl ScanInt for i32 {
    fn wadd(self, other: i32) -> i32 {
        self.wrapping_add(other)
    }
    fn inputs(len: usize, seed: u64) -> Vec<i32> {
        i32s(len, seed)
    }
    fn scalar(seed: u64) -> i32 {
        i32s(1, seed)[0]
    }
    const ZERO: i32 = 0;
    const POISON: i32 = POISON_U32 as i32;
}

/// The spec's scan written out: `y[i] = carry + Σ_{j≤i} x[j]` (inclusive) or `Σ_{j<i}`
/// (exclusive), wrapping; returns `(y, carry + Σ x)`.
fn int_scan_expected<T: ScanInt>(x: &[T], carry: T, kind: ScanKind) -> (Vec<T>, T) {
    let mut acc = carry;
    let y = x
        .iter()
        .map(|&v| {
            let before = acc;
            acc = acc.wadd(v);
            match kind {
                ScanKind::Inclusive => acc,
                ScanKind::Exclusive => before,
            }
        })
        .collect();
    (y, acc)
}

fn int_scan_case<T: ScanInt>(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
) -> Result<()> {
    let x = T::inputs(c.len, c.seed);
    let carry = T::scalar(c.carry_seed);
    let (y, total) = run_scan(dev, s, scratch, c, &x, carry, T::POISON)?;
    // docs/kernels.md: integers wrap modulo 2^32; exact.
    let (want, want_total) = int_scan_expected(&x, carry, c.kind);
    assert_bits_eq("integer scan", &y, &want);
    assert_eq!(total.bits(), want_total.bits(), "integer scan total");
    Ok(())
}

fn carry_shift_case<T: ScanInt>(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
) -> Result<()> {
    let x = T::inputs(c.len, c.seed);
    let carry = T::scalar(c.carry_seed);
    let (y0, t0) = run_scan(dev, s, scratch, c, &x, T::ZERO, T::POISON)?;
    let (yc, tc) = run_scan(dev, s, scratch, c, &x, carry, T::POISON)?;
    // Reference-free: wrapping addition is associative, so every output and the total of
    // the scan from `c` are those of the scan from 0, plus `c`.
    let shifted: Vec<T> = y0.iter().map(|&v| v.wadd(carry)).collect();
    assert_bits_eq("scan from c vs scan from 0 plus c", &yc, &shifted);
    assert_eq!(
        tc.bits(),
        t0.wadd(carry).bits(),
        "total from c vs from 0 plus c"
    );
    Ok(())
}

/// Where a chained case splits its input: anywhere in `0..=len`.
fn split_of(c: &Case, len: usize) -> usize {
    (c.extra % (len as u64 + 1)) as usize
}

/// Scans `x[..split]` from `carry` and `x[split..]` from the first launch's `total_out`
/// (device memory, no host round trip), into one output buffer; returns
/// `(y, total of the first launch, total of the second)`.
#[allow(clippy::too_many_arguments)]
fn run_chained<T: ScanElement + Bits>(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
    x: &[T],
    carry: T,
    poison: T,
    split: usize,
) -> Result<(Vec<T>, T, T)> {
    let gx = Guarded::new(dev, s, x, c.x_off, poison)?;
    let mut gy = Guarded::poisoned(dev, s, x.len(), c.y_off, poison)?;
    let gc = Guarded::new(dev, s, &[carry], 3, poison)?;
    let mut t1 = Guarded::poisoned(dev, s, 1, 0, poison)?;
    let mut t2 = Guarded::poisoned(dev, s, 1, 1, poison)?;
    {
        let xs = gx.data()?;
        let (y1, y2) = gy.data_mut()?.split_at_mut(split)?;
        let mut sc = scratch.borrow_mut();
        kernels::scan(
            s,
            c.kind,
            xs.slice(..split)?,
            y1,
            gc.data()?,
            t1.data_mut()?,
            &mut sc,
        )?;
        kernels::scan(
            s,
            c.kind,
            xs.slice(split..)?,
            y2,
            t1.data()?,
            t2.data_mut()?,
            &mut sc,
        )?;
    }
    Ok((gy.read(s)?, t1.read(s)?[0], t2.read(s)?[0]))
}

fn chained_int_case<T: ScanInt>(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
) -> Result<()> {
    let x = T::inputs(c.len, c.seed);
    let carry = T::scalar(c.carry_seed);
    let split = split_of(c, x.len());
    let (y, t1, total) = run_chained(dev, s, scratch, c, &x, carry, T::POISON, split)?;
    // Reference-free: the same scan in one launch gives the same outputs and total, and
    // the first launch's total is the one launch's inclusive prefix at the split.
    let (whole, whole_total) = run_scan(dev, s, scratch, c, &x, carry, T::POISON)?;
    assert_bits_eq("chained scans vs one scan", &y, &whole);
    assert_eq!(
        total.bits(),
        whole_total.bits(),
        "chained total vs one scan's"
    );
    let prefix = x[..split].iter().fold(carry, |a, &v| a.wadd(v));
    assert_eq!(t1.bits(), prefix.bits(), "first launch's total");
    Ok(())
}

fn chained_f32_case(
    dev: &Device,
    s: &Stream,
    scratch: &RefCell<ScanScratch>,
    c: &Case,
) -> Result<()> {
    let (x, carry) = f32_input(c);
    let finite = c.extra % 4 != 1;
    let poison = if finite { f32::NAN } else { POISON_F32 };
    let split = split_of(c, x.len());
    let (y, t1, total) = run_chained(dev, s, scratch, c, &x, carry, poison, split)?;
    // One scan's result differs in the last bits, so compare with the whole scan's
    // reference. The first launch's total t1 is within γ_{d1+1}·A of the exact prefix
    // (A = |carry| + Σ_{j<split}|x[j]|, d1 its depth); an output j of the second launch is
    // within γ_{d2+1}·(|t1| + Σ|x[split..=split+j]|) of t1 + that sum. With
    // |t1| ≤ A(1 + γ_{d1+1}) and (1 + γ_a)(1 + γ_b) ≤ 1 + γ_{a+b}, the total error is at
    // most γ_{d1+d2+2}·(A + Σ|x[split..=split+j]|): scan_bound with depth d1 + d2 + 1
    // around the whole scan's reference (whose abs_sum is exactly that magnitude).
    let mut refs = vec![RefSum::default(); x.len()];
    let total_ref = scan_f32(&x, carry, ref_kind(c.kind), &mut refs).expect("lengths match");
    let d1 = scan_f32_depth(split.saturating_sub(1)) as u32;
    let depth = |i: usize| {
        if i < split {
            scan_f32_depth(i) as u32
        } else {
            d1 + scan_f32_depth(i - split) as u32 + 1
        }
    };
    assert_scan_within("chained scan_f32", &refs, &y, depth);
    let d_total = d1 + scan_f32_depth((x.len() - split).saturating_sub(1)) as u32 + 1;
    assert!(
        total_ref.admits(total, scan_bound(total_ref.abs_sum, d_total)),
        "chained total: got {total:e}, exact {:e}",
        total_ref.value
    );
    // And each launch on its own is within the spec's bound of its own exact result, the
    // second one's carry being the first one's total as stored in device memory.
    let mut r1 = vec![RefSum::default(); split];
    let t1_ref = scan_f32(&x[..split], carry, ref_kind(c.kind), &mut r1).expect("lengths");
    assert!(
        t1_ref.admits(t1, scan_bound(t1_ref.abs_sum, d1)),
        "first total"
    );
    let mut r2 = vec![RefSum::default(); x.len() - split];
    scan_f32(&x[split..], t1, ref_kind(c.kind), &mut r2).expect("lengths");
    assert_scan_within("second chained launch", &r2, &y[split..], |i| {
        scan_f32_depth(i) as u32
    });
    Ok(())
}

fn in_place_case(dev: &Device, s: &Stream, scratch: &RefCell<ScanScratch>, c: &Case) -> Result<()> {
    let (x, carry) = f32_input(c);
    let (y, total) = run_scan(dev, s, scratch, c, &x, carry, POISON_F32)?;
    let mut gz = Guarded::new(dev, s, &x, (c.x_off + c.y_off + 1) % 4, POISON_F32)?;
    let gc = Guarded::new(dev, s, &[carry], 0, POISON_F32)?;
    let mut gt = Guarded::poisoned(dev, s, 1, 0, POISON_F32)?;
    kernels::scan_in_place(
        s,
        c.kind,
        gz.data_mut()?,
        gc.data()?,
        gt.data_mut()?,
        &mut scratch.borrow_mut(),
    )?;
    // Reference-free: the kernel documents its f32 result as a fixed tree of the data,
    // independent of the grid, the timing and the pointers' alignment; in place and out of
    // place (at other offsets) must agree bit for bit (NaN equals NaN).
    assert_bits_eq("scan_f32 in place vs out of place", &gz.read(s)?, &y);
    assert_bits_eq(
        "scan_f32 total in place vs out of place",
        &gt.read(s)?,
        &[total],
    );

    let u = u32s(c.len, c.seed);
    let (uy, ut) = run_scan(dev, s, scratch, c, &u, 7, POISON_U32)?;
    let mut gu = Guarded::new(dev, s, &u, (c.x_off + 2) % 4, POISON_U32)?;
    let gc = Guarded::new(dev, s, &[7u32], 1, POISON_U32)?;
    let mut gt = Guarded::poisoned(dev, s, 1, 1, POISON_U32)?;
    kernels::scan_in_place(
        s,
        c.kind,
        gu.data_mut()?,
        gc.data()?,
        gt.data_mut()?,
        &mut scratch.borrow_mut(),
    )?;
    assert_bits_eq("scan_u32 in place vs out of place", &gu.read(s)?, &uy);
    assert_eq!(
        gt.read(s)?[0],
        ut,
        "scan_u32 total in place vs out of place"
    );
    Ok(())
}

fn scratch(s: &Stream) -> Result<RefCell<ScanScratch>> {
    Ok(RefCell::new(ScanScratch::new(s, CAPACITY)?))
}

device_tests! {
    fn prop_scan_f32_within_depth_bound(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let sc = scratch(&s)?;
        check("prop_scan_f32_within_depth_bound", 80, &fixed_cases(true), cases(), |c| {
            scan_f32_case(dev, &s, &sc, c)
        });
        Ok(())
    }

    fn prop_scan_u32_i32_exact_wrapping(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let sc = scratch(&s)?;
        check("prop_scan_u32_exact_wrapping", 64, &fixed_cases(true), cases(), |c| {
            int_scan_case::<u32>(dev, &s, &sc, c)
        });
        check("prop_scan_i32_exact_wrapping", 64, &fixed_cases(false), cases(), |c| {
            int_scan_case::<i32>(dev, &s, &sc, c)
        });
        Ok(())
    }

    fn prop_scan_integer_carry_shifts_every_output(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let sc = scratch(&s)?;
        check("prop_scan_u32_carry_shift", 48, &fixed_cases(false), cases(), |c| {
            carry_shift_case::<u32>(dev, &s, &sc, c)
        });
        check("prop_scan_i32_carry_shift", 48, &fixed_cases(false), cases(), |c| {
            carry_shift_case::<i32>(dev, &s, &sc, c)
        });
        Ok(())
    }

    fn prop_scan_chained_through_total_equals_one_scan(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let sc = scratch(&s)?;
        check("prop_scan_u32_chained", 48, &fixed_cases(false), cases(), |c| {
            chained_int_case::<u32>(dev, &s, &sc, c)
        });
        check("prop_scan_i32_chained", 32, &fixed_cases(false), cases(), |c| {
            chained_int_case::<i32>(dev, &s, &sc, c)
        });
        check("prop_scan_f32_chained", 64, &fixed_cases(false), cases(), |c| {
            chained_f32_case(dev, &s, &sc, c)
        });
        Ok(())
    }

    fn prop_scan_in_place_bits_equal_out_of_place(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let sc = scratch(&s)?;
        check("prop_scan_in_place_bits_equal_out_of_place", 64, &fixed_cases(false), cases(), |c| {
            in_place_case(dev, &s, &sc, c)
        });
        Ok(())
    }

    fn scan_launchers_reject_bad_arguments(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let mut sc = ScanScratch::new(&s, 100)?;
        let x = Guarded::new(dev, &s, &u32s(10, 1), 0, POISON_U32)?;
        let mut y = Guarded::poisoned(dev, &s, 11, 0, POISON_U32)?;
        let mut y10 = Guarded::poisoned(dev, &s, 10, 1, POISON_U32)?;
        let carry = Guarded::new(dev, &s, &[0u32, 0], 0, POISON_U32)?;
        let mut total = Guarded::poisoned(dev, &s, 2, 0, POISON_U32)?;
        let kind = ScanKind::Inclusive;
        let c1 = carry.buf.slice(0..1)?;
        // x and y must have the same length.
        let t1 = total.buf.slice_mut(0..1)?;
        let err = kernels::scan(&s, kind, x.data()?, y.data_mut()?, c1, t1, &mut sc).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 11, actual: 10, .. }), "{err}");
        // carry_in and total_out are one element each.
        let t1 = total.buf.slice_mut(0..1)?;
        let err = kernels::scan(&s, kind, x.data()?, y10.data_mut()?, carry.data()?, t1, &mut sc)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        let err = kernels::scan(&s, kind, x.data()?, y10.data_mut()?, c1, total.data_mut()?, &mut sc)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        let err = kernels::scan_in_place(&s, kind, y10.data_mut()?, c1, total.data_mut()?, &mut sc)
            .unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 1, actual: 2, .. }), "{err}");
        // More elements than the scratch was sized for.
        let big = Guarded::new(dev, &s, &u32s(101, 2), 0, POISON_U32)?;
        let mut big_y = Guarded::poisoned(dev, &s, 101, 0, POISON_U32)?;
        let t1 = total.buf.slice_mut(0..1)?;
        let err = kernels::scan(&s, kind, big.data()?, big_y.data_mut()?, c1, t1, &mut sc)
            .unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { requested: 101, max: 100, .. }), "{err}");
        // Nothing was queued: every output holds only poison.
        for out in [y.read(&s)?, y10.read(&s)?, total.read(&s)?, big_y.read(&s)?] {
            assert!(out.iter().all(|&v| v == POISON_U32), "an output was written");
        }
        // The scratch still works after the rejections.
        let t1 = total.buf.slice_mut(0..1)?;
        kernels::scan(&s, kind, x.data()?, y10.data_mut()?, c1, t1, &mut sc)?;
        let (want, want_total) = int_scan_expected(&u32s(10, 1), 0, kind);
        assert_eq!(y10.read(&s)?, want);
        assert_eq!(total.read(&s)?[0], want_total);
        Ok(())
    }
}
