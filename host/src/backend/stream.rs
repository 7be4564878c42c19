//! Streams and events: the ordering primitives every orchestration layer builds on.
//!
//! Work queued on one [`Stream`] runs in order; work on different streams may run at once
//! unless an [`Event`] recorded on one is waited on by the other. The host is ordered after
//! device work only by [`Stream::synchronize`], [`Event::synchronize`], a successful
//! [`Event::query`] or [`Device::synchronize`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cudarc::driver::CudaEvent;

use crate::backend::memory::{DevRange, HostRange, Pending};
use crate::backend::record::{Op, Recording, refuse_while_recording};
use crate::backend::resources::{Counted, Counter};
use crate::backend::{Device, DeviceImpl, DeviceRead, DeviceWrite, HostRead, HostWrite, cpu, cuda};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::launch::KernelLaunch;
use crate::trace::{OpKind, Span};

static NEXT_STREAM_ID: AtomicU64 = AtomicU64::new(1);
static NEXT_EVENT_ID: AtomicU64 = AtomicU64::new(1);

/// An in-order queue of device work.
#[derive(Debug)]
pub struct Stream {
    device: Device,
    id: u64,
    inner: StreamImpl,
    _counted: Counted,
}

#[derive(Debug)]
enum StreamImpl {
    Cuda(cuda::CudaStreamHandle),
    Cpu(cpu::CpuStream),
    /// Collects operations as graph nodes instead of queuing them.
    Recording(Recording),
}

impl Stream {
    pub(crate) fn new(device: &Device) -> Result<Stream> {
        let inner = match &device.inner {
            DeviceImpl::Cuda(d) => StreamImpl::Cuda(d.new_stream()?),
            DeviceImpl::Cpu(d) => StreamImpl::Cpu(d.new_stream()?),
        };
        Ok(Stream {
            device: device.clone(),
            id: NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
            inner,
            _counted: Counted::new(device.backend(), Counter::Streams, 1),
        })
    }

    /// A stream of `device` that records operations into `into` instead of running them.
    pub(crate) fn recording(device: &Device, into: Recording) -> Stream {
        Stream {
            device: device.clone(),
            id: NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
            inner: StreamImpl::Recording(into),
            // Not a driver stream: nothing to count.
            _counted: Counted::new(device.backend(), Counter::Streams, 0),
        }
    }

    /// The device the stream belongs to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A process-unique id, used in traces and hazard reports.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn check_device(&self, what: &str, range: &DevRange) -> Result<()> {
        if range.mem.device != self.device.ordinal() || !same_backend(&self.inner, range) {
            return Err(Error::DeviceMismatch(format!(
                "{what}: buffer {:?} lives on {} device {} but the stream belongs to {} device {}",
                range.mem.label,
                backend_of(range),
                range.mem.device,
                self.device.backend(),
                self.device.ordinal()
            )));
        }
        Ok(())
    }

    /// Queues a copy of `src` (host) into `dst` (device); lengths must match.
    pub fn copy_to_device<T: Element>(
        &self,
        src: impl HostRead<T>,
        dst: impl DeviceWrite<T>,
    ) -> Result<()> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "copy to device: destination",
                src.elements(),
                dst.elements(),
            ));
        }
        self.h2d_range(src.host_range(), dst.dev_range(), true)
    }

    /// [`Stream::copy_to_device`] on checked-length ranges; `fence` makes host access to
    /// `src` wait for the copy (off while capturing: the graph fences after each launch).
    pub(crate) fn h2d_range(&self, src: HostRange, dst: DevRange, fence: bool) -> Result<()> {
        self.check_device("copy to device", &dst)?;
        if src.bytes == 0 {
            return Ok(());
        }
        let span = self.trace_begin(|| (OpKind::H2d, src.bytes))?;
        let queued = match &self.inner {
            StreamImpl::Cuda(s) => {
                s.copy_h2d(&src, &dst)?;
                if fence {
                    src.mem.add_pending(self.id, Pending::Cuda(s.fence()?));
                }
                Ok(())
            }
            StreamImpl::Cpu(s) => s.copy_h2d(src, dst),
            StreamImpl::Recording(r) => {
                r.push(Op::ToDevice { src, dst });
                Ok(())
            }
        };
        self.trace_end(span, queued)
    }

    /// Queues a copy of `src` (device) into `dst` (host); lengths must match.
    pub fn copy_to_host<T: Element>(
        &self,
        src: impl DeviceRead<T>,
        dst: impl HostWrite<T>,
    ) -> Result<()> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "copy to host: destination",
                src.elements(),
                dst.elements(),
            ));
        }
        self.d2h_range(src.dev_range(), dst.host_range(), true)
    }

    /// [`Stream::copy_to_host`] on checked-length ranges; `fence` as in `h2d_range`.
    pub(crate) fn d2h_range(&self, src: DevRange, dst: HostRange, fence: bool) -> Result<()> {
        self.check_device("copy to host", &src)?;
        if src.bytes == 0 {
            return Ok(());
        }
        let span = self.trace_begin(|| (OpKind::D2h, src.bytes))?;
        let queued = match &self.inner {
            StreamImpl::Cuda(s) => {
                s.copy_d2h(&src, &dst)?;
                if fence {
                    dst.mem.add_pending(self.id, Pending::Cuda(s.fence()?));
                }
                Ok(())
            }
            StreamImpl::Cpu(s) => s.copy_d2h(src, dst),
            StreamImpl::Recording(r) => {
                r.push(Op::ToHost { src, dst });
                Ok(())
            }
        };
        self.trace_end(span, queued)
    }

    /// Queues a device-to-device copy; `src` may live on another device of the same backend
    /// (a peer copy).
    pub fn copy_on_device<T: Element>(
        &self,
        src: impl DeviceRead<T>,
        dst: impl DeviceWrite<T>,
    ) -> Result<()> {
        if src.elements() != dst.elements() {
            return Err(Error::length(
                "device copy: destination",
                src.elements(),
                dst.elements(),
            ));
        }
        self.d2d_range(src.dev_range(), dst.dev_range())
    }

    /// [`Stream::copy_on_device`] on checked-length ranges.
    pub(crate) fn d2d_range(&self, src: DevRange, dst: DevRange) -> Result<()> {
        self.check_device("device copy", &dst)?;
        if !same_backend(&self.inner, &src) {
            return Err(Error::DeviceMismatch(format!(
                "device copy: source {:?} belongs to another backend",
                src.mem.label
            )));
        }
        if src.bytes == 0 {
            return Ok(());
        }
        let span = self.trace_begin(|| (OpKind::D2d, src.bytes))?;
        let queued = match &self.inner {
            StreamImpl::Cuda(s) => s.copy_d2d(&src, &dst),
            StreamImpl::Cpu(s) => s.copy_d2d(src, dst),
            StreamImpl::Recording(r) => {
                r.push(Op::OnDevice { src, dst });
                Ok(())
            }
        };
        self.trace_end(span, queued)
    }

    /// Queues setting every byte of `dst` to zero.
    pub fn fill_zero<T: Element>(&self, dst: impl DeviceWrite<T>) -> Result<()> {
        self.zero_range(dst.dev_range())
    }

    /// [`Stream::fill_zero`] on a range.
    pub(crate) fn zero_range(&self, dst: DevRange) -> Result<()> {
        self.check_device("fill", &dst)?;
        if dst.bytes == 0 {
            return Ok(());
        }
        let span = self.trace_begin(|| (OpKind::Memset, dst.bytes))?;
        let queued = match &self.inner {
            StreamImpl::Cuda(s) => s.memset(&dst, 0),
            StreamImpl::Cpu(s) => s.memset(dst, 0),
            StreamImpl::Recording(r) => {
                r.push(Op::Zero { dst });
                Ok(())
            }
        };
        self.trace_end(span, queued)
    }

    /// Queues a kernel launch built by a typed launcher.
    pub fn launch(&self, launch: &KernelLaunch) -> Result<()> {
        launch
            .config
            .check(launch.kernel.name(), &self.device.info().limits)?;
        for b in launch.buffers() {
            self.check_device(launch.kernel.name(), &b.range)?;
        }
        if let crate::launch::KernelRef::User(entry) = &launch.kernel {
            entry.check_device(&self.device)?;
        }
        let span = self.trace_begin(|| {
            let bytes = launch.buffers().map(|b| b.range.bytes).sum();
            (OpKind::Kernel(launch.kernel.name().to_owned()), bytes)
        })?;
        let queued = match (&self.inner, &self.device.inner) {
            (StreamImpl::Cuda(s), DeviceImpl::Cuda(d)) => s.launch(d, launch),
            (StreamImpl::Cpu(s), _) => s.launch(launch.clone()),
            (StreamImpl::Recording(r), _) => {
                r.push(Op::Kernel(launch.clone()));
                Ok(())
            }
            _ => unreachable!("a stream's backend is its device's backend"),
        };
        self.trace_end(span, queued)
    }

    /// Marks the current end of the stream in `event`.
    pub fn record(&self, event: &Event) -> Result<()> {
        self.record_untraced(event)?;
        if let Some(tracer) = &self.device.tracer {
            tracer.recorded(self, event)?;
        }
        Ok(())
    }

    /// [`Stream::record`] without telling the tracer (its own timing events).
    pub(crate) fn record_untraced(&self, event: &Event) -> Result<()> {
        if event.device != self.device.ordinal() {
            return Err(Error::DeviceMismatch(format!(
                "recording an event of device {} on a stream of device {} (an event is recorded on its own device's streams; any device may wait on it)",
                event.device,
                self.device.ordinal()
            )));
        }
        match (&self.inner, &event.inner) {
            (StreamImpl::Cuda(s), EventImpl::Cuda(e)) => s.record(e),
            (StreamImpl::Cpu(s), EventImpl::Cpu(e)) => s.record(e),
            (StreamImpl::Recording(_), _) => Err(in_recording(
                "recording an event (a graph orders nodes by its dependencies)",
            )),
            _ => Err(mixed("record")),
        }
    }

    /// Makes later work on this stream wait until `event`'s last recorded point completes
    /// (the event may belong to another device of the same backend).
    pub fn wait(&self, event: &Event) -> Result<()> {
        match (&self.inner, &event.inner) {
            (StreamImpl::Cuda(s), EventImpl::Cuda(e)) => s.wait(e),
            (StreamImpl::Cpu(s), EventImpl::Cpu(e)) => s.wait(e),
            (StreamImpl::Recording(_), _) => Err(in_recording(
                "waiting on an event (a graph orders nodes by its dependencies)",
            )),
            _ => Err(mixed("wait")),
        }?;
        if let Some(tracer) = &self.device.tracer {
            tracer.waited(self, event);
        }
        Ok(())
    }

    /// Queues `f` to run on a host thread once earlier work on the stream completes. `f` must
    /// not queue device work or block on it.
    pub fn host_fn(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let span = self.trace_begin(|| (OpKind::HostFn, 0))?;
        let queued = match &self.inner {
            StreamImpl::Cuda(s) => s.host_fn(Box::new(f)),
            StreamImpl::Cpu(s) => s.host_fn(Box::new(f)),
            StreamImpl::Recording(_) => Err(in_recording(
                "a run-once host callback (add a repeatable one with Dag::host_fn)",
            )),
        };
        self.trace_end(span, queued)
    }

    /// Copies `src` to a new host vector: queues the copy through a pinned staging buffer
    /// and waits for the stream (a convenience for small results, not for streaming).
    pub fn download<T: Element>(&self, src: impl DeviceRead<T>) -> Result<Vec<T>> {
        let mut staging = self
            .device
            .alloc_pinned::<T>(src.elements(), "download staging")?;
        self.copy_to_host(src, &mut staging)?;
        self.synchronize()?;
        Ok(staging.read()?.to_vec())
    }

    /// Copies `data` into `dst` through a pinned staging buffer and waits for the stream.
    pub fn upload<T: Element>(&self, data: &[T], dst: impl DeviceWrite<T>) -> Result<()> {
        let mut staging = self
            .device
            .alloc_pinned::<T>(data.len(), "upload staging")?;
        staging.write()?.copy_from_slice(data);
        self.copy_to_device(&staging, dst)?;
        self.synchronize()
    }

    /// The CUDA stream behind this stream, on the CUDA backend.
    pub(crate) fn cuda(&self) -> Option<&cuda::CudaStreamHandle> {
        match &self.inner {
            StreamImpl::Cuda(s) => Some(s),
            StreamImpl::Cpu(_) | StreamImpl::Recording(_) => None,
        }
    }

    /// Opens a timed span for the operation `describe` names when a tracer is attached (one
    /// branch otherwise); [`Stream::trace_end`] closes it once the operation is queued.
    fn trace_begin(&self, describe: impl FnOnce() -> (OpKind, usize)) -> Result<Option<Span>> {
        if let StreamImpl::Recording(_) = self.inner {
            return Ok(None);
        }
        match &self.device.tracer {
            None => Ok(None),
            Some(tracer) => {
                let (kind, bytes) = describe();
                tracer.begin(self, kind, bytes as u64).map(Some)
            }
        }
    }

    /// Tells the tracer, if any, that work it does not time (a graph launch, a collective)
    /// was queued here, so the next traced operation times its own start.
    pub(crate) fn trace_untimed_work(&self) {
        if let Some(tracer) = &self.device.tracer {
            tracer.untimed_work(self);
        }
    }

    fn trace_end(&self, span: Option<Span>, queued: Result<()>) -> Result<()> {
        match (span, &self.device.tracer, queued) {
            (Some(span), Some(tracer), Ok(())) => tracer.end(self, span),
            (_, _, queued) => queued,
        }
    }

    /// Simulated start and end (seconds) of the last operation queued here, on the cpu
    /// backend with a timing model.
    pub(crate) fn last_simulated_interval(&self) -> Option<(f64, f64)> {
        match &self.inner {
            StreamImpl::Cpu(s) => s.last_simulated_interval(),
            StreamImpl::Cuda(_) | StreamImpl::Recording(_) => None,
        }
    }

    /// Blocks the host until all work queued on the stream completes.
    pub fn synchronize(&self) -> Result<()> {
        refuse_while_recording("stream synchronization")?;
        match &self.inner {
            StreamImpl::Cuda(s) => s.synchronize(),
            StreamImpl::Cpu(s) => s.synchronize(),
            StreamImpl::Recording(_) => Err(in_recording("stream synchronization")),
        }
    }
}

fn in_recording(operation: &'static str) -> Error {
    crate::graph::GraphError::IllegalInCapture { operation }.into()
}

fn same_backend(stream: &StreamImpl, range: &DevRange) -> bool {
    if let StreamImpl::Recording(_) = stream {
        return true;
    }
    matches!(
        (stream, &range.mem.mem),
        (
            StreamImpl::Cuda(_),
            crate::backend::memory::DeviceMem::Cuda(_)
        ) | (
            StreamImpl::Cpu(_),
            crate::backend::memory::DeviceMem::Cpu(_)
        )
    )
}

fn backend_of(range: &DevRange) -> &'static str {
    match &range.mem.mem {
        crate::backend::memory::DeviceMem::Cuda(_) => "cuda",
        crate::backend::memory::DeviceMem::Cpu(_) => "cpu",
    }
}

fn mixed(what: &str) -> Error {
    Error::DeviceMismatch(format!(
        "{what}: the stream and the event belong to different backends"
    ))
}

/// A point in a stream's work that other streams and the host can wait for.
#[derive(Debug)]
pub struct Event {
    inner: EventImpl,
    /// The ordinal of the device it was made on; it is recorded only on that device's
    /// streams.
    device: usize,
    /// A process-unique id (the tracer remembers what each event marks).
    id: u64,
    _counted: Counted,
}

#[derive(Debug)]
enum EventImpl {
    Cuda(CudaEvent),
    Cpu(Arc<cpu::CpuEvent>),
}

impl Event {
    pub(crate) fn new(device: &Device, timing: bool) -> Result<Event> {
        let inner = match &device.inner {
            DeviceImpl::Cuda(d) => EventImpl::Cuda(d.new_event(timing)?),
            DeviceImpl::Cpu(d) => EventImpl::Cpu(d.new_event(timing)),
        };
        Ok(Event {
            inner,
            device: device.ordinal(),
            id: NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed),
            _counted: Counted::new(device.backend(), Counter::Events, 1),
        })
    }

    /// A process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether the recorded work has completed, without ordering the host after it: no
    /// happens-before edge for the cpu backend's race detector and no chaos flush, so the
    /// tracer can look without changing what it observes.
    pub(crate) fn peek_complete(&self) -> Result<bool> {
        match &self.inner {
            EventImpl::Cuda(e) => e
                .try_is_complete()
                .map_err(|err| cuda::raw::driver_error("cuEventQuery", err)),
            EventImpl::Cpu(e) => Ok(e.peek_complete()),
        }
    }

    /// Whether the recorded work has completed (true for a never-recorded event). A `true`
    /// orders the host after that work.
    pub fn query(&self) -> Result<bool> {
        refuse_while_recording("querying an event")?;
        match &self.inner {
            EventImpl::Cuda(e) => e
                .try_is_complete()
                .map_err(|err| cuda::raw::driver_error("cuEventQuery", err)),
            EventImpl::Cpu(e) => e.query(),
        }
    }

    /// Blocks the host until the recorded work completes.
    pub fn synchronize(&self) -> Result<()> {
        refuse_while_recording("event synchronization")?;
        match &self.inner {
            EventImpl::Cuda(e) => e
                .synchronize()
                .map_err(|err| cuda::raw::driver_error("cuEventSynchronize", err)),
            EventImpl::Cpu(e) => e.synchronize(),
        }
    }

    /// Simulated time (seconds) at which the recorded work ends: CPU backend with a timing
    /// model only. Lets schedulers decide in simulated rather than wall-clock time.
    pub(crate) fn simulated_time(&self) -> Option<f64> {
        match &self.inner {
            EventImpl::Cpu(e) => e.simulated_time(),
            EventImpl::Cuda(_) => None,
        }
    }

    /// Milliseconds from this event to `end` (both recorded, completed, with timing on). On
    /// the CPU backend with a timing model this is simulated device time.
    pub fn elapsed_ms(&self, end: &Event) -> Result<f32> {
        match (&self.inner, &end.inner) {
            (EventImpl::Cuda(a), EventImpl::Cuda(b)) => a
                .elapsed_ms(b)
                .map_err(|err| cuda::raw::driver_error("cuEventElapsedTime", err)),
            (EventImpl::Cpu(a), EventImpl::Cpu(b)) => a.elapsed_ms(b),
            _ => Err(mixed("elapsed time")),
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Stream>();
    check::<Event>();
    check::<HostRange>();
}
