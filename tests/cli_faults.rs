//! The `riptide` binary under faults and Ctrl-C, as a user meets them: injected device
//! faults (`RIPTIDE_CPU_FAULTS` on the cpu backend) are survived with a notice and the right
//! output, or fail with their own exit code and no output file; Ctrl-C stops a long run
//! within a second with status 130 and leaves no temporary or output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use riptide_reference as reference;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("riptide-faults-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A format-1.0 `.npy` of `f32`, written byte by byte.
fn write_npy(path: &Path, x: &[f32]) {
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        x.len()
    );
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in x {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).expect("write input");
}

fn read_npy_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("output exists");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..]
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn riptide(args: &[&str], faults: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riptide"));
    cmd.args(["--backend", "cpu"]).args(args);
    cmd.env_remove("RIPTIDE_CPU_FAULTS");
    // As if the one restart after a sticky fault were used up, so that a fatal fault's exit
    // code shows; `a_fault_that_outlives_the_process_restarts_it_once` clears it.
    cmd.env(riptide::cli::restart::RESTARTED_ENV, "1");
    if let Some(f) = faults {
        cmd.env("RIPTIDE_CPU_FAULTS", f);
    }
    cmd
}

const OP: &str = "compute:k=2,a=0.5,b=0.25";

fn process(dir: &Dir, x: &[f32], faults: Option<&str>, extra: &[&str]) -> Output {
    let input = dir.0.join("in.npy");
    write_npy(&input, x);
    let output = dir.0.join("out.npy");
    let mut args = vec![
        "process",
        "--op",
        OP,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--chunk",
        "16KiB",
        "--force",
    ];
    args.extend_from_slice(extra);
    riptide(&args, faults).output().expect("runs")
}

fn expected(x: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    reference::elementwise::compute_in_place(0.5, 0.25, 2, &mut y);
    y
}

fn input(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 53) % 97) as f32 * 0.02 - 1.0)
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn survivable_faults_give_the_right_output_and_say_so() {
    let x = input(100_000);
    for (faults, notice) in [
        ("device-alloc:1:oom", "retrying with"),
        ("pinned-alloc:2:oom", "retrying with"),
        ("kernel:3:fault", "recreated the device"),
        ("h2d:4:fault", "recreated the device"),
        ("d2h:2:fault", "recreated the device"),
    ] {
        let dir = Dir::new("survive");
        let o = process(&dir, &x, Some(faults), &[]);
        assert!(o.status.success(), "{faults}: {}", stderr(&o));
        assert!(stderr(&o).contains(notice), "{faults}: {}", stderr(&o));
        let got = read_npy_f32(&dir.0.join("out.npy"));
        let want = expected(&x);
        let bad = (0..want.len())
            .filter(|&i| got[i].to_bits() != want[i].to_bits())
            .count();
        assert_eq!(bad, 0, "{faults}: elements differ from the reference");
        assert_eq!(dir.names(), ["in.npy", "out.npy"], "{faults}");
    }
}

#[test]
fn fatal_faults_exit_with_their_code_and_leave_no_output() {
    let x = input(100_000);
    for (faults, code, text) in [
        ("kernel:2:1000000:fault", 7, "after one retry"),
        ("kernel:2:lost", 7, "device lost"),
        ("device-alloc:1:1000000:oom", 5, "out of device memory"),
        ("kernel:x:fault", 2, "fault plan"),
    ] {
        let dir = Dir::new("fatal");
        let o = process(&dir, &x, Some(faults), &[]);
        assert_eq!(o.status.code(), Some(code), "{faults}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{faults}: {}", stderr(&o));
        assert_eq!(dir.names(), ["in.npy"], "{faults}: nothing may be left");
    }
}

/// A sticky fault that the in-process recovery cannot clear (here: it repeats on the retry)
/// makes `process` run once more in a fresh process, which (without the injected faults of
/// the first) writes the right output.
#[test]
fn a_fault_that_outlives_the_process_restarts_it_once() {
    let x = input(100_000);
    let dir = Dir::new("restart");
    let input = dir.0.join("in.npy");
    write_npy(&input, &x);
    let output = dir.0.join("out.npy");
    let o = riptide(
        &[
            "process",
            "--op",
            OP,
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--chunk",
            "16KiB",
        ],
        Some("kernel:2:1000000:fault"),
    )
    .env_remove(riptide::cli::restart::RESTARTED_ENV)
    .output()
    .expect("runs");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("after one retry") && err.contains("fresh process"),
        "{err}"
    );
    let got = read_npy_f32(&output);
    let want = expected(&x);
    let bad = (0..want.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .count();
    assert_eq!(bad, 0, "elements differ from the reference");
    assert_eq!(dir.names(), ["in.npy", "out.npy"]);
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error() {
    let x = input(1_000);
    for (extra, text) in [
        (&["--chunk", "64GiB"][..], "--chunk"),
        (&["--streams", "0"][..], "streams"),
        (&["--depth", "99"][..], "depth"),
    ] {
        let dir = Dir::new("args");
        let o = process(&dir, &x, None, extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{extra:?}: {}", stderr(&o));
        assert_eq!(dir.names(), ["in.npy"], "{extra:?}");
    }
}

#[test]
fn ctrl_c_stops_within_a_second_and_leaves_nothing() {
    let dir = Dir::new("ctrlc");
    // Heavy enough per element (k = 4000 multiply-adds) that the whole run takes many
    // seconds on the cpu backend, in chunks small enough that the ones in flight drain fast.
    let n = 1 << 20;
    let input = dir.0.join("in.npy");
    write_npy(&input, &input_values(n));
    let output = dir.0.join("out.npy");
    let mut child = riptide(
        &[
            "process",
            "--op",
            "compute:k=4000,a=0.5,b=0.25",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--chunk",
            "64KiB",
        ],
        None,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    // Wait until the run is under way: its temporary output exists.
    let started = Instant::now();
    while dir.names().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended too early"
    );
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our own child, still running (not yet waited on).
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0, "kill failed");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "still running 5 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    let mut err = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut err).ok();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}: {err}");
    assert_eq!(
        dir.names(),
        ["in.npy"],
        "no temporary or output file may remain"
    );
}

fn input_values(n: usize) -> Vec<f32> {
    input(n)
}
