//! Scaling over several GPUs, on every CUDA device present (1, 2, 4 and 8 of them where
//! there are that many):
//! - the host links: each GPU's pinned copies alone (both directions at once), and all the
//!   GPUs of a count copying at the same time;
//! - a PCIe-bound pipeline (one elementwise pass) against the sum of the per-GPU link
//!   bandwidths measured in this run, and a compute-bound pipeline (k fused multiply-adds
//!   per element) against N × one GPU;
//! - a DAG of independent compute-bound branches, each ending in a download, run eagerly
//!   across the GPUs (each branch on the GPU its buffers live on);
//! - the NCCL all-reduce of a histogram and the peer-to-peer halo exchange of a resident
//!   stencil, each compared with the reference;
//! - balance with one GPU deliberately slowed by a competing kernel launched on it.
//!
//! Every result is checked (sampled elements against the reference for the big runs, every
//! element for the histogram and the stencil). Host wall time with the devices synchronized,
//! best of several runs. Prints tables naming the cards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use riptide::host::backend::{cuda_device_count, nccl_present};
use riptide::host::graph::{Dag, EagerRunner};
use riptide::host::kernels::{self, MapChain};
use riptide::host::measure::copy_ceilings;
use riptide::host::multi::{
    CombinePath, HaloPath, MultiPipeline, MultiStats, ResidentStencil, Weights,
};
use riptide::host::pipeline::PipelineConfig;
use riptide::host::pipeline::workloads::{Binning, Elementwise, Histogram, MapStep};
use riptide::host::{Device, Error, PinnedBuffer, Result};
use riptide_reference as reference;

const MIB: usize = 1 << 20;
/// The tuned single-GPU configuration (`riptide bench`): 8 MiB chunks, 2 streams, depth 3.
const CHUNK_ELEMS: usize = 2 * MIB;
const CHAIN: MapChain = MapChain {
    scale: 0.5,
    offset: -0.25,
    lo: -8.0,
    hi: 8.0,
};
/// The compute-bound step: 2·16384 flops per element against 8 bytes moved, so kernels take
/// about ten times as long as the copies on an H100.
const HEAVY: MapStep = MapStep::Compute {
    k: 16384,
    a: 0.999,
    b: 0.001,
};
/// Timed runs per measurement (the best is reported).
const RUNS: usize = 3;

fn main() -> Result<()> {
    let count = cuda_device_count().unwrap_or(0);
    if count == 0 {
        println!("multi-GPU bench skipped: no CUDA device");
        return Ok(());
    }
    let devices = (0..count)
        .map(|i| Device::cuda(i, riptide::KERNELS))
        .collect::<Result<Vec<_>>>()?;
    let counts: Vec<usize> = [1, 2, 4, 8].into_iter().filter(|&n| n <= count).collect();
    print_machine(&devices)?;

    let links = host_links(&devices, &counts)?;
    pipelines(&devices, &counts, &links)?;
    dag_scaling(&devices, &counts)?;
    if count >= 2 {
        nccl_histogram(&devices)?;
        halo_exchange(&devices)?;
        slowed_device(&devices)?;
    } else {
        println!("one GPU: the NCCL, halo and slowed-device sections need two");
    }
    Ok(())
}

fn print_machine(devices: &[Device]) -> Result<()> {
    println!(
        "# Several GPUs: {} × {}",
        devices.len(),
        devices[0].info().name
    );
    println!();
    for d in devices {
        println!("- GPU {}: {}", d.ordinal(), d.info().name);
    }
    let mut rows = Vec::new();
    for a in devices {
        let mut row = Vec::new();
        for b in devices {
            row.push(if a.ordinal() == b.ordinal() {
                "-"
            } else if a.enable_peer_access(b)? {
                "yes"
            } else {
                "no"
            });
        }
        rows.push(row.join(" "));
    }
    println!("- peer access (row reaches column): {}", rows.join(" | "));
    println!("- NCCL library present: {}", nccl_present());
    println!();
    Ok(())
}

/// Per-GPU and concurrent host-link bandwidths.
struct Links {
    /// Each GPU alone, both directions at once: bytes in + out per second.
    duplex: Vec<f64>,
    /// The first `counts[i]` GPUs copying both ways at the same time: bytes per second.
    together: Vec<(usize, f64)>,
}

impl Links {
    fn sum(&self, n: usize) -> f64 {
        self.duplex[..n].iter().sum()
    }

    fn together(&self, n: usize) -> f64 {
        self.together
            .iter()
            .find(|(c, _)| *c == n)
            .map_or(f64::NAN, |(_, b)| *b)
    }
}

fn host_links(devices: &[Device], counts: &[usize]) -> Result<Links> {
    println!("## Host links (pinned, 256 MiB copies, median of 5)");
    println!();
    println!("| GPU | H2D GB/s | D2H GB/s | both at once, in + out GB/s |");
    println!("|---|---|---|---|");
    let mut duplex = Vec::new();
    for d in devices {
        let c = copy_ceilings(d, 256 * MIB, 5)?;
        let both = c.duplex_h2d + c.duplex_d2h;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} |",
            d.ordinal(),
            c.h2d / 1e9,
            c.d2h / 1e9,
            both / 1e9
        );
        duplex.push(both);
    }
    println!();
    println!(
        "| GPUs copying at once | sum of each alone GB/s | measured together GB/s | together / sum |"
    );
    println!("|---|---|---|---|");
    let mut links = Links {
        duplex,
        together: Vec::new(),
    };
    for &n in counts {
        let together = concurrent_duplex(&devices[..n], 256 * MIB)?;
        println!(
            "| {n} | {:.1} | {:.1} | {:.0}% |",
            links.sum(n) / 1e9,
            together / 1e9,
            100.0 * together / links.sum(n)
        );
        links.together.push((n, together));
    }
    println!();
    println!(
        "Host memory, all cores copying 1 GiB (read + write): {:.1} GB/s",
        host_memory_bandwidth() / 1e9
    );
    println!();
    Ok(links)
}

/// Bytes read plus written per second by a parallel copy of 1 GiB in host memory (best of 5):
/// what the host's memory gives when nothing else uses it, for comparison with what the
/// GPUs' copy engines draw from it together.
fn host_memory_bandwidth() -> f64 {
    use rayon::prelude::*;
    let n = 256 * MIB;
    let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut dst = vec![0.0f32; n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dst.par_chunks_mut(MIB)
            .zip(src.par_chunks(MIB))
            .for_each(|(d, s)| d.copy_from_slice(s));
        best = best.min(t.elapsed().as_secs_f64());
    }
    assert_eq!(dst[n - 1], src[n - 1]);
    (2 * n * 4) as f64 / best
}

/// Bytes per second moved when every device in `devices` copies `bytes` up and `bytes` down
/// at the same time (wall time from the first issue to the last completion, median of 5).
fn concurrent_duplex(devices: &[Device], bytes: usize) -> Result<f64> {
    let n = bytes / 4;
    let mut sides = Vec::new();
    for d in devices {
        let host_in = d.alloc_pinned::<f32>(n, "link host in")?;
        let host_out = d.alloc_pinned::<f32>(n, "link host out")?;
        let mut dev_in = d.alloc::<f32>(n, "link device in")?;
        let dev_out = d.alloc::<f32>(n, "link device out")?;
        let (up, down) = (d.stream()?, d.stream()?);
        up.fill_zero(&mut dev_in)?;
        up.synchronize()?;
        sides.push((host_in, host_out, dev_in, dev_out, up, down));
    }
    let mut times = Vec::new();
    for rep in 0..6 {
        let t = Instant::now();
        for (host_in, host_out, dev_in, dev_out, up, down) in sides.iter_mut() {
            up.copy_to_device(&*host_in, &mut *dev_in)?;
            down.copy_to_host(&*dev_out, &mut *host_out)?;
        }
        for (.., up, down) in &sides {
            up.synchronize()?;
            down.synchronize()?;
        }
        if rep > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((2 * n * 4 * devices.len()) as f64 / times[times.len() / 2])
}

/// Best wall time over `RUNS` runs of `kernel` on `multi` (after one run it learns from),
/// with the stats of that run.
fn best_run(
    multi: &mut MultiPipeline,
    kernel: &Elementwise,
    input: &PinnedBuffer<f32>,
    output: &mut PinnedBuffer<f32>,
) -> Result<MultiStats> {
    let (_, warm) = multi.run(kernel, input, Some(&mut *output))?;
    multi.learn(&warm);
    let mut best: Option<MultiStats> = None;
    for _ in 0..RUNS {
        let (_, stats) = multi.run(kernel, input, Some(&mut *output))?;
        if best.as_ref().is_none_or(|b| stats.wall < b.wall) {
            best = Some(stats);
        }
    }
    Ok(best.expect("RUNS ≥ 1"))
}

fn pipelines(devices: &[Device], counts: &[usize], links: &Links) -> Result<()> {
    let config = PipelineConfig::new(CHUNK_ELEMS, 2, 3);
    let light = Elementwise(vec![MapStep::Chain(CHAIN)]);
    let heavy = Elementwise(vec![HEAVY]);
    let light_len = 512 * MIB; // 2 GiB in, 2 GiB out
    let heavy_len = 64 * MIB;

    println!(
        "## Pipelines across GPUs (chunks of 8 MiB, 2 streams, depth 3; best of {RUNS} after a learning run)"
    );
    println!();
    println!(
        "| workload | GPUs | wall ms | in + out GB/s | sum of links alone GB/s | of that sum | links together GB/s | of that | Gelem/s | vs N × one GPU | balance |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, kernel, len) in [
        ("PCIe-bound: map_chain, 2 GiB in", &light, light_len),
        (
            "compute-bound: 16384 FMAs/element, 256 MiB in",
            &heavy,
            heavy_len,
        ),
    ] {
        let input = pinned_input(&devices[0], len)?;
        let mut output = devices[0].alloc_pinned::<f32>(len, "output")?;
        let mut one_gpu = None;
        for &n in counts {
            output.write()?.fill(f32::NAN);
            let mut multi = MultiPipeline::new(&devices[..n], config)?;
            let stats = best_run(&mut multi, kernel, &input, &mut output)?;
            check_sampled(kernel, &input, &output)?;
            let wall = stats.wall.as_secs_f64();
            let bytes = (2 * len * 4) as f64 / wall;
            let rate = len as f64 / wall;
            let one = *one_gpu.get_or_insert(rate);
            println!(
                "| {name} | {n} | {:.2} | {:.1} | {:.1} | {:.0}% | {:.1} | {:.0}% | {:.2} | {:.0}% | {:.2} |",
                wall * 1e3,
                bytes / 1e9,
                links.sum(n) / 1e9,
                100.0 * bytes / links.sum(n),
                links.together(n) / 1e9,
                100.0 * bytes / links.together(n),
                rate / 1e9,
                100.0 * rate / (n as f64 * one),
                stats.balance()
            );
        }
    }
    println!();
    Ok(())
}

/// `len` f32 values in pinned memory, varied and in the range the map chain keeps finite.
fn pinned_input(device: &Device, len: usize) -> Result<PinnedBuffer<f32>> {
    let mut input = device.alloc_pinned::<f32>(len, "input")?;
    for (i, v) in input.write()?.iter_mut().enumerate() {
        *v = ((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 250.0 - 4.0;
    }
    Ok(input)
}

/// Every 4099th element (and the last) of `output` against the reference for `kernel`.
fn check_sampled(
    kernel: &Elementwise,
    input: &PinnedBuffer<f32>,
    output: &PinnedBuffer<f32>,
) -> Result<()> {
    let (x, y) = (input.read()?, output.read()?);
    let picks: Vec<usize> = (0..x.len())
        .step_by(4099)
        .chain(x.len().checked_sub(1))
        .collect();
    let mut want: Vec<f32> = picks.iter().map(|&i| x[i]).collect();
    let mut bad = 0;
    for step in &kernel.0 {
        match *step {
            MapStep::Compute { k, a, b } => {
                reference::elementwise::compute_in_place(a, b, k, &mut want)
            }
            MapStep::Chain(c) => {
                let mut refs = vec![reference::elementwise::MapChainRef::default(); want.len()];
                let p = reference::elementwise::MapChainParams {
                    scale: c.scale,
                    offset: c.offset,
                    lo: c.lo,
                    hi: c.hi,
                };
                reference::elementwise::map_chain(&want, p, &mut refs)
                    .map_err(|e| Error::Backend(format!("reference: {e}")))?;
                // The chain is the last step: its exp is approximate on the GPU, so each
                // sampled output must be admitted by the reference's bound.
                bad = picks
                    .iter()
                    .zip(&refs)
                    .filter(|(i, r)| !r.admits(y[**i]))
                    .count();
                want.clear();
            }
        }
    }
    // A compute-only chain is a sequence of correctly rounded FMAs: bit-exact.
    bad += picks
        .iter()
        .zip(&want)
        .filter(|(i, w)| y[**i].to_bits() != w.to_bits())
        .count();
    if bad > 0 {
        return Err(Error::Backend(format!(
            "{}: {bad} of {} sampled elements differ from the reference",
            kernel_name(kernel),
            picks.len()
        )));
    }
    Ok(())
}

fn kernel_name(kernel: &Elementwise) -> String {
    use riptide::host::pipeline::ChunkKernel;
    ChunkKernel::<f32>::name(kernel)
}

/// The DAG: `BRANCHES` independent branches, each `compute(x → y)` then `DEPTH − 1`
/// in-place compute kernels on `y`, then `y` downloaded; branch `b` lives on GPU `b mod N`.
fn dag_scaling(devices: &[Device], counts: &[usize]) -> Result<()> {
    const BRANCHES: usize = 16;
    const DEPTH: usize = 4;
    const LEN: usize = 4 * MIB;
    const K: u32 = 4096;
    let (a, b) = (0.999f32, 0.001f32);
    println!(
        "## A DAG across GPUs: {BRANCHES} branches × {DEPTH} compute kernels ({K} FMAs/element, {} MiB each) + a download per branch, eager, best of {RUNS}",
        LEN * 4 / MIB
    );
    println!();
    println!("| GPUs | streams per GPU | wall ms | vs N × one GPU |");
    println!("|---|---|---|---|");
    let x0: Vec<f32> = (0..LEN).map(|i| (i % 1000) as f32 / 500.0 - 1.0).collect();
    let mut one_gpu = None;
    for &n in counts {
        let mut dag = Dag::new();
        let mut keep = Vec::new();
        for br in 0..BRANCHES {
            let dev = &devices[br % n];
            let s = dev.stream()?;
            let mut x = dev.alloc::<f32>(LEN, &format!("x{br}"))?;
            s.upload(&x0, &mut x)?;
            s.synchronize()?;
            let mut y = dev.alloc::<f32>(LEN, &format!("y{br}"))?;
            let mut out = devices[0].alloc_pinned::<f32>(LEN, &format!("out{br}"))?;
            let mut last =
                dag.record_one(dev, &[], |s| kernels::compute(s, K, a, b, &x, &mut y))?;
            for _ in 1..DEPTH {
                last = dag.record_one(dev, &[last], |s| {
                    kernels::compute_in_place(s, K, a, b, &mut y)
                })?;
            }
            dag.copy_to_host(&y, &mut out, &[last])?;
            keep.push((x, y, out));
        }
        let runner = EagerRunner::across(dag, &devices[..n], 2)?;
        let s = devices[0].stream()?;
        runner.run(&s)?;
        s.synchronize()?;
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            let t = Instant::now();
            runner.run(&s)?;
            s.synchronize()?;
            best = best.min(t.elapsed());
        }
        let mut want: Vec<f32> = x0.iter().step_by(997).copied().collect();
        reference::elementwise::compute_in_place(a, b, K * DEPTH as u32, &mut want);
        for (br, (.., out)) in keep.iter().enumerate() {
            let got = out.read()?;
            let bad = got
                .iter()
                .step_by(997)
                .zip(&want)
                .filter(|(g, w)| g.to_bits() != w.to_bits())
                .count();
            if bad > 0 {
                return Err(Error::Backend(format!(
                    "DAG on {n} GPUs: branch {br}: {bad} sampled elements differ"
                )));
            }
        }
        let rate = 1.0 / best.as_secs_f64();
        let one = *one_gpu.get_or_insert(rate);
        println!(
            "| {n} | {} | {:.2} | {:.0}% |",
            runner.streams_per_device()[0],
            best.as_secs_f64() * 1e3,
            100.0 * rate / (n as f64 * one)
        );
    }
    println!();
    Ok(())
}

/// A histogram split across every GPU, combined by NCCL where it can be, against the
/// reference bin by bin.
fn nccl_histogram(devices: &[Device]) -> Result<()> {
    let len = 256 * MIB;
    let bins = 256;
    let mut input = devices[0].alloc_pinned::<u32>(len, "histogram input")?;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for v in input.write()?.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *v = (s >> 32) as u32;
    }
    let (lo, width) = (1u32 << 20, 1u32 << 24);
    let kernel = Histogram {
        bins,
        binning: Binning::Integer { lo, width },
    };
    let mut want = vec![0u32; bins];
    reference::histogram::histogram_u32(&input.read()?, lo, width, &mut want)
        .map_err(|e| Error::Backend(format!("reference: {e}")))?;
    let mut multi = MultiPipeline::new(devices, PipelineConfig::new(CHUNK_ELEMS, 2, 3))?;
    let (_, warm) = multi.run(&kernel, &input, None)?;
    multi.learn(&warm);
    let t = Instant::now();
    let (got, stats) = multi.run(&kernel, &input, None)?;
    let wall = t.elapsed();
    let bad = got.iter().zip(&want).filter(|(g, w)| g != w).count();
    println!(
        "## Histogram across {} GPUs (1 GiB of u32, {bins} bins)",
        devices.len()
    );
    println!();
    println!(
        "combine: {}; {bad} of {bins} bins differ from the reference; wall {:.2} ms ({:.1} GB/s in)",
        stats.combine,
        wall.as_secs_f64() * 1e3,
        (len * 4) as f64 / wall.as_secs_f64() / 1e9
    );
    println!();
    if bad > 0 {
        return Err(Error::Backend(format!("histogram: {bad} bins differ")));
    }
    if nccl_present() && stats.combine != CombinePath::Nccl {
        return Err(Error::Backend(format!(
            "histogram over distinct GPUs with NCCL present combined by {}",
            stats.combine
        )));
    }
    Ok(())
}

/// A grid resident on every GPU, swept with halo rows exchanged peer to peer and through
/// the host; both compared with the reference's sweeps bit for bit.
fn halo_exchange(devices: &[Device]) -> Result<()> {
    let (rows, cols, sweeps) = (16384, 8192, 10);
    let grid: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1013) as f32 / 101.0)
        .collect();
    let want = reference::stencil::jacobi5_sweeps(&grid, cols, sweeps)
        .map_err(|e| Error::Backend(format!("reference: {e}")))?;
    println!(
        "## Resident stencil, {rows}×{cols} grid ({} MiB), {sweeps} sweeps, halo rows exchanged between sweeps",
        rows * cols * 4 / MIB
    );
    println!();
    println!(
        "| GPUs | halo path | ms per sweep (devices synchronized) | vs N × one GPU | cells differing from the reference |"
    );
    println!("|---|---|---|---|---|");
    let mut one_gpu = None;
    for (n, force_host) in [(1, false), (devices.len(), false), (devices.len(), true)] {
        let used = &devices[..n];
        let mut st = ResidentStencil::new(used, &grid, cols, &Weights::equal(n), force_host)?;
        st.sweep(1)?;
        for d in used {
            d.synchronize()?;
        }
        let paths = st.halo_paths().to_vec();
        let t = Instant::now();
        st.sweep(sweeps - 1)?;
        for d in used {
            d.synchronize()?;
        }
        let per_sweep = t.elapsed().as_secs_f64() * 1e3 / (sweeps - 1) as f64;
        let got = st.download()?;
        let bad = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g.to_bits() != w.to_bits())
            .count();
        let path = match paths.first() {
            None => "none (one GPU)".to_owned(),
            Some(HaloPath::Peer) => "peer".to_owned(),
            Some(HaloPath::Host) => "pinned host".to_owned(),
        };
        let one = *one_gpu.get_or_insert(per_sweep);
        println!(
            "| {n} | {path} | {per_sweep:.3} | {:.0}% | {bad} |",
            100.0 * one / (n as f64 * per_sweep)
        );
        if bad > 0 {
            return Err(Error::Backend(format!(
                "stencil on {n} GPUs ({path}): {bad} cells differ"
            )));
        }
    }
    println!();
    Ok(())
}

/// Keeps the GPU `ordinal` busy with compute kernels on a stream of its own until dropped.
struct Hog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<usize>>>,
}

impl Hog {
    fn start(ordinal: usize) -> Hog {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || -> Result<usize> {
            let dev = Device::cuda(ordinal, riptide::KERNELS)?;
            let s = dev.stream()?;
            let mut buf = dev.alloc::<f32>(4 * MIB, "hog")?;
            s.fill_zero(&mut buf)?;
            let mut launches = 0;
            while !flag.load(Ordering::Relaxed) {
                kernels::compute_in_place(&s, 8192, 1.0, 0.0, &mut buf)?;
                s.synchronize()?;
                launches += 1;
            }
            Ok(launches)
        });
        Hog {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Result<usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("started")
            .join()
            .map_err(|_| Error::Backend("hog thread panicked".into()))?
    }
}

/// The compute-bound pipeline on every GPU with the last one slowed by a competing kernel:
/// a static split by equal weights against the balancer.
fn slowed_device(devices: &[Device]) -> Result<()> {
    let len = 64 * MIB;
    let heavy = Elementwise(vec![HEAVY]);
    let input = pinned_input(&devices[0], len)?;
    let mut output = devices[0].alloc_pinned::<f32>(len, "output")?;
    let config = PipelineConfig::new(CHUNK_ELEMS / 4, 2, 3);
    let slow = devices.len() - 1;
    println!(
        "## Balance with GPU {slow} slowed (a competing compute kernel runs on it throughout), compute-bound pipeline, 256 MiB, 2 MiB chunks"
    );
    println!();
    println!(
        "| run | wall ms | chunks per GPU | busy ms per GPU | balance (mean/max busy) | stolen |"
    );
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, s: &MultiStats| {
        let chunks: Vec<String> = s.devices.iter().map(|d| d.chunks.to_string()).collect();
        let busy: Vec<String> = s
            .devices
            .iter()
            .map(|d| format!("{:.1}", d.busy_ms))
            .collect();
        println!(
            "| {name} | {:.1} | {} | {} | {:.2} | {} |",
            s.wall.as_secs_f64() * 1e3,
            chunks.join(" / "),
            busy.join(" / "),
            s.balance(),
            s.stolen
        );
    };
    let mut multi = MultiPipeline::new(devices, config)?;
    let unslowed = best_run(&mut multi, &heavy, &input, &mut output)?;
    row("no competing kernel, balancer", &unslowed);

    let hog = Hog::start(devices[slow].ordinal());
    std::thread::sleep(Duration::from_millis(50));
    let mut fixed = MultiPipeline::new(devices, config)?;
    fixed.set_stealing(false);
    let (_, static_split) = fixed.run(&heavy, &input, Some(&mut output))?;
    check_sampled(&heavy, &input, &output)?;
    row("slowed, static equal split", &static_split);
    let mut balanced = MultiPipeline::new(devices, config)?;
    let (_, first) = balanced.run(&heavy, &input, Some(&mut output))?;
    check_sampled(&heavy, &input, &output)?;
    row("slowed, balancer from an equal split", &first);
    balanced.learn(&first);
    let (_, learned) = balanced.run(&heavy, &input, Some(&mut output))?;
    check_sampled(&heavy, &input, &output)?;
    row("slowed, balancer after learning", &learned);
    let launches = hog.stop()?;
    // The best any split could do: every GPU busy until the same moment, each at its own
    // rate — the unslowed GPUs' from the run without the competing kernel, the slowed
    // GPU's from its fixed half of the static split.
    let rate_of = |s: &MultiStats, d: usize| {
        let share = &s.devices[d];
        share.elements as f64 / share.busy_ms.max(f64::MIN_POSITIVE)
    };
    let rate: f64 = (0..devices.len())
        .map(|d| {
            if d == slow {
                rate_of(&static_split, d)
            } else {
                rate_of(&unslowed, d)
            }
        })
        .sum();
    println!();
    println!(
        "Best split at the rates measured alone: {:.1} ms (wall includes each run's start-up). The competing kernel ran {launches} times.",
        len as f64 / rate
    );
    println!();
    Ok(())
}
