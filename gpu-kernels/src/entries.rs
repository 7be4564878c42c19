//! The name of every kernel entry point in the PTX, defined once.
//!
//! The build script checks the emitted PTX against [`ALL`] in both directions (every name
//! here is an `.entry`, every `.entry` is named here; the PTX is read by `riptide-build`), and the host's launchers refer to
//! kernels only through these constants, so a kernel name is never spelled twice.

/// `y[i] = a * x[i] + b * y[i]` over `f32`.
pub const AXPBY_F32: &str = "riptide_axpby_f32";

/// Histogram of `u32` values, counts added to the output (docs/kernels.md, Histogram).
pub const HISTOGRAM_U32: &str = "riptide_histogram_u32";

/// Histogram of `f32` values, counts added to the output (docs/kernels.md, Histogram).
pub const HISTOGRAM_F32: &str = "riptide_histogram_f32";

/// One Jacobi sweep of the five-point stencil over `f32` (docs/kernels.md, Stencil).
pub const JACOBI5_F32: &str = "riptide_jacobi5_f32";

/// Transpose of a matrix of 32-bit elements (docs/kernels.md, Transpose).
pub const TRANSPOSE_B32: &str = "riptide_transpose_b32";

/// `C = alpha·A·B + beta·C` in `f32` (docs/kernels.md, Matrix multiply).
pub const SGEMM_F32: &str = "riptide_sgemm_f32";

/// `y[i] = e^clamp(fma(x[i], scale, offset), lo, hi)` over `f32` (docs/kernels.md, Elementwise).
pub const MAP_CHAIN_F32: &str = "riptide_map_chain_f32";

/// `y[i] = x[i]` after `k` times `v = fma(v, a, b)`, over `f32` (docs/kernels.md, Elementwise).
pub const COMPUTE_F32: &str = "riptide_compute_f32";

/// `Σ x[i]` over `f32` in one launch (docs/kernels.md, Reductions).
pub const SUM_F32: &str = "riptide_sum_f32";

/// IEEE minNum over `f32` (docs/kernels.md, Reductions).
pub const MIN_F32: &str = "riptide_min_f32";

/// IEEE maxNum over `f32` (docs/kernels.md, Reductions).
pub const MAX_F32: &str = "riptide_max_f32";

/// `Σ x[i]·y[i]` over `f32` (docs/kernels.md, Reductions).
pub const DOT_F32: &str = "riptide_dot_f32";

/// Exact `Σ x[i]` of `u32` in `u64` (docs/kernels.md, Reductions).
pub const SUM_U32: &str = "riptide_sum_u32";

/// Exact `Σ x[i]` of `i32` in `i64` (docs/kernels.md, Reductions).
pub const SUM_I32: &str = "riptide_sum_i32";

/// Minimum of `u32` (docs/kernels.md, Reductions).
pub const MIN_U32: &str = "riptide_min_u32";

/// Maximum of `u32` (docs/kernels.md, Reductions).
pub const MAX_U32: &str = "riptide_max_u32";

/// Minimum of `i32` (docs/kernels.md, Reductions).
pub const MIN_I32: &str = "riptide_min_i32";

/// Maximum of `i32` (docs/kernels.md, Reductions).
pub const MAX_I32: &str = "riptide_max_i32";

/// Inclusive prefix sum of `f32` with carry in and total out (docs/kernels.md, Scan).
pub const SCAN_INCLUSIVE_F32: &str = "riptide_scan_inclusive_f32";

/// Exclusive prefix sum of `f32` with carry in and total out (docs/kernels.md, Scan).
pub const SCAN_EXCLUSIVE_F32: &str = "riptide_scan_exclusive_f32";

/// Inclusive prefix sum of `u32` modulo 2^32 (docs/kernels.md, Scan).
pub const SCAN_INCLUSIVE_U32: &str = "riptide_scan_inclusive_u32";

/// Exclusive prefix sum of `u32` modulo 2^32 (docs/kernels.md, Scan).
pub const SCAN_EXCLUSIVE_U32: &str = "riptide_scan_exclusive_u32";

/// Inclusive prefix sum of `i32` modulo 2^32 (docs/kernels.md, Scan).
pub const SCAN_INCLUSIVE_I32: &str = "riptide_scan_inclusive_i32";

/// Exclusive prefix sum of `i32` modulo 2^32 (docs/kernels.md, Scan).
pub const SCAN_EXCLUSIVE_I32: &str = "riptide_scan_exclusive_i32";

/// Executes `trap` when its argument is non-zero: a deliberate sticky fault for testing
/// recovery (README, Reliability).
pub const DEBUG_TRAP: &str = "riptide_debug_trap";

/// Every kernel entry point the PTX must contain, and nothing else.
pub const ALL: &[&str] = &[
    AXPBY_F32,
    HISTOGRAM_U32,
    HISTOGRAM_F32,
    JACOBI5_F32,
    TRANSPOSE_B32,
    SGEMM_F32,
    MAP_CHAIN_F32,
    COMPUTE_F32,
    SUM_F32,
    MIN_F32,
    MAX_F32,
    DOT_F32,
    SUM_U32,
    SUM_I32,
    MIN_U32,
    MAX_U32,
    MIN_I32,
    MAX_I32,
    SCAN_INCLUSIVE_F32,
    SCAN_EXCLUSIVE_F32,
    SCAN_INCLUSIVE_U32,
    SCAN_EXCLUSIVE_U32,
    SCAN_INCLUSIVE_I32,
    SCAN_EXCLUSIVE_I32,
    DEBUG_TRAP,
];
