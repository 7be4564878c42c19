//! Single-precision matrix multiply `C = alpha·A·B + beta·C` on the CUDA cores
//! (docs/kernels.md, Matrix multiply: `sgemm_f32`), register-tiled, no TF32.
//!
//! **Tiling.** A block of 256 threads computes a 128×128 tile of `C`, stepping through `k`
//! in slices of 8. Each slice of `A` (128×8) and `B` (8×128) is staged in shared memory, `A`
//! transposed (k-major, row stride 132 words so the transposing stores hit 32 distinct
//! banks), `B` as it is. Each thread accumulates an 8×8 sub-tile in 64 registers: rows
//! `4·ty + i` and `64 + 4·ty + i`, columns `4·tx + j` and `64 + 4·tx + j` (`i, j < 4`), so per
//! step of `k` it reads its 8 `A` values and 8 `B` values as four 16-byte shared loads and
//! issues 64 FMAs. A warp covers 4 `ty` × 8 `tx`, so each of those loads is one shared
//! wavefront (64 or 128 distinct bytes, the rest broadcast): 4 wavefronts per 64 FMA issues,
//! a quarter of the shared-memory bandwidth at full FMA rate.
//!
//! **Pipelining.** Two shared-memory stages: while the block computes on slice `t`, each
//! thread already holds slice `t + 1`'s global values in 8 registers (issued before the
//! FMAs, so their latency hides behind 512 FMAs) and stores them to the other stage
//! afterwards; one barrier per slice.
//!
//! **Limits.** Per thread: 64 accumulators, 16 fragment registers (ptxas double-buffers
//! them across the unrolled `k` steps), 8 prefetch registers and addresses; shared-memory
//! offsets of the `k` steps are load immediates, so one address register serves a slice.
//! ptxas (CUDA 13.0) allocates 153 registers on sm_90/sm_100 and 168 on sm_80, no spills,
//! which leaves one 256-thread block (8 warps) per SM: registers, not shared memory (16.6 KB
//! a block), bound the occupancy. Each warp has 64 independent FMAs per `k` step, enough to
//! keep the FMA pipes busy at 8 warps; what is lost is latency hiding at the one barrier per
//! slice. rustc cannot put `.maxnreg`/`.minnctapersm` on an entry; a 128-register cap (the
//! host's `CU_JIT_MAX_REGISTERS`, module-wide) fits without spills and gives two blocks
//! per SM, but measured only +4% here and slowed the memory-bound kernels of the same
//! module by ~10%, so it is not recommended. Global traffic: 2·8·128 `f32`s per
//! 2·128·128·8 flops (16 flop/byte), served mostly from L2.
//!
//! Measured on an H100 SXM (132 SMs), random data, `beta = 0`: 39.0 TFLOP/s at 8192³,
//! 37.4 at 4096³, 34.7 at 2048³, against 51.6, 50.2 and 46.5 for cuBLAS's FP32 SGEMM
//! without TF32 (`torch.mm`, highest precision): 75–76% of cuBLAS.
//!
//! **Accumulation order** (for the error bound): each output element is
//! `acc = +0; for l in 0..k { acc = fma(a[i][l], b[l][j], acc) }` in increasing `l` (the
//! zero padding of a partial last slice adds `fma(0, 0, acc) = acc`; `acc` starts at `+0`
//! and so is never `−0`), then `c = alpha * acc` when `beta == 0` (C not read), else
//! `c = fma(alpha, acc, beta * c)`: `k` roundings in the sum plus two, within
//! docs/kernels.md's `(k + 2)·u` bound. The result is deterministic (no atomics, no split
//! of `k`), so a CPU reference that follows this order matches bit for bit.

use crate::config::{
    SGEMM_BLOCK_K, SGEMM_BLOCK_M, SGEMM_BLOCK_N, SGEMM_SHARED_A_STRIDE, SGEMM_SHARED_STAGE_BYTES,
};
use crate::device::index::{block_x, block_y, grid_dim_y, thread_x};
use crate::device::math::fma;
use crate::device::memory::{F32x4, load_f32x4, load_f32x4_readonly, store_f32x4};
use crate::device::shared::sync_threads;
use crate::device::state_space::{
    dynamic_shared_base, load_f32_readonly, load_shared_f32x4_at, store_shared_f32x4,
    store_shared_u32,
};
use crate::device::unroll::unroll;

const BM: usize = SGEMM_BLOCK_M as usize;
const BN: usize = SGEMM_BLOCK_N as usize;
const BK: usize = SGEMM_BLOCK_K as usize;
/// Bytes from a stage's `A` slice to its `B` slice.
const A_BYTES: u32 = SGEMM_BLOCK_K * SGEMM_SHARED_A_STRIDE * 4;
/// Bytes between consecutive `k` rows of the shared `A` slice.
const A_ROW_BYTES: u32 = SGEMM_SHARED_A_STRIDE * 4;
/// Bytes between consecutive `k` rows of the shared `B` slice.
const B_ROW_BYTES: u32 = SGEMM_BLOCK_N * 4;

/// Expands `$body` once for each `k` step of a slice (`SGEMM_BLOCK_K` = 8), with the step
/// as the constant `$kk`, so shared-memory offsets become instruction immediates.
macro_rules! for_each_k {
    ($kk:ident => $body:block) => {
        for_each_k!(@ $kk $body 0 1 2 3 4 5 6 7)
    };
    (@ $kk:ident $body:block $($n:literal)*) => {
        const { assert!(SGEMM_BLOCK_K == 8) };
        $({
            const $kk: u32 = $n;
            $body
        })*
    };
}

/// The `f32`s one thread moves from global to shared memory per slice: four consecutive
/// `k` of one `A` row, four consecutive columns of one `B` row.
#[derive(Clone, Copy, Default)]
struct Staged {
    a: [f32; 4],
    b: [f32; 4],
}

/// Per-thread constants of the global-to-shared copy.
#[derive(Clone, Copy)]
struct Loader {
    /// `A` row this thread copies, within the block tile (`tid / 2`).
    a_row: usize,
    /// First of its four `k` within the slice (`(tid % 2)·4`).
    a_k: usize,
    /// `B` row (`k`) within the slice (`tid / 32`).
    b_k: usize,
    /// First of its four `B` columns within the block tile (`(tid % 32)·4`).
    b_col: usize,
    /// Whether `A` rows can be read as 16-byte vectors (`k % 4 == 0`, `a` 16-byte aligned).
    a_vec: bool,
    /// Whether `B` rows can be read as 16-byte vectors (`n % 4 == 0`, `b` 16-byte aligned).
    b_vec: bool,
}

impl Loader {
    /// Reads slice `k0..k0 + 8` of the block tile at rows `m0…`, columns `n0…`; elements
    /// outside `A` (`m × k`) or `B` (`k × n`) read as 0.
    ///
    /// # Safety
    /// `a` is valid for `m·k` and `b` for `k·n` `f32`s, neither written during the kernel.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn load(
        &self,
        a: *const f32,
        b: *const f32,
        (m, n, k): (usize, usize, usize),
        (m0, n0, k0): (usize, usize, usize),
    ) -> Staged {
        let mut s = Staged::default();
        let (row, ka) = (m0 + self.a_row, k0 + self.a_k);
        if row < m {
            let p = a.wrapping_add(row * k + ka);
            if self.a_vec {
                if ka < k {
                    // SAFETY: `k % 4 == 0` and `ka % 4 == 0`, so `ka + 3 < k`: four
                    // elements of row `row < m`; `a` and `k` make `p` 16-byte aligned.
                    s.a = unsafe { load_f32x4_readonly(p.cast::<F32x4>()) }.0;
                }
            } else {
                unroll::<4>(|q| {
                    if ka + q < k {
                        // SAFETY: `row < m`, `ka + q < k`: inside `A`.
                        s.a[q] = unsafe { load_f32_readonly(p.add(q)) };
                    }
                });
            }
        }
        let (kb, col) = (k0 + self.b_k, n0 + self.b_col);
        if kb < k {
            let p = b.wrapping_add(kb * n + col);
            if self.b_vec {
                if col < n {
                    // SAFETY: `n % 4 == 0` and `col % 4 == 0`, so `col + 3 < n`: inside
                    // row `kb < k` of `B`; 16-byte aligned as for `A`.
                    s.b = unsafe { load_f32x4_readonly(p.cast::<F32x4>()) }.0;
                }
            } else {
                unroll::<4>(|q| {
                    if col + q < n {
                        // SAFETY: `kb < k`, `col + q < n`: inside `B`.
                        s.b[q] = unsafe { load_f32_readonly(p.add(q)) };
                    }
                });
            }
        }
        s
    }

    /// Stores `s` into the stage at shared address `stage`: `A` transposed (`k`-major),
    /// `B` as is.
    ///
    /// # Safety
    /// `stage` is one of the two stages inside the launch's dynamic shared memory, and no
    /// thread reads it until the next barrier.
    #[inline(always)]
    unsafe fn store(&self, stage: u32, s: &Staged) {
        unroll::<4>(|q| {
            let word = (self.a_k + q) as u32 * SGEMM_SHARED_A_STRIDE + self.a_row as u32;
            // SAFETY: `a_k + q < 8`, `a_row < 128 ≤ stride`: inside the stage's `A` slice.
            unsafe { store_shared_u32(stage + 4 * word, s.a[q].to_bits()) };
        });
        let word = (self.b_k * BN + self.b_col) as u32;
        // SAFETY: `b_k < 8`, `b_col + 3 < 128`, a multiple of 4 words: 16-byte aligned and
        // inside the stage's `B` slice.
        unsafe { store_shared_f32x4(stage + A_BYTES + 4 * word, F32x4(s.b)) };
    }
}

/// `C = alpha·A·B + beta·C` (docs/kernels.md, `sgemm_f32`), row-major, `A: m×k`, `B: k×n`,
/// `C: m×n`, all contiguous (leading dimensions `k`, `n`, `n`). Any `m`, `n`, `k`;
/// `k == 0` gives `beta·C` (as `fma(alpha, 0, beta·c)`); when `beta == 0`, `C` is not read.
/// Accumulation order: see the module documentation.
///
/// Thread mapping: 256 threads per block; warp `w = tid / 32`, lane `l`:
/// `ty = 4·(w / 2) + l / 8`, `tx = 8·(w % 2) + l % 8`; block `(bx, by)` computes the
/// 128×128 tiles at columns `128·bx` and rows `128·t` for `t = by, by + grid_y, …`.
///
/// Launch: block `(SGEMM_THREADS, 1, 1)` = `(256, 1, 1)`; grid
/// [`crate::config::sgemm_grid`]`(m, n)` = `(⌈n/128⌉, min(⌈m/128⌉, 65535), 1)` (any grid
/// y ≥ 1 is correct; grid x must cover the columns); dynamic shared memory
/// `SGEMM_SHARED_BYTES` (16640) bytes. Nothing to launch when `m` or `n` is 0.
///
/// # Safety
/// - `a` is 4-byte aligned and valid for reading `m·k` `f32`s, `b` for `k·n`, neither
///   written during the kernel (they may alias each other); `c` is 4-byte aligned, valid
///   for reading and writing `m·n` `f32`s and overlaps neither `a` nor `b`; `m·k`, `k·n`
///   and `m·n` do not overflow `usize`;
/// - the block is `(256, 1, 1)`, the grid's x is at least `⌈n/128⌉` and the dynamic
///   shared memory at least `SGEMM_SHARED_BYTES` bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_sgemm_f32(
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
) {
    crate::device::grid::wait_for_prior_grids();
    let n0 = block_x() as usize * BN;
    if n0 >= n {
        // The whole block leaves: no barrier is left waiting.
        return;
    }
    let tid = thread_x() as usize;
    let (warp, lane) = (tid / 32, tid % 32);
    let ty = 4 * (warp / 2) + lane / 8;
    let tx = 8 * (warp % 2) + lane % 8;
    let loader = Loader {
        a_row: tid / 2,
        a_k: (tid % 2) * 4,
        b_k: tid / 32,
        b_col: (tid % 32) * 4,
        a_vec: k.is_multiple_of(4) && (a as usize).is_multiple_of(16),
        b_vec: n.is_multiple_of(4) && (b as usize).is_multiple_of(16),
    };
    let c_vec = n.is_multiple_of(4) && (c as usize).is_multiple_of(16);
    let smem = dynamic_shared_base();
    let stage = |t: usize| smem + (t % 2) as u32 * SGEMM_SHARED_STAGE_BYTES;
    let slices = k.div_ceil(BK);
    let tiles_m = m.div_ceil(BM);

    let mut tile = block_y() as usize;
    while tile < tiles_m {
        let m0 = tile * BM;
        let mut acc = [[0.0f32; 8]; 8];
        if slices > 0 {
            // SAFETY: `a`, `b` cover `A`, `B` and are read-only (caller's contract).
            let first = unsafe { loader.load(a, b, (m, n, k), (m0, n0, 0)) };
            // SAFETY: stage 0 is inside the shared memory; nothing reads it before the
            // barrier below. The barrier at the end of the previous tile (if any) has
            // ordered every read of it.
            unsafe { loader.store(stage(0), &first) };
            // SAFETY: `slices` depends only on `k`: the whole block is here.
            unsafe { sync_threads() };
        }
        for t in 0..slices {
            let next = t + 1 < slices;
            let mut staged = Staged::default();
            if next {
                // SAFETY: as above.
                staged = unsafe { loader.load(a, b, (m, n, k), (m0, n0, (t + 1) * BK)) };
            }
            // This thread's `A` values of step `kk` are at `a_base + kk·528` (+256 for rows
            // 64…), its `B` values at `b_base + kk·512` (+256): immediate offsets.
            let a_base = stage(t) + 16 * ty as u32;
            let b_base = stage(t) + A_BYTES + 16 * tx as u32;
            for_each_k!(KK => {
                // SAFETY: `4·ty + 64 + 3 < 128`, `4·tx + 64 + 3 < 128`, `KK < 8`: inside
                // this stage's slices, 16-byte aligned (strides and offsets are multiples of
                // 4 words), written before the last barrier and not written again before
                // the next.
                let (a0, a1, b0, b1) = unsafe {
                    (
                        load_shared_f32x4_at::<{ KK * A_ROW_BYTES }>(a_base),
                        load_shared_f32x4_at::<{ KK * A_ROW_BYTES + 256 }>(a_base),
                        load_shared_f32x4_at::<{ KK * B_ROW_BYTES }>(b_base),
                        load_shared_f32x4_at::<{ KK * B_ROW_BYTES + 256 }>(b_base),
                    )
                };
                let av = concat(a0.0, a1.0);
                let bv = concat(b0.0, b1.0);
                unroll::<8>(|i| unroll::<8>(|j| acc[i][j] = fma(av[i], bv[j], acc[i][j])));
            });
            if next {
                // SAFETY: the other stage was last read in slice `t − 1`, before the
                // barrier that ended it; nothing reads it again before the barrier below.
                unsafe { loader.store(stage(t + 1), &staged) };
            }
            // SAFETY: the loop's trip count depends only on `k`: the whole block is here.
            unsafe { sync_threads() };
        }

        // Epilogue: rows `m0 + 4·ty + i` (`i < 4`) and `m0 + 64 + 4·ty + i`; columns
        // `n0 + 4·tx + j` and `n0 + 64 + 4·tx + j`.
        let result = |acc: f32, old: f32| {
            if beta == 0.0 {
                alpha * acc
            } else {
                fma(alpha, acc, beta * old)
            }
        };
        unroll::<8>(|i| {
            let row = m0 + 4 * ty + (i % 4) + 64 * (i / 4);
            if row >= m {
                return;
            }
            unroll::<2>(|h| {
                let col = n0 + 4 * tx + 64 * h;
                let p = c.wrapping_add(row * n + col);
                if c_vec {
                    if col < n {
                        let mut old = F32x4::default();
                        if beta != 0.0 {
                            // SAFETY: `n % 4 == 0`, `col % 4 == 0` and `col < n`: four
                            // elements of row `row < m`, 16-byte aligned.
                            old = unsafe { load_f32x4(p.cast::<F32x4>()) };
                        }
                        let mut out = F32x4::default();
                        unroll::<4>(|q| out.0[q] = result(acc[i][4 * h + q], old.0[q]));
                        // SAFETY: as for the load; this thread alone writes these elements.
                        unsafe { store_f32x4(p.cast::<F32x4>(), out) };
                    }
                } else {
                    unroll::<4>(|q| {
                        if col + q < n {
                            // SAFETY: `row < m`, `col + q < n`: inside `C`; this thread
                            // alone accesses the element.
                            unsafe {
                                let e = p.add(q);
                                let old = if beta != 0.0 { *e } else { 0.0 };
                                *e = result(acc[i][4 * h + q], old);
                            }
                        }
                    });
                }
            });
        });
        tile += grid_dim_y() as usize;
    }
}

/// `[x, y]` as one eight-element array.
#[inline(always)]
fn concat(x: [f32; 4], y: [f32; 4]) -> [f32; 8] {
    [x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3]]
}
