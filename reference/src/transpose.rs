//! Transpose of a row-major matrix of any plain element type (`transpose_b32` moves 32-bit
//! values as bits, so one generic function serves f32, u32 and i32). Exact.

use rayon::prelude::*;

use crate::error::{ReferenceError, same_len, shape_len};

/// `out[c·rows + r] = input[r·cols + c]` for a `rows × cols` input; output rows are filled
/// in parallel.
///
/// Errors if `input` is not `rows × cols` or `out` differs from it in length.
pub fn transpose<T: Copy + Send + Sync>(
    input: &[T],
    rows: usize,
    cols: usize,
    out: &mut [T],
) -> Result<(), ReferenceError> {
    shape_len("input", input.len(), "rows × cols", rows, cols)?;
    same_len("out", out.len(), "input", input.len())?;
    // An empty matrix covers `rows == 0`, where `par_chunks_mut(0)` would panic.
    if out.is_empty() {
        return Ok(());
    }
    out.par_chunks_mut(rows)
        .enumerate()
        .with_min_len((crate::MIN_TASK_LEN / rows).max(1))
        .for_each(|(c, out_row)| {
            for (r, o) in out_row.iter_mut().enumerate() {
                *o = input[r * cols + c];
            }
        });
    Ok(())
}
