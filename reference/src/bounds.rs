//! Error bounds for the kernels whose GPU result is not bit-reproducible (f32 sum, dot and
//! scan, `sgemm`, `map_chain`'s `exp`), and [`RefSum`], the reference value a bound is
//! evaluated against.
//!
//! # Derivation (first-order rounding-error analysis)
//! With round-to-nearest f32 arithmetic, `fl(a ∘ b) = (a ∘ b)(1 + δ)`, `|δ| ≤ u = 2^-24`,
//! except that a *product* landing in the subnormal range is off by an absolute
//! `|η| ≤ 2^-150` instead (additions are exact there). In a summation tree, a term that
//! goes through `h` rounded additions on its way to the root is multiplied by
//! `∏(1 + δ) = 1 + θ_h` with `|θ_h| ≤ γ_h = h·u / (1 − h·u)` (Higham, *Accuracy and
//! Stability of Numerical Algorithms*, Lemma 3.1), so a tree of depth `d` is off by at most
//! `γ_d·Σ|x|`. To first order that is the specification's `d·u·Σ|x|`; the helpers use
//! `γ_d`, which differs by `O(d²u²)` and is rigorous.
//!
//! Each helper also adds [`REFERENCE_SLACK`]`·abs_sum`, the reference's own f64 error (see
//! the constant). The bounds assume no f32 overflow on the GPU: intermediate results
//! beyond `f32::MAX` are outside the specification.

/// The f32 unit roundoff `u = 2^-24`.
pub const U: f64 = 1.0 / (1u64 << 24) as f64;

/// Relative slack for the reference's own error, `2^-48`: a reference sum of `n ≤ 2^27`
/// f32 values or products, accumulated with compensated f64 summation, is within
/// `2^-49·abs_sum` of the exact sum, and its `abs_sum` is just as accurate; `2^-48` covers
/// both, and is `2^-24` times smaller than any f32 bound, so it costs a test no power.
pub const REFERENCE_SLACK: f64 = 1.0 / (1u64 << 48) as f64;

/// The smallest positive f32 (subnormal), `2^-149`: twice the largest absolute rounding
/// error of a result in the subnormal range.
pub const F32_MIN_SUBNORMAL: f64 = f32::from_bits(1) as f64;

/// Relative slack in [`exp_rel_bound`] for the second-order terms the specification's
/// first-order expression leaves out (`< 2^-34` for every `v` whose `e^v` is a nonzero
/// finite f32) and the error of the reference's f64 `exp` (`≈ 2^-52`): `2^-32`.
pub const EXP_SLACK: f64 = 1.0 / (1u64 << 32) as f64;

/// `γ_d = d·u / (1 − d·u)`: the largest relative error of a product of `d` factors
/// `(1 + δ)`, `|δ| ≤ u`; `+∞` once `d·u ≥ 1`.
pub fn gamma(d: u64) -> f64 {
    let du = d as f64 * U;
    if du >= 1.0 {
        f64::INFINITY
    } else {
        du / (1.0 - du)
    }
}

/// Bound on `|gpu − exact|` for `sum_f32` whose summation tree has depth `depth`:
/// `γ_depth·abs_sum`, the spec's `d·u·Σ|x|` made rigorous, plus the reference's slack.
/// `abs_sum` is [`RefSum::abs_sum`] from [`crate::reduce::sum_f32`].
pub fn sum_bound(abs_sum: f64, depth: u32) -> f64 {
    (gamma(u64::from(depth)) + REFERENCE_SLACK) * abs_sum
}

/// Bound on `|gpu − exact|` for `dot_f32` over `len` pairs with a summation tree of depth
/// `depth`.
///
/// Each product adds one rounding to its path (the spec's "one more `u`"), giving
/// `γ_{depth+1}·Σ|x·y|`. A product (or fused multiply-add) that lands in the subnormal
/// range is instead off by an absolute `≤ 2^-150`, then carried through at most `depth`
/// additions, which at most double it: `len·2^-149` covers all of them. Without that term
/// products that underflow to zero would fail an otherwise correct kernel.
pub fn dot_bound(abs_sum: f64, depth: u32, len: usize) -> f64 {
    (gamma(u64::from(depth) + 1) + REFERENCE_SLACK) * abs_sum + len as f64 * F32_MIN_SUBNORMAL
}

/// Bound on `|gpu − exact|` for one output of `scan_f32` whose summation tree has depth
/// `depth`: the spec's `(d + 1)·u·(|carry| + Σ_{j≤i}|x[j]|)` as `γ_{depth+1}·abs_sum` (the
/// extra rounding adds the carry), plus the reference's slack. `abs_sum` is the output's
/// [`RefSum::abs_sum`], which already includes `|carry|`.
pub fn scan_bound(abs_sum: f64, depth: u32) -> f64 {
    (gamma(u64::from(depth) + 1) + REFERENCE_SLACK) * abs_sum
}

/// Bound on `|gpu − exact|` for one element of `sgemm` with inner dimension `k`.
///
/// `abs_sum` is the element's [`RefSum::abs_sum`] from [`crate::gemm::sgemm`], i.e.
/// `|alpha|·Σ_l|a_il·b_lj| + |beta·c_ij|`. The dot product of length `k` rounds each
/// term at most `k` times (`k − 1` additions and the product, or `k` fused multiply-adds);
/// scaling by `alpha` and adding `beta·c` round twice more, and `beta·c` itself once, so
/// every term sees at most `k + 2` roundings: `γ_{k+2}·abs_sum`, the spec's
/// `(k + 2)·u·(…)`. Underflow: the `k` products are off by `≤ 2^-150` each before scaling
/// by `alpha`, and `alpha·acc`, `beta·c` by `≤ 2^-150` each, so `(k·|alpha| + 2)·2^-149`
/// covers them with the growth through later roundings.
pub fn sgemm_bound(abs_sum: f64, k: usize, alpha: f32) -> f64 {
    let k_f = k as f64;
    (gamma(k as u64 + 2) + REFERENCE_SLACK) * abs_sum
        + (k_f * f64::from(alpha).abs() + 2.0) * F32_MIN_SUBNORMAL
}

/// Relative bound on `|gpu − e^v| / e^v` for `map_chain`: the spec's
/// `2^-22 + |v·log2 e|·2u·ln 2 + u`, plus [`EXP_SLACK`].
///
/// The GPU computes `t = fl(v·L)` with `L` the f32 constant `LOG2_E`, itself `log2 e·(1+ε)`
/// with `|ε| ≤ 0.23u`, so `t = v·log2 e·(1 + δ)` with `|δ| ≤ u + 0.23u < 2u`; then `2^t`
/// through `ex2.approx.f32` (relative error `≤ 2^-22`), then a rounding to f32 (`≤ u`).
/// `2^t` differs from `e^v` by the factor `2^(v·log2 e·δ)`, a relative error of about
/// `|v·log2 e|·2u·ln 2`; the three factors multiply, and to first order their errors add.
/// Only meaningful for finite `v`.
pub fn exp_rel_bound(v: f32) -> f64 {
    let t = f64::from(v) * std::f64::consts::LOG2_E;
    2f64.powi(-22) + t.abs() * 2.0 * U * std::f64::consts::LN_2 + U + EXP_SLACK
}

/// An accurate reference for a value the GPU computes as an f32 sum: the sum itself and
/// the magnitude the specification's error bound scales with.
///
/// Returned by [`crate::reduce::sum_f32`] and [`crate::reduce::dot_f32`], written per
/// output by [`crate::scan::scan_f32`] and per element by [`crate::gemm::sgemm`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RefSum {
    /// The exact result rounded to f64 (within `REFERENCE_SLACK / 2 · abs_sum`).
    pub value: f64,
    /// What the bound scales with: `Σ|x|` for a sum, `Σ|x·y|` for a dot product,
    /// `|carry| + Σ_{j≤i}|x[j]|` for a scan output (also for exclusive scans, as the spec
    /// states), `|alpha|·Σ|a·b| + |beta·c|` for an sgemm element.
    pub abs_sum: f64,
}

impl RefSum {
    /// Whether the GPU's result `gpu` is within `bound` of [`value`](Self::value) (from
    /// [`sum_bound`], [`dot_bound`], [`scan_bound`] or [`sgemm_bound`]). An infinite
    /// reference admits only the same infinity, a NaN reference only NaN.
    pub fn admits(&self, gpu: f32, bound: f64) -> bool {
        let g = f64::from(gpu);
        if self.value.is_nan() {
            g.is_nan()
        } else if self.value.is_infinite() {
            g == self.value
        } else {
            (g - self.value).abs() <= bound
        }
    }
}
