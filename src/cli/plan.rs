//! From command-line arguments to an execution plan: the op chain, the pipeline
//! configuration (validated, including the limits that keep per-chunk index arithmetic in
//! 32 bits) and the chunks. `riptide process` and the fuzz targets go through the same
//! functions, so what is fuzzed is what runs.

use riptide_host::pipeline::{Chunk, PipelineConfig, plan};
use riptide_host::{Error, Result};

use crate::cli::parse_size;
use crate::cli::process::{Op, parse_op};

/// The most elements one chunk may hold: kernels index a chunk with 32-bit grid arithmetic
/// (block × threads, vector offsets), which this keeps clear of overflow.
pub const MAX_CHUNK_ELEMS: usize = 1 << 31;

/// The configuration `--chunk BYTES --streams S --depth D` asks for (bytes of 4-byte
/// elements); `None` without `--chunk` (the pipeline is then tuned).
pub fn config_from_args(
    chunk_bytes: Option<u64>,
    streams: usize,
    depth: usize,
) -> Result<Option<PipelineConfig>> {
    let Some(bytes) = chunk_bytes else {
        return Ok(None);
    };
    let elems = (bytes / 4).max(1);
    if elems > MAX_CHUNK_ELEMS as u64 {
        return Err(Error::LimitExceeded {
            what: "--chunk: elements per chunk (32-bit grid arithmetic)".into(),
            requested: elems,
            max: MAX_CHUNK_ELEMS as u64,
        });
    }
    let config = PipelineConfig::new(elems as usize, streams, depth);
    config.validate()?;
    Ok(Some(config))
}

/// An op, a configuration and the chunks of a run over `len` elements, all from text as
/// the command line gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    /// The op chain.
    pub op: Op,
    /// The pipeline configuration.
    pub config: PipelineConfig,
    /// The chunks.
    pub chunks: Vec<Chunk>,
}

/// Builds the plan `riptide process --op OP --chunk CHUNK --streams S --depth D` would run
/// over `len` elements with rows of `granule` elements.
pub fn plan_from_args(
    op: &str,
    chunk: &str,
    streams: &str,
    depth: &str,
    len: usize,
    granule: usize,
) -> Result<ExecutionPlan> {
    let op = parse_op(op)?;
    let bad = |what: &str, text: &str| {
        Error::InvalidArgument(format!("--{what}: {text:?} is not a whole number"))
    };
    let chunk_bytes =
        parse_size(chunk).map_err(|e| Error::InvalidArgument(format!("--chunk: {e}")))?;
    let streams: usize = streams
        .trim()
        .parse()
        .map_err(|_| bad("streams", streams))?;
    let depth: usize = depth.trim().parse().map_err(|_| bad("depth", depth))?;
    let config = config_from_args(Some(chunk_bytes), streams, depth)?
        .ok_or_else(|| Error::InvalidArgument("--chunk: no size given".into()))?;
    let halo = if op == Op::Stencil { granule } else { 0 };
    let chunks = plan::chunks(len, config.chunk_elems, granule, halo)?;
    Ok(ExecutionPlan { op, config, chunks })
}
