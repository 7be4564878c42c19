//! Live resource counters: how many streams and events exist and how many bytes of device
//! and pinned memory are allocated, per backend, process-wide.
//!
//! Every [`crate::backend::Stream`], [`crate::backend::Event`] and allocation holds a
//! `Counted` guard that adds itself on creation and subtracts itself on drop, so a leak
//! shows as a counter that keeps growing. Soak tests and `riptide` runs read them with
//! [`resources`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::BackendKind;

/// A snapshot of the live resources of one backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// Live streams.
    pub streams: u64,
    /// Live events.
    pub events: u64,
    /// Bytes of pinned (page-locked) host memory allocated.
    pub pinned_bytes: u64,
    /// Bytes of device memory allocated.
    pub device_bytes: u64,
}

/// What a [`Counted`] guard counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Streams,
    Events,
    PinnedBytes,
    DeviceBytes,
}

const BACKENDS: usize = 2;
const COUNTERS: usize = 4;

static LIVE: [[AtomicU64; COUNTERS]; BACKENDS] = [
    [const { AtomicU64::new(0) }; COUNTERS],
    [const { AtomicU64::new(0) }; COUNTERS],
];

fn backend_index(backend: BackendKind) -> usize {
    match backend {
        BackendKind::Cuda => 0,
        BackendKind::Cpu => 1,
    }
}

/// The live resources of `backend` now.
pub fn resources(backend: BackendKind) -> Resources {
    let live = &LIVE[backend_index(backend)];
    let get = |c: Counter| live[c as usize].load(Ordering::Relaxed);
    Resources {
        streams: get(Counter::Streams),
        events: get(Counter::Events),
        pinned_bytes: get(Counter::PinnedBytes),
        device_bytes: get(Counter::DeviceBytes),
    }
}

/// Adds `amount` to a counter while alive.
#[derive(Debug)]
pub(crate) struct Counted {
    backend: usize,
    counter: Counter,
    amount: u64,
}

impl Counted {
    pub(crate) fn new(backend: BackendKind, counter: Counter, amount: u64) -> Counted {
        let backend = backend_index(backend);
        LIVE[backend][counter as usize].fetch_add(amount, Ordering::Relaxed);
        Counted {
            backend,
            counter,
            amount,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE[self.backend][self.counter as usize].fetch_sub(self.amount, Ordering::Relaxed);
    }
}
