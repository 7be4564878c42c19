//! The CPU backend: emulated streams, a cross-stream race detector, chaos scheduling and
//! simulated device time, so every orchestration layer runs and is tested without a GPU.
//!
//! | module | what lives there |
//! |---|---|
//! | `runtime` | shared state of one backend instance; every queued op passes through it |
//! | `exec` | operations, completions, the threaded workers and the chaos scheduler |
//! | [`hazard`] | the vector-clock race detector |
//! | [`timing`] | the simulated-time model |
//! | `args` | buffer arguments of a CPU kernel implementation |
//!
//! Kernels run through their CPU implementations, which call the rayon reference
//! (`riptide-reference`). Device memory is host memory; a "device" is a set of streams.

mod args;
mod exec;
pub mod faults;
pub mod hazard;
mod runtime;
pub mod timing;

use std::alloc::Layout;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

pub use args::KernelArgs;
pub use faults::{FaultEffect, FaultOp, FaultPlan};
pub use hazard::Hazard;
pub use timing::TimingModel;

pub(crate) use exec::Completion;
use exec::{Queue, Work};
use runtime::{EventPoint, Runtime};

use crate::backend::info::{BackendKind, DeviceInfo};
use crate::backend::memory::{DevRange, HostMemory, HostRange};
use crate::backend::{Device, DeviceImpl};
use crate::error::{Error, Result};
use crate::launch::KernelLaunch;

/// How chaos mode picks the next operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChaosPolicy {
    /// Uniformly among the ready streams, from the seed.
    Random,
    /// The ready operation queued last: defeats any code that works only because work
    /// happens to run in the order it was queued.
    LatestFirst,
}

/// Chaos-mode settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chaos {
    /// Seed of the interleaving; the same seed and program give the same interleaving.
    pub seed: u64,
    /// How the next operation is chosen.
    pub policy: ChaosPolicy,
}

/// Configuration of a CPU backend instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuConfig {
    /// Number of virtual devices `open_devices` creates.
    pub virtual_devices: usize,
    /// Emulated memory per device, in bytes (allocations beyond it fail as out of memory).
    pub memory_bytes: u64,
    /// Run the race detector on every queued operation and host access.
    pub hazard_check: bool,
    /// Make synchronizations fail with [`Error::Hazards`] when new hazards were found.
    pub fail_on_hazard: bool,
    /// Run in chaos mode instead of on worker threads.
    pub chaos: Option<Chaos>,
    /// Simulate device time with this model.
    pub timing: Option<TimingModel>,
    /// Per-device slowdown factors on the timing model (device `i` gets entry `i`, default 1).
    pub device_slowdown: Vec<f64>,
    /// Per-device change of speed during a run: entry `i`, when `Some((after_s, factor))`,
    /// multiplies device `i`'s slowdown by `factor` for operations starting at or after
    /// `after_s` seconds of simulated time (a device that throttles or meets contention).
    pub device_slowdown_after: Vec<Option<(f64, f64)>>,
    /// Injected faults (see [`faults`]); empty in normal use.
    pub faults: Vec<FaultPlan>,
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            virtual_devices: 1,
            memory_bytes: 4 << 30,
            hazard_check: false,
            fail_on_hazard: false,
            chaos: None,
            timing: None,
            device_slowdown: Vec::new(),
            device_slowdown_after: Vec::new(),
            faults: Vec::new(),
        }
    }
}

impl CpuConfig {
    /// The configuration tests use: race detector on, hazards fail synchronizations.
    pub fn checked() -> CpuConfig {
        CpuConfig {
            hazard_check: true,
            fail_on_hazard: true,
            ..CpuConfig::default()
        }
    }
}

/// A CPU backend instance with one or more virtual devices sharing one detector and clock.
#[derive(Debug, Clone)]
pub struct CpuRuntime {
    runtime: Arc<Runtime>,
    devices: Vec<Device>,
}

impl CpuRuntime {
    /// Creates `devices` virtual devices.
    pub fn new(config: CpuConfig, devices: usize) -> CpuRuntime {
        let runtime = Runtime::new(config, devices);
        let devices = (0..devices)
            .map(|ordinal| Device {
                inner: DeviceImpl::Cpu(Arc::new(CpuDevice::new(Arc::clone(&runtime), ordinal))),
                tracer: None,
            })
            .collect();
        CpuRuntime { runtime, devices }
    }

    /// The virtual devices.
    pub fn devices(&self) -> Vec<Device> {
        self.devices.clone()
    }

    /// Every hazard found so far.
    pub fn hazards(&self) -> Vec<Hazard> {
        self.runtime.hazards()
    }

    /// Simulated time at which everything queued ends, when timing is modelled.
    pub fn simulated_seconds(&self) -> Option<f64> {
        self.runtime.makespan()
    }

    /// Names of every kernel launched on this runtime so far.
    pub fn launched_kernels(&self) -> std::collections::BTreeSet<String> {
        self.runtime.lock().launched.clone()
    }

    /// How many faults [`CpuConfig::faults`] (or a trapping kernel) injected so far.
    pub fn injected_faults(&self) -> u64 {
        self.runtime.faults.injected()
    }
}

/// One virtual device.
#[derive(Debug)]
pub struct CpuDevice {
    runtime: Arc<Runtime>,
    info: DeviceInfo,
    allocated: Arc<AtomicU64>,
}

impl CpuDevice {
    fn new(runtime: Arc<Runtime>, ordinal: usize) -> CpuDevice {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let info = DeviceInfo {
            backend: BackendKind::Cpu,
            ordinal,
            name: format!("cpu virtual device {ordinal} ({threads} threads)"),
            compute_capability: (0, 0),
            multiprocessors: threads,
            total_memory: runtime.config.memory_bytes,
            async_engines: 2,
            copy_overlaps_kernels: true,
            concurrent_kernels: true,
            l2_cache_bytes: 0,
            pci_bus: None,
            limits: DeviceInfo::GPU_LIMITS,
        };
        CpuDevice {
            runtime,
            info,
            allocated: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Every hazard the runtime found so far (all devices of the runtime).
    pub fn hazards(&self) -> Vec<Hazard> {
        self.runtime.hazards()
    }

    /// Simulated time at which everything queued ends, when timing is modelled.
    pub fn simulated_seconds(&self) -> Option<f64> {
        self.runtime.makespan()
    }

    pub(crate) fn memory_info(&self) -> (usize, usize) {
        let total = self.info.total_memory;
        let used = self.allocated.load(Ordering::Relaxed);
        (total.saturating_sub(used) as usize, total as usize)
    }

    /// How many faults [`CpuConfig::faults`] (or a trapping kernel) injected so far.
    pub fn injected_faults(&self) -> u64 {
        self.runtime.faults.injected()
    }

    /// Clears a sticky fault, as recreating a CUDA context does; fails if the device is lost.
    pub(crate) fn recover(&self) -> Result<()> {
        self.runtime.faults.recover()
    }

    pub(crate) fn alloc(&self, bytes: usize) -> Result<CpuMemory> {
        self.runtime
            .faults
            .count(faults::FaultOp::DeviceAlloc, "device allocation", bytes)?;
        let total = self.info.total_memory;
        let prev = self.allocated.fetch_add(bytes as u64, Ordering::Relaxed);
        if prev + bytes as u64 > total {
            self.allocated.fetch_sub(bytes as u64, Ordering::Relaxed);
            return Err(Error::OutOfMemory {
                kind: "device",
                bytes,
            });
        }
        let ptr = aligned_alloc(bytes).inspect_err(|_| {
            self.allocated.fetch_sub(bytes as u64, Ordering::Relaxed);
        })?;
        Ok(CpuMemory {
            ptr,
            bytes,
            lock: RwLock::new(()),
            accounting: Arc::clone(&self.allocated),
            runtime: Arc::clone(&self.runtime),
        })
    }

    pub(crate) fn alloc_host(&self, bytes: usize) -> Result<(*mut u8, CpuHostAlloc)> {
        self.runtime
            .faults
            .count(faults::FaultOp::PinnedAlloc, "pinned allocation", bytes)?;
        let ptr = aligned_alloc(bytes)?;
        Ok((
            ptr,
            CpuHostAlloc {
                runtime: Arc::clone(&self.runtime),
            },
        ))
    }

    pub(crate) fn new_stream(&self) -> Result<CpuStream> {
        self.runtime.faults.check("creating a stream")?;
        let (slot, queue) = self.runtime.add_stream(self.info.ordinal);
        let worker = if self.runtime.is_chaos() {
            None
        } else {
            let q = Arc::clone(&queue);
            Some(
                std::thread::Builder::new()
                    .name(format!("riptide-cpu-stream-{slot}"))
                    .spawn(move || exec::worker(q))
                    .map_err(|e| Error::Backend(format!("starting a stream worker thread: {e}")))?,
            )
        };
        Ok(CpuStream {
            runtime: Arc::clone(&self.runtime),
            slot,
            queue,
            worker: Mutex::new(worker),
        })
    }

    pub(crate) fn new_event(&self, timing: bool) -> Arc<CpuEvent> {
        Arc::new(CpuEvent {
            runtime: Arc::clone(&self.runtime),
            timing,
            point: Mutex::new(EventPoint::default()),
        })
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.runtime.faults.check("device synchronize")?;
        for slot in self.runtime.device_slots(self.info.ordinal) {
            self.runtime.sync_stream(slot)?;
        }
        self.runtime.check_hazards()
    }
}

const ALIGN: usize = 64;

fn aligned_alloc(bytes: usize) -> Result<*mut u8> {
    let layout = Layout::from_size_align(bytes.max(1), ALIGN).map_err(|_| Error::OutOfMemory {
        kind: "host",
        bytes,
    })?;
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(Error::OutOfMemory {
            kind: "host",
            bytes,
        });
    }
    Ok(ptr)
}

/// Emulated device memory: zeroed, 64-byte aligned host memory with a lock that operations
/// take while they touch it.
#[derive(Debug)]
pub(crate) struct CpuMemory {
    ptr: *mut u8,
    bytes: usize,
    lock: RwLock<()>,
    accounting: Arc<AtomicU64>,
    runtime: Arc<Runtime>,
}

// SAFETY: the bytes are owned by this value; every access takes `lock`.
unsafe impl Send for CpuMemory {}
// SAFETY: as for Send.
unsafe impl Sync for CpuMemory {}

impl CpuMemory {
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn lock(&self) -> &RwLock<()> {
        &self.lock
    }
}

impl Drop for CpuMemory {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.bytes.max(1), ALIGN)
            .expect("layout was valid at allocation");
        // SAFETY: allocated in `aligned_alloc` with this layout, freed once; queued operations
        // hold the owning `Arc`, so none can still use it.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
        self.accounting
            .fetch_sub(self.bytes as u64, Ordering::Relaxed);
    }
}

impl CpuMemory {
    /// Drops the detector's history of this allocation (called by its owner on free).
    pub(crate) fn forget(&self, allocation: u64) {
        self.runtime.forget(allocation);
    }
}

/// Frees and checks host access to the CPU backend's "pinned" host memory.
#[derive(Debug)]
pub(crate) struct CpuHostAlloc {
    runtime: Arc<Runtime>,
}

impl CpuHostAlloc {
    pub(crate) fn free(&self, id: u64, ptr: *mut u8, bytes: usize) {
        self.runtime.forget(id);
        let layout =
            Layout::from_size_align(bytes.max(1), ALIGN).expect("layout was valid at allocation");
        // SAFETY: allocated by `aligned_alloc` with this layout and freed once, from
        // `HostMemory::drop`, after which no operation holds the memory.
        unsafe { std::alloc::dealloc(ptr, layout) };
    }

    pub(crate) fn check_host_access(&self, mem: &HostMemory, write: bool) -> Result<()> {
        self.runtime
            .host_access(mem.id, &mem.label, mem.bytes, write)
    }
}

/// A stream of the CPU backend.
#[derive(Debug)]
pub(crate) struct CpuStream {
    runtime: Arc<Runtime>,
    slot: usize,
    queue: Arc<Queue>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue")
    }
}

impl CpuStream {
    fn submit(&self, work: Work) -> Result<Arc<Completion>> {
        self.runtime.submit(self.slot, work)
    }

    pub(crate) fn copy_h2d(&self, src: HostRange, dst: DevRange) -> Result<()> {
        let mem = Arc::clone(&src.mem);
        let done = self.submit(Work::CopyH2d { src, dst })?;
        mem.add_pending(self.slot as u64, crate::backend::memory::Pending::Cpu(done));
        Ok(())
    }

    pub(crate) fn copy_d2h(&self, src: DevRange, dst: HostRange) -> Result<()> {
        let mem = Arc::clone(&dst.mem);
        let done = self.submit(Work::CopyD2h { src, dst })?;
        mem.add_pending(self.slot as u64, crate::backend::memory::Pending::Cpu(done));
        Ok(())
    }

    pub(crate) fn copy_d2d(&self, src: DevRange, dst: DevRange) -> Result<()> {
        let peer = src.mem.device != dst.mem.device;
        self.submit(Work::CopyD2d { src, dst, peer }).map(drop)
    }

    pub(crate) fn memset(&self, dst: DevRange, value: u8) -> Result<()> {
        self.submit(Work::Memset { dst, value }).map(drop)
    }

    pub(crate) fn launch(&self, launch: KernelLaunch) -> Result<()> {
        self.submit(Work::Kernel(launch)).map(drop)
    }

    pub(crate) fn host_fn(&self, f: Box<dyn FnOnce() + Send>) -> Result<()> {
        self.submit(Work::HostFn(f)).map(drop)
    }

    pub(crate) fn record(&self, event: &Arc<CpuEvent>) -> Result<()> {
        let slot = self.slot;
        self.runtime
            .submit_with(slot, Work::Record, |state, done| {
                let thread = state.streams[slot].thread;
                let sim = state.streams[slot].sim;
                let mut point = event.point.lock().unwrap_or_else(|e| e.into_inner());
                *point = EventPoint {
                    marker: Some(Arc::clone(done)),
                    clock: state
                        .detector
                        .as_ref()
                        .map(|d| d.record(thread))
                        .unwrap_or_default(),
                    sim_time: state.sim.as_ref().map_or(0.0, |c| c.stream_time(sim)),
                };
            })
            .map(drop)
    }

    pub(crate) fn wait(&self, event: &Arc<CpuEvent>) -> Result<()> {
        let slot = self.slot;
        let point = event.point();
        self.runtime
            .submit_with(slot, Work::Wait(point.marker.clone()), |state, _| {
                let thread = state.streams[slot].thread;
                let sim = state.streams[slot].sim;
                if let Some(d) = state.detector.as_mut() {
                    d.wait(thread, &point.clock);
                }
                if let Some(c) = state.sim.as_mut() {
                    c.wait(sim, point.sim_time);
                }
            })
            .map(drop)
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.runtime.sync_stream(self.slot)
    }

    /// Simulated start and end (seconds) of the last operation queued on this stream.
    pub(crate) fn last_simulated_interval(&self) -> Option<(f64, f64)> {
        self.runtime.last_simulated_interval(self.slot)
    }
}

impl Drop for CpuStream {
    fn drop(&mut self) {
        self.queue.close();
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = worker {
            // The worker drains what is queued, then exits.
            let _ = handle.join();
        }
    }
}

/// An event of the CPU backend.
#[derive(Debug)]
pub(crate) struct CpuEvent {
    runtime: Arc<Runtime>,
    timing: bool,
    point: Mutex<EventPoint>,
}

impl CpuEvent {
    fn point(&self) -> EventPoint {
        self.point.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn query(&self) -> Result<bool> {
        let point = self.point();
        let Some(marker) = &point.marker else {
            return Ok(true);
        };
        if self.runtime.is_chaos() {
            self.runtime.flush()?;
        }
        if marker.is_done() {
            self.runtime.sync_point(&point)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Whether the recorded work has completed, with no effect on the race detector, the
    /// simulated clock or a chaos schedule.
    pub(crate) fn peek_complete(&self) -> bool {
        self.point().marker.as_ref().is_none_or(|m| m.is_done())
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.runtime.sync_point(&self.point())
    }

    /// Simulated time at which the recorded work ends, when timing is modelled.
    pub(crate) fn simulated_time(&self) -> Option<f64> {
        self.runtime.config.timing.as_ref()?;
        let point = self.point();
        point.marker.as_ref().map(|_| point.sim_time)
    }

    pub(crate) fn elapsed_ms(&self, end: &CpuEvent) -> Result<f32> {
        if !self.timing || !end.timing {
            return Err(Error::InvalidArgument(
                "elapsed time of an event created without timing".into(),
            ));
        }
        self.synchronize()?;
        end.synchronize()?;
        let (a, b) = (self.point(), end.point());
        let (Some(ma), Some(mb)) = (&a.marker, &b.marker) else {
            return Err(Error::InvalidArgument(
                "elapsed time of an event that was never recorded".into(),
            ));
        };
        if self.runtime.config.timing.is_some() {
            return Ok(((b.sim_time - a.sim_time) * 1e3) as f32);
        }
        match (ma.finished_at(), mb.finished_at()) {
            (Some(ta), Some(tb)) => Ok(if tb >= ta {
                (tb - ta).as_secs_f64() as f32 * 1e3
            } else {
                -((ta - tb).as_secs_f64() as f32 * 1e3)
            }),
            _ => Err(Error::Backend("event completed without a time".into())),
        }
    }
}
