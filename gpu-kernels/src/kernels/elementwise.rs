//! Memory-bound elementwise kernels: each element is read and written once, so their speed
//! is the device's memory bandwidth. They move four `f32`s per access when both pointers are
//! 16-byte aligned, and fall back to scalar accesses otherwise and for the tail.

use crate::device::index::grid_stride;
use crate::device::math::fma;
use crate::device::memory::{F32x4, load_f32x4, load_f32x4_readonly, store_f32x4};

/// Whether every pointer is 16-byte aligned, so [`F32x4`] accesses are legal.
#[inline(always)]
fn aligned16(pointers: &[usize]) -> bool {
    pointers.iter().all(|p| p % 16 == 0)
}

/// `y[i] = a * x[i] + b * y[i]` for `i < len` (`a * x[i]` fused into one FMA with the rest).
///
/// Thread mapping: one-dimensional grid of any size; a grid-stride loop over groups of four
/// elements, then over the `len % 4` tail.
///
/// # Safety
/// `x` must be valid for reading and `y` for reading and writing `len` `f32`s each; `x` and
/// `y` must not overlap unless they are equal.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_axpby_f32(
    x: *const f32,
    y: *mut f32,
    len: usize,
    a: f32,
    b: f32,
) {
    crate::device::grid::wait_for_prior_grids();
    let mut scalar_from = 0;
    if aligned16(&[x as usize, y as usize]) && !core::ptr::eq(x, y as *const f32) {
        let groups = len / 4;
        for g in grid_stride(groups) {
            // SAFETY: `g < len / 4`, so all four lanes are in bounds; both pointers are
            // 16-byte aligned; `x` is read-only for the kernel and does not overlap `y`.
            unsafe {
                let xv = load_f32x4_readonly(x.cast::<F32x4>().add(g));
                let yp = y.cast::<F32x4>().add(g);
                let yv = load_f32x4(yp);
                let mut out = F32x4::default();
                for k in 0..4 {
                    out.0[k] = fma(a, xv.0[k], b * yv.0[k]);
                }
                store_f32x4(yp, out);
            }
        }
        scalar_from = groups * 4;
    }
    for i in grid_stride(len - scalar_from) {
        let i = i + scalar_from;
        // SAFETY: `i < len`; the caller guarantees both pointers cover `len` elements.
        unsafe {
            *y.add(i) = fma(a, *x.add(i), b * *y.add(i));
        }
    }
}
