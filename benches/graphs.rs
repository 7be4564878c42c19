//! Launch overhead: a DAG of small kernels run eagerly on a stream pool versus replayed as a
//! captured and an explicitly built CUDA graph, for a chain of 1,000 kernels and a wide DAG
//! (8 independent branches × 125); and a one-node parameter update versus instantiating the
//! graph again. Host wall time over many runs, device synchronized before the clock stops;
//! results are checked after timing. Prints a table naming the card.

use std::time::Instant;

use riptide::host::graph::{Dag, EagerRunner, Graph, NodeId, record_launch};
use riptide::host::kernels;
use riptide::host::{Device, DeviceBuffer, Result, Stream};

const LEN: usize = 256;
const NODES: usize = 1000;

struct Workload {
    name: &'static str,
    dag: Dag,
    first_kernel: NodeId,
    x: DeviceBuffer<f32>,
    outs: Vec<DeviceBuffer<f32>>,
    depth: usize,
}

fn workload(dev: &Device, name: &'static str, branches: usize) -> Result<Workload> {
    let s = dev.stream()?;
    let mut x = dev.alloc::<f32>(LEN, "x")?;
    s.upload(&vec![1.0; LEN], &mut x)?;
    let depth = NODES / branches;
    let mut outs: Vec<DeviceBuffer<f32>> = (0..branches)
        .map(|i| dev.alloc::<f32>(LEN, &format!("y{i}")))
        .collect::<Result<_>>()?;
    let mut dag = Dag::new();
    let mut first_kernel = None;
    for y in outs.iter_mut() {
        s.fill_zero(&mut *y)?;
        let mut prev = Vec::new();
        for _ in 0..depth {
            let id = dag.record_one(dev, &prev, |s| kernels::axpby(s, 1.0, &x, 1.0, &mut *y))?;
            first_kernel.get_or_insert(id);
            prev = vec![id];
        }
    }
    s.synchronize()?;
    Ok(Workload {
        name,
        dag,
        first_kernel: first_kernel.expect("at least one kernel"),
        x,
        outs,
        depth,
    })
}

/// Microseconds per call of `f`, run `reps` times after `warm` unmeasured calls, with the
/// stream synchronized before the clock stops.
fn per_call_us(
    s: &Stream,
    warm: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warm {
        f()?;
    }
    s.synchronize()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    s.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e6 / reps as f64)
}

fn main() -> Result<()> {
    let dev = match Device::cuda(0, riptide::PTX) {
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
        "| workload | nodes | eager µs/node | captured replay µs/node | explicit replay µs/node | replay vs eager | set_kernel µs | update (all nodes) µs | re-instantiate µs | instantiate / set_kernel |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let s = dev.stream()?;
    for (name, branches) in [("chain 1000", 1), ("wide 8x125", 8)] {
        let mut w = workload(&dev, name, branches)?;
        let n = w.dag.len() as f64;
        let eager = EagerRunner::new(w.dag.clone(), &dev, 8)?;
        let captured = Graph::capture(w.dag.clone(), &dev, 8)?;
        let mut built = Graph::build(w.dag.clone(), &dev)?;
        let eager_us = per_call_us(&s, 3, 20, || eager.run(&s))? / n;
        let captured_us = per_call_us(&s, 3, 50, || captured.launch(&s))? / n;
        let built_us = per_call_us(&s, 3, 50, || built.launch(&s))? / n;

        // One kernel node re-pointed (same values, so later checks still hold).
        let (x, y0) = (&w.x, &mut w.outs[0]);
        let launch = record_launch(&dev, |s| kernels::axpby(s, 1.0, x, 1.0, &mut *y0))?;
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

        // Every y has been through 3+20 eager runs and 2×(3+50) replays of `depth` adds.
        let runs = (3 + 20 + 2 * (3 + 50)) as f32;
        let want = runs * w.depth as f32;
        for y in &w.outs {
            let got = s.download(y)?;
            let bad = got.iter().filter(|v| **v != want).count();
            assert_eq!(bad, 0, "{}: {bad} wrong elements (want {want})", w.name);
        }
        println!(
            "| {name} | {} | {eager_us:.2} | {captured_us:.2} | {built_us:.2} | {:.0}% less | {set_us:.2} | {update_us:.0} | {instantiate_us:.0} | {:.0}× |",
            w.dag.len(),
            (1.0 - captured_us.max(built_us) / eager_us) * 100.0,
            instantiate_us / set_us,
        );
    }
    println!();
    println!(
        "Eager: riptide's stream launches (argument checks, marshalling, cuLaunchKernel) plus the plan's events. Replay: one cuGraphLaunch per run. set_kernel: one cuGraphExecKernelNodeSetParams plus riptide's incremental race check. Re-instantiate: validation, building and cuGraphInstantiate of the whole DAG."
    );
    Ok(())
}
