//! Launcher for the shared-memory tiled transpose of 32-bit elements (docs/kernels.md,
//! Transpose).

use std::sync::Arc;

use gpu_kernels::config::{
    TRANSPOSE_BLOCK_Y, TRANSPOSE_SHARED_BYTES, TRANSPOSE_TILE, transpose_grid,
};
use gpu_kernels::entries;
use riptide_reference::transpose::transpose as reference_transpose;

use crate::backend::{DeviceRead, DeviceWrite, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Element types the transpose moves as 32-bit words.
pub trait Word32: Element {}
impl Word32 for f32 {}
impl Word32 for u32 {}
impl Word32 for i32 {}

/// Queues `output[c·rows + r] = input[r·cols + c]` for a `rows × cols` row-major input.
pub fn transpose<T: Word32>(
    stream: &Stream,
    input: impl DeviceRead<T>,
    rows: usize,
    cols: usize,
    output: impl DeviceWrite<T>,
) -> Result<()> {
    let len = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::InvalidArgument(format!("transpose: {rows} × {cols} overflows")))?;
    if input.elements() != len {
        return Err(Error::length(
            "transpose: input (rows × cols)",
            len,
            input.elements(),
        ));
    }
    if output.elements() != len {
        return Err(Error::length(
            "transpose: output (rows × cols)",
            len,
            output.elements(),
        ));
    }
    if len == 0 {
        return Ok(());
    }
    let (gx, gy) = transpose_grid(rows, cols);
    let launch = KernelLaunch::new(
        KernelRef::Builtin(entries::TRANSPOSE_B32),
        LaunchConfig {
            grid: Dim3::xy(gx, gy),
            block: Dim3::xy(TRANSPOSE_TILE, TRANSPOSE_BLOCK_Y),
            shared_bytes: TRANSPOSE_SHARED_BYTES,
        },
        Arc::new(move |args| {
            let x = args.read::<T>(0)?;
            reference_transpose(x, rows, cols, args.write::<T>(1)?).map_err(backend_error)
        }),
    )
    .read(&input)
    .write(&output)
    .scalar(rows)
    .scalar(cols);
    stream.launch(&launch)
}
