//! riptide's CPU oracle: the semantics of every kernel in `docs/kernels.md`, computed on
//! the host with rayon.
//!
//! This crate is written from the specification alone and shares no code with the device
//! kernels; the property tests compare GPU output against it, and the host's emulated CPU
//! backend runs "kernels" by calling these functions on slices.
//!
//! Two kinds of result:
//! - **Bit-exact kernels** (`axpby`, `compute`, the stencil, transpose, histogram counts,
//!   integer reductions and scans, f32 min/max) perform the specified operations in the
//!   specified order, so the GPU must match them bit for bit.
//! - **Kernels whose result depends on the summation order** (f32 sum, dot and scan,
//!   `sgemm`) and `map_chain` (approximate `exp`) are computed in f64 as accurately as
//!   practical (exact products, compensated summation), together with the magnitude the
//!   specification's error bound scales with ([`RefSum`]); [`bounds`] evaluates those
//!   bounds.
//!
//! Every function writes into caller-provided output slices and returns a
//! [`ReferenceError`] instead of panicking when lengths or parameters do not fit.
//! [`sequential`] holds plain-loop versions of every function, used to cross-check the
//! parallel decomposition.
//!
//! ```
//! use riptide_reference::{bounds, reduce};
//!
//! let x = [1.0e8_f32, 1.0, -1.0e8];
//! let r = reduce::sum_f32(&x);
//! assert_eq!(r.value, 1.0); // exact, unlike an f32 left-to-right sum (0)
//! // A GPU sum with a summation tree of depth 2 must lie within the spec's bound:
//! let bound = bounds::sum_bound(r.abs_sum, 2);
//! assert!(r.admits(1.0, bound));
//! assert!(r.admits(0.0, bound)); // 2·u·(2e8 + 1) ≈ 24 admits the rounded f32 sum
//! assert!(!r.admits(100.0, bound));
//! ```

pub mod bounds;
mod compensated;
pub mod elementwise;
mod error;
pub mod gemm;
pub mod histogram;
pub mod reduce;
pub mod scan;
pub mod sequential;
pub mod stencil;
pub mod transpose;

pub use bounds::RefSum;
pub use error::ReferenceError;

/// Minimum number of elements a rayon task handles, so small inputs are not split into
/// tasks that cost more than the work.
const MIN_TASK_LEN: usize = 4096;
