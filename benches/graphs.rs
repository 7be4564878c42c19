//! Launch overhead: a DAG of small kernels run eagerly on a stream pool versus replayed as a
//! captured and an explicitly built CUDA graph, for a chain of 1,000 kernels and a wide DAG
//! (8 independent branches × 125), each with small axpby kernels (every kernel reads what the
//! one before it wrote) and with empty kernels (launch overhead alone, as the reference
//! figures for CUDA C++ and PyTorch are quoted); and a one-node parameter update versus
//! instantiating the graph again. Host wall time over many runs, device synchronized before the clock stops;
//! results are checked after timing. Prints a table naming the card.

use std::time::Instant;

use riptide::bench::graphs::{GraphWorkload, NodeBody, wall_ms_per_call};
use riptide::host::graph::{EagerRunner, Graph, record_launch};
use riptide::host::kernels;
use riptide::host::{Device, Result};

const NODES: usize = 1000;

fn main() -> Result<()> {
    let dev = match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => d,
        Err(e) => {
            println!("graph bench skipped: {e}");
            return Ok(());
        }
    };
    println!(
        "# Graph launch overhead on {} (host wall time, device synchronized)",
        dev.info().name
    );
    println!();
    println!(
        "| workload | nodes | eager µs/node | captured replay µs/node | explicit replay µs/node | programmatic nodes | best replay vs eager | set_kernel µs | update (all nodes) µs | re-instantiate µs | instantiate / set_kernel |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let s = dev.stream()?;
    for (branches, body) in [
        (1, NodeBody::Axpby),
        (8, NodeBody::Axpby),
        (1, NodeBody::Empty),
        (8, NodeBody::Empty),
    ] {
        let mut w = GraphWorkload::with_body(&dev, NODES, branches, body)?;
        let name = w.name.clone();
        let n = w.dag.len() as f64;
        let eager = EagerRunner::new(w.dag.clone(), &dev, 8)?;
        let captured = Graph::capture(w.dag.clone(), &dev, 8)?;
        let mut built = Graph::build(w.dag.clone(), &dev)?;
        let eager_us = 1e3 * wall_ms_per_call(&s, 3, 20, || eager.run(&s))? / n;
        let captured_us = 1e3 * wall_ms_per_call(&s, 3, 50, || captured.launch(&s))? / n;
        let built_us = 1e3 * wall_ms_per_call(&s, 3, 50, || built.launch(&s))? / n;

        // One kernel node re-pointed (same values, so later checks still hold).
        let (x, y0) = (&w.x, &mut w.outs[0]);
        let launch = match body {
            NodeBody::Axpby => record_launch(&dev, |s| kernels::axpby(s, 1.0, x, 1.0, &mut *y0))?,
            NodeBody::Empty => record_launch(&dev, kernels::debug::disarmed)?,
        };
        let reps = 2000;
        let t = Instant::now();
        for _ in 0..reps {
            built.set_kernel(w.first_kernel, launch.clone())?;
        }
        let set_us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        let t = Instant::now();
        let updates = 5;
        for _ in 0..updates {
            built.update(w.dag.clone())?;
        }
        let update_us = t.elapsed().as_secs_f64() * 1e6 / updates as f64;
        let t = Instant::now();
        let builds = 5;
        for _ in 0..builds {
            drop(Graph::build(w.dag.clone(), &dev)?);
        }
        let instantiate_us = t.elapsed().as_secs_f64() * 1e6 / builds as f64;

        // Every y has been through 3+20 eager runs and 2×(3+50) replays.
        w.verify(&s, 3 + 20 + 2 * (3 + 50))?;
        println!(
            "| {name} | {} | {eager_us:.2} | {captured_us:.2} | {built_us:.2} | {} | {:.0}% less | {set_us:.2} | {update_us:.0} | {instantiate_us:.0} | {:.0}× |",
            w.dag.len(),
            built.programmatic_nodes(),
            (1.0 - captured_us.min(built_us) / eager_us) * 100.0,
            instantiate_us / set_us,
        );
    }
    match plain_cudarc(NODES) {
        Ok((eager, replay)) => println!(
            "| chain {NODES}, empty kernels, cudarc alone (no riptide) | {NODES} | {eager:.2} | {replay:.2} | | 0 | {:.0}% less | | | | |",
            (1.0 - replay / eager) * 100.0
        ),
        Err(e) => println!("(cudarc-alone baseline failed: {e})"),
    }
    println!();
    println!(
        "Eager: riptide's stream launches (argument checks, marshalling, cuLaunchKernel) plus the plan's events. Replay: one cuGraphLaunch per run; captured graphs join nodes by full edges, explicitly built ones give each riptide kernel that follows a kernel a programmatic edge (launched while its predecessor finishes; it waits for it on entry) where the module's kernels wait for prior grids (sm_90 PTX on Hopper). set_kernel: one cuGraphExecKernelNodeSetParams plus riptide's incremental race check. Re-instantiate: validation, building and cuGraphInstantiate of the whole DAG."
    );
    Ok(())
}

/// The chain of empty kernels through cudarc alone (no riptide): one stream, `nodes` plain
/// launches timed eagerly, and the same launches captured into a graph and replayed — the
/// floor riptide's own figures are compared with. Host wall µs per node: (eager, replay).
fn plain_cudarc(nodes: usize) -> std::result::Result<(f64, f64), cudarc::driver::DriverError> {
    use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg, sys};
    let ctx = CudaContext::new(0)?;
    let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src(riptide::PTX))?;
    let empty = module.load_function("riptide_debug_trap")?;
    let stream = ctx.new_stream()?;
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (1, 1, 1),
        shared_mem_bytes: 0,
    };
    let armed = 0u32;
    let launch_all = || -> std::result::Result<(), cudarc::driver::DriverError> {
        for _ in 0..nodes {
            // SAFETY: the kernel takes one u32 and, disarmed, touches no memory.
            unsafe { stream.launch_builder(&empty).arg(&armed).launch(cfg) }?;
        }
        Ok(())
    };
    let per_node =
        |reps: usize, f: &dyn Fn() -> std::result::Result<(), cudarc::driver::DriverError>| {
            f()?;
            stream.synchronize()?;
            let t = Instant::now();
            for _ in 0..reps {
                f()?;
            }
            stream.synchronize()?;
            Ok::<f64, cudarc::driver::DriverError>(
                t.elapsed().as_secs_f64() * 1e6 / (reps * nodes) as f64,
            )
        };
    let eager = per_node(20, &launch_all)?;
    stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)?;
    launch_all()?;
    let graph = stream
        .end_capture(sys::CUgraphInstantiate_flags(0))?
        .expect("the capture holds the launches");
    let replay = per_node(50, &|| graph.launch())?;
    Ok((eager, replay))
}
