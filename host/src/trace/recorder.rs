//! The [`Tracer`]: timestamps taken around each operation, resolved after the work is done.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::backend::{BackendKind, Device, Event, Stream};
use crate::error::{Error, Result};
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
    /// Timing events ready for reuse, per device.
    pool: HashMap<DeviceKey, Vec<Event>>,
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

/// An operation being queued: what it is and, off simulated time, its start event.
#[derive(Debug)]
pub(crate) struct Span {
    key: DeviceKey,
    kind: OpKind,
    bytes: u64,
    start: Option<Event>,
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
    Events(Event, Event),
    Simulated(f64, f64),
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

    /// Opens a span for an operation about to be queued on `stream`: records a timing event
    /// first, unless the device's time is simulated (the model gives the interval).
    pub(crate) fn begin(&self, stream: &Stream, kind: OpKind, bytes: u64) -> Result<Span> {
        let device = stream.device();
        let key = (device.backend(), device.ordinal());
        if device
            .as_cpu()
            .is_some_and(|c| c.simulated_seconds().is_some())
        {
            return Ok(Span {
                key,
                kind,
                bytes,
                start: None,
            });
        }
        let pooled = self.lock().pool.entry(key).or_default().pop();
        let start = match pooled {
            Some(e) => e,
            None => device.event(true)?,
        };
        stream.record(&start)?;
        Ok(Span {
            key,
            kind,
            bytes,
            start: Some(start),
        })
    }

    /// Closes `span` after its operation was queued on `stream`: records the end event, or
    /// takes the interval the timing model gave the operation.
    pub(crate) fn end(&self, stream: &Stream, span: Span) -> Result<()> {
        let stamp = match span.start {
            None => {
                let (start, end) = stream.last_simulated_interval().ok_or_else(|| {
                    Error::Backend("a simulated stream has no simulated interval".into())
                })?;
                Stamp::Simulated(start, end)
            }
            Some(start) => {
                let pooled = self.lock().pool.entry(span.key).or_default().pop();
                let end = match pooled {
                    Some(e) => e,
                    None => stream.device().event(true)?,
                };
                stream.record(&end)?;
                Stamp::Events(start, end)
            }
        };
        self.push(span.key, stream.id(), span.kind, span.bytes, stamp);
        Ok(())
    }

    fn push(&self, key: DeviceKey, stream: u64, kind: OpKind, bytes: u64, stamp: Stamp) {
        self.lock().pending.push(Pending {
            key,
            stream,
            kind,
            bytes,
            stamp,
        });
    }

    /// Waits for every traced operation so far, resolves its times and returns them (sorted
    /// by start), leaving the tracer empty and attached. Timing events go back to the pool.
    pub fn take(&self) -> Result<Trace> {
        let mut state = self.lock();
        let pending = std::mem::take(&mut state.pending);
        let mut ops = Vec::with_capacity(pending.len());
        let mut clocks = Vec::new();
        for p in pending {
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
                    (at(s)?, at(e)?, clock)
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
                pool.push(s);
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
        })
    }
}
