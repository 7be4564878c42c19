//! Grid-wide reductions in one launch (docs/kernels.md, Reductions): sums, dot product,
//! minimum and maximum over `f32`, `u32` and `i32`.
//!
//! Structure, the same for every operation (`R::Acc` is the accumulator type):
//! 1. **Per thread.** The input is read once, coalesced: a head of up to three elements
//!    brings `x` to a 16-byte boundary, the body is a grid-stride loop over 16-byte vectors
//!    with four vectors in flight per thread, and a tail of up to three elements is read
//!    singly. Each of a vector's four lanes feeds its own accumulator (`acc[0..4]`, four
//!    independent chains); the head element goes to `acc[0]` first, the tail element to
//!    `acc[3]` last. The thread's value is `(acc[0] ⊕ acc[1]) ⊕ (acc[2] ⊕ acc[3])`.
//!    (`dot` vectorizes only when `x` and `y` sit at the same offset from a 16-byte
//!    boundary; otherwise it reads the same groups of four with scalar loads, in the same
//!    order, with no head.)
//! 2. **Per block.** A butterfly over each warp (`shfl.bfly`, masks 16, 8, 4, 2, 1), lane 0
//!    of each warp writes shared memory, and warp 0 reduces the `REDUCE_BLOCK / 32` warp
//!    values with another butterfly (lanes past them hold the identity).
//! 3. **Across blocks.** Thread 0 writes the block's value to `partials[block]` in the
//!    scratch, makes it visible GPU-wide (`fence.acq_rel.gpu`) and takes a ticket from the
//!    scratch counter (`atom.add`). The block that draws the last ticket (`grid - 1`) fences
//!    again (acquire), resets the counter to 0 and, after a barrier, folds the partials:
//!    thread `t` combines `partials[t], partials[t + REDUCE_BLOCK], …` in index order, then
//!    the block reduces as in 2 and thread 0 writes `out[0]`.
//!
//! Every step has a fixed order for a given `len`, grid size and offset of `x` (and `y`)
//! from a 16-byte boundary, so the result is bit-reproducible for a given launch shape.
//!
//! **Summation depth of `sum_f32`/`dot_f32`** (docs/kernels.md), with `T = grid ·
//! REDUCE_BLOCK` threads: a lane accumulator adds at most `⌈⌊len/4⌋ / T⌉ + 1` terms, the
//! four accumulators add 2 levels, each block tree `log2(REDUCE_BLOCK) = 8` rounding levels
//! (5 in the warp, 3 across 8 warps: the identity lanes add exactly), and the final fold
//! `⌈grid / REDUCE_BLOCK⌉`: `d = ⌈⌊len/4⌋ / T⌉ + ⌈grid / REDUCE_BLOCK⌉ + 19`,
//! [`crate::config::reduce_f32_depth`]. `dot` forms each product inside an FMA with its
//! accumulator (no separate rounding of the product).
//!
//! Memory ordering of step 3: writer blocks do (partial store; `fence.acq_rel.gpu`;
//! relaxed `atom.add`), a release pattern; the last block does (relaxed `atom.add` that
//! reads the value every other block's add produced; `fence.acq_rel.gpu`), an acquire
//! pattern, so every partial store happens before the last block's thread 0 continues. The
//! barrier (`barrier.sync 0`) extends that to the block's other threads, which read the partials
//! with strong `ld.relaxed.gpu` loads (never a stale L1 line).

use crate::config::{REDUCE_BLOCK, WARP_SIZE};
use crate::device::atomic::{add_u32, fence_gpu, load_relaxed_u64, store_relaxed_u32};
use crate::device::index::{block_x, global_x, grid_dim_x, grid_threads_x, thread_x};
use crate::device::math::{fma, max as fmax, min as fmin};
use crate::device::memory::{F32x4, load_f32x4_readonly};
use crate::device::shared::{dynamic_shared, sync_threads};
use crate::device::warp::{lane_id, shfl_xor_u32};

/// Warps per block.
const WARPS: usize = (REDUCE_BLOCK / WARP_SIZE) as usize;

/// An accumulator type: moves through a 64-bit scratch word and through warp shuffles.
trait Word: Copy {
    /// The value as a scratch word.
    fn to_word(self) -> u64;
    /// The value back from [`Word::to_word`]'s word.
    fn from_word(w: u64) -> Self;
    /// The value held by lane `lane_id() ^ mask`.
    ///
    /// # Safety
    /// All 32 lanes of the warp execute the call together.
    unsafe fn shfl_xor(self, mask: u32) -> Self;
}

macro_rules! word32 {
    ($t:ty, $to:expr, $from:expr) => {
        impl Word for $t {
            #[inline(always)]
            fn to_word(self) -> u64 {
                $to(self) as u64
            }
            #[inline(always)]
            fn from_word(w: u64) -> Self {
                $from(w as u32)
            }
            #[inline(always)]
            unsafe fn shfl_xor(self, mask: u32) -> Self {
                // SAFETY: forwarded contract (full warp).
                $from(unsafe { shfl_xor_u32($to(self), mask) })
            }
        }
    };
}
word32!(f32, f32::to_bits, f32::from_bits);
word32!(u32, |v: u32| v, |w: u32| w);
word32!(i32, |v: i32| v as u32, |w: u32| w as i32);

macro_rules! word64 {
    ($t:ty) => {
        impl Word for $t {
            #[inline(always)]
            fn to_word(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn from_word(w: u64) -> Self {
                w as $t
            }
            #[inline(always)]
            unsafe fn shfl_xor(self, mask: u32) -> Self {
                let w = self as u64;
                // SAFETY: forwarded contract (full warp).
                let (lo, hi) = unsafe {
                    (
                        shfl_xor_u32(w as u32, mask),
                        shfl_xor_u32((w >> 32) as u32, mask),
                    )
                };
                ((hi as u64) << 32 | lo as u64) as $t
            }
        }
    };
}
word64!(u64);
word64!(i64);

/// One reduction: how an element (or element pair) enters an accumulator and how two
/// accumulators combine. Elements arrive as their 32-bit patterns.
trait ReduceOp: Copy {
    /// The accumulator and result type.
    type Acc: Word;
    /// Whether the op reads `y` as well as `x` (`dot`).
    const TWO_INPUTS: bool = false;
    /// The identity of [`ReduceOp::combine`].
    fn identity(self) -> Self::Acc;
    /// `acc ⊕ element(x, y)`; `y` is meaningless unless [`ReduceOp::TWO_INPUTS`].
    fn step(self, acc: Self::Acc, x: u32, y: u32) -> Self::Acc;
    /// `a ⊕ b`.
    fn combine(self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The result written for a reduction of `len` elements whose fold is `acc`.
    #[inline(always)]
    fn finish(self, acc: Self::Acc, _len: usize) -> Self::Acc {
        acc
    }
}

/// `Σ x` in `f32`. Identity `-0.0` (adding it is exact for every value; empty → `-0.0`).
#[derive(Clone, Copy)]
struct SumF32;
impl ReduceOp for SumF32 {
    type Acc = f32;
    #[inline(always)]
    fn identity(self) -> f32 {
        -0.0
    }
    #[inline(always)]
    fn step(self, acc: f32, x: u32, _y: u32) -> f32 {
        acc + f32::from_bits(x)
    }
    #[inline(always)]
    fn combine(self, a: f32, b: f32) -> f32 {
        a + b
    }
}

/// `Σ x·y` in `f32`, each term fused into its accumulator (`fma(x, y, acc)`).
#[derive(Clone, Copy)]
struct DotF32;
impl ReduceOp for DotF32 {
    type Acc = f32;
    const TWO_INPUTS: bool = true;
    #[inline(always)]
    fn identity(self) -> f32 {
        -0.0
    }
    #[inline(always)]
    fn step(self, acc: f32, x: u32, y: u32) -> f32 {
        fma(f32::from_bits(x), f32::from_bits(y), acc)
    }
    #[inline(always)]
    fn combine(self, a: f32, b: f32) -> f32 {
        a + b
    }
}

/// IEEE minNum/maxNum over `f32` with PTX `min.f32`/`max.f32` (a NaN operand yields the
/// other operand). The identity is NaN, so an all-NaN input gives NaN; `finish` turns the
/// empty reduction into `+∞` (`MIN`) or `-∞`.
#[derive(Clone, Copy)]
struct ExtremumF32<const MIN: bool>;
impl<const MIN: bool> ReduceOp for ExtremumF32<MIN> {
    type Acc = f32;
    #[inline(always)]
    fn identity(self) -> f32 {
        f32::NAN
    }
    #[inline(always)]
    fn step(self, acc: f32, x: u32, _y: u32) -> f32 {
        self.combine(acc, f32::from_bits(x))
    }
    #[inline(always)]
    fn combine(self, a: f32, b: f32) -> f32 {
        if MIN { fmin(a, b) } else { fmax(a, b) }
    }
    #[inline(always)]
    fn finish(self, acc: f32, len: usize) -> f32 {
        match (len, MIN) {
            (0, true) => f32::INFINITY,
            (0, false) => f32::NEG_INFINITY,
            _ => acc,
        }
    }
}

/// Exact `Σ x` of `u32` in `u64` (wrapping only past 2^64, which 2^32 · `len` cannot reach).
#[derive(Clone, Copy)]
struct SumU32;
impl ReduceOp for SumU32 {
    type Acc = u64;
    #[inline(always)]
    fn identity(self) -> u64 {
        0
    }
    #[inline(always)]
    fn step(self, acc: u64, x: u32, _y: u32) -> u64 {
        acc.wrapping_add(x as u64)
    }
    #[inline(always)]
    fn combine(self, a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }
}

/// Exact `Σ x` of `i32` in `i64`.
#[derive(Clone, Copy)]
struct SumI32;
impl ReduceOp for SumI32 {
    type Acc = i64;
    #[inline(always)]
    fn identity(self) -> i64 {
        0
    }
    #[inline(always)]
    fn step(self, acc: i64, x: u32, _y: u32) -> i64 {
        acc.wrapping_add(x as i32 as i64)
    }
    #[inline(always)]
    fn combine(self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
}

/// Integer minimum (`MIN`) or maximum; the identity is the type's `MAX` / `MIN`, which is
/// also the empty result.
macro_rules! int_extremum {
    ($name:ident, $t:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy)]
        struct $name<const MIN: bool>;
        impl<const MIN: bool> ReduceOp for $name<MIN> {
            type Acc = $t;
            #[inline(always)]
            fn identity(self) -> $t {
                if MIN { <$t>::MAX } else { <$t>::MIN }
            }
            #[inline(always)]
            fn step(self, acc: $t, x: u32, _y: u32) -> $t {
                self.combine(acc, x as $t)
            }
            #[inline(always)]
            fn combine(self, a: $t, b: $t) -> $t {
                if MIN { a.min(b) } else { a.max(b) }
            }
        }
    };
}
int_extremum!(ExtremumU32, u32, "Minimum (`MIN`) or maximum of `u32`.");
int_extremum!(ExtremumI32, i32, "Minimum (`MIN`) or maximum of `i32`.");

/// Butterfly over the warp: every lane ends with the combination of all 32 values.
///
/// # Safety
/// All 32 lanes of the warp execute the call together.
#[inline(always)]
unsafe fn warp_reduce<R: ReduceOp>(op: R, mut v: R::Acc) -> R::Acc {
    let mut mask = 16;
    while mask > 0 {
        // SAFETY: forwarded contract.
        v = op.combine(v, unsafe { v.shfl_xor(mask) });
        mask >>= 1;
    }
    v
}

/// Reduces one value per thread over the block; the result is valid in warp 0 (thread 0
/// writes it). Uses the first `8 · WARPS` bytes of dynamic shared memory.
///
/// # Safety
/// Every thread of the block (exactly `REDUCE_BLOCK`) executes the call together, and no
/// thread still reads those shared bytes from an earlier call (a barrier separates them).
#[inline(always)]
unsafe fn block_reduce<R: ReduceOp>(op: R, v: R::Acc) -> R::Acc {
    let lane = lane_id() as usize;
    let warp = thread_x() as usize / WARP_SIZE as usize;
    let slots = dynamic_shared::<u64>();
    // SAFETY: the whole block is here, so every warp is complete.
    let w = unsafe { warp_reduce(op, v) };
    if lane == 0 {
        // SAFETY: `warp < WARPS`; the launch provides `REDUCE_SHARED_BYTES ≥ 8 · WARPS`.
        unsafe { *slots.add(warp) = w.to_word() };
    }
    // SAFETY: every thread of the block reaches this barrier.
    unsafe { sync_threads() };
    let mut r = op.identity();
    if warp == 0 {
        let v = if lane < WARPS {
            // SAFETY: written before the barrier by lane 0 of warp `lane`.
            R::Acc::from_word(unsafe { *slots.add(lane) })
        } else {
            op.identity()
        };
        // SAFETY: warp 0 runs this branch as a whole (the condition is per warp).
        r = unsafe { warp_reduce(op, v) };
    }
    r
}

/// Loads group `g` (elements `4g .. 4g + 4`) of `p`: one 16-byte `.nc` load when `VEC`,
/// else four scalar loads.
///
/// # Safety
/// The four elements are readable and nothing writes them during the kernel; with `VEC`,
/// `p` is 16-byte aligned.
#[inline(always)]
unsafe fn load_group<const VEC: bool>(p: *const u32, g: usize) -> [u32; 4] {
    // SAFETY: forwarded contract.
    unsafe {
        if VEC {
            load_f32x4_readonly(p.cast::<F32x4>().add(g))
                .0
                .map(f32::to_bits)
        } else {
            let q = p.add(4 * g);
            [*q, *q.add(1), *q.add(2), *q.add(3)]
        }
    }
}

/// This thread's fold of its share of the input (step 1 of the module docs).
///
/// # Safety
/// `x` (and `y` if `R::TWO_INPUTS`; else `y == x`) readable for `len` 32-bit elements,
/// 4-byte aligned, not written during the kernel. With `VEC`, `x` and `y` have the same
/// offset from a 16-byte boundary.
#[inline(always)]
unsafe fn thread_fold<R: ReduceOp, const VEC: bool>(
    op: R,
    x: *const u32,
    y: *const u32,
    len: usize,
) -> R::Acc {
    let head = if VEC {
        let h = ((16 - x as usize % 16) % 16) / 4;
        if h < len { h } else { len }
    } else {
        0
    };
    let groups = (len - head) / 4;
    let tail = (len - head) % 4;
    let gx = global_x();
    let step = grid_threads_x();
    let mut acc = [op.identity(); 4];
    if gx < head {
        // SAFETY: `gx < head <= len`.
        acc[0] = unsafe { op.step(acc[0], *x.add(gx), *y.add(gx)) };
    }
    // SAFETY: `head <= len`: in bounds or one past the end.
    let (xb, yb) = unsafe { (x.add(head), y.add(head)) };
    let mut g = gx;
    while g + 3 * step < groups {
        // SAFETY: groups `g, g + step, g + 2·step, g + 3·step` are all `< groups`; with
        // `VEC`, `xb`/`yb` are 16-byte aligned (head peeled, equal offsets).
        let (xs, ys) = unsafe {
            let xs = [
                load_group::<VEC>(xb, g),
                load_group::<VEC>(xb, g + step),
                load_group::<VEC>(xb, g + 2 * step),
                load_group::<VEC>(xb, g + 3 * step),
            ];
            let ys = if R::TWO_INPUTS {
                [
                    load_group::<VEC>(yb, g),
                    load_group::<VEC>(yb, g + step),
                    load_group::<VEC>(yb, g + 2 * step),
                    load_group::<VEC>(yb, g + 3 * step),
                ]
            } else {
                [[0; 4]; 4]
            };
            (xs, ys)
        };
        for u in 0..4 {
            for l in 0..4 {
                acc[l] = op.step(acc[l], xs[u][l], ys[u][l]);
            }
        }
        g += 4 * step;
    }
    while g < groups {
        // SAFETY: `g < groups`; alignment as above.
        let (xs, ys) = unsafe {
            let xs = load_group::<VEC>(xb, g);
            let ys = if R::TWO_INPUTS {
                load_group::<VEC>(yb, g)
            } else {
                [0; 4]
            };
            (xs, ys)
        };
        for l in 0..4 {
            acc[l] = op.step(acc[l], xs[l], ys[l]);
        }
        g += step;
    }
    if gx < tail {
        let i = head + 4 * groups + gx;
        // SAFETY: `i < head + 4 · groups + tail = len`.
        acc[3] = unsafe { op.step(acc[3], *x.add(i), *y.add(i)) };
    }
    op.combine(op.combine(acc[0], acc[1]), op.combine(acc[2], acc[3]))
}

/// The whole kernel: per-thread fold, block reduction, last-block combination.
///
/// # Safety
/// The entry points' `# Safety` contract; `y == x` unless `R::TWO_INPUTS`.
#[inline(always)]
unsafe fn reduce<R: ReduceOp>(
    op: R,
    x: *const u32,
    y: *const u32,
    len: usize,
    out: *mut R::Acc,
    scratch: *mut u64,
) {
    let same_offset = x as usize % 16 == y as usize % 16;
    // SAFETY: forwarded contract; `VEC` only with equal offsets (always for one input).
    let mine = unsafe {
        if same_offset {
            thread_fold::<R, true>(op, x, y, len)
        } else {
            thread_fold::<R, false>(op, x, y, len)
        }
    };
    // SAFETY: the whole block calls it; shared memory untouched so far.
    let block = unsafe { block_reduce(op, mine) };

    let tid = thread_x() as usize;
    let grid = grid_dim_x() as usize;
    let counter = scratch.cast::<u32>();
    // SAFETY: the scratch holds `1 + grid` words.
    let partials = unsafe { scratch.add(1) };
    // Shared word after the block-reduction slots: whether this block is the last.
    // SAFETY: `REDUCE_SHARED_BYTES = 8 · WARPS + 8` bytes are there.
    let is_last = unsafe { dynamic_shared::<u32>().add(2 * WARPS) };
    if tid == 0 {
        // SAFETY: `block_x() < grid`, so the partial's word is in the scratch; the counter
        // is reached only atomically (or by the last block's reset, after every add).
        unsafe {
            *partials.add(block_x() as usize) = block.to_word();
            fence_gpu(); // release: the partial before the ticket
            let ticket = add_u32(counter, 1) as usize;
            let last = ticket == grid - 1;
            if last {
                fence_gpu(); // acquire: every other block's partial after its ticket
                // Every block has taken its ticket: nothing touches the counter again in
                // this launch, and the next launch finds it at 0.
                store_relaxed_u32(counter, 0);
            }
            *is_last = last as u32;
        }
    }
    // SAFETY: every thread of the block reaches this barrier.
    unsafe { sync_threads() };
    // SAFETY: written by thread 0 before the barrier; nobody writes it after.
    if unsafe { *is_last } == 0 {
        return;
    }
    // The last block (uniform branch): fold the partials in index order.
    let mut acc = op.identity();
    let mut i = tid;
    while i < grid {
        // SAFETY: `i < grid`; every partial was written and fenced before its block's
        // ticket, which this block's acquire fence and barrier order before this load.
        let w = unsafe { load_relaxed_u64(partials.add(i)) };
        acc = op.combine(acc, R::Acc::from_word(w));
        i += REDUCE_BLOCK as usize;
    }
    // SAFETY: the whole block is in this branch; warp 0 finished reading the shared slots
    // of the first reduction before the barrier above.
    let total = unsafe { block_reduce(op, acc) };
    if tid == 0 {
        // SAFETY: the launcher checked `out`.
        unsafe { *out = op.finish(total, len) };
    }
}

/// Declares one reduction entry point over a single input.
macro_rules! reduce_entry {
    ($name:ident, $elem:ty, $acc:ty, $op:expr, $what:literal) => {
        #[doc = concat!("`out[0] = ", $what, "` over `x[..len]` (docs/kernels.md, Reductions).")]
        ///
        /// Parameters: `x` the input (`len` elements), `out` where the result goes (the
        /// host may offset it, e.g. one slot per chunk), `scratch` the cross-block scratch.
        ///
        /// Launch: `REDUCE_BLOCK` threads per block (exactly), `REDUCE_SHARED_BYTES` of
        /// dynamic shared memory, any grid of `1 ..= 2^31 - 1` blocks (`reduce_grid` gives
        /// the recommended one). The result is bit-reproducible for a given `len`, grid
        /// size and `x % 16` (see the module docs, also for the `f32` summation depth).
        ///
        /// Scratch: `reduce_scratch_words(grid)` `u64` words, 8-byte aligned. Word 0 is the
        /// block counter: it must be 0 before the first launch (zero the buffer once when
        /// allocating it); every launch leaves it at 0 again. The other words are
        /// overwritten by every launch. Launches that may run concurrently (different
        /// streams) need different scratch buffers.
        ///
        /// # Safety
        /// The host launcher must check: `x` is a device pointer readable for `len`
        /// elements, naturally aligned, not written during the kernel; `out` is a device
        /// pointer to one writable, naturally aligned result not overlapping `x` or the
        /// scratch; `scratch` is 8-byte aligned and holds `reduce_scratch_words(grid)`
        /// words with word 0 zero and no other kernel using it concurrently; the launch
        /// shape is as above.
        #[unsafe(no_mangle)]
        pub(crate) unsafe extern "ptx-kernel" fn $name(
            x: *const $elem,
            len: usize,
            out: *mut $acc,
            scratch: *mut u64,
        ) {
            crate::device::grid::wait_for_prior_grids();
            let x = x.cast::<u32>();
            // SAFETY: the launcher checked the contract above; `y == x` (one input).
            unsafe { reduce($op, x, x, len, out, scratch) };
        }
    };
}

reduce_entry!(riptide_sum_f32, f32, f32, SumF32, "Σ x[i]");
reduce_entry!(
    riptide_min_f32,
    f32,
    f32,
    ExtremumF32::<true>,
    "minNum x[i]"
);
reduce_entry!(
    riptide_max_f32,
    f32,
    f32,
    ExtremumF32::<false>,
    "maxNum x[i]"
);
reduce_entry!(riptide_sum_u32, u32, u64, SumU32, "Σ x[i] (exact, u64)");
reduce_entry!(riptide_sum_i32, i32, i64, SumI32, "Σ x[i] (exact, i64)");
reduce_entry!(riptide_min_u32, u32, u32, ExtremumU32::<true>, "min x[i]");
reduce_entry!(riptide_max_u32, u32, u32, ExtremumU32::<false>, "max x[i]");
reduce_entry!(riptide_min_i32, i32, i32, ExtremumI32::<true>, "min x[i]");
reduce_entry!(riptide_max_i32, i32, i32, ExtremumI32::<false>, "max x[i]");

/// `out[0] = Σ x[i]·y[i]` over `len` elements in `f32` (docs/kernels.md, Reductions), each
/// term fused into its accumulator with an FMA.
///
/// Parameters: `x`, `y` the inputs (`len` elements each), `out` where the result goes,
/// `scratch` the cross-block scratch.
///
/// Launch, scratch and reproducibility as for [`riptide_sum_f32`]. The body reads 16-byte
/// vectors when `x % 16 == y % 16`, else scalar loads (same order of operations, so the
/// same summation depth).
///
/// # Safety
/// As [`riptide_sum_f32`], and `y` is readable for `len` `f32`s and not written during the
/// kernel (it may equal or overlap `x`); `out` overlaps neither input.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "ptx-kernel" fn riptide_dot_f32(
    x: *const f32,
    y: *const f32,
    len: usize,
    out: *mut f32,
    scratch: *mut u64,
) {
    crate::device::grid::wait_for_prior_grids();
    // SAFETY: the launcher checked the contract above.
    unsafe { reduce(DotF32, x.cast(), y.cast(), len, out, scratch) };
}
