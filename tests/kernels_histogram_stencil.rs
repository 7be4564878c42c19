//! Property tests of the histogram and stencil kernels: histograms add exact counts (and
//! the counts added equal the number of in-range values); one Jacobi sweep is bit-exact,
//! and row blocks with halos equal the whole-grid sweep. Shapes run from empty through
//! non-multiples of the 512-column × 4-row stencil blocks to grids past the 65535 limit on
//! grid y, where the kernel must loop over the remaining rows.

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use gpu_kernels::config::{
    HISTOGRAM_BLOCK, HISTOGRAM_BLOCKS_PER_SM, HISTOGRAM_PRIVATE_MAX_BINS, histogram_shared_bytes,
};
use gpu_kernels::entries;
use proptest::prelude::*;
use riptide::host::graph::record_launch;
use riptide::host::kernels::{self, StencilBlock};
use riptide::host::{Device, Result, Stream};

use support::{
    ANY, Guarded, POISON_F32, POISON_U32, Rng, assert_bits_eq, check, f32_value, f32s, lens,
    offset, u32_value,
};

// ---------------------------------------------------------------------------------------
// Histograms

/// One histogram case (u32 or f32).
#[derive(Debug, Clone)]
struct HistCase {
    len: usize,
    seed: u64,
    v_off: usize,
    c_off: usize,
    bins: usize,
    /// u32: the lower bound. f32: seed of the range.
    lo: u32,
    /// u32: the bin width (≥ 1). f32: unused.
    width: u32,
}

/// Bin counts: few, around the block size, at the privatization limit (12288 counters in
/// shared memory) and above it (global atomics).
fn bins() -> impl Strategy<Value = usize> {
    let max = HISTOGRAM_PRIVATE_MAX_BINS as usize;
    prop_oneof![
        4 => 1usize..=64,
        2 => prop::sample::select(vec![255usize, 256, 257, 1000, 4096]),
        1 => prop::sample::select(vec![max - 1, max, max + 1, 20_000]),
    ]
}

/// Widths: 1, small odd and even ones, powers of two, the largest ones (where the kernel's
/// multiply-high division has its edge cases) and any.
fn width() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => prop::sample::select(vec![1u32, 2, 3, 5, 7, 10, 64, 1 << 20, (1 << 31) - 1]),
        1 => prop::sample::select(vec![1u32 << 31, (1 << 31) + 1, u32::MAX - 1, u32::MAX]),
        2 => 1u32..=1000,
        1 => 1u32..=u32::MAX,
    ]
}

fn hist_cases() -> impl Strategy<Value = HistCase> {
    let lo = prop_oneof![
        Just(0u32),
        0u32..1000,
        u32::MAX - 1000..=u32::MAX,
        any::<u32>()
    ];
    (
        lens(),
        any::<u64>(),
        offset(),
        offset(),
        bins(),
        lo,
        width(),
    )
        .prop_map(|(len, seed, v_off, c_off, bins, lo, width)| HistCase {
            len,
            seed,
            v_off,
            c_off,
            bins,
            lo,
            width,
        })
}

fn hist_fixed() -> Vec<HistCase> {
    let case = |len: usize, v_off, bins: usize, lo: u32, width: u32| HistCase {
        len,
        seed: len as u64 + 1,
        v_off,
        c_off: 1,
        bins,
        lo,
        width,
    };
    vec![
        case(0, 0, 1, 0, 1),
        case(1, 3, 1, 0, 1),
        case(7, 1, 3, u32::MAX - 5, 2),
        case(600_001, 2, 256, 1000, 3),
        case(300_003, 1, 20_000, 5, 1),
    ]
}

/// u32 values around the binned range `[lo, lo + width·bins)`: inside it, just below `lo`,
/// at and past its end, plus the general mix (near 0 and `u32::MAX`).
fn hist_u32_values(c: &HistCase) -> Vec<u32> {
    let mut rng = Rng::new(c.seed);
    let span = u64::from(c.width) * c.bins as u64;
    (0..c.len)
        .map(|_| match rng.below(8) {
            0..=3 => (u64::from(c.lo) + rng.below(span + span / 4 + 1)) as u32,
            4 => c.lo.wrapping_sub(1 + rng.below(4) as u32),
            5 => (u64::from(c.lo) + span - 1 + rng.below(3)) as u32,
            _ => u32_value(&mut rng),
        })
        .collect()
}

/// Prefilled counters: counts are added to what the output holds (docs/kernels.md).
fn prefill(bins: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed ^ 0xC0DE);
    (0..bins).map(|_| rng.below(1 << 20) as u32).collect()
}

fn hist_u32_case(dev: &Device, s: &Stream, c: &HistCase) -> Result<()> {
    let v = hist_u32_values(c);
    let before = prefill(c.bins, c.seed);
    let gv = Guarded::new(dev, s, &v, c.v_off, POISON_U32)?;
    let mut gc = Guarded::new(dev, s, &before, c.c_off, POISON_U32)?;
    kernels::histogram_u32(s, gv.data()?, c.lo, c.width, gc.data_mut()?)?;
    let got = gc.read(s)?;
    // docs/kernels.md: v counts in bin (v − lo) / width when v ≥ lo and that bin is
    // < bins, added to the counters; exact.
    let mut want = before.clone();
    for &x in &v {
        if x >= c.lo {
            let bin = ((x - c.lo) / c.width) as usize;
            if bin < c.bins {
                want[bin] += 1;
            }
        }
    }
    assert_bits_eq("histogram_u32", &got, &want);
    // Reference-free: the counts added sum to the number of values in the binned range
    // [lo, lo + width·bins), computed without any division.
    let span = u64::from(c.width) * c.bins as u64;
    let in_range = v
        .iter()
        .filter(|&&x| x >= c.lo && u64::from(x - c.lo) < span)
        .count() as u64;
    let added: u64 = got
        .iter()
        .zip(&before)
        .map(|(&g, &b)| u64::from(g - b))
        .sum();
    assert_eq!(
        added, in_range,
        "histogram_u32: counts added vs values in range"
    );
    Ok(())
}

/// The f32 range of a case: `lo` anywhere in ±1000 (or 0), a width from 2^-10 to 10^6.
fn f32_range(c: &HistCase) -> (f32, f32) {
    let mut rng = Rng::new(u64::from(c.lo));
    let lo = match rng.below(4) {
        0 => 0.0,
        1 => -1.0,
        _ => (rng.below(2_000_000) as f32 - 1_000_000.0) / 1000.0,
    };
    let span = match rng.below(3) {
        0 => 2f32.powi(rng.below(20) as i32 - 10),
        1 => 1.0 + rng.below(1000) as f32 / 7.0,
        _ => 1.0 + rng.below(1_000_000) as f32,
    };
    (lo, lo + span)
}

/// f32 values: inside the range, at `lo`, `hi` and bin edges and one ulp either side, just
/// outside, and the full mix (NaN, ±∞, ±0, subnormals, huge).
fn hist_f32_values(c: &HistCase, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = Rng::new(c.seed);
    let w = hi - lo;
    (0..c.len)
        .map(|_| {
            let u = rng.below(1 << 24) as f32 / (1 << 24) as f32;
            match rng.below(10) {
                0..=3 => lo + w * u,
                4 => {
                    let edge = lo + w * (rng.below(c.bins as u64 + 1) as f32 / c.bins as f32);
                    let bits = edge.to_bits();
                    match rng.below(3) {
                        0 => f32::from_bits(bits.wrapping_sub(1)),
                        1 => edge,
                        _ => f32::from_bits(bits.wrapping_add(1)),
                    }
                }
                5 => [lo, hi, f32::from_bits(hi.to_bits().wrapping_sub(1))][rng.below(3) as usize],
                6 => lo - w * u * 0.1,
                7 => hi + w * u * 0.1,
                _ => f32_value(&mut rng, ANY),
            }
        })
        .collect()
}

fn hist_f32_case(dev: &Device, s: &Stream, c: &HistCase) -> Result<()> {
    let (lo, hi) = f32_range(c);
    let v = hist_f32_values(c, lo, hi);
    let before = prefill(c.bins, c.seed);
    let gv = Guarded::new(dev, s, &v, c.v_off, POISON_F32)?;
    let mut gc = Guarded::new(dev, s, &before, c.c_off, POISON_U32)?;
    kernels::histogram_f32(s, gv.data()?, lo, hi, gc.data_mut()?)?;
    let got = gc.read(s)?;
    // docs/kernels.md: scale = bins / (hi − lo) in f32 (by the host); t = (x − lo) * scale,
    // two rounded f32 operations; x counts in bin `t as u32` when t ≥ 0, t < bins and x is
    // not NaN (t < bins as real numbers: both are exact in f64). Exact counts.
    let scale = c.bins as f32 / (hi - lo);
    let mut want = before.clone();
    for &x in &v {
        let t = (x - lo) * scale;
        if !x.is_nan() && t >= 0.0 && f64::from(t) < c.bins as f64 {
            want[t as u32 as usize] += 1;
        }
    }
    assert_bits_eq("histogram_f32", &got, &want);
    // Reference-free: the counts added are the values in [lo, hi), except that rounding
    // in t may move a value within 2^-20·(hi − lo) of lo or hi to either side (t's
    // relative error is below 3u = 2^-22.4, and x − lo's rounding is absolute u·|x − lo|).
    let margin = f64::from(hi - lo) * 2f64.powi(-20);
    let (lo64, hi64) = (f64::from(lo), f64::from(hi));
    let inside = |x: f64| x >= lo64 && x < hi64;
    let near = |x: f64| (x - lo64).abs() <= margin || (x - hi64).abs() <= margin;
    let certain = v
        .iter()
        .filter(|&&x| inside(f64::from(x)) && !near(f64::from(x)))
        .count();
    let possible = v
        .iter()
        .filter(|&&x| inside(f64::from(x)) || near(f64::from(x)))
        .count();
    let added = got
        .iter()
        .zip(&before)
        .map(|(&g, &b)| (g - b) as usize)
        .sum::<usize>();
    assert!(
        (certain..=possible).contains(&added),
        "histogram_f32 over [{lo}, {hi}): {added} counted, {certain}..={possible} in range"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Stencil

/// One stencil case: a grid of `global_rows × cols`, output global rows `[out_begin,
/// out_end)` computed from a block of input rows that holds them with their halo rows
/// (where the grid has them) and `extra_above`/`extra_below` more rows.
#[derive(Debug, Clone)]
struct StencilCase {
    global_rows: usize,
    cols: usize,
    out_begin: usize,
    out_end: usize,
    extra_above: usize,
    extra_below: usize,
    seed: u64,
    in_off: usize,
    out_off: usize,
}

impl StencilCase {
    fn block(&self) -> StencilBlock {
        let start = self.out_begin.saturating_sub(1 + self.extra_above);
        let end = (self.out_end + 1 + self.extra_below).min(self.global_rows);
        // An empty output range is placed at block row 0: `StencilBlock::check` (host)
        // rejects an empty range `row_begin == row_end ≥ 1` when block row `row_end − 1`
        // is an interior row at the block's edge, although no row is computed (it checks
        // `row_end − 1` without checking that it is `≥ row_begin`); reported, not tested
        // here.
        let (row_begin, row_end) = if self.out_begin == self.out_end {
            (0, 0)
        } else {
            (self.out_begin - start, self.out_end - start)
        };
        StencilBlock {
            rows: end - start,
            cols: self.cols,
            row_offset: start,
            global_rows: self.global_rows,
            row_begin,
            row_end,
        }
    }
}

fn stencil_cases() -> impl Strategy<Value = StencilCase> {
    let rows = prop_oneof![3 => 1usize..=12, 2 => 13usize..=70];
    let cols = prop_oneof![
        2 => 0usize..=8,
        2 => prop::sample::select(vec![31usize, 32, 33, 127, 128, 129, 511, 512, 513, 640, 1025]),
        2 => 9usize..=300,
    ];
    (
        rows,
        cols,
        any::<u64>(),
        any::<u64>(),
        0usize..3,
        0usize..3,
        offset(),
        offset(),
    )
        .prop_map(|(g, cols, r1, r2, ea, eb, in_off, out_off)| {
            let (a, b) = (
                (r1 % (g as u64 + 1)) as usize,
                (r2 % (g as u64 + 1)) as usize,
            );
            StencilCase {
                global_rows: g,
                cols,
                out_begin: a.min(b),
                out_end: a.max(b),
                extra_above: ea,
                extra_below: eb,
                seed: r1 ^ r2,
                in_off,
                out_off,
            }
        })
}

fn stencil_fixed() -> Vec<StencilCase> {
    let case = |g: usize, cols: usize, begin: usize, end: usize| StencilCase {
        global_rows: g,
        cols,
        out_begin: begin,
        out_end: end,
        extra_above: 0,
        extra_below: 0,
        seed: (g * cols) as u64,
        in_off: 1,
        out_off: 2,
    };
    vec![
        case(0, 5, 0, 0),
        case(1, 1, 0, 1),
        case(3, 3, 0, 3),
        case(9, 1030, 2, 7),
        // 262147 output rows: 65537 strips of 4, beyond grid y's 65535.
        case(262_147, 3, 0, 262_147),
    ]
}

/// The spec's sweep written out: output row `r − row_begin` for block rows `r`.
fn jacobi_expected(b: &StencilBlock, input: &[f32]) -> Vec<f32> {
    let cols = b.cols;
    let mut out = Vec::with_capacity(b.out_rows() * cols);
    for r in b.row_begin..b.row_end {
        let g = b.row_offset + r;
        for c in 0..cols {
            let at = |rr: usize, cc: usize| input[rr * cols + cc];
            let boundary = g == 0 || g + 1 == b.global_rows || c == 0 || c + 1 == cols;
            out.push(if boundary {
                at(r, c)
            } else {
                0.25 * ((at(r - 1, c) + at(r + 1, c)) + (at(r, c - 1) + at(r, c + 1)))
            });
        }
    }
    out
}

fn stencil_case(dev: &Device, s: &Stream, c: &StencilCase) -> Result<()> {
    let b = c.block();
    // The full mix: NaN, ±∞, subnormals (0.25·x rounds there) and overflowing sums.
    let input = f32s(b.rows * b.cols, c.seed, ANY);
    let gi = Guarded::new(dev, s, &input, c.in_off, POISON_F32)?;
    let mut go = Guarded::poisoned(dev, s, b.out_rows() * b.cols, c.out_off, POISON_F32)?;
    kernels::jacobi5(s, b, gi.data()?, go.data_mut()?)?;
    // docs/kernels.md: boundary cells copy the input; interior cells are
    // 0.25 * ((up + down) + (left + right)) in exactly that order. Bit-exact.
    assert_bits_eq("jacobi5", &go.read(s)?, &jacobi_expected(&b, &input));
    Ok(())
}

fn stencil_split_case(dev: &Device, s: &Stream, c: &StencilCase) -> Result<()> {
    let (g, cols) = (c.global_rows, c.cols);
    let input = f32s(g * cols, c.seed, ANY);
    let gi = Guarded::new(dev, s, &input, c.in_off, POISON_F32)?;
    let mut whole = Guarded::poisoned(dev, s, g * cols, c.out_off, POISON_F32)?;
    kernels::jacobi5(
        s,
        StencilBlock::whole(g, cols),
        gi.data()?,
        whole.data_mut()?,
    )?;
    // The same sweep as two launches on row blocks of the same input buffer: rows
    // [0, split) from the block [0, split + 1), rows [split, g) from [split − 1, g), each
    // carrying its halo row, written to the two halves of one output buffer.
    let split = c.out_begin;
    let mut parts = Guarded::poisoned(dev, s, g * cols, (c.out_off + 1) % 4, POISON_F32)?;
    {
        let a_end = (split + 1).min(g);
        let b_start = split.saturating_sub(1);
        let top = StencilBlock {
            rows: a_end,
            cols,
            row_offset: 0,
            global_rows: g,
            row_begin: 0,
            row_end: split,
        };
        let bottom = StencilBlock {
            rows: g - b_start,
            cols,
            row_offset: b_start,
            global_rows: g,
            row_begin: split - b_start,
            row_end: g - b_start,
        };
        let src = gi.data()?;
        let (out_top, out_bottom) = parts.data_mut()?.split_at_mut(split * cols)?;
        kernels::jacobi5(s, top, src.slice(..a_end * cols)?, out_top)?;
        kernels::jacobi5(s, bottom, src.slice(b_start * cols..)?, out_bottom)?;
    }
    // Reference-free: the row blocks' outputs are the whole sweep's, bit for bit.
    assert_bits_eq(
        "jacobi5 row blocks vs whole grid",
        &parts.read(s)?,
        &whole.read(s)?,
    );
    Ok(())
}

device_tests! {    fn prop_histogram_u32_exact_counts_added(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_histogram_u32_exact_counts_added", 80, &hist_fixed(), hist_cases(), |c| {
            hist_u32_case(dev, &s, c)
        });
        Ok(())
    }

    fn prop_histogram_f32_exact_counts_added(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_histogram_f32_exact_counts_added", 80, &hist_fixed(), hist_cases(), |c| {
            hist_f32_case(dev, &s, c)
        });
        Ok(())
    }

    fn prop_jacobi5_bit_exact(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check("prop_jacobi5_bit_exact", 96, &stencil_fixed(), stencil_cases(), |c| {
            stencil_case(dev, &s, c)
        });
        Ok(())
    }

    fn prop_jacobi5_row_blocks_equal_whole_grid(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        check(
            "prop_jacobi5_row_blocks_equal_whole_grid",
            64,
            &stencil_fixed()[..4],
            stencil_cases(),
            |c| stencil_split_case(dev, &s, c),
        );
        Ok(())
    }

    fn histogram_launchers_launch_one_wave_grids(dev: &Device) -> Result<()> {
        // What the launchers queue, recorded instead of run: one block per 16384 values up
        // to one full wave of the blocks an SM holds with the bins' shared memory (at most
        // HISTOGRAM_BLOCKS_PER_SM); a second, partial wave would run alone on its SMs.
        let sms = dev.info().multiprocessors.max(1);
        for bins in [256, HISTOGRAM_PRIVATE_MAX_BINS as usize] {
            let shared = histogram_shared_bytes(bins as u32);
            let mut counts = dev.alloc::<u32>(bins, "counts")?;
            for len in [1, 2 * 16384 + 1, 1 << 24] {
                let (vu, vf) = (dev.alloc::<u32>(len, "values")?, dev.alloc::<f32>(len, "values")?);
                let c = &mut counts;
                let launches = [
                    (
                        entries::HISTOGRAM_U32,
                        record_launch(dev, |s| kernels::histogram_u32(s, &vu, 0, 1, &mut *c))?,
                    ),
                    (
                        entries::HISTOGRAM_F32,
                        record_launch(dev, |s| kernels::histogram_f32(s, &vf, 0.0, 1.0, &mut *c))?,
                    ),
                ];
                for (entry, launch) in launches {
                    assert_eq!(launch.kernel().name(), entry);
                    let per_sm = dev
                        .resident_blocks_per_sm(entry, HISTOGRAM_BLOCK, shared)?
                        .map_or(HISTOGRAM_BLOCKS_PER_SM, |r| r.clamp(1, HISTOGRAM_BLOCKS_PER_SM));
                    let want = (len.div_ceil(16384) as u32).clamp(1, per_sm * sms);
                    let config = launch.config();
                    let grid = config.grid;
                    let what = format!("{entry}, {bins} bins, {len} values");
                    assert_eq!((grid.x, grid.y, grid.z), (want, 1, 1), "{what}");
                    assert_eq!(config.shared_bytes, shared, "{what}");
                }
            }
        }
        Ok(())
    }
}
