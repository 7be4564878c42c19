//! Chrome trace JSON (the Trace Event Format), which Perfetto and `chrome://tracing` open:
//! a process per device, a thread per stream, one complete (`"X"`) event per operation with
//! category `copy`, `kernel`, `memset` or `host`, and the bytes and rate as arguments.

use serde_json::{Value, json};

use crate::trace::{Trace, TraceClock};

/// The trace as a Chrome trace JSON value.
pub fn to_value(trace: &Trace) -> Value {
    let mut events = Vec::with_capacity(trace.ops.len() + 8);
    let clock = match trace.clock {
        TraceClock::CudaEvents => "CUDA events",
        TraceClock::Simulated => "simulated (cpu backend timing model)",
        TraceClock::Wall => "wall (cpu backend)",
    };
    let lanes = trace.lanes();
    let mut devices: Vec<usize> = lanes.iter().map(|l| l.0).collect();
    devices.dedup();
    for &d in &devices {
        events.push(json!({
            "name": "process_name", "ph": "M", "pid": d,
            "args": { "name": format!("device {d}: {}", trace.device_name(d)) },
        }));
        events.push(json!({
            "name": "process_sort_index", "ph": "M", "pid": d, "args": { "sort_index": d },
        }));
    }
    for &(d, s) in &lanes {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": d, "tid": s,
            "args": { "name": format!("stream {s}") },
        }));
    }
    for op in &trace.ops {
        let dur = op.duration_us();
        let mut args = json!({ "bytes": op.bytes });
        if dur > 0.0 && op.bytes > 0 {
            args["GB/s"] = json!(op.bytes as f64 / (dur * 1e-6) / 1e9);
        }
        events.push(json!({
            "name": op.kind.label(),
            "cat": op.kind.category(),
            "ph": "X",
            "ts": op.start_us,
            "dur": dur,
            "pid": op.device,
            "tid": op.stream,
            "args": args,
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": { "producer": "riptide", "clock": clock },
    })
}

/// The trace as Chrome trace JSON text.
pub fn to_string(trace: &Trace) -> String {
    serde_json::to_string(&to_value(trace)).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{OpKind, TraceOp, TracedDevice};

    #[test]
    fn devices_are_processes_streams_are_threads_and_kinds_are_categories() {
        let trace = Trace {
            clock: TraceClock::CudaEvents,
            devices: vec![TracedDevice {
                ordinal: 0,
                name: "Test GPU".into(),
            }],
            ops: vec![
                TraceOp {
                    device: 0,
                    stream: 7,
                    kind: OpKind::H2d,
                    bytes: 2_000_000,
                    start_us: 1.0,
                    end_us: 21.0,
                },
                TraceOp {
                    device: 0,
                    stream: 9,
                    kind: OpKind::Kernel("saxpy \"f32\"".into()),
                    bytes: 0,
                    start_us: 21.0,
                    end_us: 30.0,
                },
                TraceOp {
                    device: 1,
                    stream: 3,
                    kind: OpKind::D2h,
                    bytes: 10,
                    start_us: 0.0,
                    end_us: 0.0,
                },
            ],
            timing_events: 0,
        };
        let text = to_string(&trace);
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        let events = v["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 3);
        assert_eq!(complete[0]["cat"], "copy");
        assert_eq!(complete[0]["name"], "H2D");
        assert_eq!(
            (complete[0]["pid"].as_u64(), complete[0]["tid"].as_u64()),
            (Some(0), Some(7))
        );
        assert_eq!(complete[0]["dur"].as_f64(), Some(20.0));
        // 2e6 bytes in 20 µs = 100 GB/s.
        assert_eq!(complete[0]["args"]["GB/s"].as_f64(), Some(100.0));
        assert_eq!(complete[1]["cat"], "kernel");
        assert_eq!(complete[1]["name"], "saxpy \"f32\"");
        assert!(
            complete[2]["args"].get("GB/s").is_none(),
            "no rate for a zero duration"
        );
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["stream 7", "stream 9", "stream 3"]);
        let processes: Vec<&str> = events
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(processes, ["device 0: Test GPU", "device 1: device 1"]);
    }
}
