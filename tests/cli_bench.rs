//! `riptide bench` on the cpu backend: the JSON report parses and holds exactly the sweep
//! points asked for, the kernels against the copy and the tracing comparison; the charts
//! and the traced run's files are written; bad options fail before any work.

use std::path::PathBuf;

use riptide::bench::sweep::BenchReport;
use riptide::cli::bench::{BenchOptions, run};
use riptide::cli::trace_out::TraceOutputs;
use riptide::host::{BackendChoice, ErrorKind};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("riptide-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small(out: PathBuf) -> BenchOptions {
    BenchOptions {
        bytes: Some(1 << 20),
        streams: Some(vec![1, 2]),
        chunks: Some(vec![256 << 10, 512 << 10]),
        depths: Some(vec![2, 3]),
        kernel_elems: Some(4096),
        out_dir: out,
        trace: TraceOutputs::default(),
    }
}

#[test]
fn report_has_every_sweep_point_and_parses_back() {
    let dir = Dir::new("bench");
    let mut o = small(dir.0.join("out"));
    o.trace = TraceOutputs {
        trace: Some(dir.0.join("t.json")),
        timeline: Some(dir.0.join("t.svg")),
    };
    run(BackendChoice::Cpu, &o).expect("bench runs on the cpu backend");
    let text = std::fs::read_to_string(dir.0.join("out/bench.json")).unwrap();
    let report: BenchReport = serde_json::from_str(&text).expect("bench.json parses");
    assert_eq!(report.backend, "cpu");
    assert_eq!(report.pipeline_bytes, 1 << 20);
    // 2 stream counts × 2 chunk sizes × 2 depths, in sweep order.
    let points: Vec<(usize, u64, usize)> = report
        .pipeline
        .iter()
        .map(|p| (p.streams, p.chunk_bytes, p.depth))
        .collect();
    let mut expected = Vec::new();
    for s in [1, 2] {
        for c in [256 << 10, 512 << 10] {
            for d in [2, 3] {
                expected.push((s, c, d));
            }
        }
    }
    assert_eq!(points, expected);
    assert!(report.serial.serial && !report.pipeline.iter().any(|p| p.serial));
    for p in std::iter::once(&report.serial).chain(&report.pipeline) {
        assert!(p.device_ms > 0.0 && p.gbps > 0.0, "{p:?}");
        // GB/s is in+out bytes over device time: recompute it from the report's own fields.
        let gbps = 2.0 * (1u64 << 20) as f64 / (p.device_ms / 1e3) / 1e9;
        assert!((p.gbps - gbps).abs() <= 1e-9 * gbps, "{p:?}");
    }
    let names: Vec<&str> = report.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["copy", "saxpy", "sum", "cumsum", "histogram", "transpose"]
    );
    assert_eq!(report.kernels[0].percent_of_copy, 100.0);
    let t = &report.tracing_overhead;
    assert!(t.untraced_wall_ms > 0.0 && t.traced_wall_ms > 0.0);
    // One end event per traced op, a start event only where the start was not derived.
    assert!(
        t.ops_per_run > 0 && (t.ops_per_run..=2 * t.ops_per_run).contains(&t.timing_events_per_run),
        "{} timing events for {} ops",
        t.timing_events_per_run,
        t.ops_per_run
    );
    // The tracing comparison runs the fastest untraced point, and the fastest traced one.
    assert!(report.serial.traced_device_ms.is_none());
    assert!(
        report
            .pipeline
            .iter()
            .all(|p| p.traced_device_ms.is_some_and(|ms| ms > 0.0))
    );
    let best = report.best();
    assert_eq!(
        (t.streams, t.chunk_bytes, t.depth),
        (best.streams, best.chunk_bytes, best.depth)
    );
    let traced_ms = |p: &&riptide::bench::sweep::PipelinePoint| p.traced_device_ms.unwrap();
    let fastest_traced = report
        .pipeline
        .iter()
        .min_by(|a, b| traced_ms(a).total_cmp(&traced_ms(b)))
        .unwrap();
    let tuned = t.tuned.as_ref().expect("the tuned tracing comparison ran");
    assert_eq!(
        (tuned.streams, tuned.chunk_bytes, tuned.depth),
        (
            fastest_traced.streams,
            fastest_traced.chunk_bytes,
            fastest_traced.depth
        )
    );
    assert!(tuned.traced_wall_ms > 0.0 && tuned.traced_device_ms > 0.0);
    let graphs = report
        .graph_vs_eager
        .as_ref()
        .expect("riptide bench compares graph replay with eager launches");
    assert_eq!(graphs.len(), 2, "a chain and a wide DAG");
    assert!(
        graphs
            .iter()
            .all(|g| g.nodes > 0 && g.eager_ms > 0.0 && g.graph_ms > 0.0)
    );
    // Charts: one polyline per streams × depth series, one bar per kernel.
    let chart = std::fs::read_to_string(dir.0.join("out/pipeline.svg")).unwrap();
    assert_eq!(chart.matches(r#"class="series""#).count(), 4);
    let bars = std::fs::read_to_string(dir.0.join("out/kernels.svg")).unwrap();
    assert_eq!(bars.matches(r#"class="bar""#).count(), 6);
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("t.json")).unwrap()).unwrap();
    assert!(
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["cat"] == "kernel")
    );
    assert!(
        std::fs::read_to_string(dir.0.join("t.svg"))
            .unwrap()
            .contains(r#"class="op""#)
    );
}

#[test]
fn bad_options_fail_before_work_and_write_nothing() {
    let dir = Dir::new("bench-bad");
    let out = dir.0.join("out");
    for (what, o) in [
        (
            "zero streams",
            BenchOptions {
                streams: Some(vec![0]),
                ..small(out.clone())
            },
        ),
        (
            "chunk above size",
            BenchOptions {
                chunks: Some(vec![2 << 20]),
                ..small(out.clone())
            },
        ),
        (
            "odd size",
            BenchOptions {
                bytes: Some(1001),
                ..small(out.clone())
            },
        ),
        (
            "empty depths",
            BenchOptions {
                depths: Some(vec![]),
                ..small(out.clone())
            },
        ),
    ] {
        let err = run(BackendChoice::Cpu, &o).expect_err(what);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        assert!(!out.join("bench.json").exists(), "{what} wrote a report");
    }
    let file = dir.0.join("file");
    std::fs::write(&file, "x").unwrap();
    let err = run(BackendChoice::Cpu, &small(file)).expect_err("--out is a file");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
