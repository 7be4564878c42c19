//! Shared support for the `kernels_*` property tests: the proptest driver that runs a test
//! body on a given device, the input value mixes, poisoned and guarded device buffers, and
//! bit-level comparisons.
//!
//! The `kernels_*` test files include this file as a module (`#[path]`); compiled on its
//! own it is an (empty) test target of its own.
//!
//! - [`check`] runs a property with a fixed number of cases and a deterministic RNG seeded
//!   from the property's name, after a list of fixed cases (the edge and huge sizes every
//!   run must cover). The body gets the device through its closure, so one body serves the
//!   CPU backend and the GPU.
//! - Values come from a small deterministic generator ([`Rng`]) seeded from the drawn case,
//!   which is far cheaper in debug builds than a strategy per element and still shrinks
//!   (towards short inputs and small seeds).
//! - [`Guarded`] is a device buffer whose data sits between poisoned guard elements, at an
//!   offset chosen by the case (so kernels see pointers at every offset from a 16-byte
//!   boundary). Outputs are poisoned before the launch, so an element the kernel does not
//!   write fails the comparison, and [`Guarded::read`] fails when a guard was overwritten.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use riptide::host::{Device, DeviceBuffer, DeviceSlice, DeviceSliceMut, Element, Result, Stream};

/// Guard elements after the data of a [`Guarded`] buffer (not a multiple of 4, so the end of
/// the data is not where a vector access would end either).
pub const GUARD: usize = 37;

/// Poison for `f32` outputs: `0xDEADBEEF`, a finite negative value (≈ −6.3e18) that no test
/// input makes a kernel produce. Where a NaN output is impossible, a NaN poison is stronger
/// (no error bound admits it); the tests choose per case.
pub const POISON_F32: f32 = f32::from_bits(0xDEAD_BEEF);

/// Poison for 32-bit integer outputs.
pub const POISON_U32: u32 = 0xDEAD_BEEF;

/// Runs `test` on every `fixed` case, then on `cases` cases drawn from `strategy` with a
/// deterministic RNG seeded from `name`; panics with the (shrunk) failing input on failure.
///
/// `test` may fail by returning a device error or by panicking (proptest treats a panic
/// as a failing case and shrinks it).
pub fn check<S>(
    name: &str,
    cases: u32,
    fixed: &[S::Value],
    strategy: S,
    test: impl Fn(&S::Value) -> Result<()>,
) where
    S: Strategy,
    S::Value: Debug,
{
    for v in fixed {
        // Printed so that a failing fixed case names its input (the harness shows stderr
        // only for failing tests).
        eprintln!("{name}: fixed case {v:?}");
        if let Err(e) = test(v) {
            panic!("{name}: fixed case {v:?} failed: {e}");
        }
    }
    let config = Config {
        cases,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(name));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, |v| {
        test(&v).map_err(|e| TestCaseError::fail(format!("device error: {e}")))
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// 32 seed bytes derived from a name (FNV-1a, then splitmix64).
fn seed_bytes(name: &str) -> [u8; 32] {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    let mut rng = Rng::new(h);
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    out
}

/// Lengths from 0 and 1 through non-multiples of the block sizes (256 threads, 4-element
/// vectors, 4096-element scan tiles, 32-tile scan groups) up to a few hundred thousand. The
/// multi-million sizes are fixed cases of each test, to keep the CPU run time in check.
pub fn lens() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..=40,
        3 => prop::sample::select(vec![
            63usize, 64, 65, 127, 128, 129, 255, 256, 257, 511, 513, 1023, 1024, 1025, 2047,
            2049, 4095, 4096, 4097, 8191, 8192, 8193, 12289, 65535, 65537, 131_071, 131_072,
            131_073,
        ]),
        2 => 41usize..20_000,
        1 => 20_000usize..300_000,
    ]
}

/// An element offset of a buffer from its allocation's start: 0 is 16-byte aligned, 1–3
/// are not (with several buffers, equal and unequal offsets select different code paths).
pub fn offset() -> impl Strategy<Value = usize> {
    0usize..4
}

/// splitmix64: a tiny deterministic generator for the values of a case.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (`n ≥ 1`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Which f32 values a mix may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Largest binary exponent of a finite value (`|x| < 2^(max_exp + 1)`).
    pub max_exp: i32,
    /// Whether NaN (quiet and signalling, random payloads) and ±∞ occur.
    pub non_finite: bool,
}

/// Every class of value, NaN and ±∞ included.
pub const ANY: Mix = Mix {
    max_exp: 127,
    non_finite: true,
};

/// Every finite class, up to `f32::MAX`.
pub const FINITE: Mix = Mix {
    max_exp: 127,
    non_finite: false,
};

/// Finite values below `2^101`: sums of up to `2^26` of them cannot overflow f32 (the
/// error bounds assume no overflow).
pub const SUMMABLE: Mix = Mix {
    max_exp: 100,
    non_finite: false,
};

/// Finite values below `2^51`: products of two are below `2^102`, so dot products and
/// matrix products of up to `2^25` terms cannot overflow.
pub const HALF: Mix = Mix {
    max_exp: 50,
    non_finite: false,
};

/// One f32 from the mix: moderate normals, ±0, subnormals, large and tiny normals, small
/// integers, arbitrary bit patterns within the exponent limit, and (if allowed) NaN and ±∞.
pub fn f32_value(rng: &mut Rng, mix: Mix) -> f32 {
    let bits = rng.next_u32();
    let sign = bits & 0x8000_0000;
    let mantissa = bits & 0x007F_FFFF;
    let with_exp = |e: i32| f32::from_bits(sign | (((e + 127) as u32) << 23) | mantissa);
    match rng.below(32) {
        0..=11 => with_exp(rng.below(21) as i32 - 10),
        12..=13 => f32::from_bits(sign),
        14..=16 => f32::from_bits(sign | mantissa),
        17..=18 => with_exp(mix.max_exp - rng.below(40) as i32),
        19..=20 => with_exp(-126 + rng.below(24) as i32),
        21..=23 => rng.below(17) as f32 - 8.0,
        24..=27 => {
            let v = f32::from_bits(bits);
            let exp = ((bits >> 23) & 0xFF) as i32 - 127;
            if v.is_finite() && exp <= mix.max_exp {
                v
            } else {
                with_exp(0)
            }
        }
        28..=30 if mix.non_finite => non_finite(rng),
        _ => with_exp(rng.below(5) as i32),
    }
}

/// A NaN (quiet or signalling, random sign and payload) or ±∞.
pub fn non_finite(rng: &mut Rng) -> f32 {
    let bits = rng.next_u32();
    let sign = bits & 0x8000_0000;
    match rng.below(4) {
        0 => f32::from_bits(0x7FC0_0000 | sign | (bits & 0x003F_FFFF)),
        1 => f32::from_bits(0x7F80_0000 | sign | (bits & 0x003F_FFFF) | 1),
        2 => f32::INFINITY,
        _ => f32::NEG_INFINITY,
    }
}

/// `len` values from `mix`.
pub fn f32s(len: usize, seed: u64, mix: Mix) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| f32_value(&mut rng, mix)).collect()
}

/// Overwrites `count` random positions of `v` with NaN or ±∞ (for inputs that must stay
/// mostly finite so that the result is not always NaN).
pub fn sprinkle_non_finite(v: &mut [f32], count: usize, seed: u64) {
    if v.is_empty() {
        return;
    }
    let mut rng = Rng::new(seed);
    for _ in 0..count {
        let i = rng.below(v.len() as u64) as usize;
        v[i] = non_finite(&mut rng);
    }
}

/// One u32: near 0, near `u32::MAX`, below 1000, or any.
pub fn u32_value(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 => rng.below(16) as u32,
        1 => u32::MAX - rng.below(16) as u32,
        2 => rng.below(1000) as u32,
        _ => rng.next_u32(),
    }
}

/// `len` values from the u32 mix.
pub fn u32s(len: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| u32_value(&mut rng)).collect()
}

/// `len` i32 values: near `i32::MIN`, near `i32::MAX`, around 0, or any.
pub fn i32s(len: usize, seed: u64) -> Vec<i32> {
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

/// Element types compared by bit pattern.
pub trait Bits: Element + Copy {
    /// The bit pattern.
    fn bits(self) -> u64;
    /// The bit pattern with every NaN mapped to one pattern (docs/kernels.md: "any NaN
    /// equals any NaN"); the identity for integers.
    fn nan_eq_bits(self) -> u64 {
        self.bits()
    }
}

impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn nan_eq_bits(self) -> u64 {
        if self.is_nan() {
            u64::from(f32::NAN.to_bits())
        } else {
            self.bits()
        }
    }
}

impl Bits for u32 {
    fn bits(self) -> u64 {
        u64::from(self)
    }
}

impl Bits for i32 {
    fn bits(self) -> u64 {
        u64::from(self as u32)
    }
}

impl Bits for u64 {
    fn bits(self) -> u64 {
        self
    }
}

impl Bits for i64 {
    fn bits(self) -> u64 {
        self as u64
    }
}

/// Asserts `got` and `want` are equal bit for bit, except that any NaN equals any NaN
/// (docs/kernels.md's "bit-exact"); names the first differing element.
pub fn assert_bits_eq<T: Bits>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bad = got
        .iter()
        .zip(want)
        .position(|(g, w)| g.nan_eq_bits() != w.nan_eq_bits());
    if let Some(i) = bad {
        let count = got
            .iter()
            .zip(want)
            .filter(|(g, w)| g.nan_eq_bits() != w.nan_eq_bits())
            .count();
        panic!(
            "{what}: {count} of {} elements differ; first at {i}: got {:?} ({:#x}), want {:?} ({:#x})",
            got.len(),
            got[i],
            got[i].bits(),
            want[i],
            want[i].bits()
        );
    }
}

/// Asserts `got` and `want` are equal bit for bit, NaN payloads included (for kernels that
/// move values as bits, such as the transpose).
pub fn assert_exact_bits<T: Bits>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g.bits() != w.bits()) {
        panic!(
            "{what}: first difference at {i} of {}: got {:#x}, want {:#x}",
            got.len(),
            got[i].bits(),
            want[i].bits()
        );
    }
}

/// A device buffer of `off + len + GUARD` elements whose data is `[off, off + len)`; the
/// rest holds `poison` and must keep it.
#[derive(Debug)]
pub struct Guarded<T: Bits> {
    /// The whole allocation.
    pub buf: DeviceBuffer<T>,
    /// Where the data starts.
    pub off: usize,
    /// Data elements.
    pub len: usize,
    /// The guards' value.
    pub poison: T,
}

impl<T: Bits> Guarded<T> {
    /// A buffer holding `data` at offset `off`, guards set to `poison` (uploaded and waited
    /// for on `stream`).
    pub fn new(dev: &Device, s: &Stream, data: &[T], off: usize, poison: T) -> Result<Self> {
        let len = data.len();
        let buf = dev.alloc::<T>(off + len + GUARD, "guarded")?;
        let mut g = Guarded {
            buf,
            off,
            len,
            poison,
        };
        g.fill(s, data)?;
        Ok(g)
    }

    /// A buffer of `len` poisoned elements at offset `off`: an output.
    pub fn poisoned(dev: &Device, s: &Stream, len: usize, off: usize, poison: T) -> Result<Self> {
        Self::new(dev, s, &vec![poison; len], off, poison)
    }

    /// Re-uploads the guards and `data` (which must have the buffer's data length).
    pub fn fill(&mut self, s: &Stream, data: &[T]) -> Result<()> {
        assert_eq!(data.len(), self.len, "Guarded::fill: data length");
        let mut host = Vec::with_capacity(self.buf.len());
        host.resize(self.off, self.poison);
        host.extend_from_slice(data);
        host.resize(self.buf.len(), self.poison);
        s.upload(&host, &mut self.buf)
    }

    /// The data, readable.
    pub fn data(&self) -> Result<DeviceSlice<'_, T>> {
        self.buf.slice(self.off..self.off + self.len)
    }

    /// The data, writable.
    pub fn data_mut(&mut self) -> Result<DeviceSliceMut<'_, T>> {
        self.buf.slice_mut(self.off..self.off + self.len)
    }

    /// Downloads the data (waiting for `stream`); panics if a guard element changed, i.e.
    /// something wrote outside the data.
    pub fn read(&self, s: &Stream) -> Result<Vec<T>> {
        let all = s.download(&self.buf)?;
        let p = self.poison.bits();
        let end = self.off + self.len;
        if let Some(i) = all[..self.off].iter().position(|v| v.bits() != p) {
            panic!(
                "element {} before the data (offset {}) was overwritten",
                self.off - i,
                self.off
            );
        }
        if let Some(i) = all[end..].iter().position(|v| v.bits() != p) {
            panic!(
                "element {i} past the end of the data ({} elements) was overwritten",
                self.len
            );
        }
        Ok(all[self.off..end].to_vec())
    }
}
