//! The five-point Jacobi stencil `jacobi5_f32` on a block of rows of a larger grid.
//!
//! Bit-exact: every interior cell is `0.25 * ((up + down) + (left + right))` in exactly that
//! order; boundary cells copy the input. Output rows are computed in parallel.

use rayon::prelude::*;

use crate::error::{ReferenceError, shape_len};

/// Where a block lies in the grid and which of its rows are computed.
///
/// The block holds `rows × cols` cells (row-major) starting at global row `row_offset` of a
/// grid of `global_rows` rows; output rows are the block rows `row_begin..row_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Jacobi5Block {
    /// Rows in the block, halo rows included.
    pub rows: usize,
    /// Columns in the block and the grid.
    pub cols: usize,
    /// Global row of the block's row 0.
    pub row_offset: usize,
    /// Rows in the whole grid.
    pub global_rows: usize,
    /// First block row to compute.
    pub row_begin: usize,
    /// One past the last block row to compute.
    pub row_end: usize,
}

impl Jacobi5Block {
    /// A whole `rows × cols` grid as one block, every row computed.
    pub fn whole(rows: usize, cols: usize) -> Jacobi5Block {
        Jacobi5Block {
            rows,
            cols,
            row_offset: 0,
            global_rows: rows,
            row_begin: 0,
            row_end: rows,
        }
    }

    /// Checks the block against the spec's preconditions and the slice lengths.
    pub(crate) fn validate(&self, input: usize, out: usize) -> Result<(), ReferenceError> {
        shape_len("input", input, "rows × cols", self.rows, self.cols)?;
        if self.row_begin > self.row_end || self.row_end > self.rows {
            return Err(ReferenceError::RowRange {
                row_begin: self.row_begin,
                row_end: self.row_end,
                rows: self.rows,
            });
        }
        let outside = self
            .row_offset
            .checked_add(self.rows)
            .is_none_or(|end| end > self.global_rows);
        if outside {
            return Err(ReferenceError::BlockOutsideGrid {
                row_offset: self.row_offset,
                rows: self.rows,
                global_rows: self.global_rows,
            });
        }
        shape_len(
            "out",
            out,
            "(row_end − row_begin) × cols",
            self.row_end - self.row_begin,
            self.cols,
        )?;
        // With fewer than 3 columns every cell is a boundary cell and needs no neighbours.
        if self.cols >= 3 {
            for r in self.row_begin..self.row_end {
                if !self.is_boundary_row(r) && (r == 0 || r + 1 >= self.rows) {
                    return Err(ReferenceError::MissingHalo {
                        row: r,
                        rows: self.rows,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether block row `r` is the grid's first or last row.
    pub(crate) fn is_boundary_row(&self, r: usize) -> bool {
        let g = self.row_offset + r;
        g == 0 || g + 1 == self.global_rows
    }
}

/// Computes block rows `row_begin..row_end` of the Jacobi step into
/// `out[(r − row_begin)·cols + c]`: boundary cells (global row `0` or `global_rows − 1`,
/// column `0` or `cols − 1`) copy the input; every other cell is
/// `0.25 * ((up + down) + (left + right))`.
///
/// Errors if `input` is not `rows × cols`, `out` is not `(row_end − row_begin) × cols`,
/// the output rows are not within the block, the block is not within the grid, or an
/// interior output row lacks its row above or below in the block.
pub fn jacobi5(block: &Jacobi5Block, input: &[f32], out: &mut [f32]) -> Result<(), ReferenceError> {
    block.validate(input.len(), out.len())?;
    let cols = block.cols;
    // An empty output covers `cols == 0`, where `par_chunks_mut(0)` would panic.
    if out.is_empty() {
        return Ok(());
    }
    out.par_chunks_mut(cols)
        .enumerate()
        .for_each(|(i, out_row)| {
            let r = block.row_begin + i;
            let row = &input[r * cols..(r + 1) * cols];
            if block.is_boundary_row(r) || cols < 3 {
                out_row.copy_from_slice(row);
                return;
            }
            let up = &input[(r - 1) * cols..r * cols];
            let down = &input[(r + 1) * cols..(r + 2) * cols];
            out_row[0] = row[0];
            out_row[cols - 1] = row[cols - 1];
            for c in 1..cols - 1 {
                out_row[c] = 0.25 * ((up[c] + down[c]) + (row[c - 1] + row[c + 1]));
            }
        });
    Ok(())
}

/// `sweeps` Jacobi steps of a whole grid (`cols` columns, row-major), each step reading the
/// previous one's output: what a grid swept repeatedly on devices must equal bit for bit.
///
/// Errors if `grid` is not a whole number of rows of `cols` cells.
pub fn jacobi5_sweeps(
    grid: &[f32],
    cols: usize,
    sweeps: usize,
) -> Result<Vec<f32>, ReferenceError> {
    let rows = grid.len().checked_div(cols).unwrap_or(0);
    let block = Jacobi5Block::whole(rows, cols);
    // Checked before the loop too, so that zero sweeps refuse a ragged grid as well.
    block.validate(grid.len(), grid.len())?;
    let mut cur = grid.to_vec();
    let mut next = vec![0.0f32; grid.len()];
    for _ in 0..sweeps {
        jacobi5(&block, &cur, &mut next)?;
        std::mem::swap(&mut cur, &mut next);
    }
    Ok(cur)
}
