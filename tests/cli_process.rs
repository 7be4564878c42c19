//! `riptide process` end to end on the CPU backend: hand-written `.npy` files in, results
//! checked against the reference, and every kind of bad input refused with a clear error and
//! no output (or temporary file) left behind.

use std::path::{Path, PathBuf};

use riptide::cli::process::{ProcessOptions, parse_op, run};
use riptide::host::{BackendChoice, Error};

/// A `.npy` file written byte by byte (format 1.0), independent of riptide's writer.
fn npy_bytes(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

fn le<T: Copy>(values: &[T], to: impl Fn(T) -> [u8; 4]) -> Vec<u8> {
    values.iter().flat_map(|&v| to(v)).collect()
}

/// Reads the data of a format-1.0 `.npy` file written by riptide (header length at bytes 8..10).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("output exists");
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].to_vec()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("riptide-process-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write input");
        p
    }

    /// Names in the directory other than the inputs given.
    fn leftovers(&self, inputs: &[&str]) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !inputs.contains(&n.as_str()))
            .collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(op: &str, input: &Path, output: &Path) -> ProcessOptions {
    ProcessOptions {
        op: parse_op(op).expect("valid op"),
        input: input.to_owned(),
        output: output.to_owned(),
        config: None,
        force: false,
        trace: Default::default(),
    }
}

#[test]
fn scan_of_u32_matches_a_sequential_prefix_sum() {
    let dir = Dir::new("scan");
    let x: Vec<u32> = (0..100_003u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let input = dir.file(
        "in.npy",
        &npy_bytes("<u4", false, "(100003,)", &le(&x, u32::to_le_bytes)),
    );
    let output = dir.0.join("out.npy");
    run(BackendChoice::Cpu, &options("scan", &input, &output)).expect("process");
    let got = npy_data(&output);
    let mut acc = 0u32;
    let want: Vec<u8> = x
        .iter()
        .flat_map(|&v| {
            acc = acc.wrapping_add(v);
            acc.to_le_bytes()
        })
        .collect();
    assert!(got == want, "scan output differs");
}

#[test]
fn stencil_of_a_2d_array_matches_one_jacobi_sweep() {
    let dir = Dir::new("stencil");
    let (rows, cols) = (57usize, 33usize);
    let g: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.001)
        .collect();
    let input = dir.file(
        "g.npy",
        &npy_bytes(
            "<f4",
            false,
            &format!("({rows}, {cols})"),
            &le(&g, f32::to_le_bytes),
        ),
    );
    let output = dir.0.join("s.npy");
    run(BackendChoice::Cpu, &options("stencil", &input, &output)).expect("process");
    let got: Vec<f32> = npy_data(&output)
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for r in 0..rows {
        for c in 0..cols {
            let at = |r: usize, c: usize| g[r * cols + c];
            let want = if r == 0 || c == 0 || r == rows - 1 || c == cols - 1 {
                at(r, c)
            } else {
                0.25 * ((at(r - 1, c) + at(r + 1, c)) + (at(r, c - 1) + at(r, c + 1)))
            };
            assert_eq!(
                got[r * cols + c].to_bits(),
                want.to_bits(),
                "cell ({r}, {c})"
            );
        }
    }
}

#[test]
fn sum_of_i32_is_exact_in_64_bits() {
    let dir = Dir::new("sum");
    let x: Vec<i32> = (0..50_000)
        .map(|i| if i % 2 == 0 { i32::MAX } else { -7 })
        .collect();
    let input = dir.file(
        "x.npy",
        &npy_bytes("<i4", false, "(50000,)", &le(&x, i32::to_le_bytes)),
    );
    let output = dir.0.join("sum.npy");
    run(BackendChoice::Cpu, &options("sum", &input, &output)).expect("process");
    let got = npy_data(&output);
    let want: i64 = x.iter().map(|&v| v as i64).sum();
    assert_eq!(got, want.to_le_bytes().to_vec());
}

#[test]
fn bad_inputs_are_refused_and_leave_nothing_behind() {
    let dir = Dir::new("bad");
    let ok_body = le(&[1.0f32; 8], f32::to_le_bytes);
    let mut wrong_magic = npy_bytes("<f4", false, "(8,)", &ok_body);
    wrong_magic[1] = b'X';
    let mut wrong_version = npy_bytes("<f4", false, "(8,)", &ok_body);
    wrong_version[6] = 9;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("magic.npy", wrong_magic, "magic"),
        ("version.npy", wrong_version, "version"),
        (
            "truncated.npy",
            npy_bytes("<f4", false, "(8,)", &ok_body[..20]),
            "truncated",
        ),
        (
            "lies.npy",
            npy_bytes("<f4", false, "(9,)", &ok_body),
            "header says",
        ),
        (
            "f64.npy",
            npy_bytes("<f8", false, "(4,)", &ok_body),
            "unsupported dtype",
        ),
        (
            "bigendian.npy",
            npy_bytes(">f4", false, "(8,)", &ok_body),
            "unsupported dtype",
        ),
        (
            "fortran.npy",
            npy_bytes("<f4", true, "(2, 4)", &ok_body),
            "Fortran",
        ),
        ("short.npy", b"\x93NUM".to_vec(), "too short"),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for (name, bytes, expect) in &cases {
        let input = dir.file(name, bytes);
        let err = run(
            BackendChoice::Cpu,
            &options("sum", &input, &dir.0.join("out.npy")),
        )
        .unwrap_err();
        assert!(matches!(err, Error::File { .. }), "{name}: {err}");
        assert!(err.to_string().contains(expect), "{name}: {err}");
        assert_eq!(riptide::cli::exit_code(&err), 2);
    }
    // Ops and input types that do not fit, same input and output, an existing output.
    let good = dir.file("good.npy", &npy_bytes("<f4", false, "(8,)", &ok_body));
    for op in [
        "bogus",
        "scan|sum",
        "histogram:bins=4",
        "compute:k=x",
        "map_chain:scale=1,scale=2",
        "compute:z=1",
        "",
    ] {
        let err = parse_op(op).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{op}: {err}");
    }
    let err = run(
        BackendChoice::Cpu,
        &options("stencil", &good, &dir.0.join("out.npy")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("2-D"), "{err}");
    let err = run(
        BackendChoice::Cpu,
        &options(
            "histogram:bins=4,lo=0,width=1",
            &good,
            &dir.0.join("out.npy"),
        ),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = run(BackendChoice::Cpu, &options("sum", &good, &good)).unwrap_err();
    assert!(
        matches!(err, Error::File { .. } | Error::InvalidArgument(_)),
        "{err}"
    );
    let mut all: Vec<&str> = names.clone();
    all.push("good.npy");
    assert_eq!(
        dir.leftovers(&all),
        Vec::<String>::new(),
        "no output or temporary file may remain"
    );
}

#[test]
fn an_empty_array_gives_an_empty_result() {
    let dir = Dir::new("empty");
    let input = dir.file("e.npy", &npy_bytes("<f4", false, "(0,)", &[]));
    let output = dir.0.join("o.npy");
    run(BackendChoice::Cpu, &options("compute:k=2", &input, &output)).expect("process");
    assert!(npy_data(&output).is_empty());
}

#[test]
fn trace_and_timeline_cover_the_pipeline_run() {
    let dir = Dir::new("trace");
    let x: Vec<u32> = (0..300_000u32).collect();
    let input = dir.file(
        "in.npy",
        &npy_bytes("<u4", false, "(300000,)", &le(&x, u32::to_le_bytes)),
    );
    let output = dir.0.join("out.npy");
    let mut o = options("scan", &input, &output);
    // A fixed configuration (no tuning runs) of 4 chunks of 75 000 elements.
    o.config = Some(riptide::host::pipeline::PipelineConfig::new(75_000, 2, 2));
    o.trace = riptide::cli::trace_out::TraceOutputs {
        trace: Some(dir.0.join("t.json")),
        timeline: Some(dir.0.join("t.svg")),
    };
    run(BackendChoice::Cpu, &o).expect("process");
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("t.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    // One upload and one download of 75 000 u32 per chunk (the scan's total comes back too,
    // as a small extra download).
    let chunk_copies = |name: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["name"] == name && e["args"]["bytes"] == 300_000)
            .count()
    };
    assert_eq!((chunk_copies("H2D"), chunk_copies("D2H")), (4, 4));
    let svg = std::fs::read_to_string(dir.0.join("t.svg")).unwrap();
    assert!(svg.matches(r#"class="op""#).count() >= 8);
    // A bad trace path is refused before any output is written.
    std::fs::remove_file(&output).unwrap();
    o.trace.trace = Some(dir.0.join("missing-dir/t.json"));
    let err = run(BackendChoice::Cpu, &o).expect_err("bad --trace");
    assert!(
        err.to_string().contains("directory does not exist"),
        "{err}"
    );
    assert!(!output.exists());
}

#[test]
fn empty_arrays_give_identities_or_a_clear_error() {
    let dir = Dir::new("empty-ops");
    let empty = dir.file("e.npy", &npy_bytes("<i4", false, "(0,)", &[]));
    let no_columns = dir.file("c.npy", &npy_bytes("<f4", false, "(5, 0)", &[]));
    // A sum of nothing is 0 (as NumPy says); a scan of nothing is empty.
    let sum = dir.0.join("sum.npy");
    run(BackendChoice::Cpu, &options("sum", &empty, &sum)).expect("sum");
    assert_eq!(npy_data(&sum), 0i64.to_le_bytes().to_vec());
    let scan = dir.0.join("scan.npy");
    run(BackendChoice::Cpu, &options("scan", &empty, &scan)).expect("scan");
    assert!(npy_data(&scan).is_empty());
    // The minimum or maximum of nothing has no value; a stencil needs columns.
    for (op, input, expect) in [
        ("min", &empty, "empty array"),
        ("max", &empty, "empty array"),
        ("stencil", &no_columns, "at least one column"),
    ] {
        let err = run(
            BackendChoice::Cpu,
            &options(op, input, &dir.0.join("out.npy")),
        )
        .unwrap_err();
        assert!(err.to_string().contains(expect), "{op}: {err}");
        assert_eq!(riptide::cli::exit_code(&err), 2, "{op}");
    }
    // Outputs whose size overflows are refused, not a panic.
    let four = dir.file("four.npy", &npy_bytes("<f4", false, "(4,)", &[0; 16]));
    let err = run(
        BackendChoice::Cpu,
        &options(
            "histogram:bins=18446744073709551615,lo=0,hi=1",
            &four,
            &dir.0.join("out.npy"),
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let mut left = dir.leftovers(&["e.npy", "c.npy", "sum.npy", "scan.npy", "four.npy"]);
    left.sort();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "no output or temporary file may remain"
    );
}

#[test]
fn chunk_sizes_beyond_32_bit_grid_arithmetic_are_refused() {
    use riptide::cli::plan::{MAX_CHUNK_ELEMS, config_from_args, plan_from_args};
    let err = config_from_args(Some((MAX_CHUNK_ELEMS as u64 + 1) * 4), 2, 2).unwrap_err();
    assert!(err.to_string().contains("32-bit"), "{err}");
    assert_eq!(riptide::cli::exit_code(&err), 2);
    // The largest allowed chunk is accepted, and a run longer than 2^32 elements is planned
    // in chunks that each stay within it.
    let config = config_from_args(Some(MAX_CHUNK_ELEMS as u64 * 4), 1, 1)
        .expect("valid")
        .expect("given");
    assert_eq!(config.chunk_elems, MAX_CHUNK_ELEMS);
    let plan = plan_from_args("sum", "8GiB", "1", "1", (5usize << 32) + 3, 1).expect("plan");
    assert_eq!(plan.chunks.len(), 11);
    assert!(plan.chunks.iter().all(|c| c.len() <= MAX_CHUNK_ELEMS));
    assert_eq!(plan.chunks.last().unwrap().range.end, (5usize << 32) + 3);
}
