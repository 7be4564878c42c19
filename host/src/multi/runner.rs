//! Running a chunk kernel across several devices: one [`Pipeline`] per device (its own
//! streams, slots and events), fed by one host thread that hands each chunk to whichever
//! device frees a slot first.
//!
//! # The issue loop
//! The input is cut into chunks of one common size. Each device starts with the block of
//! chunks its weight earns ([`Weights::ranges`]) and may keep as many chunks in flight as
//! its pipeline has slots. The loop then repeats: find the device whose oldest chunk
//! completes first, retire that chunk, give the device its next chunk — its own, or one
//! stolen from the back of the largest remaining block ([`ChunkQueue`]). A faster device
//! retires chunks more often and so takes more of them; a device that slows down mid-run
//! takes fewer from then on.
//!
//! "Completes first" is decided by polling the devices' events on CUDA, and by the
//! simulated clock on the CPU backend with a timing model, which makes simulated schedules
//! deterministic. Kernels that carry values from chunk to chunk (scans) are refused: their
//! chunks cannot move between devices.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::backend::{Device, NcclGroup, PinnedBuffer};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::multi::combine::{CombineAcross, CombinePath};
use crate::multi::pace::Pace;
use crate::multi::planner::Weights;
use crate::multi::queue::ChunkQueue;
use crate::pipeline::kernel::ChunkKernel;
use crate::pipeline::plan::{self, Chunk};
use crate::pipeline::{Pipeline, PipelineConfig, Run};

/// What one device did in a multi-device run.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceShare {
    /// The device's ordinal within its backend.
    pub ordinal: usize,
    /// The device's name.
    pub name: String,
    /// Chunks it processed.
    pub chunks: usize,
    /// Elements it was responsible for.
    pub elements: usize,
    /// Bytes it copied host → device (halos included).
    pub bytes_in: u64,
    /// Bytes it copied device → host.
    pub bytes_out: u64,
    /// Device time from its first upload to its last download (simulated on the CPU
    /// backend with a timing model).
    pub busy_ms: f64,
}

impl DeviceShare {
    /// Bytes moved (in + out) per second of the device's busy time; 0 when it did nothing.
    pub fn throughput_bytes_per_s(&self) -> f64 {
        if self.busy_ms > 0.0 {
            (self.bytes_in + self.bytes_out) as f64 / (self.busy_ms / 1e3)
        } else {
            0.0
        }
    }
}

/// What a multi-device run did.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiStats {
    /// One entry per device, in the order the devices were given.
    pub devices: Vec<DeviceShare>,
    /// Chunks in the run.
    pub chunks: usize,
    /// Chunks a device took from another device's planned block.
    pub stolen: usize,
    /// Host wall time of the run.
    pub wall: Duration,
    /// Simulated makespan in seconds (CPU backend with a timing model only).
    pub simulated_s: Option<f64>,
    /// How per-device results were combined.
    pub combine: CombinePath,
}

impl MultiStats {
    /// Mean over the largest device busy time: 1.0 when every device was busy equally long.
    pub fn balance(&self) -> f64 {
        let max = self.devices.iter().map(|d| d.busy_ms).fold(0.0, f64::max);
        if max <= 0.0 {
            return 1.0;
        }
        let mean = self.devices.iter().map(|d| d.busy_ms).sum::<f64>() / self.devices.len() as f64;
        mean / max
    }
}

/// A pipeline on each of several devices, balanced by a shared chunk queue.
#[derive(Debug)]
pub struct MultiPipeline {
    pipelines: Vec<Pipeline>,
    weights: Weights,
    steal: bool,
    nccl: Option<NcclGroup>,
}

impl MultiPipeline {
    /// One pipeline per device, all with `config` (the chunk size must be common: chunks
    /// move between devices). Starts with equal weights and stealing on.
    pub fn new(devices: &[Device], config: PipelineConfig) -> Result<MultiPipeline> {
        if devices.is_empty() {
            return Err(Error::InvalidArgument(
                "a multi-device run needs at least one device".into(),
            ));
        }
        if let Some(d) = devices.iter().find(|d| d.backend() != devices[0].backend()) {
            return Err(Error::DeviceMismatch(format!(
                "devices of different backends in one run ({} and {})",
                devices[0].backend(),
                d.backend()
            )));
        }
        let pipelines = devices
            .iter()
            .map(|d| Pipeline::new(d, config))
            .collect::<Result<Vec<_>>>()?;
        // NCCL is an optimisation of the combine: if it cannot start, combine on the host.
        let nccl = NcclGroup::new(devices).unwrap_or_else(|e| {
            tracing::warn!("NCCL unavailable, combining on the host: {e}");
            None
        });
        Ok(MultiPipeline {
            weights: Weights::equal(devices.len()),
            pipelines,
            steal: true,
            nccl,
        })
    }

    /// Sets the planned split (one weight per device).
    pub fn set_weights(&mut self, weights: Weights) -> Result<()> {
        if weights.len() != self.pipelines.len() {
            return Err(Error::length(
                "multi-device weights",
                self.pipelines.len(),
                weights.len(),
            ));
        }
        self.weights = weights;
        Ok(())
    }

    /// The planned split the next run starts from.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Turns stealing on (the dynamic balancer) or off (a static split by the weights).
    pub fn set_stealing(&mut self, steal: bool) {
        self.steal = steal;
    }

    /// Whether results are combined through NCCL (distinct GPUs, library present).
    pub fn uses_nccl(&self) -> bool {
        self.nccl.is_some()
    }

    /// The devices, in order.
    pub fn devices(&self) -> Vec<Device> {
        self.pipelines.iter().map(|p| p.device().clone()).collect()
    }

    /// Sets the weights from a finished run's per-device throughput, so the next run starts
    /// from the split this one converged to. Devices that did nothing keep a small weight.
    pub fn learn(&mut self, stats: &MultiStats) {
        let rates: Vec<f64> = stats
            .devices
            .iter()
            .map(|d| {
                if d.busy_ms > 0.0 && d.elements > 0 {
                    d.elements as f64 / d.busy_ms
                } else {
                    0.0
                }
            })
            .collect();
        let best = rates.iter().copied().fold(0.0, f64::max);
        if best > 0.0 {
            let floored: Vec<f64> = rates.iter().map(|r| r.max(best * 1e-3)).collect();
            if let Ok(w) = Weights::from_throughput(&floored) {
                self.weights = w;
            }
        }
    }

    fn simulated_now(&self) -> Option<f64> {
        self.pipelines[0].device().as_cpu()?.simulated_seconds()
    }

    /// Runs `kernel` over `input` on every device, writing streamed results into `output`
    /// (required, of the input's length, unless the kernel accumulates), and combines the
    /// devices' results.
    pub fn run<T: Element, K: CombineAcross<T>>(
        &mut self,
        kernel: &K,
        input: &PinnedBuffer<T>,
        mut output: Option<&mut PinnedBuffer<T>>,
    ) -> Result<(K::Output, MultiStats)> {
        let len = input.len();
        if kernel.ordered() && self.pipelines.len() > 1 {
            return Err(Error::InvalidArgument(format!(
                "{}: chunks carry values to their successors, so they cannot be split across devices",
                kernel.name()
            )));
        }
        crate::pipeline::check_output(kernel, len, output.as_ref().map(|o| o.len()))?;
        let chunk_elems = self.pipelines[0].config().chunk_elems;
        let chunks = plan::chunks(len, chunk_elems, kernel.granule(), kernel.halo())?;
        let sim_start = self.simulated_now();
        let mut runs = self
            .pipelines
            .iter()
            .map(|p| Run::prepare(p, kernel, len))
            .collect::<Result<Vec<_>>>()?;
        let start = Instant::now();
        for run in &mut runs {
            run.begin()?;
        }
        let mut queue = ChunkQueue::new(self.weights.ranges(chunks.len()), self.steal);
        let devices = runs.len();
        let mut in_flight: Vec<VecDeque<Chunk>> = vec![VecDeque::new(); devices];
        let mut taken = vec![(0usize, 0usize); devices];

        let mut issue = |runs: &mut Vec<Run<'_, T, K>>,
                         in_flight: &mut Vec<VecDeque<Chunk>>,
                         d: usize,
                         global: usize|
         -> Result<()> {
            let g = &chunks[global];
            // Renumbered per device: slots, lanes and per-chunk state index by it.
            let local = Chunk {
                index: taken[d].0,
                range: g.range.clone(),
                upload: g.upload.clone(),
            };
            taken[d].0 += 1;
            taken[d].1 += local.len();
            let run = &mut runs[d];
            run.upload(&local, |up, dst| {
                up.copy_to_device(input.slice(local.upload.clone())?, dst)
            })?;
            run.compute(kernel, &local)?;
            match output.as_deref_mut() {
                Some(out) => run.download(&local, |down, src| {
                    down.copy_to_host(src, out.slice_mut(local.range.clone())?)
                })?,
                None => run.release(&local)?,
            }
            in_flight[d].push_back(local);
            Ok(())
        };

        // Fill every device's slots, one chunk per device per pass.
        loop {
            let mut issued = false;
            for d in 0..devices {
                if in_flight[d].len() < runs[d].slot_count()
                    && let Some(i) = queue.next(d)
                {
                    issue(&mut runs, &mut in_flight, d, i)?;
                    end_if_done(&mut runs, &queue, d)?;
                    issued = true;
                }
            }
            if !issued {
                break;
            }
        }
        // Retire the earliest-finishing chunk, refill that device — near the end only if it
        // would finish the chunk before the others would finish what is left (`Pace`).
        let mut pace = Pace::new(devices);
        while queue.remaining() > 0 {
            let candidates: Vec<usize> = (0..devices)
                .filter(|&d| !in_flight[d].is_empty() && queue.has_work_for(d))
                .collect();
            let d = first_to_finish(&runs, &in_flight, &candidates)?;
            let done = in_flight[d]
                .pop_front()
                .expect("candidates have chunks in flight");
            let done_event = runs[d].chunk_done(&done);
            done_event.synchronize()?;
            // When the chunk completed: the model's time where there is one, else now (the
            // loop polls, so it sees completions as they happen).
            let at = done_event
                .simulated_time()
                .unwrap_or_else(|| start.elapsed().as_secs_f64());
            pace.retired(d, at);
            let counts: Vec<usize> = in_flight.iter().map(VecDeque::len).collect();
            // A static split keeps every chunk on its own device.
            if !self.steal || pace.worth_giving(d, &counts, queue.remaining()) {
                if let Some(i) = queue.next(d) {
                    issue(&mut runs, &mut in_flight, d, i)?;
                }
            } else if in_flight[d].is_empty() {
                // Left out of the end game with nothing in flight: this device is done.
                runs[d].mark_end()?;
            }
            end_if_done(&mut runs, &queue, d)?;
        }

        let mut outputs = Vec::with_capacity(devices);
        let mut shares = Vec::with_capacity(devices);
        for (d, run) in runs.into_iter().enumerate() {
            let (out, stats) = run.finish(kernel, start)?;
            let device = self.pipelines[d].device();
            outputs.push(out);
            shares.push(DeviceShare {
                ordinal: device.ordinal(),
                name: device.info().name.clone(),
                chunks: taken[d].0,
                elements: taken[d].1,
                bytes_in: stats.bytes_in,
                bytes_out: stats.bytes_out,
                busy_ms: stats.device_ms,
            });
        }
        let (combined, path) = kernel.combine(outputs, self.nccl.as_mut())?;
        let simulated_s = match (sim_start, self.simulated_now()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Ok((
            combined,
            MultiStats {
                devices: shares,
                chunks: chunks.len(),
                stolen: queue.stolen(),
                wall: start.elapsed(),
                simulated_s,
                combine: path,
            },
        ))
    }
}

/// Marks device `d`'s run ended once the queue holds nothing more for it while other
/// devices still work (a static split, or a device that ran out before the others): its
/// busy time then ends with the chunks it has in flight, not when the whole run does.
fn end_if_done<T: Element, K: ChunkKernel<T>>(
    runs: &mut [Run<'_, T, K>],
    queue: &ChunkQueue,
    d: usize,
) -> Result<()> {
    if !queue.has_work_for(d) {
        runs[d].mark_end()?;
    }
    Ok(())
}

/// The candidate device whose oldest in-flight chunk completes first: by simulated time
/// when every candidate's event has one, else by polling the events.
fn first_to_finish<T: Element, K: ChunkKernel<T>>(
    runs: &[Run<'_, T, K>],
    in_flight: &[VecDeque<Chunk>],
    candidates: &[usize],
) -> Result<usize> {
    let oldest = |d: usize| runs[d].chunk_done(&in_flight[d][0]);
    let simulated: Option<Vec<f64>> = candidates
        .iter()
        .map(|&d| oldest(d).simulated_time())
        .collect();
    if let Some(times) = simulated {
        return candidates
            .iter()
            .zip(times)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(&d, _)| d)
            .ok_or_else(|| Error::Backend("balancer: no device has work in flight".into()));
    }
    if candidates.is_empty() {
        return Err(Error::Backend(
            "balancer: no device has work in flight".into(),
        ));
    }
    let mut spins = 0u32;
    loop {
        for &d in candidates {
            if oldest(d).query()? {
                return Ok(d);
            }
        }
        spins += 1;
        if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}
