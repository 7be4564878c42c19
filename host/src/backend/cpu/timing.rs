//! Simulated device time: a model of copy engines, kernel throughput and launch costs, so
//! planners can be tested on makespan without a GPU.
//!
//! Like the race detector, the model runs when work is queued and is deterministic. Each
//! virtual device has three engines — host-to-device copies, device-to-host copies, and
//! compute (kernels, device copies, memsets) — each running one operation at a time in
//! queue order. An operation starts when its stream is ready, its engine is free, the events
//! it waits for have passed and the host has queued it; the host pays a submission cost per
//! call. The default model is calibrated from an NVIDIA H100 80GB HBM3 on PCIe Gen5 x16
//! (driver 580): pinned copies 55.1 GB/s H2D and 55.2 GB/s D2H, about 46 GB/s each way when
//! both run, 2.9 TB/s device bandwidth counting read plus write, 51 TFLOP/s fp32, 3.6 µs per
//! eager launch of a tiny kernel and 0.79 µs per graph node.

use crate::backend::cpu::exec::Work;

/// Throughputs and costs of one simulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingModel {
    /// Host-to-device copy bandwidth alone, bytes per second.
    pub h2d_bytes_per_s: f64,
    /// Device-to-host copy bandwidth alone, bytes per second.
    pub d2h_bytes_per_s: f64,
    /// Each direction's bandwidth while the other direction is also copying.
    pub duplex_bytes_per_s: f64,
    /// Device memory bandwidth, bytes read plus written per second.
    pub device_bytes_per_s: f64,
    /// Peer (device-to-device across devices) bandwidth.
    pub peer_bytes_per_s: f64,
    /// Arithmetic rate for kernels that state their flops.
    pub flops_per_s: f64,
    /// Fixed device-side cost of a kernel, seconds.
    pub kernel_overhead_s: f64,
    /// Fixed cost of a copy, seconds.
    pub copy_latency_s: f64,
    /// Host cost of submitting one operation, seconds.
    pub submit_s: f64,
    /// Host cost of launching one kernel eagerly, seconds.
    pub launch_submit_s: f64,
    /// Device cost per node of a replayed graph, seconds.
    pub graph_node_s: f64,
    /// Multiplier on every device-side duration (2.0 = a device half as fast).
    pub slowdown: f64,
    /// `(after_s, late)`: an operation starting at or after `after_s` seconds of simulated
    /// time runs with slowdown `slowdown * late` (a device slowing down mid-run). Each
    /// operation's duration uses the factor at its start.
    pub slowdown_after_s: Option<(f64, f64)>,
}

impl Default for TimingModel {
    fn default() -> Self {
        TimingModel::H100_PCIE
    }
}

impl TimingModel {
    /// Calibrated from the measurements quoted in the module docs.
    pub const H100_PCIE: TimingModel = TimingModel {
        h2d_bytes_per_s: 55.1e9,
        d2h_bytes_per_s: 55.2e9,
        duplex_bytes_per_s: 46.2e9,
        device_bytes_per_s: 2.9e12,
        peer_bytes_per_s: 50.0e9,
        flops_per_s: 51.2e12,
        kernel_overhead_s: 1.5e-6,
        copy_latency_s: 2.0e-6,
        submit_s: 1.0e-6,
        launch_submit_s: 3.6e-6,
        graph_node_s: 0.79e-6,
        slowdown: 1.0,
        slowdown_after_s: None,
    };

    /// This model with every device-side duration multiplied by `factor`.
    pub fn slower(mut self, factor: f64) -> TimingModel {
        self.slowdown *= factor;
        self
    }

    fn factor_at(&self, t: f64) -> f64 {
        match self.slowdown_after_s {
            Some((after, late)) if t >= after => self.slowdown * late,
            _ => self.slowdown,
        }
    }
}

/// Which engine an operation occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    H2d,
    D2h,
    Compute,
    None,
}

/// Simulated clocks of one runtime: per device engines, per stream readiness, the host.
#[derive(Debug, Default)]
pub(crate) struct SimClock {
    models: Vec<TimingModel>,
    engines: Vec<[f64; 3]>,
    streams: Vec<f64>,
    /// Start and end of each stream's last simulated operation.
    last: Vec<(f64, f64)>,
    pub(crate) host: f64,
}

impl SimClock {
    pub(crate) fn new(models: Vec<TimingModel>) -> SimClock {
        let engines = vec![[0.0; 3]; models.len()];
        SimClock {
            models,
            engines,
            streams: Vec::new(),
            last: Vec::new(),
            host: 0.0,
        }
    }

    pub(crate) fn add_stream(&mut self) -> usize {
        self.streams.push(self.host);
        self.last.push((self.host, self.host));
        self.streams.len() - 1
    }

    /// Simulates one queued operation on `stream` of `device`; returns its end time.
    /// `after` is the latest time among the events it waits for.
    pub(crate) fn op(
        &mut self,
        device: usize,
        stream: usize,
        work: &Work,
        graph_node: bool,
    ) -> f64 {
        let model = &self.models[device];
        let (engine, bytes, flops) = classify(work);
        self.host += if graph_node {
            0.0
        } else if matches!(work, Work::Kernel(_)) {
            model.launch_submit_s
        } else {
            model.submit_s
        };
        let mut start = self.streams[stream].max(self.host);
        let idx = match engine {
            Engine::H2d => Some(0),
            Engine::D2h => Some(1),
            Engine::Compute => Some(2),
            Engine::None => None,
        };
        if let Some(i) = idx {
            start = start.max(self.engines[device][i]);
        }
        let factor = model.factor_at(start);
        let base = match work {
            Work::CopyH2d { .. } | Work::CopyD2h { .. } => {
                let other = if engine == Engine::H2d { 1 } else { 0 };
                let duplex = self.engines[device][other] > start;
                let rate = if duplex {
                    model.duplex_bytes_per_s
                } else if engine == Engine::H2d {
                    model.h2d_bytes_per_s
                } else {
                    model.d2h_bytes_per_s
                };
                model.copy_latency_s + bytes / rate
            }
            Work::CopyD2d { peer: true, .. } => {
                model.copy_latency_s + bytes / model.peer_bytes_per_s
            }
            Work::CopyD2d { .. } | Work::Memset { .. } => {
                model.copy_latency_s + bytes / model.device_bytes_per_s
            }
            Work::Kernel(_) => {
                let overhead = if graph_node {
                    model.graph_node_s
                } else {
                    model.kernel_overhead_s
                };
                overhead + (bytes / model.device_bytes_per_s).max(flops / model.flops_per_s)
            }
            _ => 0.0,
        };
        let end = start + base * factor;
        if let Some(i) = idx {
            self.engines[device][i] = end;
        }
        self.streams[stream] = end;
        self.last[stream] = (start, end);
        end
    }

    /// A stream waits for a point in simulated time (an event).
    pub(crate) fn wait(&mut self, stream: usize, time: f64) {
        self.streams[stream] = self.streams[stream].max(time).max(self.host);
    }

    /// The time a stream's queued work ends.
    pub(crate) fn stream_time(&self, stream: usize) -> f64 {
        self.streams[stream]
    }

    /// Start and end of the last operation simulated on `stream`.
    pub(crate) fn last_interval(&self, stream: usize) -> (f64, f64) {
        self.last[stream]
    }

    /// The host waits until `time`.
    pub(crate) fn host_wait(&mut self, time: f64) {
        self.host = self.host.max(time);
    }

    /// The latest end time of anything queued.
    pub(crate) fn makespan(&self) -> f64 {
        self.streams.iter().copied().fold(self.host, f64::max)
    }
}

fn classify(work: &Work) -> (Engine, f64, f64) {
    match work {
        Work::CopyH2d { src, .. } => (Engine::H2d, src.bytes as f64, 0.0),
        Work::CopyD2h { src, .. } => (Engine::D2h, src.bytes as f64, 0.0),
        Work::CopyD2d { src, .. } => (Engine::Compute, 2.0 * src.bytes as f64, 0.0),
        Work::Memset { dst, .. } => (Engine::Compute, dst.bytes as f64, 0.0),
        Work::Kernel(k) => {
            let bytes: usize = k.buffers().map(|b| b.range.bytes).sum();
            (Engine::Compute, bytes as f64, k.flops as f64)
        }
        _ => (Engine::None, 0.0, 0.0),
    }
}
