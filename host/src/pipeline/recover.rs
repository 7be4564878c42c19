//! Runs that survive device trouble: [`run_resilient`] wraps the producer–consumer mode
//! ([`Pipeline::run_streaming`]) and reacts to what goes wrong mid-run.
//!
//! - **Out of memory** ([`Error::OutOfMemory`]): halve the chunk size and go on, saying so
//!   through [`Resilience::notify`], down to [`Resilience::min_chunk_elems`].
//! - **Sticky fault** ([`Error::DeviceFault`]: a trap, an illegal address): drop every
//!   stream, event and buffer, recreate the device ([`Device::recover`]) and retry the
//!   affected chunk once; a second fault on the same chunk fails the job naming the chunk's
//!   index and byte range.
//! - **Device lost**, cancellation and every other error: stop and report it.
//!
//! A retry continues after the last chunk whose result was delivered when the kernel's
//! chunks are independent (elementwise: no halo, no carried value, results streamed back);
//! otherwise (scans, stencils, reductions) it starts the run over, and `consume` sees those
//! chunks again with the same results, so writing them into place is idempotent. Output is
//! never silently wrong: a fault that is not recovered is an error.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::backend::Device;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::pipeline::kernel::{ChunkKernel, ChunkOutput};
use crate::pipeline::{Pipeline, PipelineConfig, RunStats};

/// How [`run_resilient`] reacts and reports.
#[derive(Clone, Copy)]
pub struct Resilience<'a> {
    /// Checked before every chunk is produced; once set the run stops with
    /// [`Error::Cancelled`] after the chunks already in flight drain.
    pub cancel: Option<&'a AtomicBool>,
    /// Told, in words, about every recovery (a shrunk chunk size, a recreated device).
    pub notify: &'a (dyn Fn(&str) + Sync),
    /// The smallest chunk an out-of-memory retry may shrink to (elements).
    pub min_chunk_elems: usize,
    /// Recoveries allowed in one run before giving up (a guard against endless retries).
    pub max_recoveries: usize,
}

impl std::fmt::Debug for Resilience<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resilience")
            .field("cancel", &self.cancel.map(|c| c.load(Ordering::Relaxed)))
            .field("min_chunk_elems", &self.min_chunk_elems)
            .field("max_recoveries", &self.max_recoveries)
            .finish_non_exhaustive()
    }
}

impl Default for Resilience<'_> {
    fn default() -> Self {
        Resilience {
            cancel: None,
            notify: &|message| tracing::warn!("{message}"),
            min_chunk_elems: 1 << 10,
            max_recoveries: 16,
        }
    }
}

/// A finished resilient run.
#[derive(Debug)]
pub struct Resilient<O> {
    /// The kernel's output (of the last attempt, which covered every chunk it had to).
    pub output: O,
    /// Statistics of the last attempt; `config` is the configuration that finished.
    pub stats: RunStats,
    /// The device, recreated if a fault forced it.
    pub device: Device,
    /// Every recovery, in words, in order.
    pub recoveries: Vec<String>,
}

/// Runs `kernel` over `len` elements in producer–consumer mode (as
/// [`Pipeline::run_streaming`]), recovering from running out of memory and from sticky
/// faults as the module docs describe. Takes the device by value because recreating it
/// requires that no other handle on the old one is alive; the device in use at the end is
/// returned with the result.
#[allow(clippy::too_many_arguments)]
pub fn run_resilient<T, K, P, C>(
    device: Device,
    config: PipelineConfig,
    kernel: &K,
    len: usize,
    resilience: Resilience<'_>,
    mut produce: P,
    mut consume: C,
) -> Result<Resilient<K::Output>>
where
    T: Element,
    K: ChunkKernel<T>,
    P: FnMut(Range<usize>, &mut [T]) -> Result<()> + Send,
    C: FnMut(Range<usize>, &[T]) -> Result<()> + Send,
{
    let streamed = kernel.output() != ChunkOutput::Accumulated;
    let resumable = streamed && !kernel.ordered() && kernel.halo() == 0 && kernel.granule() == 1;
    let mut device = Some(device);
    let mut config = config;
    let mut start = 0usize;
    let mut recoveries = Vec::new();
    let mut retried_chunks: Vec<usize> = Vec::new();
    loop {
        if resilience.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        let dev = device.take().expect("a device is held between attempts");
        let progress = Progress {
            delivered: AtomicUsize::new(start),
            produced: AtomicUsize::new(start),
        };
        let attempt = attempt(
            &dev,
            config,
            kernel,
            start..len,
            &resilience,
            &progress,
            &mut produce,
            &mut consume,
        );
        let err = match attempt {
            Ok((output, stats)) => {
                return Ok(Resilient {
                    output,
                    stats,
                    device: dev,
                    recoveries,
                });
            }
            Err(err) => err,
        };
        if recoveries.len() >= resilience.max_recoveries {
            return Err(err);
        }
        let delivered = progress.delivered.load(Ordering::Relaxed);
        let produced = progress.produced.load(Ordering::Relaxed);
        // The pipeline refuses up front when its slots would not fit the free memory (the
        // run's own check in `Run::prepare`): the same condition as a failed allocation.
        let err = match err {
            Error::LimitExceeded {
                what, requested, ..
            } if what.contains("device memory") => Error::OutOfMemory {
                kind: "device",
                bytes: requested as usize,
            },
            other => other,
        };
        match err {
            Error::OutOfMemory { kind, bytes } => {
                let smaller = config.chunk_elems / 2;
                if smaller < resilience.min_chunk_elems.max(1) {
                    return Err(Error::OutOfMemory { kind, bytes });
                }
                let message = format!(
                    "out of {kind} memory allocating {bytes} bytes with {}-element chunks; retrying with {smaller}-element chunks",
                    config.chunk_elems
                );
                (resilience.notify)(&message);
                recoveries.push(message);
                config.chunk_elems = smaller;
                device = Some(dev);
            }
            Error::DeviceFault { operation, message } => {
                let elems = config.chunk_elems.max(1);
                let range = suspect(streamed, start, delivered, produced, elems, config, len);
                let index = range.start / elems;
                let bytes = range.start * size_of::<T>()..range.end * size_of::<T>();
                if retried_chunks.contains(&range.start) {
                    return Err(Error::DeviceFault {
                        operation: format!(
                            "chunk {index} (elements {range:?}, bytes {bytes:?}{}) after one retry; {operation}",
                            if streamed {
                                ""
                            } else {
                                ": the chunks in flight"
                            }
                        ),
                        message,
                    });
                }
                retried_chunks.push(range.start);
                // After some sticky errors the driver refuses every CUDA call for the rest of
                // the process (NVIDIA documents a restart as the way out); say which chunk.
                let recovered = dev.recover().map_err(|e| Error::DeviceFault {
                    operation: format!(
                        "chunk {index} (elements {range:?}, bytes {bytes:?}): {operation}; recreating the device context failed ({e})"
                    ),
                    message: message.clone(),
                })?;
                let note = format!(
                    "device fault in {operation} ({message}) at chunk {index} (elements {range:?}, bytes {bytes:?}{}); recreated the device and retrying from {}",
                    if streamed {
                        ", the oldest in flight"
                    } else {
                        ": the chunks in flight"
                    },
                    if resumable {
                        format!("element {delivered}")
                    } else {
                        "the start".to_owned()
                    }
                );
                (resilience.notify)(&note);
                recoveries.push(note);
                device = Some(recovered);
                start = if resumable { delivered } else { 0 };
            }
            other => return Err(other),
        }
    }
}

/// How far an attempt got: the end of the last chunk `consume` accepted and of the last
/// chunk `produce` filled (elements of the whole input).
struct Progress {
    delivered: AtomicUsize,
    produced: AtomicUsize,
}

/// The elements a fault is blamed on. Faults surface asynchronously, so this is the oldest
/// chunk whose result was not delivered; for a kernel that streams nothing back, the window
/// of chunks that can be in flight behind the producer (staging for `2 × slots` chunks plus
/// `slots` on the device).
fn suspect(
    streamed: bool,
    start: usize,
    delivered: usize,
    produced: usize,
    elems: usize,
    config: PipelineConfig,
    len: usize,
) -> Range<usize> {
    let last = len.saturating_sub(1);
    if streamed {
        let first = delivered.min(last);
        return first..(first + elems).min(len);
    }
    let window = 3 * config.slots() * elems;
    let behind = produced.saturating_sub(start).saturating_sub(window);
    let first = (start + behind / elems * elems).min(last);
    first..produced.clamp(first + 1, len.max(first + 1))
}

/// One attempt over `range` of the input, offsetting the ranges the pipeline hands out,
/// and recording its [`Progress`].
#[allow(clippy::too_many_arguments)]
fn attempt<T, K, P, C>(
    device: &Device,
    config: PipelineConfig,
    kernel: &K,
    range: Range<usize>,
    resilience: &Resilience<'_>,
    progress: &Progress,
    produce: &mut P,
    consume: &mut C,
) -> Result<(K::Output, RunStats)>
where
    T: Element,
    K: ChunkKernel<T>,
    P: FnMut(Range<usize>, &mut [T]) -> Result<()> + Send,
    C: FnMut(Range<usize>, &[T]) -> Result<()> + Send,
{
    let offset = range.start;
    let mut pipeline = Pipeline::new(device, config)?;
    pipeline.run_streaming(
        kernel,
        range.len(),
        |r: Range<usize>, buf: &mut [T]| {
            if resilience.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::Cancelled);
            }
            produce(r.start + offset..r.end + offset, buf)?;
            progress
                .produced
                .fetch_max(r.end + offset, Ordering::Relaxed);
            Ok(())
        },
        |r: Range<usize>, buf: &[T]| {
            let end = r.end + offset;
            consume(r.start + offset..end, buf)?;
            progress.delivered.fetch_max(end, Ordering::Relaxed);
            Ok(())
        },
    )
}
