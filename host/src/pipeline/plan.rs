//! Cutting a stream of elements into chunks: which output range each chunk produces and
//! which input range (with halo) it must upload.

use std::ops::Range;

use crate::error::{Error, Result};

/// One chunk of a pipelined run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the run, from 0.
    pub index: usize,
    /// Elements of the input this chunk is responsible for (and of the output it writes,
    /// for kernels whose output matches their input element for element).
    pub range: Range<usize>,
    /// Elements of the input uploaded for it: `range` widened by the halo on each side,
    /// clipped to the input.
    pub upload: Range<usize>,
}

impl Chunk {
    /// Elements this chunk is responsible for.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the chunk is empty (only an empty run has one).
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Offset of `range.start` within the uploaded elements.
    pub fn halo_before(&self) -> usize {
        self.range.start - self.upload.start
    }
}

/// Splits `len` elements into chunks of `chunk_elems` (rounded down to a multiple of
/// `granule`, at least one granule), each uploading `halo` extra elements on both sides.
pub fn chunks(len: usize, chunk_elems: usize, granule: usize, halo: usize) -> Result<Vec<Chunk>> {
    if granule == 0 {
        return Err(Error::InvalidArgument(
            "chunk granule must be at least 1".into(),
        ));
    }
    if !len.is_multiple_of(granule) {
        return Err(Error::InvalidArgument(format!(
            "{len} elements are not a whole number of rows of {granule}"
        )));
    }
    let step = (chunk_elems / granule).max(1) * granule;
    let mut out = Vec::with_capacity(len.div_ceil(step).max(1));
    let mut start = 0;
    while start < len {
        let end = (start + step).min(len);
        out.push(Chunk {
            index: out.len(),
            range: start..end,
            upload: start.saturating_sub(halo)..(end + halo).min(len),
        });
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_input_exactly_once() {
        let c = chunks(10, 4, 1, 0).unwrap();
        let ranges: Vec<_> = c.iter().map(|c| c.range.clone()).collect();
        assert_eq!(ranges, vec![0..4, 4..8, 8..10]);
        assert!(c.iter().all(|c| c.upload == c.range));
        assert!(chunks(0, 4, 1, 0).unwrap().is_empty());
    }

    #[test]
    fn halos_are_clipped_at_the_ends_and_granules_respected() {
        // 5 rows of 3 columns, chunks of 2 rows (7 elements round down to 6), 1 row of halo.
        let c = chunks(15, 7, 3, 3).unwrap();
        let got: Vec<_> = c
            .iter()
            .map(|c| (c.range.clone(), c.upload.clone()))
            .collect();
        assert_eq!(got, vec![(0..6, 0..9), (6..12, 3..15), (12..15, 9..15)]);
        assert_eq!(c[1].halo_before(), 3);
        assert!(chunks(14, 6, 3, 3).is_err(), "14 is not whole rows of 3");
    }
}
