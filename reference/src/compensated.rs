//! Compensated (TwoSum) f64 accumulation, shared by every reference that sums f32 data.
//!
//! f32 values and products of two f32 values are exact in f64, so the only rounding left
//! in a reference sum is the f64 additions. Each addition's rounding error is captured
//! exactly by Knuth's TwoSum and accumulated separately; two partial accumulators merge
//! the same way, so rayon can combine them in any tree.
//!
//! Error of the final value (`ε = 2^-53`, `n` terms, `A = Σ|terms|`): every captured error
//! `e_k` is exact and bounded by `ε` times a partial sum, so `|e_k| ≤ ε·A(1 + nε)`; there
//! are at most `2n` of them (one per addition, one per merge), summed plainly along paths
//! of at most `2n` additions, so `lo` is off by at most `2nε · 2nε·A(1 + 2nε)`; the final
//! `hi + lo` rounds once. Hence `|value − exact| ≤ ε·|exact| + 4.01·n²·ε²·A`, which is
//! `≤ 2^-49·A` for `n ≤ 2^27` terms (see `bounds::REFERENCE_SLACK`).

/// `a + b` rounded, and its exact rounding error (Knuth's TwoSum; any order of `a`, `b`).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// A compensated f64 sum: `hi` is the plainly rounded sum, `lo` the accumulated errors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Compensated {
    hi: f64,
    lo: f64,
}

impl Compensated {
    /// Adds one term.
    pub(crate) fn add(&mut self, x: f64) {
        let (s, e) = two_sum(self.hi, x);
        self.hi = s;
        self.lo += e;
    }

    /// The sum of both accumulators' terms.
    pub(crate) fn merge(self, other: Self) -> Self {
        let (s, e) = two_sum(self.hi, other.hi);
        Self {
            hi: s,
            lo: self.lo + other.lo + e,
        }
    }

    /// The sum, rounded once. Once the plain sum is infinite or NaN (an infinite or NaN
    /// term), the error terms are meaningless and the plain IEEE result is returned.
    pub(crate) fn value(self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

/// A compensated sum of terms together with the compensated sum of their magnitudes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SumAcc {
    sum: Compensated,
    abs: Compensated,
}

impl SumAcc {
    /// Adds one term to the sum and its magnitude to the magnitude sum.
    pub(crate) fn add(&mut self, x: f64) {
        self.sum.add(x);
        self.abs.add(x.abs());
    }

    /// The accumulator of both accumulators' terms.
    pub(crate) fn merge(self, other: Self) -> Self {
        Self {
            sum: self.sum.merge(other.sum),
            abs: self.abs.merge(other.abs),
        }
    }

    /// The sum of the terms so far.
    pub(crate) fn value(&self) -> f64 {
        self.sum.value()
    }

    /// The sum of the terms' magnitudes so far.
    pub(crate) fn abs_sum(&self) -> f64 {
        self.abs.value()
    }

    /// The sum and magnitude sum as a [`crate::RefSum`].
    pub(crate) fn finish(&self) -> crate::RefSum {
        crate::RefSum {
            value: self.value(),
            abs_sum: self.abs_sum(),
        }
    }
}
