//! Running a DAG eagerly: every node queued on a pool of streams each time, independent
//! branches on different streams, one event per cross-stream edge and none within a stream.

use crate::backend::{Device, Event, Stream};
use crate::error::Result;

use super::check::Checked;
use super::dag::Dag;
use super::issue::{Mode, StreamIssuer, issue};
use super::plan::{Plan, Step};

/// A DAG planned onto a stream pool, ready to be issued any number of times.
///
/// The caller's stream is lane 0; the runner owns the other streams and the events, created
/// once. [`EagerRunner::run`] queues the whole DAG behind the work already on the caller's
/// stream and makes that stream wait for all of it, so the caller orders later work (or a
/// `synchronize`) on its one stream.
#[derive(Debug)]
pub struct EagerRunner {
    devices: Vec<Device>,
    dag: Dag,
    plan: Plan,
    pool: Vec<Stream>,
    events: Vec<Event>,
}

impl EagerRunner {
    /// Validates `dag` and plans it onto at most `max_streams` streams (including the one it
    /// is run on).
    pub fn new(dag: Dag, device: &Device, max_streams: usize) -> Result<EagerRunner> {
        let checked = Checked::new(&dag, device)?;
        EagerRunner::from_checked(dag, &checked, std::slice::from_ref(device), max_streams)
    }

    /// Validates `dag` for several distinct devices of one backend and plans it onto at most
    /// `streams_per_device` streams of each. Every node runs on the device its buffers live
    /// on (a kernel's buffers must share one; a copy runs on its destination's device, a
    /// device-to-device copy between devices being a peer copy); edges between devices are
    /// events like any other cross-stream edge. Runs on a stream of `devices[0]`.
    pub fn across(dag: Dag, devices: &[Device], streams_per_device: usize) -> Result<EagerRunner> {
        let checked = Checked::across(&dag, devices)?;
        EagerRunner::from_checked(dag, &checked, devices, streams_per_device)
    }

    pub(crate) fn from_checked(
        dag: Dag,
        checked: &Checked,
        devices: &[Device],
        max_streams: usize,
    ) -> Result<EagerRunner> {
        let plan = Plan::new(&dag, checked, max_streams);
        let pool = plan.lane_device[1..]
            .iter()
            .map(|&d| devices[d].stream())
            .collect::<Result<Vec<_>>>()?;
        // An event is recorded on one lane and waited on by others (of any device): it must
        // belong to the device of the lane that records it.
        let mut recorder = vec![0; plan.events];
        for step in &plan.steps {
            if let Step::Record { lane, event } = *step {
                recorder[event] = plan.lane_device[lane];
            }
        }
        for step in &plan.steps {
            if let Step::Record { lane, event } = *step {
                debug_assert_eq!(recorder[event], plan.lane_device[lane], "event {event}");
            }
        }
        let events = recorder
            .iter()
            .map(|&d| devices[d].event(false))
            .collect::<Result<Vec<_>>>()?;
        Ok(EagerRunner {
            devices: devices.to_vec(),
            dag,
            plan,
            pool,
            events,
        })
    }

    /// Queues every node behind `stream`'s current work; `stream` then waits for all of them.
    pub fn run(&self, stream: &Stream) -> Result<()> {
        super::check_stream(&self.devices[0], stream)?;
        let _range = crate::trace::nvtx_range("graph eager run");
        let mut lanes = vec![stream];
        lanes.extend(self.pool.iter());
        let mut issuer = StreamIssuer {
            lanes,
            events: &self.events,
            mode: Mode::Eager,
            after_run: None,
            keep: None,
        };
        issue(&self.plan, &self.dag, &mut issuer)
    }

    /// Streams the plan uses on each device (index into the device list), counting the
    /// caller's on device 0.
    pub fn streams_per_device(&self) -> Vec<usize> {
        let mut per = vec![0; self.devices.len()];
        for &d in &self.plan.lane_device {
            per[d] += 1;
        }
        per
    }

    /// Streams the plan uses, counting the caller's.
    pub fn streams(&self) -> usize {
        self.plan.lanes
    }

    /// Event waits between nodes on different streams per run (forks and joins excluded).
    pub fn cross_stream_waits(&self) -> usize {
        self.plan.cross_lane_waits()
    }

    /// The DAG being run.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    pub(crate) fn dag_mut(&mut self) -> &mut Dag {
        &mut self.dag
    }
}
