//! The crate's one error type — a caller's slices or parameters do not fit together — and
//! the small checks that produce it, shared by the parallel and sequential versions.

use std::fmt;

/// Why a reference function refused its arguments. Nothing was written when it is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceError {
    /// Two slices that must have equal lengths do not.
    LengthMismatch {
        /// The slice that was checked, e.g. `"output"`.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The slice it must match, e.g. `"input"`.
        other: &'static str,
        /// That slice's length.
        other_len: usize,
    },
    /// A slice's length differs from the element count of the shape passed with it.
    ShapeMismatch {
        /// The slice that was checked, e.g. `"a"`.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The shape, e.g. `"m × k"`.
        shape: &'static str,
        /// The shape's element count.
        expected: usize,
    },
    /// A shape's element count does not fit in `usize`.
    ShapeOverflow {
        /// The shape, e.g. `"rows × cols"`.
        shape: &'static str,
    },
    /// `histogram_u32` was given a bin width of 0.
    ZeroBinWidth,
    /// The stencil's output rows `row_begin..row_end` are not a range within the block.
    RowRange {
        /// First output row (block-relative).
        row_begin: usize,
        /// One past the last output row (block-relative).
        row_end: usize,
        /// Rows in the block.
        rows: usize,
    },
    /// The stencil's block does not lie within the grid.
    BlockOutsideGrid {
        /// Global row of the block's first row.
        row_offset: usize,
        /// Rows in the block.
        rows: usize,
        /// Rows in the grid.
        global_rows: usize,
    },
    /// An interior stencil output row lacks its row above or below in the block.
    MissingHalo {
        /// The output row (block-relative).
        row: usize,
        /// Rows in the block.
        rows: usize,
    },
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::LengthMismatch {
                name,
                len,
                other,
                other_len,
            } => write!(f, "{name} has {len} elements, {other} has {other_len}"),
            Self::ShapeMismatch {
                name,
                len,
                shape,
                expected,
            } => write!(f, "{name} has {len} elements, {shape} is {expected}"),
            Self::ShapeOverflow { shape } => write!(f, "{shape} overflows usize"),
            Self::ZeroBinWidth => write!(f, "histogram bin width is 0"),
            Self::RowRange {
                row_begin,
                row_end,
                rows,
            } => write!(
                f,
                "output rows {row_begin}..{row_end} are not a range within the block's {rows} rows"
            ),
            Self::BlockOutsideGrid {
                row_offset,
                rows,
                global_rows,
            } => write!(
                f,
                "a block of {rows} rows at global row {row_offset} extends past the grid's \
                 {global_rows} rows"
            ),
            Self::MissingHalo { row, rows } => write!(
                f,
                "interior output row {row} needs the rows above and below it, but the block \
                 has rows 0..{rows}"
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// Checks that slice `name` (length `len`) is as long as slice `other` (`other_len`).
pub(crate) fn same_len(
    name: &'static str,
    len: usize,
    other: &'static str,
    other_len: usize,
) -> Result<(), ReferenceError> {
    if len == other_len {
        Ok(())
    } else {
        Err(ReferenceError::LengthMismatch {
            name,
            len,
            other,
            other_len,
        })
    }
}

/// The element count `a · b` of a two-dimensional shape named `shape`, checked for overflow.
pub(crate) fn elements(shape: &'static str, a: usize, b: usize) -> Result<usize, ReferenceError> {
    a.checked_mul(b)
        .ok_or(ReferenceError::ShapeOverflow { shape })
}

/// Checks that slice `name` (length `len`) holds exactly the `a · b` elements of `shape`.
pub(crate) fn shape_len(
    name: &'static str,
    len: usize,
    shape: &'static str,
    a: usize,
    b: usize,
) -> Result<(), ReferenceError> {
    let expected = elements(shape, a, b)?;
    if len == expected {
        Ok(())
    } else {
        Err(ReferenceError::ShapeMismatch {
            name,
            len,
            shape,
            expected,
        })
    }
}
