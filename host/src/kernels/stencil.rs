//! Launcher for one Jacobi sweep of the five-point stencil over a block of rows, possibly
//! carrying halo rows (docs/kernels.md, Stencil).

use std::sync::Arc;

use gpu_kernels::config::{STENCIL_BLOCK, stencil_grid};
use gpu_kernels::entries;
use riptide_reference::stencil::{Jacobi5Block, jacobi5 as reference_jacobi5};

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Where a block of rows sits in the grid and which of its rows to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StencilBlock {
    /// Rows in the block, halo rows included.
    pub rows: usize,
    /// Columns of the grid.
    pub cols: usize,
    /// Global index of the block's row 0.
    pub row_offset: usize,
    /// Rows in the whole grid.
    pub global_rows: usize,
    /// First block row to compute.
    pub row_begin: usize,
    /// One past the last block row to compute.
    pub row_end: usize,
}

impl StencilBlock {
    /// The whole `rows × cols` grid as one block.
    pub fn whole(rows: usize, cols: usize) -> StencilBlock {
        StencilBlock {
            rows,
            cols,
            row_offset: 0,
            global_rows: rows,
            row_begin: 0,
            row_end: rows,
        }
    }

    /// Output rows.
    pub fn out_rows(&self) -> usize {
        self.row_end - self.row_begin
    }

    /// Checks the geometry; every interior output row must have its neighbours in the block.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("stencil: {m} ({self:?})")));
        if self.row_begin > self.row_end || self.row_end > self.rows {
            return bad("output rows must satisfy row_begin <= row_end <= rows".into());
        }
        if self
            .row_offset
            .checked_add(self.rows)
            .is_none_or(|end| end > self.global_rows)
        {
            return bad("the block extends past the grid".into());
        }
        if self.rows.checked_mul(self.cols).is_none() {
            return bad("rows × cols overflows".into());
        }
        let ends = if self.row_begin < self.row_end {
            vec![self.row_begin, self.row_end - 1]
        } else {
            Vec::new()
        };
        for r in ends {
            let g = self.row_offset + r;
            let boundary = g == 0 || g + 1 == self.global_rows;
            if !boundary && (r == 0 || r + 1 >= self.rows) {
                return bad(format!(
                    "interior output row {r} lacks a halo row in the block"
                ));
            }
        }
        Ok(())
    }

    fn reference(&self) -> Jacobi5Block {
        Jacobi5Block {
            rows: self.rows,
            cols: self.cols,
            row_offset: self.row_offset,
            global_rows: self.global_rows,
            row_begin: self.row_begin,
            row_end: self.row_end,
        }
    }
}

/// Queues one Jacobi sweep: output row `r − row_begin` for block rows `r` in
/// `[row_begin, row_end)`. Boundary cells copy the input; interior cells are
/// `0.25·((up + down) + (left + right))`.
pub fn jacobi5(
    stream: &Stream,
    block: StencilBlock,
    input: impl DeviceRead<f32>,
    output: impl DeviceWrite<f32>,
) -> Result<()> {
    block.check()?;
    if input.elements() != block.rows * block.cols {
        return Err(Error::length(
            "stencil: input (rows × cols)",
            block.rows * block.cols,
            input.elements(),
        ));
    }
    let out_len = block.out_rows() * block.cols;
    if output.elements() != out_len {
        return Err(Error::length(
            "stencil: output (output rows × cols)",
            out_len,
            output.elements(),
        ));
    }
    if out_len == 0 {
        return Ok(());
    }
    let (gx, gy) = stencil_grid(block.cols, block.out_rows());
    let reference = block.reference();
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::JACOBI5_F32),
        LaunchConfig {
            grid: Dim3::xy(gx, gy),
            block: Dim3::x(STENCIL_BLOCK),
            shared_bytes: 0,
        },
        Arc::new(move |args| {
            let x = args.read::<f32>(0)?;
            reference_jacobi5(&reference, x, args.write::<f32>(1)?).map_err(backend_error)
        }),
    )
    .read(&input)
    .write(&output)
    .scalar(block.rows)
    .scalar(block.cols)
    .scalar(block.row_offset)
    .scalar(block.global_rows)
    .scalar(block.row_begin)
    .scalar(block.row_end);
    stream.launch(&launch)
}
