//! Sequential transpose: a loop over input cells.

use crate::error::{ReferenceError, same_len, shape_len};

/// Sequential [`crate::transpose::transpose`].
pub fn transpose<T: Copy + Send + Sync>(
    input: &[T],
    rows: usize,
    cols: usize,
    out: &mut [T],
) -> Result<(), ReferenceError> {
    shape_len("input", input.len(), "rows × cols", rows, cols)?;
    same_len("out", out.len(), "input", input.len())?;
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = input[r * cols + c];
        }
    }
    Ok(())
}
