//! The shared state of one CPU backend instance: its virtual devices' streams, the race
//! detector, the simulated clock and, in chaos mode, the queues the scheduler picks from.
//!
//! Every queued operation passes through [`Runtime::submit`] under one lock, which makes
//! the detector's and the clock's view of queue order exact even when several host threads
//! queue work at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::cpu::exec::{self, Completion, Op, Queue, Work};
use crate::backend::cpu::faults::{FaultOp, Faults};
use crate::backend::cpu::hazard::{AccessRecord, Detector, Hazard, ThreadId, VectorClock};
use crate::backend::cpu::timing::SimClock;
use crate::backend::cpu::{ChaosPolicy, CpuConfig};
use crate::error::{Error, Result};
use crate::launch::Access;

/// Per-stream bookkeeping.
pub(crate) struct StreamSlot {
    pub(crate) device: usize,
    pub(crate) thread: ThreadId,
    pub(crate) sim: usize,
    pub(crate) last: Option<Arc<Completion>>,
    pub(crate) queue: Arc<Queue>,
}

pub(crate) struct State {
    next_op: u64,
    pub(crate) streams: Vec<StreamSlot>,
    pub(crate) detector: Option<Detector>,
    pub(crate) sim: Option<SimClock>,
    chaos_queues: Vec<VecDeque<Op>>,
    rng: u64,
    hazards_surfaced: usize,
    pub(crate) launched: std::collections::BTreeSet<String>,
}

/// One CPU backend instance, shared by its virtual devices.
pub(crate) struct Runtime {
    pub(crate) config: CpuConfig,
    pub(crate) faults: Faults,
    state: Mutex<State>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The point an event marks: the completion, clock and simulated time of the record.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventPoint {
    pub(crate) marker: Option<Arc<Completion>>,
    pub(crate) clock: VectorClock,
    pub(crate) sim_time: f64,
}

impl Runtime {
    pub(crate) fn new(config: CpuConfig, devices: usize) -> Arc<Runtime> {
        let sim = config.timing.as_ref().map(|base| {
            SimClock::new(
                (0..devices)
                    .map(|d| {
                        let speed = config.device_slowdown.get(d).copied().unwrap_or(1.0);
                        let mut model = base.clone().slower(speed);
                        if let Some(Some(late)) = config.device_slowdown_after.get(d) {
                            model.slowdown_after_s = Some(*late);
                        }
                        model
                    })
                    .collect(),
            )
        });
        let seed = config.chaos.as_ref().map_or(0, |c| c.seed);
        Arc::new(Runtime {
            state: Mutex::new(State {
                next_op: 1,
                streams: Vec::new(),
                detector: config.hazard_check.then(Detector::new),
                sim,
                chaos_queues: Vec::new(),
                rng: seed ^ 0x9E37_79B9_7F4A_7C15,
                hazards_surfaced: 0,
                launched: Default::default(),
            }),
            faults: Faults::new(config.faults.clone()),
            config,
        })
    }

    pub(crate) fn is_chaos(&self) -> bool {
        self.config.chaos.is_some()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream of `device`; returns its slot and queue.
    pub(crate) fn add_stream(&self, device: usize) -> (usize, Arc<Queue>) {
        let mut s = self.lock();
        let thread = s.detector.as_mut().map_or(0, Detector::add_thread);
        let sim = s.sim.as_mut().map_or(0, SimClock::add_stream);
        let queue = Arc::new(Queue::default());
        s.streams.push(StreamSlot {
            device,
            thread,
            sim,
            last: None,
            queue: Arc::clone(&queue),
        });
        s.chaos_queues.push(VecDeque::new());
        (s.streams.len() - 1, queue)
    }

    /// Queues `work` on stream `slot`: analyses it, simulates it, and hands it to the
    /// stream's worker (threaded) or the scheduler's queue (chaos).
    pub(crate) fn submit(self: &Arc<Runtime>, slot: usize, work: Work) -> Result<Arc<Completion>> {
        self.submit_with(slot, work, |_, _| {})
    }

    /// As [`Runtime::submit`]; `after` runs under the runtime lock with the op's completion,
    /// for records that must update their event atomically with queue order.
    pub(crate) fn submit_with(
        self: &Arc<Runtime>,
        slot: usize,
        work: Work,
        after: impl FnOnce(&mut State, &Arc<Completion>),
    ) -> Result<Arc<Completion>> {
        let mut work = work;
        let faulted = match &work {
            Work::Kernel(k) if is_armed_trap(k) => {
                self.faults.check(gpu_kernels::entries::DEBUG_TRAP)?;
                self.faults.trap(gpu_kernels::entries::DEBUG_TRAP);
                true
            }
            Work::Kernel(k) => self.faults.count(FaultOp::Kernel, k.kernel.name(), 0)?,
            Work::CopyH2d { src, .. } => {
                self.faults
                    .count(FaultOp::CopyH2d, "host-to-device copy", src.bytes)?
            }
            Work::CopyD2h { src, .. } => {
                self.faults
                    .count(FaultOp::CopyD2h, "device-to-host copy", src.bytes)?
            }
            _ => {
                self.faults.check("queueing an operation")?;
                false
            }
        };
        let mut guard = self.lock();
        let s = &mut *guard;
        let id = s.next_op;
        s.next_op += 1;
        let description = work.describe(id);
        if let Work::Kernel(k) = &work
            && !s.launched.contains(k.kernel.name())
        {
            s.launched.insert(k.kernel.name().to_owned());
        }
        let (thread, device, sim_index) = {
            let st = &s.streams[slot];
            (st.thread, st.device, st.sim)
        };
        if let Some(d) = s.detector.as_mut() {
            match &work {
                Work::Wait(_) => {}
                _ => d.op(thread, &description, &accesses(&work)),
            }
        }
        if let Some(clock) = &mut s.sim
            && !matches!(work, Work::Record | Work::Wait(_))
        {
            clock.op(device, sim_index, &work, false);
        }
        if faulted {
            // A faulted operation does nothing; the fault surfaces at the next call.
            work = Work::Record;
        }
        let done = Completion::new(self);
        after(s, &done);
        s.streams[slot].last = Some(Arc::clone(&done));
        let op = Op {
            id,
            description,
            work,
            done: Arc::clone(&done),
        };
        if self.is_chaos() {
            s.chaos_queues[slot].push_back(op);
        } else {
            s.streams[slot].queue.push(op);
        }
        Ok(done)
    }

    /// Simulated start and end of the last operation queued on stream `slot`, when timing
    /// is modelled.
    pub(crate) fn last_simulated_interval(&self, slot: usize) -> Option<(f64, f64)> {
        let s = self.lock();
        let sim = s.streams[slot].sim;
        s.sim.as_ref().map(|c| c.last_interval(sim))
    }

    /// Runs every queued operation on the calling thread (chaos mode), choosing the next by
    /// the configured policy among streams whose next operation may start.
    pub(crate) fn flush(&self) -> Result<()> {
        let policy = self
            .config
            .chaos
            .as_ref()
            .map_or(ChaosPolicy::Random, |c| c.policy);
        loop {
            let op = {
                let mut s = self.lock();
                let ready: Vec<usize> = s
                    .chaos_queues
                    .iter()
                    .enumerate()
                    .filter_map(|(i, q)| {
                        let head = q.front()?;
                        match &head.work {
                            Work::Wait(Some(m)) if !m.is_done() => None,
                            _ => Some(i),
                        }
                    })
                    .collect();
                if ready.is_empty() {
                    if s.chaos_queues.iter().all(VecDeque::is_empty) {
                        return Ok(());
                    }
                    return Err(Error::Backend(
                        "chaos scheduler: every queued operation waits on work that never ran"
                            .into(),
                    ));
                }
                let pick = match policy {
                    ChaosPolicy::LatestFirst => *ready
                        .iter()
                        .max_by_key(|&&i| s.chaos_queues[i].front().map_or(0, |op| op.id))
                        .expect("ready is not empty"),
                    ChaosPolicy::Random => {
                        s.rng = splitmix(s.rng);
                        ready[(s.rng % ready.len() as u64) as usize]
                    }
                };
                let queue = Arc::clone(&s.streams[pick].queue);
                let op = s.chaos_queues[pick]
                    .pop_front()
                    .expect("picked a non-empty queue");
                (op, queue)
            };
            let (mut op, queue) = op;
            let result = exec::run_owned(&mut op, false);
            let error = result.err().map(|e| format!("{}: {e}", op.description));
            if let Some(msg) = &error {
                queue.record_error(msg.clone());
            }
            op.done.finish(error);
            drop(op);
        }
    }

    /// The host synchronizes with stream `slot`: orders the host after its work, waits, and
    /// surfaces the stream's first error and any new hazards.
    pub(crate) fn sync_stream(&self, slot: usize) -> Result<()> {
        self.faults.check("stream synchronize")?;
        let (last, queue) = {
            let mut s = self.lock();
            let (thread, sim) = (s.streams[slot].thread, s.streams[slot].sim);
            if let Some(d) = s.detector.as_mut() {
                let c = d.clock(thread).clone();
                d.host_sync(&c);
            }
            if let Some(clock) = s.sim.as_mut() {
                let t = clock.stream_time(sim);
                clock.host_wait(t);
            }
            (
                s.streams[slot].last.clone(),
                Arc::clone(&s.streams[slot].queue),
            )
        };
        if let Some(done) = last {
            done.wait()?;
        }
        if let Some(message) = queue.take_error() {
            return Err(Error::Backend(message));
        }
        self.check_hazards()
    }

    /// The host synchronizes with an event's point.
    pub(crate) fn sync_point(&self, point: &EventPoint) -> Result<()> {
        {
            let mut s = self.lock();
            if let Some(d) = s.detector.as_mut() {
                d.host_sync(&point.clock);
            }
            if let Some(clock) = s.sim.as_mut() {
                clock.host_wait(point.sim_time);
            }
        }
        if let Some(m) = &point.marker {
            m.wait()?;
        }
        self.faults.check("event synchronize")?;
        self.check_hazards()
    }

    /// The host accesses pinned memory: checked against queued work by the detector.
    pub(crate) fn host_access(
        &self,
        allocation: u64,
        label: &str,
        bytes: usize,
        write: bool,
    ) -> Result<()> {
        let mut s = self.lock();
        if let Some(d) = s.detector.as_mut() {
            let what = if write { "host write" } else { "host read" };
            d.host_access(
                &format!("{what} of {label:?}"),
                AccessRecord {
                    allocation,
                    allocation_label: label.to_owned(),
                    bytes: 0..bytes,
                    write,
                },
            );
        }
        drop(s);
        self.check_hazards()
    }

    /// Fails with [`Error::Hazards`] when hazards were found since the last check and the
    /// configuration asks for that.
    pub(crate) fn check_hazards(&self) -> Result<()> {
        if !self.config.fail_on_hazard {
            return Ok(());
        }
        let mut s = self.lock();
        let total = s.detector.as_ref().map_or(0, |d| d.hazards.len());
        if total > s.hazards_surfaced {
            let first = s
                .detector
                .as_ref()
                .expect("hazards imply a detector")
                .hazards[s.hazards_surfaced]
                .to_string();
            let count = total - s.hazards_surfaced;
            s.hazards_surfaced = total;
            return Err(Error::Hazards { count, first });
        }
        Ok(())
    }

    /// Every hazard found so far.
    pub(crate) fn hazards(&self) -> Vec<Hazard> {
        self.lock()
            .detector
            .as_ref()
            .map_or_else(Vec::new, |d| d.hazards.clone())
    }

    /// Forgets a freed allocation in the detector.
    pub(crate) fn forget(&self, allocation: u64) {
        if let Some(d) = self.lock().detector.as_mut() {
            d.forget(allocation);
        }
    }

    /// Simulated time at which everything queued so far ends.
    pub(crate) fn makespan(&self) -> Option<f64> {
        self.lock().sim.as_ref().map(SimClock::makespan)
    }

    /// The threads (detector ids) of every stream of `device`.
    pub(crate) fn device_slots(&self, device: usize) -> Vec<usize> {
        let s = self.lock();
        s.streams
            .iter()
            .enumerate()
            .filter(|(_, st)| st.device == device)
            .map(|(i, _)| i)
            .collect()
    }
}

fn accesses(work: &Work) -> Vec<AccessRecord> {
    use crate::backend::memory::{DevRange, HostRange};
    let dev = |r: &DevRange, write: bool| AccessRecord {
        allocation: r.mem.id,
        allocation_label: r.mem.label.clone(),
        bytes: r.offset..r.offset + r.bytes,
        write,
    };
    let host = |r: &HostRange, write: bool| AccessRecord {
        allocation: r.mem.id,
        allocation_label: r.mem.label.clone(),
        bytes: r.offset..r.offset + r.bytes,
        write,
    };
    match work {
        Work::CopyH2d { src, dst } => vec![host(src, false), dev(dst, true)],
        Work::CopyD2h { src, dst } => vec![dev(src, false), host(dst, true)],
        Work::CopyD2d { src, dst, .. } => vec![dev(src, false), dev(dst, true)],
        Work::Memset { dst, .. } => vec![dev(dst, true)],
        Work::Kernel(k) => k
            .buffers()
            .map(|b| dev(&b.range, b.access == Access::Write))
            .collect(),
        Work::HostFn(_) | Work::Record | Work::Wait(_) => Vec::new(),
    }
}

/// An armed launch of the trap kernel (its one scalar is non-zero).
fn is_armed_trap(k: &crate::launch::KernelLaunch) -> bool {
    k.kernel.name() == gpu_kernels::entries::DEBUG_TRAP
        && k.args.iter().any(|a| {
            matches!(a, crate::launch::KernelArg::Scalar(s) if s.bytes().iter().any(|&b| b != 0))
        })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
