//! What the pipeline runs on each chunk: the [`ChunkKernel`] trait.
//!
//! The pipeline owns the streams, buffers, copies and events; a chunk kernel only says what
//! a chunk needs (halo, granule, whether chunks depend on their predecessor), where its
//! result lands, and queues its kernels on the stream it is given. Built-in kernels live in
//! [`crate::pipeline::workloads`]; a user kernel implements the same trait.

use crate::backend::{DeviceSliceMut, Stream};
use crate::element::Element;
use crate::error::Result;
use crate::pipeline::plan::Chunk;

/// Where a chunk's result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutput {
    /// Written over the chunk's own elements in the input buffer; streamed back.
    InPlace,
    /// Written to a separate buffer of the chunk's length; streamed back.
    Separate,
    /// Accumulated on the device; nothing is streamed back per chunk.
    Accumulated,
}

/// Everything a chunk kernel may use while queuing one chunk's work.
#[derive(Debug)]
pub struct ChunkContext<'a> {
    /// The stream to queue on (one of the pipeline's compute streams).
    pub stream: &'a Stream,
    /// Index of that compute stream, `0..streams`.
    pub lane: usize,
    /// The chunk.
    pub chunk: &'a Chunk,
    /// Elements in the whole run.
    pub total_len: usize,
}

/// A computation the pipeline applies chunk by chunk.
pub trait ChunkKernel<T: Element>: Sync {
    /// Per-run device state (scratch, accumulators, carries), created before the first chunk.
    type State: Send;
    /// What the run returns once every chunk is done.
    type Output;

    /// A short name for logs and tables.
    fn name(&self) -> String;

    /// Where each chunk's result goes.
    fn output(&self) -> ChunkOutput;

    /// Elements of context needed on each side of a chunk (a stencil's halo rows).
    fn halo(&self) -> usize {
        0
    }

    /// Chunk boundaries fall on multiples of this (a stencil's row length).
    fn granule(&self) -> usize {
        1
    }

    /// Whether chunk `k`'s kernels must run after chunk `k − 1`'s (a carried value, as in a
    /// scan). The pipeline then orders exactly those kernels with one event and nothing else.
    fn ordered(&self) -> bool {
        false
    }

    /// Creates the run's state: `lanes` compute streams (the first is `stream`), `chunks`
    /// chunks of at most `max_chunk` elements, `total_len` elements in all.
    fn prepare(
        &self,
        stream: &Stream,
        lanes: usize,
        chunks: usize,
        max_chunk: usize,
        total_len: usize,
    ) -> Result<Self::State>;

    /// Queues the chunk's kernels. `input` holds the uploaded elements (halo included);
    /// `output` is the chunk's separate output buffer when [`ChunkKernel::output`] is
    /// [`ChunkOutput::Separate`].
    fn launch(
        &self,
        state: &mut Self::State,
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, T>,
        output: Option<DeviceSliceMut<'_, T>>,
    ) -> Result<()>;

    /// Collects the result after every chunk's work completed (the pipeline synchronized).
    fn finish(&self, state: Self::State, stream: &Stream) -> Result<Self::Output>;
}
