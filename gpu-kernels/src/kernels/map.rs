//! Elementwise `f32` maps (docs/kernels.md, Elementwise): `map_chain` (scale, offset, clamp,
//! exponential) and `compute` (`k` dependent FMAs per element, a knob that turns a
//! memory-bound kernel into a compute-bound one).
//!
//! Both read each element once and write it once. When `x` and `y` sit at the same offset
//! from a 16-byte boundary, a head of up to three elements is mapped singly, the body moves
//! four elements per access ([`F32x4`]) with two accesses in flight per thread, and a tail
//! of up to three elements is mapped singly; otherwise every element is mapped singly (still
//! coalesced). In place (`x == y`) the body reads through the coherent path, never `.nc`.
//!
//! Thread mapping: any one-dimensional launch; every loop is grid-stride, so any grid covers
//! any length. Full bandwidth wants the whole device busy: `ELEMENTWISE_BLOCK` threads per
//! block and about `2048 / ELEMENTWISE_BLOCK` blocks per SM (fewer when `len` is small).

use crate::device::index::{global_x, grid_stride, grid_threads_x};
use crate::device::math::{exp_approx, fma};
use crate::device::memory::{F32x4, load_f32x4, load_f32x4_readonly, store_f32x4};

/// An elementwise map, applied to `N` independent values at once so a per-element loop
/// (`compute`) interleaves the values' dependency chains.
trait Map: Copy {
    /// The map applied to each of `v`'s values.
    fn apply<const N: usize>(self, v: [f32; N]) -> [f32; N];
}

/// `map_chain`: `e^clamp(fma(x, scale, offset), lo, hi)`.
#[derive(Clone, Copy)]
struct Chain {
    scale: f32,
    offset: f32,
    lo: f32,
    hi: f32,
}

impl Map for Chain {
    #[inline(always)]
    fn apply<const N: usize>(self, mut v: [f32; N]) -> [f32; N] {
        for e in v.iter_mut() {
            let t = fma(*e, self.scale, self.offset);
            // Exactly the page's rule: comparisons with NaN are false, so NaN stays NaN
            // (`min`/`max` instructions would drop it).
            let t = if t < self.lo {
                self.lo
            } else if t > self.hi {
                self.hi
            } else {
                t
            };
            *e = exp_approx(t);
        }
        v
    }
}

/// `compute`: `k` times `v = fma(v, a, b)`.
#[derive(Clone, Copy)]
struct Iterate {
    a: f32,
    b: f32,
    k: u32,
}

impl Map for Iterate {
    #[inline(always)]
    fn apply<const N: usize>(self, mut v: [f32; N]) -> [f32; N] {
        for _ in 0..self.k {
            for e in v.iter_mut() {
                *e = fma(*e, self.a, self.b);
            }
        }
        v
    }
}

/// The elements before the first 16-byte boundary that both `x` and `y` can reach together:
/// `len` (nothing vectorized) when their offsets from a 16-byte boundary differ.
#[inline(always)]
fn vector_head(x: usize, y: usize, len: usize) -> usize {
    if x % 16 != y % 16 {
        return len;
    }
    let head = ((16 - x % 16) % 16) / 4;
    if head < len { head } else { len }
}

/// `y[i] = m(x[i])` for `i < len`.
///
/// # Safety
/// `x` must be valid for reading and `y` for writing `len` `f32`s (both 4-byte aligned);
/// they are equal or do not overlap.
#[inline(always)]
unsafe fn map_f32<M: Map>(m: M, x: *const f32, y: *mut f32, len: usize) {
    let head = vector_head(x as usize, y as usize, len);
    for i in grid_stride(head) {
        // SAFETY: `i < head <= len`.
        unsafe { *y.add(i) = m.apply([*x.add(i)])[0] };
    }
    let groups = (len - head) / 4;
    // SAFETY: `head <= len`, so both pointers stay inside (or one past) their buffers.
    let (xv, yv) = unsafe { (x.add(head).cast::<F32x4>(), y.add(head).cast::<F32x4>()) };
    if groups > 0 {
        if x == y.cast_const() {
            // SAFETY: forwarded; `xv`/`yv` are 16-byte aligned (same offset, head peeled)
            // and cover `groups` vectors. In place: the coherent load path.
            unsafe { map_vectors::<M, false>(m, xv, yv, groups) };
        } else {
            // SAFETY: as above; `x` does not overlap `y`, so nothing writes what `.nc` reads.
            unsafe { map_vectors::<M, true>(m, xv, yv, groups) };
        }
    }
    let tail = head + 4 * groups;
    for i in grid_stride(len - tail) {
        let i = tail + i;
        // SAFETY: `tail <= i < len`.
        unsafe { *y.add(i) = m.apply([*x.add(i)])[0] };
    }
}

/// Loads vector `g` of `x`, through `.nc` when `READONLY`.
///
/// # Safety
/// `x.add(g)` is a readable, 16-byte-aligned vector; with `READONLY`, no thread writes it
/// during the kernel.
#[inline(always)]
unsafe fn load<const READONLY: bool>(x: *const F32x4, g: usize) -> F32x4 {
    // SAFETY: forwarded contract.
    unsafe {
        if READONLY {
            load_f32x4_readonly(x.add(g))
        } else {
            load_f32x4(x.add(g))
        }
    }
}

/// `y[g] = m(x[g])` for the `groups` vectors, grid-stride, two vectors per thread per step
/// (both loads issued before either store).
///
/// # Safety
/// `x` readable and `y` writable for `groups` 16-byte-aligned vectors; they are equal or
/// disjoint, and equal only when `READONLY` is false.
#[inline(always)]
unsafe fn map_vectors<M: Map, const READONLY: bool>(
    m: M,
    x: *const F32x4,
    y: *mut F32x4,
    groups: usize,
) {
    let step = grid_threads_x();
    let mut g = global_x();
    while g + step < groups {
        // SAFETY: `g < g + step < groups`; each vector is read and then written by this
        // thread only.
        unsafe {
            let a = load::<READONLY>(x, g).0;
            let b = load::<READONLY>(x, g + step).0;
            let r = m.apply([a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]);
            store_f32x4(y.add(g), F32x4([r[0], r[1], r[2], r[3]]));
            store_f32x4(y.add(g + step), F32x4([r[4], r[5], r[6], r[7]]));
        }
        g += 2 * step;
    }
    if g < groups {
        // SAFETY: `g < groups`.
        unsafe { store_f32x4(y.add(g), F32x4(m.apply(load::<READONLY>(x, g).0))) };
    }
}

/// `map_chain` (docs/kernels.md, Elementwise): for `i < len`,
/// `v = fma(x[i], scale, offset)`; `v = lo` if `v < lo`, `hi` if `v > hi`, else `v` (NaN stays
/// NaN); `y[i] = e^v` computed as `ex2.approx.f32(v * log2 e)`.
///
/// Parameters: `x` input, `y` output (may equal `x`: in place), `len` elements,
/// `scale`, `offset`, `lo`, `hi` as above.
///
/// Launch: one-dimensional, any grid and block size (grid-stride); for bandwidth use
/// `ELEMENTWISE_BLOCK` threads and `min(⌈len / (8 · ELEMENTWISE_BLOCK)⌉, SMs · 2048 /
/// ELEMENTWISE_BLOCK)` blocks (at least 1). No shared memory, no scratch.
///
/// # Safety
/// The host launcher must check that `x` is valid for reading and `y` for writing `len`
/// `f32`s (device pointers, 4-byte aligned), and that `x` and `y` are the same pointer or
/// their `len`-element ranges do not overlap.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_map_chain_f32(
    x: *const f32,
    y: *mut f32,
    len: usize,
    scale: f32,
    offset: f32,
    lo: f32,
    hi: f32,
) {
    crate::device::grid::wait_for_prior_grids();
    let m = Chain {
        scale,
        offset,
        lo,
        hi,
    };
    // SAFETY: the launcher checked the buffers (see `# Safety`).
    unsafe { map_f32(m, x, y, len) };
}

/// `compute` (docs/kernels.md, Elementwise): for `i < len`, `v = x[i]`, then `k` times
/// `v = fma(v, a, b)`; `y[i] = v`. Bit-exact.
///
/// Parameters: `x` input, `y` output (may equal `x`: in place), `len` elements, `a`, `b`
/// the FMA's factor and addend, `k` the number of FMAs per element (0 copies `x`).
///
/// Launch: as [`riptide_map_chain_f32`]: one-dimensional, any grid and block size;
/// `ELEMENTWISE_BLOCK` threads per block recommended. No shared memory, no scratch.
///
/// # Safety
/// As [`riptide_map_chain_f32`]: `x` readable and `y` writable for `len` `f32`s (4-byte
/// aligned device pointers), equal or non-overlapping.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_compute_f32(
    x: *const f32,
    y: *mut f32,
    len: usize,
    a: f32,
    b: f32,
    k: u32,
) {
    crate::device::grid::wait_for_prior_grids();
    // SAFETY: the launcher checked the buffers (see `# Safety`).
    unsafe { map_f32(Iterate { a, b, k }, x, y, len) };
}
