//! Sequential Jacobi stencil: a loop over output cells.

use crate::error::ReferenceError;
use crate::stencil::Jacobi5Block;

/// Sequential [`crate::stencil::jacobi5`].
pub fn jacobi5(block: &Jacobi5Block, input: &[f32], out: &mut [f32]) -> Result<(), ReferenceError> {
    block.validate(input.len(), out.len())?;
    let cols = block.cols;
    for r in block.row_begin..block.row_end {
        let g = block.row_offset + r;
        for c in 0..cols {
            let at = |rr: usize, cc: usize| input[rr * cols + cc];
            let boundary = g == 0 || g == block.global_rows - 1 || c == 0 || c == cols - 1;
            out[(r - block.row_begin) * cols + c] = if boundary {
                at(r, c)
            } else {
                let up = at(r - 1, c);
                let down = at(r + 1, c);
                let left = at(r, c - 1);
                let right = at(r, c + 1);
                0.25 * ((up + down) + (left + right))
            };
        }
    }
    Ok(())
}
