//! The out-of-core streaming pipeline: data larger than device memory flows through a
//! chain of kernels chunk by chunk — upload, kernels, download — with both copy directions
//! and the kernels of different chunks in flight at once.
//!
//! | module | what lives there |
//! |---|---|
//! | [`plan`] | cutting a run into chunks (ranges and halos) |
//! | [`kernel`] | the [`ChunkKernel`] trait: what runs on each chunk |
//! | [`workloads`] | built-in chunk kernels: elementwise chains, chained scans, stencils, reductions, histograms |
//! | `engine` | the issue loop: streams, slots, events |
//! | `streaming` | the producer–consumer mode: host threads fill and drain pinned staging |
//! | [`recover`] | runs that survive running out of memory and sticky device faults |
//! | [`tune`] | picking chunk size, streams and depth by measurement, cached per device |
//!
//! # How a run is scheduled
//! One upload stream, `streams` compute streams and one download stream. Device memory is
//! `streams × depth` slots reused round-robin; chunk `k` uses slot `k mod (streams·depth)`
//! and compute stream `k mod streams`. Each slot has three events: *uploaded* (the compute
//! stream waits on it), *computed* (the download stream waits on it) and *free* (the next
//! upload into the slot waits on it). Nothing else is synchronized: the upload of chunk
//! `k + 1` overlaps the kernels of chunk `k` and the download of chunk `k − 1`. A kernel
//! that carries a value between chunks ([`ChunkKernel::ordered`], e.g. a scan) adds one
//! event: chunk `k`'s kernels wait for chunk `k − 1`'s, and nothing else waits.
//!
//! The serial configuration ([`PipelineConfig::serial`]) puts everything on one stream with
//! one slot: the baseline the pipelined run is compared with.

mod engine;
pub mod kernel;
pub mod plan;
pub mod recover;
mod streaming;
pub mod tune;
pub mod workloads;

pub use engine::{Pipeline, RunStats};
pub(crate) use engine::{Run, check_output};
pub use kernel::{ChunkContext, ChunkKernel, ChunkOutput};
pub use plan::Chunk;

use crate::error::{Error, Result};

/// How a run is cut and overlapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PipelineConfig {
    /// Elements per chunk (rounded down to the kernel's granule).
    pub chunk_elems: usize,
    /// Compute streams (kernels of different chunks may run at once).
    pub streams: usize,
    /// Device buffer slots per compute stream (2 = double buffering, 3 = triple).
    pub depth: usize,
    /// Everything on one stream with one slot (the serial baseline).
    pub serial: bool,
}

impl PipelineConfig {
    /// The largest number of streams or slots per stream a configuration may ask for.
    pub const MAX_STREAMS: usize = 16;

    /// A pipelined configuration.
    pub fn new(chunk_elems: usize, streams: usize, depth: usize) -> PipelineConfig {
        PipelineConfig {
            chunk_elems,
            streams,
            depth,
            serial: false,
        }
    }

    /// The serial baseline: one stream, one slot, no overlap.
    pub fn serial(chunk_elems: usize) -> PipelineConfig {
        PipelineConfig {
            chunk_elems,
            streams: 1,
            depth: 1,
            serial: true,
        }
    }

    /// Checks the knobs.
    pub fn validate(&self) -> Result<()> {
        if self.chunk_elems == 0 {
            return Err(Error::InvalidArgument(
                "chunk size must be at least one element".into(),
            ));
        }
        for (what, v) in [("streams", self.streams), ("depth", self.depth)] {
            if v == 0 || v > Self::MAX_STREAMS {
                return Err(Error::InvalidArgument(format!(
                    "{what} must be 1..={} (got {v})",
                    Self::MAX_STREAMS
                )));
            }
        }
        Ok(())
    }

    /// Device slots the configuration uses.
    pub fn slots(&self) -> usize {
        if self.serial {
            1
        } else {
            self.streams * self.depth
        }
    }
}
