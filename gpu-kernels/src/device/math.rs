//! Fused multiply-add and PTX's approximate (fast-math) instructions.
//!
//! rustc never contracts `a * b + c` into an FMA, so kernels call [`fma`] where one is
//! meant. The `*_approx` functions are single PTX instructions with the accuracy the PTX ISA
//! documents (quoted beside each); host-side tests derive their tolerances from those
//! figures. None of them flushes subnormals (no `.ftz`), so subnormal inputs behave as the
//! ISA describes for the non-`ftz` forms.

use core::arch::asm;

macro_rules! unary_f32 {
    ($(#[$doc:meta])* $name:ident, $insn:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(x: f32) -> f32 {
            let y: f32;
            // SAFETY: an arithmetic instruction on registers; no memory is touched.
            unsafe {
                asm!(concat!($insn, " {y}, {x};"), y = out(reg32) y, x = in(reg32) x,
                     options(pure, nomem, nostack, preserves_flags));
            }
            y
        }
    };
}

/// `a * b + c` with one rounding (`fma.rn.f32`).
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    let y: f32;
    // SAFETY: an arithmetic instruction on registers; no memory is touched.
    unsafe {
        asm!("fma.rn.f32 {y}, {a}, {b}, {c};", y = out(reg32) y, a = in(reg32) a,
             b = in(reg32) b, c = in(reg32) c, options(pure, nomem, nostack, preserves_flags));
    }
    y
}

unary_f32!(
    /// `2^x` (`ex2.approx.f32`): maximum relative error 2^-22 over the full range.
    exp2_approx, "ex2.approx.f32"
);
unary_f32!(
    /// `log2(x)` (`lg2.approx.f32`): maximum absolute error 2^-22 for x in (0.5, 2),
    /// relative 2^-22 elsewhere.
    log2_approx, "lg2.approx.f32"
);
unary_f32!(
    /// `sin(x)` (`sin.approx.f32`): maximum absolute error 2^-20.5 for |x| ≤ 100π.
    sin_approx, "sin.approx.f32"
);
unary_f32!(
    /// `cos(x)` (`cos.approx.f32`): maximum absolute error 2^-20.5 for |x| ≤ 100π.
    cos_approx, "cos.approx.f32"
);
unary_f32!(
    /// `tanh(x)` (`tanh.approx.f32`, sm_75 and later): maximum relative error 2^-11.
    tanh_approx, "tanh.approx.f32"
);
unary_f32!(
    /// `1 / x` (`rcp.approx.f32`): maximum relative error 2^-23 (about 1 ulp).
    recip_approx, "rcp.approx.f32"
);
unary_f32!(
    /// `sqrt(x)` (`sqrt.approx.f32`): maximum relative error 2^-23.
    sqrt_approx, "sqrt.approx.f32"
);
unary_f32!(
    /// `1 / sqrt(x)` (`rsqrt.approx.f32`): maximum relative error 2^-22.9.
    rsqrt_approx, "rsqrt.approx.f32"
);

/// `e^x` through [`exp2_approx`]: `2^(x · log2 e)`. The multiplication adds up to half an
/// ulp of `x · log2 e`, which `2^y` turns into a relative error of about `|y| · 2^-24 · ln 2`.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    exp2_approx(x * core::f32::consts::LOG2_E)
}

/// IEEE minimum with NaN handling as PTX's `min.f32`: if exactly one input is NaN, the
/// other is returned.
#[inline(always)]
pub fn min(a: f32, b: f32) -> f32 {
    let y: f32;
    // SAFETY: an arithmetic instruction on registers; no memory is touched.
    unsafe {
        asm!("min.f32 {y}, {a}, {b};", y = out(reg32) y, a = in(reg32) a, b = in(reg32) b,
             options(pure, nomem, nostack, preserves_flags));
    }
    y
}

/// IEEE maximum with NaN handling as PTX's `max.f32`: if exactly one input is NaN, the
/// other is returned.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    let y: f32;
    // SAFETY: an arithmetic instruction on registers; no memory is touched.
    unsafe {
        asm!("max.f32 {y}, {a}, {b};", y = out(reg32) y, a = in(reg32) a, b = in(reg32) b,
             options(pure, nomem, nostack, preserves_flags));
    }
    y
}
