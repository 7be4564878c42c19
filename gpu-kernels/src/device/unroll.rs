//! Compile-time unrolling for loops over register arrays.

/// Calls `f(0), f(1), …, f(N − 1)` as straight-line code (`N ≤ 8`): unlike a `for` loop,
/// which the optimizer may keep rolled, every index is a constant after inlining, so the
/// register arrays it indexes never move to local memory.
#[inline(always)]
pub fn unroll<const N: usize>(mut f: impl FnMut(usize)) {
    const { assert!(N <= 8) };
    if N > 0 {
        f(0);
    }
    if N > 1 {
        f(1);
    }
    if N > 2 {
        f(2);
    }
    if N > 3 {
        f(3);
    }
    if N > 4 {
        f(4);
    }
    if N > 5 {
        f(5);
    }
    if N > 6 {
        f(6);
    }
    if N > 7 {
        f(7);
    }
}
