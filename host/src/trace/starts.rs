//! Which operations' start times can be derived from other operations' ends instead of
//! timed with an event of their own.
//!
//! A timed event costs the device measurably (an untimed one does not), so the tracer
//! records one timed event after each operation and derives its start where that is exact:
//! an operation queued on a stream that is still busy starts when the stream's previous
//! operation ends, or when the work its waits name completes, whichever is later. The
//! [`Starts`] book keeps, per traced stream, its last traced operation and the sources of
//! the waits queued since, and per event the work its last record stands for. Everything
//! is an index into the tracer's pending list, so the book is cleared with it.

use std::collections::HashMap;

use crate::error::Result;

/// Per-stream and per-event knowledge of what queued work ends when.
#[derive(Debug, Default)]
pub(super) struct Starts {
    streams: HashMap<u64, Track>,
    marks: HashMap<u64, Mark>,
}

/// What a stream's next operation would follow.
#[derive(Debug, Default)]
struct Track {
    /// The pending index of the stream's last traced operation.
    last: Option<usize>,
    /// Operations that waits queued since `last` resolve to.
    waits: Vec<usize>,
    /// A wait since `last` on something the book cannot name.
    unknown_wait: bool,
}

/// What an event's last record completes with.
#[derive(Debug)]
enum Mark {
    /// Exactly when the last of these operations ends.
    After(Vec<usize>),
    /// Nothing the book can name.
    Unknown,
}

impl Starts {
    /// The operations whose latest end is exactly when work queued now on `stream` would
    /// start, or `None` when that is not known: the stream has no traced operation yet, an
    /// unknown wait came since, or `busy` says its last operation has already ended (the
    /// new work would start at enqueue, a time no event marks).
    pub(super) fn follows(
        &self,
        stream: u64,
        busy: impl FnOnce(usize) -> Result<bool>,
    ) -> Result<Option<Vec<usize>>> {
        let Some(track) = self.streams.get(&stream) else {
            return Ok(None);
        };
        let Some(last) = track.last else {
            return Ok(None);
        };
        if track.unknown_wait || !busy(last)? {
            return Ok(None);
        }
        let mut after = Vec::with_capacity(1 + track.waits.len());
        after.push(last);
        after.extend(&track.waits);
        after.sort_unstable();
        after.dedup();
        Ok(Some(after))
    }

    /// An operation on `stream` was queued as pending entry `index`; its waits are behind
    /// it.
    pub(super) fn queued(&mut self, stream: u64, index: usize) {
        self.streams.insert(
            stream,
            Track {
                last: Some(index),
                ..Track::default()
            },
        );
    }

    /// `event` was recorded on `stream`: it completes when the operations [`Starts::follows`]
    /// names complete, if it names any.
    pub(super) fn recorded(
        &mut self,
        stream: u64,
        event: u64,
        busy: impl FnOnce(usize) -> Result<bool>,
    ) -> Result<()> {
        let mark = match self.follows(stream, busy)? {
            Some(after) => Mark::After(after),
            None => Mark::Unknown,
        };
        self.marks.insert(event, mark);
        Ok(())
    }

    /// `stream` waits on `event`: its next operation also follows what the event marks,
    /// as long as `comparable` accepts each of those operations (same device clock).
    pub(super) fn waited(&mut self, stream: u64, event: u64, comparable: impl Fn(usize) -> bool) {
        let track = self.streams.entry(stream).or_default();
        match self.marks.get(&event) {
            Some(Mark::After(after)) if after.iter().all(|&i| comparable(i)) => {
                track.waits.extend(after);
            }
            _ => track.unknown_wait = true,
        }
    }

    /// Work the tracer does not time was queued on `stream`: its next operation must time
    /// its own start.
    pub(super) fn forget(&mut self, stream: u64) {
        self.streams.remove(&stream);
    }

    /// Forgets everything (the pending list it indexes was taken).
    pub(super) fn clear(&mut self) {
        self.streams.clear();
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(_: usize) -> Result<bool> {
        Ok(true)
    }

    fn idle(_: usize) -> Result<bool> {
        Ok(false)
    }

    #[test]
    fn a_stream_without_history_or_gone_idle_derives_nothing() -> Result<()> {
        let mut s = Starts::default();
        assert_eq!(s.follows(1, busy)?, None);
        s.queued(1, 0);
        assert_eq!(s.follows(1, idle)?, None);
        assert_eq!(s.follows(1, busy)?, Some(vec![0]));
        s.forget(1);
        assert_eq!(s.follows(1, busy)?, None);
        Ok(())
    }

    #[test]
    fn waits_add_the_recording_streams_work_and_unknown_ones_spoil_it() -> Result<()> {
        let mut s = Starts::default();
        s.queued(1, 0); // stream 1: op 0
        s.queued(2, 1); // stream 2: op 1
        s.recorded(1, 100, busy)?; // event 100 behind op 0
        s.waited(2, 100, |_| true);
        assert_eq!(s.follows(2, busy)?, Some(vec![0, 1]));
        // A wait on an event recorded behind nothing known, or never seen recorded.
        s.recorded(3, 101, busy)?;
        s.waited(2, 101, |_| true);
        assert_eq!(s.follows(2, busy)?, None);
        s.queued(2, 2); // the next op clears the waits
        assert_eq!(s.follows(2, busy)?, Some(vec![2]));
        s.waited(2, 999, |_| true);
        assert_eq!(s.follows(2, busy)?, None);
        // An event recorded on an idle stream marks an unknown time.
        s.queued(2, 3);
        s.recorded(1, 102, idle)?;
        s.waited(2, 102, |_| true);
        assert_eq!(s.follows(2, busy)?, None);
        // Operations another clock timed are not comparable.
        s.queued(2, 4);
        s.waited(2, 100, |_| false);
        assert_eq!(s.follows(2, busy)?, None);
        s.clear();
        assert_eq!(s.follows(1, busy)?, None);
        Ok(())
    }
}
