//! The race detector: vector clocks over streams and the host, and the byte ranges each
//! queued operation reads and writes.
//!
//! Analysis happens when work is *queued*, not when it runs, so its reports do not depend
//! on timing: a program either orders two conflicting accesses (by stream order, an event
//! wait, or a host synchronization between queuing them) or it does not, and the same
//! program gets the same reports on every run.
//!
//! Clocks: every stream, and the host, is a *thread* with a vector clock. Queuing an op
//! ticks the stream's own entry and first joins the host's clock into the stream's (the host
//! queued it, so everything the host had seen happens before it). Recording an event copies
//! the stream's clock into the event; waiting joins the event's clock into the stream's; the
//! host joins a stream's clock when it synchronizes the stream, an event's when it
//! synchronizes (or successfully queries) the event. Access `a` by thread `t` at epoch `e`
//! happens before access `b` iff `e <= b.clock[t]`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// Index of a thread (a stream, or the host) in vector clocks. The host is thread 0.
pub(crate) type ThreadId = usize;

/// The host's thread id.
pub(crate) const HOST: ThreadId = 0;

/// A vector clock: `clock[t]` is the latest epoch of thread `t` known to happen before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VectorClock(Vec<u64>);

impl VectorClock {
    pub(crate) fn get(&self, t: ThreadId) -> u64 {
        self.0.get(t).copied().unwrap_or(0)
    }

    fn set(&mut self, t: ThreadId, epoch: u64) {
        if self.0.len() <= t {
            self.0.resize(t + 1, 0);
        }
        self.0[t] = epoch;
    }

    pub(crate) fn join(&mut self, other: &VectorClock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, &theirs) in self.0.iter_mut().zip(&other.0) {
            *mine = (*mine).max(theirs);
        }
    }
}

/// One access to a byte range of an allocation.
#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub(crate) allocation: u64,
    pub(crate) allocation_label: String,
    pub(crate) bytes: Range<usize>,
    pub(crate) write: bool,
}

/// Who made an access: the op (or host access) and its thread and epoch.
#[derive(Debug, Clone)]
struct Accessor {
    thread: ThreadId,
    epoch: u64,
    description: String,
    write: bool,
    bytes: Range<usize>,
}

/// A conflicting pair of accesses with no happens-before path between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hazard {
    /// "write after write", "read after write" or "write after read".
    pub kind: &'static str,
    /// Label and id of the buffer.
    pub buffer: String,
    /// The overlapping bytes.
    pub bytes: Range<usize>,
    /// The earlier-queued access: operation, thread.
    pub first: String,
    /// The later-queued access.
    pub second: String,
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hazard on buffer {} bytes {}..{}: {} is not ordered before {} \
             (no stream order, event wait or host synchronization connects them)",
            self.kind, self.buffer, self.bytes.start, self.bytes.end, self.first, self.second
        )
    }
}

/// Vector-clock race detector over all streams of a CPU runtime.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    clocks: Vec<VectorClock>,
    history: HashMap<u64, Vec<Accessor>>,
    pub(crate) hazards: Vec<Hazard>,
}

fn thread_name(t: ThreadId) -> String {
    if t == HOST {
        "the host".to_owned()
    } else {
        format!("stream #{t}")
    }
}

impl Detector {
    pub(crate) fn new() -> Detector {
        Detector {
            clocks: vec![VectorClock::default()],
            ..Default::default()
        }
    }

    /// Registers a new stream thread and returns its id.
    pub(crate) fn add_thread(&mut self) -> ThreadId {
        self.clocks.push(VectorClock::default());
        self.clocks.len() - 1
    }

    pub(crate) fn clock(&self, t: ThreadId) -> &VectorClock {
        &self.clocks[t]
    }

    /// Queues an operation on stream `t`: joins the host's clock, ticks, and checks each
    /// access against earlier ones.
    pub(crate) fn op(&mut self, t: ThreadId, description: &str, accesses: &[AccessRecord]) {
        let host = self.clocks[HOST].clone();
        self.clocks[t].join(&host);
        self.tick_and_check(t, description, accesses);
    }

    /// A host access (reading or writing pinned memory).
    pub(crate) fn host_access(&mut self, description: &str, access: AccessRecord) {
        self.tick_and_check(HOST, description, std::slice::from_ref(&access));
    }

    fn tick_and_check(&mut self, t: ThreadId, description: &str, accesses: &[AccessRecord]) {
        let epoch = self.clocks[t].get(t) + 1;
        self.clocks[t].set(t, epoch);
        let clock = self.clocks[t].clone();
        for access in accesses {
            let entries = self.history.entry(access.allocation).or_default();
            for earlier in entries.iter() {
                let overlap = earlier.bytes.start.max(access.bytes.start)
                    ..earlier.bytes.end.min(access.bytes.end);
                if overlap.start >= overlap.end || !(earlier.write || access.write) {
                    continue;
                }
                if earlier.epoch <= clock.get(earlier.thread) {
                    continue;
                }
                let kind = match (earlier.write, access.write) {
                    (true, true) => "write after write",
                    (true, false) => "read after write",
                    _ => "write after read",
                };
                self.hazards.push(Hazard {
                    kind,
                    buffer: format!("{:?} (#{})", access.allocation_label, access.allocation),
                    bytes: overlap,
                    first: format!("{} on {}", earlier.description, thread_name(earlier.thread)),
                    second: format!("{} on {}", description, thread_name(t)),
                });
            }
            // Earlier accesses ordered before this one and covered by it can never race
            // with anything later that this one does not also race with.
            if access.write {
                entries.retain(|e| {
                    let covered =
                        access.bytes.start <= e.bytes.start && e.bytes.end <= access.bytes.end;
                    !(covered && e.epoch <= clock.get(e.thread))
                });
            }
            entries.push(Accessor {
                thread: t,
                epoch,
                description: description.to_owned(),
                write: access.write,
                bytes: access.bytes.clone(),
            });
        }
    }

    /// The stream's clock, for an event recorded on it.
    pub(crate) fn record(&self, t: ThreadId) -> VectorClock {
        let mut c = self.clocks[t].clone();
        c.join(&self.clocks[HOST]);
        c
    }

    /// Stream `t` waits for an event with clock `event`.
    pub(crate) fn wait(&mut self, t: ThreadId, event: &VectorClock) {
        let host = self.clocks[HOST].clone();
        self.clocks[t].join(&host);
        self.clocks[t].join(event);
    }

    /// The host synchronized with a stream or an event whose clock is `clock`.
    pub(crate) fn host_sync(&mut self, clock: &VectorClock) {
        self.clocks[HOST].join(clock);
    }

    /// Forgets an allocation's history when it is freed.
    pub(crate) fn forget(&mut self, allocation: u64) {
        self.history.remove(&allocation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(write: bool, bytes: Range<usize>) -> AccessRecord {
        AccessRecord {
            allocation: 7,
            allocation_label: "buf".into(),
            bytes,
            write,
        }
    }

    #[test]
    fn unordered_writes_on_two_streams_are_reported_with_both_names() {
        let mut d = Detector::new();
        let (a, b) = (d.add_thread(), d.add_thread());
        d.op(a, "kernel k1", &[access(true, 0..16)]);
        d.op(b, "kernel k2", &[access(true, 8..24)]);
        assert_eq!(d.hazards.len(), 1);
        let h = &d.hazards[0];
        assert_eq!(h.kind, "write after write");
        assert_eq!(h.bytes, 8..16);
        assert!(
            h.first.contains("kernel k1") && h.second.contains("kernel k2"),
            "{h}"
        );
    }

    #[test]
    fn an_event_wait_orders_the_streams() {
        let mut d = Detector::new();
        let (a, b) = (d.add_thread(), d.add_thread());
        d.op(a, "copy in", &[access(true, 0..16)]);
        let ev = d.record(a);
        d.wait(b, &ev);
        d.op(b, "kernel", &[access(false, 0..16)]);
        assert!(d.hazards.is_empty(), "{:?}", d.hazards);
    }

    #[test]
    fn an_event_recorded_before_the_write_does_not_order_it() {
        let mut d = Detector::new();
        let (a, b) = (d.add_thread(), d.add_thread());
        let ev = d.record(a);
        d.op(a, "copy in", &[access(true, 0..16)]);
        d.wait(b, &ev);
        d.op(b, "kernel", &[access(false, 0..16)]);
        assert_eq!(d.hazards.len(), 1);
        assert_eq!(d.hazards[0].kind, "read after write");
    }

    #[test]
    fn reads_never_conflict_and_disjoint_writes_never_conflict() {
        let mut d = Detector::new();
        let (a, b) = (d.add_thread(), d.add_thread());
        d.op(a, "r1", &[access(false, 0..16)]);
        d.op(b, "r2", &[access(false, 0..16)]);
        d.op(a, "w1", &[access(true, 16..32)]);
        d.op(b, "w2", &[access(true, 32..48)]);
        assert!(d.hazards.is_empty());
    }

    #[test]
    fn host_access_needs_a_host_synchronization() {
        let mut d = Detector::new();
        let a = d.add_thread();
        d.op(a, "copy out", &[access(true, 0..16)]);
        d.host_access("host read", access(false, 0..16));
        assert_eq!(d.hazards.len(), 1);
        let c = d.record(a);
        d.op(a, "copy out again", &[access(true, 0..16)]);
        d.host_sync(&d.clock(a).clone());
        d.host_access("host read", access(false, 0..16));
        assert_eq!(d.hazards.len(), 1, "synchronized read must not be reported");
        let _ = c;
    }

    #[test]
    fn work_queued_after_a_host_access_is_ordered_after_it() {
        let mut d = Detector::new();
        let a = d.add_thread();
        d.host_access("host write", access(true, 0..16));
        d.op(a, "copy in", &[access(false, 0..16)]);
        assert!(d.hazards.is_empty());
    }
}
