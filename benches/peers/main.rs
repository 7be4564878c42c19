//! riptide against PyTorch and CuPy on the same GPU in the same run: saxpy, sum, cumsum,
//! a 256-bin histogram, a square transpose and the device copy (device time, CUDA events,
//! median of 20 on both sides), and a 512 MiB in + out pipeline with streams (host wall
//! time, best over 1–4 streams on both sides). riptide's side runs here; the peers' side
//! runs `benches/peers/peers.py` through `python3`. Prints per workload each side's time
//! and the ratio peer time / riptide time (above 1: riptide is faster), naming the card.
//!
//! Without a GPU, or without `python3`, it says so and exits successfully. Sizes:
//! `RIPTIDE_PEER_ELEMS` (default 64 Mi f32) and `RIPTIDE_PEER_PIPELINE_MIB` (default 512).

use std::collections::BTreeMap;
use std::process::Command;

use riptide::bench::workloads::{KernelBuffers, KernelWorkload};
use riptide::host::measure::time_device;
use riptide::host::pipeline::workloads::{Elementwise, MapStep};
use riptide::host::pipeline::{Pipeline, PipelineConfig};
use riptide::host::{Device, Result};

const ITERS: usize = 20;
const CHUNKS: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?} is not a number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

fn main() -> Result<()> {
    let dev = match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => d,
        Err(e) => {
            println!("peers bench skipped: no CUDA device ({e})");
            return Ok(());
        }
    };
    let n = env_usize("RIPTIDE_PEER_ELEMS", 64 << 20).max(1);
    let pipeline_bytes = env_usize("RIPTIDE_PEER_PIPELINE_MIB", 512) << 20;
    let card = dev.info().name.clone();

    // riptide's side.
    let mut ours: BTreeMap<String, f64> = BTreeMap::new();
    let stream = dev.stream()?;
    let mut buffers = KernelBuffers::new(&stream, n)?;
    for w in KernelWorkload::ALL {
        let ms = time_device(&stream, 3, ITERS, || buffers.queue(&stream, w))?;
        ours.insert(w.name().to_owned(), ms);
    }
    drop(buffers);
    ours.insert("pipeline".into(), riptide_pipeline(&dev, pipeline_bytes)?);

    // The peers' side.
    // The script travels inside the bench executable (which may run on another machine
    // than the one it was built on) and is written next to its JSON output.
    let tmp = std::env::temp_dir();
    let script = tmp.join(format!("riptide-peers-{}.py", std::process::id()));
    std::fs::write(&script, include_str!("peers.py"))
        .map_err(|e| riptide::Error::Backend(format!("writing {}: {e}", script.display())))?;
    let script = script.display().to_string();
    let json_path = tmp.join(format!("riptide-peers-{}.json", std::process::id()));
    let status = Command::new("python3")
        .arg(&script)
        .args(["--elements", &n.to_string()])
        .args(["--pipeline-bytes", &pipeline_bytes.to_string()])
        .args(["--chunks", &CHUNKS.to_string()])
        .args(["--iters", &ITERS.to_string()])
        .arg("--json")
        .arg(&json_path)
        .status();
    let peers: serde_json::Value = match status {
        Err(e) => {
            print_ours(&card, &ours);
            println!("peer comparison skipped: python3 could not be started ({e})");
            return Ok(());
        }
        Ok(s) if !s.success() => {
            print_ours(&card, &ours);
            println!("peer comparison skipped: {script} exited with {s}");
            return Ok(());
        }
        Ok(_) => {
            let text = std::fs::read_to_string(&json_path).unwrap_or_default();
            let _ = std::fs::remove_file(&json_path);
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    print_ours(&card, &ours);
                    println!("peer comparison skipped: the script's JSON did not parse ({e})");
                    return Ok(());
                }
            }
        }
    };
    if let Some(skipped) = peers["skipped"].as_object() {
        for (peer, why) in skipped {
            println!("{peer} skipped: {}", why.as_str().unwrap_or("?"));
        }
    }
    let peer_card = peers["card"].as_str().unwrap_or("?");
    println!(
        "\nriptide vs peers on {card} (peers saw {peer_card}); {n} elements per kernel workload, {} MiB pipeline",
        pipeline_bytes >> 20
    );
    println!("versions: {}", peers["versions"]);
    println!(
        "kernels: device time (events), median of {ITERS}; pipeline: host wall time, best of 1-4 streams"
    );
    println!("ratio = peer ms / riptide ms (above 1: riptide faster)");
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "workload", "riptide ms", "pytorch ms", "cupy ms", "÷pytorch", "÷cupy"
    );
    let results = peers["results"].as_array().cloned().unwrap_or_default();
    let peer_ms = |peer: &str, workload: &str| {
        results
            .iter()
            .find(|r| r["peer"] == peer && r["workload"] == workload)
            .and_then(|r| r["ms"].as_f64())
    };
    let names: Vec<&str> = KernelWorkload::ALL
        .iter()
        .map(|w| w.name())
        .chain(["pipeline"])
        .collect();
    for name in names {
        let ms = ours[name];
        let cell = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.3}"));
        let ratio = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{:.2}", v / ms));
        let (t, c) = (peer_ms("pytorch", name), peer_ms("cupy", name));
        println!(
            "{name:<10} {ms:>12.3} {:>12} {:>12} {:>10} {:>10}",
            cell(t),
            cell(c),
            ratio(t),
            ratio(c)
        );
    }
    for r in &results {
        if let Some(note) = r["note"].as_str().filter(|n| !n.is_empty()) {
            println!(
                "  {} {}: {note}",
                r["peer"].as_str().unwrap_or("?"),
                r["workload"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

/// Best host wall time (ms) of the 512 MiB in + out pipeline over 1–4 streams, the same
/// elementwise work per chunk as the peers (`x·2 + 1`) and the same chunk count.
fn riptide_pipeline(dev: &Device, bytes: usize) -> Result<f64> {
    let n = bytes / 4;
    let mut input = dev.alloc_pinned::<f32>(n, "peer pipeline input")?;
    for (i, v) in input.write()?.iter_mut().enumerate() {
        *v = ((i % 4093) as f32 - 2046.0) / 512.0;
    }
    let mut output = dev.alloc_pinned::<f32>(n, "peer pipeline output")?;
    let kernel = Elementwise(vec![MapStep::Compute {
        k: 1,
        a: 2.0,
        b: 1.0,
    }]);
    let mut best = f64::INFINITY;
    for streams in 1..=4 {
        let mut p = Pipeline::new(dev, PipelineConfig::new((n / CHUNKS).max(1), streams, 2))?;
        p.run(&kernel, &input, Some(&mut output))?;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            p.run(&kernel, &input, Some(&mut output))?;
            best = best.min(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(best)
}

fn print_ours(card: &str, ours: &BTreeMap<String, f64>) {
    println!("\nriptide alone on {card} (ms):");
    for (k, v) in ours {
        println!("  {k:<10} {v:>10.3}");
    }
}
