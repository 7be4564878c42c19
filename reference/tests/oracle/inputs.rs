//! Input generation. Proptest draws a length and a seed; the values come from a small
//! deterministic generator, which is far cheaper in debug builds than a proptest strategy
//! per element and still shrinks (towards short inputs and small seeds).
//!
//! The value mixes are biased towards the cases that break kernels: ±0, subnormals, huge
//! and tiny magnitudes, integers near the type limits, and (where asked) NaN and ±∞.

use proptest::prelude::*;

/// Lengths from 0 and 1 through non-multiples of common block sizes up to a few hundred
/// thousand elements, and now and then a few million.
pub(crate) fn len() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..=40,
        3 => prop::sample::select(vec![
            63usize, 64, 65, 127, 129, 255, 256, 257, 1023, 1025, 4095, 4096, 4097, 8191,
            8192, 8193, 16383, 16385, 65535, 65537,
        ]),
        2 => 41usize..20_000,
        1 => 100_000usize..400_000,
        1 => 1_000_000usize..3_000_000,
    ]
}

/// splitmix64: a tiny, good-enough deterministic generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// Which non-finite values an f32 input may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// Finite values only.
    Finite,
    /// Finite values of magnitude `< 2^101`, so that sums of up to `2^26` of them cannot
    /// overflow f32 (the error bounds assume no overflow).
    Summable,
    /// Also NaN (random payloads) and ±∞.
    NonFinite,
}

/// One f32 from the mix.
pub(crate) fn f32_value(rng: &mut Rng, special: Special) -> f32 {
    let bits = rng.next_u32();
    let sign = bits & 0x8000_0000;
    let mantissa = bits & 0x007F_FFFF;
    let with_exp = |e: i32| f32::from_bits(sign | (((e + 127) as u32) << 23) | mantissa);
    match rng.below(32) {
        0..=13 => with_exp(rng.below(21) as i32 - 10),
        14..=15 => f32::from_bits(sign),
        16..=18 => f32::from_bits(sign | mantissa),
        19..=20 if special == Special::Summable => with_exp(80 + rng.below(21) as i32),
        19..=20 => with_exp(100 + rng.below(28) as i32),
        21..=22 => with_exp(-126 + rng.below(27) as i32),
        23..=25 => rng.below(17) as f32 - 8.0,
        26..=29 => {
            let v = f32::from_bits(bits);
            let limit = if special == Special::Summable {
                2f32.powi(101)
            } else {
                f32::INFINITY
            };
            if v.abs() < limit { v } else { with_exp(0) }
        }
        _ if special == Special::NonFinite => match rng.below(3) {
            0 => f32::from_bits(0x7F80_0000 | sign | mantissa | 1),
            1 => f32::INFINITY,
            _ => f32::NEG_INFINITY,
        },
        _ => with_exp(rng.below(5) as i32),
    }
}

/// `len` values from the f32 mix.
pub(crate) fn f32s(len: usize, seed: u64, special: Special) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| f32_value(&mut rng, special)).collect()
}

/// `len` finite f32 values of moderate magnitude (`|x| ∈ [2^-8, 2^8)` or 0), for
/// computations whose f32 result must not overflow or underflow.
pub(crate) fn moderate_f32s(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| {
            let bits = rng.next_u32();
            if bits.is_multiple_of(16) {
                return 0.0;
            }
            let e = (bits >> 24) % 16;
            f32::from_bits((bits & 0x8000_0000) | ((119 + e) << 23) | (bits & 0x007F_FFFF))
        })
        .collect()
}

/// One u32: near 0, near `u32::MAX`, small, or any.
pub(crate) fn u32_value(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 => rng.below(16) as u32,
        1 => u32::MAX - rng.below(16) as u32,
        2 => rng.below(1000) as u32,
        _ => rng.next_u32(),
    }
}

/// `len` values from the u32 mix.
pub(crate) fn u32s(len: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| u32_value(&mut rng)).collect()
}

/// `len` i32 values: near `i32::MIN`, near `i32::MAX`, around 0, or any.
pub(crate) fn i32s(len: usize, seed: u64) -> Vec<i32> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => i32::MIN + rng.below(16) as i32,
            1 => i32::MAX - rng.below(16) as i32,
            2 => rng.below(33) as i32 - 16,
            _ => rng.next_u32() as i32,
        })
        .collect()
}

/// Tolerance between two compensated f64 references of the same `n`-term sum with
/// magnitude sum `abs_sum`: each is within `2^-53·|exact| + 4.01·n²·2^-106·abs_sum` of the
/// exact sum (see the crate's `compensated` module), so they differ by at most twice that,
/// which `(2^-51 + n²·2^-102)·abs_sum` covers (with `|exact| ≤ abs_sum`). It is the
/// reference's own error, far below any f32 bound, but it is why rayon's merge order may
/// change the last bits.
pub(crate) fn f64_sum_tol(n: usize, abs_sum: f64) -> f64 {
    let n = n as f64;
    (2f64.powi(-51) + n * n * 2f64.powi(-102)) * abs_sum
}

/// Whether two f64 references agree within `tol` (infinities and NaN must match exactly).
pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
    if a.is_finite() && b.is_finite() {
        (a - b).abs() <= tol
    } else {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }
}

/// The bit patterns of an f32 slice for exact comparisons that distinguish ±0, with every
/// NaN mapped to one canonical pattern: IEEE 754 leaves which NaN payload (and sign) an
/// operation propagates to the implementation — LLVM may commute the operands of `a + b`,
/// and a GPU returns its canonical NaN — so no kernel's result specifies it.
pub(crate) fn bits(x: &[f32]) -> Vec<u32> {
    x.iter()
        .map(|v| {
            if v.is_nan() {
                f32::NAN.to_bits()
            } else {
                v.to_bits()
            }
        })
        .collect()
}
