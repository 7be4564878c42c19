//! Numbers from a [`Trace`]: achieved bandwidth per copy direction, kernel time, how much of
//! the wall time two or more engines were busy at once, idle gaps, share of the measured
//! copy ceiling, and how evenly devices were loaded.
//!
//! Busy time is the union of operation intervals, so two kernels running at once on two
//! streams count once. Engines are per device: host-to-device copies, device-to-host copies,
//! compute (kernels, device copies, memsets); host callbacks occupy none.

use serde::{Deserialize, Serialize};

use crate::trace::{Engine, OpKind, Trace};

/// Measured host-link ceilings in bytes per second, to compare achieved copy rates with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    /// Host to device.
    pub h2d: f64,
    /// Device to host.
    pub d2h: f64,
}

/// One copy direction's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionStats {
    /// "H2D", "D2H" or "D2D".
    pub direction: String,
    /// Copies.
    pub copies: usize,
    /// Bytes moved.
    pub bytes: u64,
    /// Time any copy of this direction was running, µs.
    pub busy_us: f64,
    /// Bytes per busy second, in GB/s (10⁹ bytes).
    pub gbps: f64,
    /// `gbps` as a percentage of the ceiling for this direction, when one was given.
    pub percent_of_ceiling: Option<f64>,
}

/// Stretches of the trace's span with no engine of any device busy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdleGaps {
    /// Number of gaps.
    pub count: usize,
    /// Their total length, µs.
    pub total_us: f64,
    /// The longest, µs.
    pub longest_us: f64,
}

/// One device's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLoad {
    /// Device ordinal.
    pub device: usize,
    /// Operations traced.
    pub ops: usize,
    /// Time any engine of the device was busy, µs.
    pub busy_us: f64,
    /// Bytes copied to and from the device.
    pub bytes: u64,
}

/// What a trace says about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// From the first start to the last end, µs.
    pub wall_us: f64,
    /// Operations.
    pub ops: usize,
    /// Per copy direction that occurred, in the order H2D, D2H, D2D.
    pub copies: Vec<DirectionStats>,
    /// Kernels launched.
    pub kernels: usize,
    /// Time any kernel was running, µs.
    pub kernel_busy_us: f64,
    /// Share (0–1) of the wall time with two or more engines busy.
    pub overlap: f64,
    /// Where nothing ran.
    pub idle: IdleGaps,
    /// Per device, by ordinal.
    pub devices: Vec<DeviceLoad>,
    /// Least device busy time over the most (1 = even; 1 with one device).
    pub balance: f64,
}

/// Merges intervals into a sorted union of disjoint intervals.
fn union(mut intervals: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    intervals.retain(|(s, e)| e > s);
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(intervals.len());
    for (s, e) in intervals {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn length(intervals: &[(f64, f64)]) -> f64 {
    intervals.iter().map(|(s, e)| e - s).sum()
}

/// Time, µs, during which at least `k` of the given busy sets (each a disjoint union) overlap.
fn time_with_at_least(sets: &[Vec<(f64, f64)>], k: usize) -> f64 {
    let mut edges: Vec<(f64, i32)> = sets
        .iter()
        .flatten()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    // Ends before starts at equal times: touching intervals do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut busy, mut last, mut total) = (0i32, 0.0, 0.0);
    for (t, delta) in edges {
        if busy >= k as i32 {
            total += t - last;
        }
        busy += delta;
        last = t;
    }
    total
}

/// Computes the metrics of `trace`, comparing copy rates with `ceiling` when given.
pub fn metrics(trace: &Trace, ceiling: Option<Ceiling>) -> Metrics {
    let (t0, t1) = trace.span_us();
    let wall_us = t1 - t0;
    let interval = |o: &crate::trace::TraceOp| (o.start_us, o.end_us);

    let mut copies = Vec::new();
    for (kind, name) in [
        (OpKind::H2d, "H2D"),
        (OpKind::D2h, "D2H"),
        (OpKind::D2d, "D2D"),
    ] {
        let ops: Vec<_> = trace.ops.iter().filter(|o| o.kind == kind).collect();
        if ops.is_empty() {
            continue;
        }
        let busy_us = length(&union(ops.iter().map(|o| interval(o)).collect()));
        let bytes: u64 = ops.iter().map(|o| o.bytes).sum();
        let gbps = if busy_us > 0.0 {
            bytes as f64 / (busy_us * 1e-6) / 1e9
        } else {
            0.0
        };
        let limit = match (&kind, ceiling) {
            (OpKind::H2d, Some(c)) => Some(c.h2d),
            (OpKind::D2h, Some(c)) => Some(c.d2h),
            _ => None,
        };
        copies.push(DirectionStats {
            direction: name.to_owned(),
            copies: ops.len(),
            bytes,
            busy_us,
            gbps,
            percent_of_ceiling: limit.filter(|l| *l > 0.0).map(|l| 100.0 * gbps * 1e9 / l),
        });
    }

    let kernel_ops: Vec<_> = trace
        .ops
        .iter()
        .filter(|o| matches!(o.kind, OpKind::Kernel(_)))
        .collect();
    let kernel_busy_us = length(&union(kernel_ops.iter().map(|o| interval(o)).collect()));

    // One busy set per (device, engine).
    let mut keys: Vec<(usize, Engine)> = trace
        .ops
        .iter()
        .map(|o| (o.device, o.kind.engine()))
        .filter(|(_, e)| *e != Engine::Host)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let engine_sets: Vec<Vec<(f64, f64)>> = keys
        .iter()
        .map(|&(d, e)| {
            union(
                trace
                    .ops
                    .iter()
                    .filter(|o| o.device == d && o.kind.engine() == e)
                    .map(interval)
                    .collect(),
            )
        })
        .collect();
    let overlap = if wall_us > 0.0 {
        time_with_at_least(&engine_sets, 2) / wall_us
    } else {
        0.0
    };

    let any_busy = union(engine_sets.iter().flatten().copied().collect());
    let mut gaps: Vec<f64> = any_busy.windows(2).map(|w| w[1].0 - w[0].1).collect();
    if let (Some(first), Some(last)) = (any_busy.first(), any_busy.last()) {
        // Host callbacks can stretch the span beyond the engines' busy time.
        gaps.push(first.0 - t0);
        gaps.push(t1 - last.1);
    }
    gaps.retain(|g| *g > 0.0);
    let idle = IdleGaps {
        count: gaps.len(),
        total_us: gaps.iter().sum(),
        longest_us: gaps.iter().copied().fold(0.0, f64::max),
    };

    let mut ordinals: Vec<usize> = trace.ops.iter().map(|o| o.device).collect();
    ordinals.sort_unstable();
    ordinals.dedup();
    let devices: Vec<DeviceLoad> = ordinals
        .iter()
        .map(|&d| {
            let ops: Vec<_> = trace
                .ops
                .iter()
                .filter(|o| o.device == d && o.kind.engine() != Engine::Host)
                .collect();
            DeviceLoad {
                device: d,
                ops: ops.len(),
                busy_us: length(&union(ops.iter().map(|o| interval(o)).collect())),
                bytes: ops
                    .iter()
                    .filter(|o| matches!(o.kind, OpKind::H2d | OpKind::D2h))
                    .map(|o| o.bytes)
                    .sum(),
            }
        })
        .collect();
    let most = devices.iter().map(|d| d.busy_us).fold(0.0, f64::max);
    let least = devices
        .iter()
        .map(|d| d.busy_us)
        .fold(f64::INFINITY, f64::min);
    let balance = if most > 0.0 { least / most } else { 1.0 };

    Metrics {
        wall_us,
        ops: trace.ops.len(),
        copies,
        kernels: kernel_ops.len(),
        kernel_busy_us,
        overlap,
        idle,
        devices,
        balance,
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "traced {} ops over {:.3} ms; {} kernels busy {:.3} ms; two or more engines busy {:.1}% of the time",
            self.ops,
            self.wall_us / 1e3,
            self.kernels,
            self.kernel_busy_us / 1e3,
            100.0 * self.overlap
        )?;
        for c in &self.copies {
            write!(
                f,
                "  {}: {} copies, {:.1} MiB, busy {:.3} ms, {:.1} GB/s",
                c.direction,
                c.copies,
                c.bytes as f64 / (1 << 20) as f64,
                c.busy_us / 1e3,
                c.gbps
            )?;
            match c.percent_of_ceiling {
                Some(p) => writeln!(f, " ({p:.1}% of the measured ceiling)")?,
                None => writeln!(f)?,
            }
        }
        writeln!(
            f,
            "  idle: {} gaps, {:.3} ms in all, longest {:.3} ms",
            self.idle.count,
            self.idle.total_us / 1e3,
            self.idle.longest_us / 1e3
        )?;
        if self.devices.len() > 1 {
            for d in &self.devices {
                writeln!(
                    f,
                    "  device {}: {} ops, busy {:.3} ms, {:.1} MiB over the host link",
                    d.device,
                    d.ops,
                    d.busy_us / 1e3,
                    d.bytes as f64 / (1 << 20) as f64
                )?;
            }
            writeln!(f, "  balance (least busy / most busy): {:.2}", self.balance)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{TraceClock, TraceOp};

    fn op(device: usize, stream: u64, kind: OpKind, bytes: u64, s: f64, e: f64) -> TraceOp {
        TraceOp {
            device,
            stream,
            kind,
            bytes,
            start_us: s,
            end_us: e,
        }
    }

    fn trace(ops: Vec<TraceOp>) -> Trace {
        Trace {
            clock: TraceClock::Simulated,
            devices: vec![],
            ops,
            timing_events: 0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        // Sums of a few exact binary fractions: any error is rounding of a handful of adds.
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn union_merges_overlapping_and_touching_intervals() {
        let u = union(vec![
            (5.0, 7.0),
            (0.0, 2.0),
            (1.0, 3.0),
            (3.0, 4.0),
            (9.0, 9.0),
        ]);
        assert_eq!(u, vec![(0.0, 4.0), (5.0, 7.0)]);
    }

    #[test]
    fn pipeline_shaped_trace_gives_hand_computed_metrics() {
        // H2D  [0,10) [10,20)            2 × 1e6 bytes
        // K         [10,25)  [25,40)     compute
        // D2H               [25,30) [40,45)   2 × 5e5 bytes
        let t = trace(vec![
            op(0, 1, OpKind::H2d, 1_000_000, 0.0, 10.0),
            op(0, 1, OpKind::H2d, 1_000_000, 10.0, 20.0),
            op(0, 2, OpKind::Kernel("k".into()), 0, 10.0, 25.0),
            op(0, 2, OpKind::Kernel("k".into()), 0, 25.0, 40.0),
            op(0, 3, OpKind::D2h, 500_000, 25.0, 30.0),
            op(0, 3, OpKind::D2h, 500_000, 40.0, 45.0),
        ]);
        let m = metrics(
            &t,
            Some(Ceiling {
                h2d: 400e9,
                d2h: 50e9,
            }),
        );
        assert!(close(m.wall_us, 45.0));
        // H2D: 2e6 bytes in 20 µs = 1e11 B/s = 100 GB/s = 25% of 400 GB/s.
        let h2d = &m.copies[0];
        assert_eq!((h2d.direction.as_str(), h2d.copies), ("H2D", 2));
        assert!(
            close(h2d.busy_us, 20.0) && close(h2d.gbps, 100.0),
            "{h2d:?}"
        );
        assert!(close(h2d.percent_of_ceiling.unwrap(), 25.0));
        // D2H: 1e6 bytes in 10 µs = 100 GB/s = 200% of a 50 GB/s ceiling.
        let d2h = &m.copies[1];
        assert!(close(d2h.gbps, 100.0) && close(d2h.percent_of_ceiling.unwrap(), 200.0));
        assert_eq!(m.copies.len(), 2, "no D2D entry without device copies");
        assert_eq!(m.kernels, 2);
        assert!(close(m.kernel_busy_us, 30.0));
        // ≥ 2 engines busy: [10,20) H2D+K, [25,30) K+D2H → 15 of 45 µs.
        assert!(close(m.overlap, 15.0 / 45.0), "{}", m.overlap);
        // Something ran all the time from 0 to 45.
        assert_eq!(m.idle.count, 0);
        assert_eq!(m.devices.len(), 1);
        assert!(close(m.devices[0].busy_us, 45.0));
        assert_eq!(m.devices[0].bytes, 3_000_000);
        assert!(close(m.balance, 1.0));
    }

    #[test]
    fn concurrent_kernels_count_once_and_gaps_are_found() {
        // Two kernels on two streams at once share the compute engine: not "overlap".
        let t = trace(vec![
            op(0, 1, OpKind::Kernel("a".into()), 0, 0.0, 10.0),
            op(0, 2, OpKind::Kernel("b".into()), 0, 5.0, 12.0),
            op(0, 1, OpKind::Memset, 64, 20.0, 22.0),
            op(0, 1, OpKind::HostFn, 0, 22.0, 30.0),
        ]);
        let m = metrics(&t, None);
        assert!(close(m.kernel_busy_us, 12.0));
        assert_eq!(m.overlap, 0.0);
        // Gaps: [12,20) between engines, [22,30) covered only by a host callback.
        assert_eq!(m.idle.count, 2);
        assert!(close(m.idle.total_us, 16.0) && close(m.idle.longest_us, 8.0));
        assert!(m.copies.is_empty());
    }

    #[test]
    fn balance_compares_device_busy_time() {
        let t = trace(vec![
            op(0, 1, OpKind::Kernel("k".into()), 0, 0.0, 40.0),
            op(1, 2, OpKind::Kernel("k".into()), 0, 0.0, 10.0),
            op(1, 3, OpKind::H2d, 100, 5.0, 20.0),
        ]);
        let m = metrics(&t, None);
        // Device 0 busy 40 µs, device 1 busy [0,20) = 20 µs.
        assert!(close(m.devices[1].busy_us, 20.0));
        assert!(close(m.balance, 0.5));
        // Engines of different devices count: [0,20) has ≥2 busy (dev0 compute + dev1).
        assert!(close(m.overlap, 20.0 / 40.0));
    }

    #[test]
    fn empty_trace_is_all_zero() {
        let m = metrics(&trace(vec![]), None);
        assert_eq!(
            (m.ops, m.wall_us, m.overlap, m.idle.count),
            (0, 0.0, 0.0, 0)
        );
        assert_eq!(m.balance, 1.0);
    }
}
