//! The scan's addition on 32-bit patterns ([`ScanOp`]: `f32` addition, or integer addition
//! modulo 2^32 for `u32` and `i32`) and the warp-wide scans and sums built on it, each a
//! fixed sequence of shuffles and additions (kernels/scan.rs: the order of the additions is
//! part of the result's bits).

use crate::device::warp::{shfl_up_u32, shfl_xor_u32};

/// The scan's addition on 32-bit patterns.
pub(super) trait ScanOp: Copy {
    /// The identity: adding it changes no value's bits.
    const IDENTITY: u32;
    /// `a + b`.
    fn add(a: u32, b: u32) -> u32;
}

/// `f32` addition (identity `-0.0`: `x + (-0.0)` is `x` for every `x`, including `-0.0`).
#[derive(Clone, Copy)]
pub(super) struct AddF32;
impl ScanOp for AddF32 {
    const IDENTITY: u32 = 0x8000_0000;
    #[inline(always)]
    fn add(a: u32, b: u32) -> u32 {
        (f32::from_bits(a) + f32::from_bits(b)).to_bits()
    }
}

/// Integer addition modulo 2^32 (`u32` and `i32` alike).
#[derive(Clone, Copy)]
pub(super) struct AddU32;
impl ScanOp for AddU32 {
    const IDENTITY: u32 = 0;
    #[inline(always)]
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

/// Kogge–Stone inclusive scan over the warp's 32 values (lane order).
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
pub(super) unsafe fn warp_scan<O: ScanOp>(mut v: u32, lane: u32) -> u32 {
    let mut d = 1;
    while d < 32 {
        // SAFETY: forwarded contract.
        let up = unsafe { shfl_up_u32(v, d) };
        if lane >= d {
            v = O::add(up, v);
        }
        d <<= 1;
    }
    v
}

/// `incl` of the previous lane; the identity in lane 0.
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
pub(super) unsafe fn exclusive<O: ScanOp>(incl: u32, lane: u32) -> u32 {
    // SAFETY: forwarded contract.
    let up = unsafe { shfl_up_u32(incl, 1) };
    if lane == 0 { O::IDENTITY } else { up }
}

/// Butterfly sum of the warp's 32 values; every lane gets the same bits (addition is
/// commutative, so lanes `l` and `l ^ m` compute the same pair sum).
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
pub(super) unsafe fn warp_sum<O: ScanOp>(mut v: u32) -> u32 {
    let mut mask = 16;
    while mask > 0 {
        // SAFETY: forwarded contract.
        v = O::add(v, unsafe { shfl_xor_u32(v, mask) });
        mask >>= 1;
    }
    v
}
