//! The producer–consumer mode: a host thread fills pinned staging slots (reading a file,
//! generating data) while the device consumes them, and another drains finished chunks —
//! with backpressure, because both sides draw from bounded pools of staging slots.
//!
//! A staging slot travels with its own event: the device side records it after the copy
//! that uses the slot, and the host side synchronizes on it before touching the slot again,
//! which is also the happens-before edge the race detector sees.

use std::ops::Range;
use std::sync::mpsc;
use std::time::Instant;

use crate::backend::{Event, PinnedBuffer};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::pipeline::engine::{Pipeline, Run, RunStats};
use crate::pipeline::kernel::{ChunkKernel, ChunkOutput};

struct Staging<T: Element> {
    buf: PinnedBuffer<T>,
    done: Event,
}

impl Pipeline {
    /// Runs `kernel` over `len` elements that `produce` writes into staging buffers (it is
    /// given each chunk's input range, halo included, and a buffer of that length), handing
    /// each chunk's result to `consume` with its output range, in order. Staging holds at
    /// most `2 × slots` chunks in each direction, so a slow consumer slows the producer.
    pub fn run_streaming<T, K, P, C>(
        &mut self,
        kernel: &K,
        len: usize,
        mut produce: P,
        mut consume: C,
    ) -> Result<(K::Output, RunStats)>
    where
        T: Element,
        K: ChunkKernel<T>,
        P: FnMut(Range<usize>, &mut [T]) -> Result<()> + Send,
        C: FnMut(Range<usize>, &[T]) -> Result<()> + Send,
    {
        let mut run = Run::prepare(self, kernel, len)?;
        let streamed = kernel.output() != ChunkOutput::Accumulated;
        let device = self.device().clone();
        let depth = 2 * self.config().slots();
        let max_upload = run.chunks.iter().map(|c| c.upload.len()).max().unwrap_or(0);
        let max_chunk = run.chunks.iter().map(|c| c.len()).max().unwrap_or(0);
        let staging = |n: usize, what: &str| -> Result<Vec<Staging<T>>> {
            (0..depth)
                .map(|i| {
                    Ok(Staging {
                        buf: device.alloc_pinned::<T>(n, &format!("{what} staging {i}"))?,
                        done: device.event(false)?,
                    })
                })
                .collect()
        };
        let (in_free_tx, in_free_rx) = mpsc::channel::<Staging<T>>();
        let (out_free_tx, out_free_rx) = mpsc::channel::<Staging<T>>();
        for s in staging(max_upload, "input")? {
            in_free_tx.send(s).expect("receiver alive");
        }
        if streamed {
            for s in staging(max_chunk, "output")? {
                out_free_tx.send(s).expect("receiver alive");
            }
        }
        let (filled_tx, filled_rx) = mpsc::sync_channel::<Result<Staging<T>>>(depth);
        let (finished_tx, finished_rx) = mpsc::sync_channel::<(Range<usize>, Staging<T>)>(depth);
        let chunks = run.chunks.clone();
        let start = Instant::now();

        std::thread::scope(move |scope| -> Result<(K::Output, RunStats)> {
            let producer_chunks = chunks.clone();
            scope.spawn(move || {
                for chunk in producer_chunks {
                    let Ok(mut slot) = in_free_rx.recv() else {
                        return;
                    };
                    let filled = slot.done.synchronize().and_then(|()| {
                        let mut host = slot.buf.write()?;
                        produce(chunk.upload.clone(), &mut host[..chunk.upload.len()])
                    });
                    let failed = filled.is_err();
                    if filled_tx.send(filled.map(|()| slot)).is_err() || failed {
                        return;
                    }
                }
            });
            let consumer = scope.spawn(move || -> Result<()> {
                while let Ok((range, slot)) = finished_rx.recv() {
                    slot.done.synchronize()?;
                    let n = range.len();
                    consume(range, &slot.buf.read()?[..n])?;
                    if out_free_tx.send(slot).is_err() {
                        break;
                    }
                }
                Ok(())
            });

            let issued = (|| -> Result<()> {
                run.begin()?;
                for chunk in &chunks {
                    let slot = filled_rx
                        .recv()
                        .map_err(|_| Error::Backend("the producer stopped early".into()))??;
                    let n = chunk.upload.len();
                    run.upload(chunk, |up, dst| {
                        up.copy_to_device(slot.buf.slice(0..n)?, dst)?;
                        up.record(&slot.done)
                    })?;
                    let _ = in_free_tx.send(slot);
                    run.compute(kernel, chunk)?;
                    if streamed {
                        let mut out = out_free_rx
                            .recv()
                            .map_err(|_| Error::Backend("the consumer stopped early".into()))?;
                        run.download(chunk, |down, src| {
                            down.copy_to_host(src, out.buf.slice_mut(0..chunk.len())?)?;
                            down.record(&out.done)
                        })?;
                        finished_tx
                            .send((chunk.range.clone(), out))
                            .map_err(|_| Error::Backend("the consumer stopped early".into()))?;
                    } else {
                        run.release(chunk)?;
                    }
                }
                Ok(())
            })();
            // Unblock both threads whatever happened: they see closed channels and return.
            drop(finished_tx);
            drop(in_free_tx);
            drop(filled_rx);
            let consumed = consumer
                .join()
                .unwrap_or_else(|_| Err(Error::Backend("the consumer panicked".into())));
            let result = run.finish(kernel, start);
            // The consumer's own error explains a "stopped early" on the issuing side; the
            // producer's error reaches the issuing side through the channel.
            consumed.and(issued).and(result)
        })
    }
}
