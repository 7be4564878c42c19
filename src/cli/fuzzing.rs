//! The fuzz targets' bodies (`fuzz/`, run by `cargo fuzz`), kept in the library so the
//! committed corpus also runs as an ordinary test (`tests/fuzz_corpus.rs`). Each takes
//! arbitrary bytes, must not panic, and checks the invariants of whatever it accepts.

use crate::cli::npy::NpyLayout;
use crate::cli::plan::plan_from_args;

/// Validates `data` as a whole `.npy` file; an accepted layout must account for every byte.
pub fn npy_header(data: &[u8]) {
    if let Ok(layout) = NpyLayout::parse(data, data.len() as u64) {
        let elements: usize = layout.shape.iter().product();
        assert_eq!(elements, layout.len, "shape and length disagree");
        assert_eq!(
            layout.offset + layout.len * layout.dtype.size(),
            data.len(),
            "an accepted layout must describe exactly the file"
        );
    }
}

/// Splits `data` into `op`, `chunk`, `streams`, `depth` (text separated by newlines) and a
/// length and a row granule (the last 4 bytes), and plans; a plan's chunks must tile
/// `0..len` in order, each a whole number of rows, none larger than the chunk size allows.
pub fn cli_plan(data: &[u8]) {
    let (text, tail) = data.split_at(data.len().saturating_sub(4));
    let mut len_bytes = [0u8; 4];
    len_bytes[..tail.len()].copy_from_slice(tail);
    // Up to 2^20 elements and rows of up to 64: enough to reach every branch, small
    // enough that a chunk list of 1-element chunks stays cheap.
    let len = (u32::from_le_bytes(len_bytes) & 0xF_FFFF) as usize;
    let granule = (len_bytes[3] as usize % 64) + 1;
    let text = String::from_utf8_lossy(text);
    let mut fields = text.split('\n');
    let mut next = || fields.next().unwrap_or("");
    let (op, chunk, streams, depth) = (next(), next(), next(), next());
    let Ok(plan) = plan_from_args(op, chunk, streams, depth, len, granule) else {
        return;
    };
    plan.config.validate().expect("a returned plan is valid");
    let step = (plan.config.chunk_elems / granule).max(1) * granule;
    let mut at = 0;
    for (i, c) in plan.chunks.iter().enumerate() {
        assert_eq!(c.index, i);
        assert_eq!(c.range.start, at, "chunks must be contiguous");
        assert!(c.range.len() <= step && (len == 0 || !c.range.is_empty()));
        assert!(c.range.start.is_multiple_of(granule));
        assert!(c.upload.start <= c.range.start && c.upload.end >= c.range.end);
        assert!(c.upload.end <= len);
        at = c.range.end;
    }
    assert_eq!(at, len, "chunks must cover the input");
}
