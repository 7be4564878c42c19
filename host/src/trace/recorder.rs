//! The [`Tracer`]: a timestamp after each operation (and before it where its start cannot
//! be derived, see [`super::starts`]), resolved after the work is done.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::backend::{BackendKind, Device, Event, Stream};
use crate::error::{Error, Result};
use crate::trace::starts::Starts;
use crate::trace::{OpKind, Trace, TraceClock, TraceOp, TracedDevice};

/// Records the timing of every operation queued on the streams of the devices it is attached
/// to. Cheap to clone (clones share one recording).
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Tracer")
            .field("devices", &state.devices.len())
            .field("pending_ops", &state.pending.len())
            .finish()
    }
}

#[derive(Debug)]
struct Inner {
    created: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    devices: Vec<Origin>,
    pending: Vec<Pending>,
    /// What the next operation on each stream starts after.
    starts: Starts,
    /// Bumped by every [`Tracer::take`]: a span opened before one refers to pending entries
    /// that are gone.
    generation: u64,
    /// Timing events ready for reuse, per device.
    pool: HashMap<DeviceKey, Vec<Event>>,
}

impl State {
    /// A timing event of device `key` from the pool, or a new one.
    fn timing_event(&mut self, key: DeviceKey, device: &Device) -> Result<Event> {
        match self.pool.entry(key).or_default().pop() {
            Some(e) => Ok(e),
            None => device.event(true),
        }
    }
}

type DeviceKey = (BackendKind, usize);

/// Where a device's timestamps are measured from.
#[derive(Debug)]
struct Origin {
    key: DeviceKey,
    name: String,
    clock: OriginClock,
}

#[derive(Debug)]
enum OriginClock {
    /// An event recorded at attach time, `offset_us` after the tracer was created.
    Event { event: Event, offset_us: f64 },
    /// Simulated seconds at attach time.
    Simulated(f64),
}

/// An operation being queued: what it is and how its start is known.
#[derive(Debug)]
pub(crate) struct Span {
    key: DeviceKey,
    kind: OpKind,
    bytes: u64,
    start: SpanStart,
    generation: u64,
}

#[derive(Debug)]
enum SpanStart {
    /// The timing model gives the interval.
    Simulated,
    /// A timing event recorded before the operation.
    Recorded(Event),
    /// The latest end of these pending operations.
    After(Vec<usize>),
}

#[derive(Debug)]
struct Pending {
    key: DeviceKey,
    stream: u64,
    kind: OpKind,
    bytes: u64,
    stamp: Stamp,
}

#[derive(Debug)]
enum Stamp {
    /// How the start is known, and the timing event recorded after the operation.
    Events(Start, Event),
    Simulated(f64, f64),
}

#[derive(Debug)]
enum Start {
    Recorded(Event),
    After(Vec<usize>),
}

impl Pending {
    /// Whether the operation may still be running (its end event has not completed).
    fn running(&self) -> Result<bool> {
        match &self.stamp {
            Stamp::Events(_, end) => Ok(!end.peek_complete()?),
            Stamp::Simulated(..) => Ok(false),
        }
    }
}

fn simulated(device: &Device) -> bool {
    device
        .as_cpu()
        .is_some_and(|c| c.simulated_seconds().is_some())
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer::new()
    }
}

impl Tracer {
    /// A tracer attached to nothing yet.
    pub fn new() -> Tracer {
        Tracer {
            inner: Arc::new(Inner {
                created: Instant::now(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A handle to `device` whose streams (made from it from now on) are traced. Marks the
    /// device's time origin, so attach when the device is idle.
    pub fn attach(&self, device: &Device) -> Result<Device> {
        let key = (device.backend(), device.ordinal());
        let known = self.lock().devices.iter().any(|d| d.key == key);
        if !known {
            let clock = match device.as_cpu().and_then(|c| c.simulated_seconds()) {
                Some(now) => OriginClock::Simulated(now),
                None => {
                    let stream = device.stream()?;
                    let event = device.event(true)?;
                    stream.record(&event)?;
                    stream.synchronize()?;
                    OriginClock::Event {
                        event,
                        offset_us: self.inner.created.elapsed().as_secs_f64() * 1e6,
                    }
                }
            };
            self.lock().devices.push(Origin {
                key,
                name: device.info().name.clone(),
                clock,
            });
        }
        tracing::debug!(device = %device.info().name, "tracer attached");
        let mut traced = device.clone();
        traced.tracer = Some(self.clone());
        Ok(traced)
    }

    /// Opens a span for an operation about to be queued on `stream`. Off simulated time
    /// (where the model gives the interval) the start is derived from earlier operations'
    /// ends when the stream is busy and every wait since its last operation is known, and
    /// timed with an event of its own otherwise.
    pub(crate) fn begin(&self, stream: &Stream, kind: OpKind, bytes: u64) -> Result<Span> {
        let device = stream.device();
        let key = (device.backend(), device.ordinal());
        let simulated = simulated(device);
        let mut state = self.lock();
        let generation = state.generation;
        let start = if simulated {
            SpanStart::Simulated
        } else {
            let State {
                pending, starts, ..
            } = &mut *state;
            match starts.follows(stream.id(), |i| pending[i].running())? {
                Some(after) => SpanStart::After(after),
                None => {
                    let event = state.timing_event(key, device)?;
                    drop(state);
                    stream.record_untraced(&event)?;
                    SpanStart::Recorded(event)
                }
            }
        };
        Ok(Span {
            key,
            kind,
            bytes,
            start,
            generation,
        })
    }

    /// Closes `span` after its operation was queued on `stream`: records the end event, or
    /// takes the interval the timing model gave the operation.
    pub(crate) fn end(&self, stream: &Stream, span: Span) -> Result<()> {
        let start = match span.start {
            SpanStart::Simulated => {
                let (start, end) = stream.last_simulated_interval().ok_or_else(|| {
                    Error::Backend("a simulated stream has no simulated interval".into())
                })?;
                self.lock().pending.push(Pending {
                    key: span.key,
                    stream: stream.id(),
                    kind: span.kind,
                    bytes: span.bytes,
                    stamp: Stamp::Simulated(start, end),
                });
                return Ok(());
            }
            SpanStart::Recorded(event) => Start::Recorded(event),
            SpanStart::After(after) => Start::After(after),
        };
        let end = self.lock().timing_event(span.key, stream.device())?;
        stream.record_untraced(&end)?;
        let mut state = self.lock();
        if state.generation != span.generation && matches!(start, Start::After(_)) {
            // Taken while this operation was being queued: the operations its start was
            // derived from are gone, so it is left out.
            tracing::warn!(
                kind = span.kind.label(),
                "operation queued during take: not traced"
            );
            state.pool.entry(span.key).or_default().push(end);
            return Ok(());
        }
        let index = state.pending.len();
        state.pending.push(Pending {
            key: span.key,
            stream: stream.id(),
            kind: span.kind,
            bytes: span.bytes,
            stamp: Stamp::Events(start, end),
        });
        state.starts.queued(stream.id(), index);
        Ok(())
    }

    /// `event` was recorded on the traced `stream`: remembers what its completion marks.
    pub(crate) fn recorded(&self, stream: &Stream, event: &Event) -> Result<()> {
        if simulated(stream.device()) {
            return Ok(());
        }
        let mut state = self.lock();
        let State {
            pending, starts, ..
        } = &mut *state;
        starts.recorded(stream.id(), event.id(), |i| pending[i].running())
    }

    /// The traced `stream` waits on `event`: its next operation also follows what the
    /// event marks.
    pub(crate) fn waited(&self, stream: &Stream, event: &Event) {
        if simulated(stream.device()) {
            return;
        }
        let key = (stream.device().backend(), stream.device().ordinal());
        let mut state = self.lock();
        let State {
            pending, starts, ..
        } = &mut *state;
        // Ends on another device's clock are not comparable to an exact start here.
        starts.waited(stream.id(), event.id(), |i| pending[i].key == key);
    }

    /// Work the tracer does not time was queued on `stream`.
    pub(crate) fn untimed_work(&self, stream: &Stream) {
        self.lock().starts.forget(stream.id());
    }

    /// Waits for every traced operation so far, resolves its times and returns them (sorted
    /// by start), leaving the tracer empty and attached. Timing events go back to the pool.
    /// Every end is resolved first; a derived start is the latest end among the operations
    /// it follows, which always came earlier in the recording.
    pub fn take(&self) -> Result<Trace> {
        let mut state = self.lock();
        let pending = std::mem::take(&mut state.pending);
        state.starts.clear();
        state.generation += 1;
        let mut ops: Vec<TraceOp> = Vec::with_capacity(pending.len());
        let mut clocks = Vec::new();
        let mut timing_events = 0;
        for (index, p) in pending.into_iter().enumerate() {
            let origin = state
                .devices
                .iter()
                .find(|d| d.key == p.key)
                .ok_or_else(|| Error::Backend("traced operation on an unattached device".into()))?;
            let (start_us, end_us, clock) = match (&p.stamp, &origin.clock) {
                (Stamp::Simulated(s, e), OriginClock::Simulated(o)) => {
                    ((s - o) * 1e6, (e - o) * 1e6, TraceClock::Simulated)
                }
                (Stamp::Events(s, e), OriginClock::Event { event, offset_us }) => {
                    let at = |x: &Event| -> Result<f64> {
                        Ok(event.elapsed_ms(x)? as f64 * 1e3 + offset_us)
                    };
                    let clock = match p.key.0 {
                        BackendKind::Cuda => TraceClock::CudaEvents,
                        BackendKind::Cpu => TraceClock::Wall,
                    };
                    let start_us = match s {
                        Start::Recorded(s) => {
                            timing_events += 1;
                            at(s)?
                        }
                        Start::After(after) => derived_start(&ops, index, after)?,
                    };
                    timing_events += 1;
                    (start_us, at(e)?, clock)
                }
                _ => {
                    return Err(Error::Backend(
                        "a device's clock changed while it was traced".into(),
                    ));
                }
            };
            clocks.push(clock);
            ops.push(TraceOp {
                device: p.key.1,
                stream: p.stream,
                kind: p.kind,
                bytes: p.bytes,
                start_us,
                end_us: end_us.max(start_us),
            });
            if let Stamp::Events(s, e) = p.stamp {
                let pool = state.pool.entry(p.key).or_default();
                if let Start::Recorded(s) = s {
                    pool.push(s);
                }
                pool.push(e);
            }
        }
        ops.sort_by(|a, b| a.start_us.total_cmp(&b.start_us));
        tracing::debug!(ops = ops.len(), "trace resolved");
        let clock = clocks
            .first()
            .copied()
            .unwrap_or(match state.devices.first() {
                Some(Origin {
                    clock: OriginClock::Simulated(_),
                    ..
                }) => TraceClock::Simulated,
                Some(Origin {
                    key: (BackendKind::Cpu, _),
                    ..
                }) => TraceClock::Wall,
                _ => TraceClock::CudaEvents,
            });
        Ok(Trace {
            clock,
            devices: state
                .devices
                .iter()
                .map(|d| TracedDevice {
                    ordinal: d.key.1,
                    name: d.name.clone(),
                })
                .collect(),
            ops,
            timing_events,
        })
    }
}

/// The latest end among `after`, operations resolved before entry `index`.
fn derived_start(resolved: &[TraceOp], index: usize, after: &[usize]) -> Result<f64> {
    after
        .iter()
        .map(|&i| {
            resolved.get(i).map(|op| op.end_us).ok_or_else(|| {
                Error::Backend(format!(
                    "traced operation {index} follows operation {i}, which is not before it"
                ))
            })
        })
        .try_fold(f64::NEG_INFINITY, |latest, end| Ok(latest.max(end?)))
}
