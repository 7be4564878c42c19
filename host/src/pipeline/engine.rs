//! The issue loop: streams, device slots and the events between them (the module docs of
//! [`crate::pipeline`] describe the schedule).

use std::time::{Duration, Instant};

use crate::backend::{Device, DeviceBuffer, Event, PinnedBuffer, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::pipeline::PipelineConfig;
use crate::pipeline::kernel::{ChunkContext, ChunkKernel, ChunkOutput};
use crate::pipeline::plan::{self, Chunk};
use crate::trace::nvtx_range;

/// What a run did and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// The configuration used.
    pub config: PipelineConfig,
    /// Chunks processed.
    pub chunks: usize,
    /// Bytes copied host → device (halos included).
    pub bytes_in: u64,
    /// Bytes copied device → host.
    pub bytes_out: u64,
    /// Host wall time from the first queued operation to the end of the run.
    pub wall: Duration,
    /// Device time from the first upload to the last download, measured with events
    /// (simulated time on the CPU backend with a timing model).
    pub device_ms: f64,
}

/// The streams of a pipeline: uploads, compute lanes, downloads. In the serial
/// configuration all three roles are one stream.
#[derive(Debug)]
struct Streams {
    all: Vec<Stream>,
    compute: Vec<usize>,
    up: usize,
    down: usize,
}

impl Streams {
    fn new(device: &Device, config: &PipelineConfig) -> Result<Streams> {
        if config.serial {
            return Ok(Streams {
                all: vec![device.stream()?],
                compute: vec![0],
                up: 0,
                down: 0,
            });
        }
        let all = (0..config.streams + 2)
            .map(|_| device.stream())
            .collect::<Result<Vec<_>>>()?;
        Ok(Streams {
            compute: (1..=config.streams).collect(),
            up: 0,
            down: config.streams + 1,
            all,
        })
    }

    fn up(&self) -> &Stream {
        &self.all[self.up]
    }

    fn down(&self) -> &Stream {
        &self.all[self.down]
    }

    fn lane(&self, i: usize) -> &Stream {
        &self.all[self.compute[i]]
    }
}

/// One device slot: the uploaded chunk (halo included), an optional separate output, and
/// the events that order its reuse.
#[derive(Debug)]
struct Slot<T: Element> {
    input: DeviceBuffer<T>,
    output: Option<DeviceBuffer<T>>,
    uploaded: Event,
    computed: Event,
    free: Event,
}

/// A chunked, multi-stream pipeline on one device.
#[derive(Debug)]
pub struct Pipeline {
    device: Device,
    config: PipelineConfig,
    streams: Streams,
}

impl Pipeline {
    /// Creates the pipeline's streams.
    pub fn new(device: &Device, config: PipelineConfig) -> Result<Pipeline> {
        config.validate()?;
        Ok(Pipeline {
            device: device.clone(),
            streams: Streams::new(device, &config)?,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> PipelineConfig {
        self.config
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs `kernel` over `input`, writing streamed results into `output` (required, of the
    /// input's length, unless the kernel accumulates).
    pub fn run<T: Element, K: ChunkKernel<T>>(
        &mut self,
        kernel: &K,
        input: &PinnedBuffer<T>,
        mut output: Option<&mut PinnedBuffer<T>>,
    ) -> Result<(K::Output, RunStats)> {
        let len = input.len();
        check_output(kernel, len, output.as_ref().map(|o| o.len()))?;
        let mut run = Run::prepare(self, kernel, len)?;
        let start = Instant::now();
        run.begin()?;
        for chunk in &run.chunks.clone() {
            run.upload(chunk, |up, dst| {
                up.copy_to_device(input.slice(chunk.upload.clone())?, dst)
            })?;
            run.compute(kernel, chunk)?;
            if let Some(out) = output.as_deref_mut() {
                run.download(chunk, |down, src| {
                    down.copy_to_host(src, out.slice_mut(chunk.range.clone())?)
                })?;
            } else {
                run.release(chunk)?;
            }
        }
        run.finish(kernel, start)
    }
}

/// The state of one run: its chunks, slots and events.
pub(crate) struct Run<'p, T: Element, K: ChunkKernel<T>> {
    pipeline: &'p Pipeline,
    pub(crate) chunks: Vec<Chunk>,
    slots: Vec<Slot<T>>,
    state: K::State,
    chain: Option<Event>,
    start: Event,
    end: Event,
    /// Whether `end` is recorded already ([`Run::mark_end`]).
    ended: bool,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    len: usize,
}

impl<'p, T: Element, K: ChunkKernel<T>> Run<'p, T, K> {
    /// Plans the chunks, checks they fit in device memory, allocates slots and events and
    /// lets the kernel prepare its state.
    pub(crate) fn prepare(pipeline: &'p Pipeline, kernel: &K, len: usize) -> Result<Self> {
        let _nvtx = nvtx_range("pipeline prepare");
        let config = pipeline.config;
        let chunks = plan::chunks(len, config.chunk_elems, kernel.granule(), kernel.halo())?;
        let max_chunk = chunks.iter().map(Chunk::len).max().unwrap_or(0);
        let max_upload = chunks.iter().map(|c| c.upload.len()).max().unwrap_or(0);
        let separate = kernel.output() == ChunkOutput::Separate;
        let slots_needed = config.slots().min(chunks.len().max(1));
        let per_slot = (max_upload + if separate { max_chunk } else { 0 }) * size_of::<T>();
        let (free, _) = pipeline.device.memory_info()?;
        let want = per_slot as u64 * slots_needed as u64;
        if want > free as u64 {
            return Err(Error::LimitExceeded {
                what: format!(
                    "{}: device memory for {slots_needed} slot(s) of {max_chunk}-element chunks (bytes)",
                    kernel.name()
                ),
                requested: want,
                max: free as u64,
            });
        }
        let device = &pipeline.device;
        let slots = (0..slots_needed)
            .map(|i| {
                Ok(Slot {
                    input: device.alloc::<T>(max_upload, &format!("pipeline slot {i} input"))?,
                    output: if separate {
                        Some(device.alloc::<T>(max_chunk, &format!("pipeline slot {i} output"))?)
                    } else {
                        None
                    },
                    uploaded: device.event(false)?,
                    computed: device.event(false)?,
                    free: device.event(false)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let streams = &pipeline.streams;
        let state = kernel.prepare(
            streams.lane(0),
            streams.compute.len(),
            chunks.len(),
            max_chunk,
            len,
        )?;
        Ok(Run {
            pipeline,
            chunks,
            slots,
            state,
            chain: if kernel.ordered() {
                Some(device.event(false)?)
            } else {
                None
            },
            start: device.event(true)?,
            end: device.event(true)?,
            ended: false,
            bytes_in: 0,
            bytes_out: 0,
            len,
        })
    }

    fn streams(&self) -> &'p Streams {
        &self.pipeline.streams
    }

    fn slot_of(&self, chunk: &Chunk) -> usize {
        chunk.index % self.slots.len()
    }

    fn lane_of(&self, chunk: &Chunk) -> usize {
        chunk.index % self.streams().compute.len()
    }

    /// Orders every stream after the kernel's preparation and marks the start.
    pub(crate) fn begin(&mut self) -> Result<()> {
        let s = self.streams();
        let prepared = self.pipeline.device.event(false)?;
        s.lane(0).record(&prepared)?;
        for stream in &s.all {
            stream.wait(&prepared)?;
        }
        s.up().record(&self.start)
    }

    /// Queues the upload of `chunk` into its slot once the slot is free.
    pub(crate) fn upload(
        &mut self,
        chunk: &Chunk,
        copy: impl FnOnce(&Stream, crate::backend::DeviceSliceMut<'_, T>) -> Result<()>,
    ) -> Result<()> {
        let _nvtx = nvtx_range("pipeline upload");
        let up = self.streams().up();
        let i = self.slot_of(chunk);
        let slot = &mut self.slots[i];
        up.wait(&slot.free)?;
        copy(up, slot.input.slice_mut(0..chunk.upload.len())?)?;
        up.record(&slot.uploaded)?;
        self.bytes_in += (chunk.upload.len() * size_of::<T>()) as u64;
        Ok(())
    }

    /// Queues the chunk's kernels on its compute stream after its upload (and, for an
    /// ordered kernel, after the previous chunk's kernels).
    pub(crate) fn compute(&mut self, kernel: &K, chunk: &Chunk) -> Result<()> {
        let _nvtx = nvtx_range("pipeline compute");
        let lane = self.lane_of(chunk);
        let stream = self.streams().lane(lane);
        let i = self.slot_of(chunk);
        let slot = &mut self.slots[i];
        stream.wait(&slot.uploaded)?;
        if let Some(chain) = &self.chain {
            stream.wait(chain)?;
        }
        let ctx = ChunkContext {
            stream,
            lane,
            chunk,
            total_len: self.len,
        };
        let output = match slot.output.as_mut() {
            Some(o) => Some(o.slice_mut(0..chunk.len())?),
            None => None,
        };
        kernel.launch(
            &mut self.state,
            &ctx,
            slot.input.slice_mut(0..chunk.upload.len())?,
            output,
        )?;
        if let Some(chain) = &self.chain {
            stream.record(chain)?;
        }
        stream.record(&slot.computed)
    }

    /// Queues the download of the chunk's result once its kernels are done; frees the slot.
    pub(crate) fn download(
        &mut self,
        chunk: &Chunk,
        copy: impl FnOnce(&Stream, crate::backend::DeviceSlice<'_, T>) -> Result<()>,
    ) -> Result<()> {
        let _nvtx = nvtx_range("pipeline download");
        let down = self.streams().down();
        let i = self.slot_of(chunk);
        let slot = &self.slots[i];
        down.wait(&slot.computed)?;
        let src = match &slot.output {
            Some(o) => o.slice(0..chunk.len())?,
            None => slot
                .input
                .slice(chunk.halo_before()..chunk.halo_before() + chunk.len())?,
        };
        copy(down, src)?;
        down.record(&slot.free)?;
        self.bytes_out += (chunk.len() * size_of::<T>()) as u64;
        Ok(())
    }

    /// The event that marks `chunk` finished (its slot free) until the slot's next use;
    /// schedulers outside the pipeline wait on it.
    pub(crate) fn chunk_done(&self, chunk: &Chunk) -> &Event {
        &self.slots[self.slot_of(chunk)].free
    }

    /// Device slots of this run: chunks that may be in flight at once.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Marks the slot free once the chunk's kernels are done (kernels that accumulate).
    pub(crate) fn release(&mut self, chunk: &Chunk) -> Result<()> {
        let lane = self.lane_of(chunk);
        let i = self.slot_of(chunk);
        self.streams().lane(lane).record(&self.slots[i].free)
    }

    /// Records the run's end mark behind every slot's last use and every compute stream, once:
    /// call it as soon as no more chunks will be queued (while the last ones are still in
    /// flight), so that the device time ends when the device's work does, not when the host
    /// gets round to [`Run::finish`] (a device of a multi-device run may finish long before
    /// the others).
    pub(crate) fn mark_end(&mut self) -> Result<()> {
        if self.ended {
            return Ok(());
        }
        let s = self.streams();
        let down = s.down();
        for slot in &self.slots {
            down.wait(&slot.free)?;
        }
        for &i in &s.compute {
            let done = self.pipeline.device.event(false)?;
            s.all[i].record(&done)?;
            down.wait(&done)?;
        }
        down.record(&self.end)?;
        self.ended = true;
        Ok(())
    }

    /// Waits for everything, collects the kernel's result and the run's statistics.
    pub(crate) fn finish(mut self, kernel: &K, start: Instant) -> Result<(K::Output, RunStats)> {
        let _nvtx = nvtx_range("pipeline finish");
        self.mark_end()?;
        let s = self.streams();
        for stream in &s.all {
            stream.synchronize()?;
        }
        let wall = start.elapsed();
        let device_ms = self.start.elapsed_ms(&self.end)? as f64;
        let output = kernel.finish(self.state, s.lane(0))?;
        Ok((
            output,
            RunStats {
                config: self.pipeline.config,
                chunks: self.chunks.len(),
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                wall,
                device_ms,
            },
        ))
    }
}

/// Checks that a kernel writing a streamed result has an output buffer of the input's length
/// `len` (`output_len`: the buffer's length, if one was given).
pub(crate) fn check_output<T: Element, K: ChunkKernel<T>>(
    kernel: &K,
    len: usize,
    output_len: Option<usize>,
) -> Result<()> {
    if kernel.output() == ChunkOutput::Accumulated {
        return Ok(());
    }
    match output_len {
        None => Err(Error::InvalidArgument(format!(
            "{}: an output buffer is required",
            kernel.name()
        ))),
        Some(n) if n != len => Err(Error::length(format!("{}: output", kernel.name()), len, n)),
        Some(_) => Ok(()),
    }
}
