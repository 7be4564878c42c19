//! Event graphs: one DAG run eagerly on a stream pool, captured into a graph and built
//! explicitly — same results every way and every replay; parameter updates in place;
//! refused DAGs (cycles, races, foreign buffers, operations illegal while recording) fail
//! before anything reaches a device.
//!
//! Values are small integers in f32, so every sum below is exact and results are compared
//! for equality.

mod common;

use common::mismatches;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime};
use riptide::host::graph::{
    Dag, EagerRunner, Graph, GraphError, HostTouches, NodeId, UpdateOutcome, record_launch,
};
use riptide::host::kernels;
use riptide::host::{Device, DeviceBuffer, Error, PinnedBuffer, Result};

const N: usize = 100_003;

/// Something that queues work on a stream.
type Run<'a> = Box<dyn Fn(&riptide::host::Stream) -> Result<()> + 'a>;

fn input(seed: usize) -> Vec<f32> {
    (0..N).map(|i| ((i * 7 + seed) % 1000) as f32).collect()
}

/// The diamond: `out = 4·in` through two uploads, three axpbys on two branches, a fill and
/// a download.
struct Diamond {
    dag: Dag,
    h_in: PinnedBuffer<f32>,
    h_out: PinnedBuffer<f32>,
    a: DeviceBuffer<f32>,
    b: DeviceBuffer<f32>,
    scale_node: NodeId,
    download: NodeId,
}

fn diamond(dev: &Device) -> Result<Diamond> {
    let h_in = dev.alloc_pinned::<f32>(N, "in")?;
    let mut h_out = dev.alloc_pinned::<f32>(N, "out")?;
    let mut a = dev.alloc::<f32>(N, "a")?;
    let mut b = dev.alloc::<f32>(N, "b")?;
    let mut c = dev.alloc::<f32>(N, "c")?;
    let mut dag = Dag::new();
    let up_a = dag.copy_to_device(&h_in, &mut a, &[])?;
    let up_b = dag.copy_to_device(&h_in, &mut b, &[])?;
    // b = a + 2b = 3·in
    let scale_node = dag.record_one(dev, &[up_a, up_b], |s| {
        kernels::axpby(s, 1.0, &a, 2.0, &mut b)
    })?;
    let zero = dag.fill_zero(&mut c, &[])?;
    // c = a + c = in
    let copy_a = dag.record_one(dev, &[up_a, zero], |s| {
        kernels::axpby(s, 1.0, &a, 1.0, &mut c)
    })?;
    // c = b + c = 4·in
    let join = dag.record_one(dev, &[scale_node, copy_a], |s| {
        kernels::axpby(s, 1.0, &b, 1.0, &mut c)
    })?;
    let download = dag.copy_to_host(&c, &mut h_out, &[join])?;
    // Poison the output so an unwritten element fails.
    h_out.write()?.fill(f32::NAN);
    Ok(Diamond {
        dag,
        h_in,
        h_out,
        a,
        b,
        scale_node,
        download,
    })
}

/// Feeds `seed`'s input, runs once through `run`, checks `out = factor·in`.
fn check_run(
    dev: &Device,
    d: &mut Diamond,
    seed: usize,
    factor: f32,
    run: impl Fn(&riptide::host::Stream) -> Result<()>,
) -> Result<()> {
    let data = input(seed);
    d.h_in.write()?.copy_from_slice(&data);
    let stream = dev.stream()?;
    run(&stream)?;
    stream.synchronize()?;
    let want: Vec<f32> = data.iter().map(|v| factor * v).collect();
    let got = d.h_out.read()?.to_vec();
    assert_eq!(mismatches(&got, &want), 0, "seed {seed}");
    Ok(())
}

device_tests! {
    fn prop_every_way_of_running_a_dag_gives_the_reference(dev: &Device) -> Result<()> {
        let mut d = diamond(dev)?;
        let eager = EagerRunner::new(d.dag.clone(), dev, 4)?;
        // Three roots (two uploads and a fill) start on three streams.
        assert_eq!(eager.streams(), 3);
        for seed in 0..3 {
            check_run(dev, &mut d, seed, 4.0, |s| eager.run(s))?;
        }
        let captured = Graph::capture(d.dag.clone(), dev, 4)?;
        let built = Graph::build(d.dag.clone(), dev)?;
        for seed in 3..6 {
            check_run(dev, &mut d, seed, 4.0, |s| captured.launch(s))?;
            check_run(dev, &mut d, seed + 10, 4.0, |s| built.launch(s))?;
        }
        Ok(())
    }

    fn prop_set_kernel_changes_parameters_in_place(dev: &Device) -> Result<()> {
        let mut d = diamond(dev)?;
        let dag = d.dag.clone();
        for mut graph in [Graph::capture(dag.clone(), dev, 4)?, Graph::build(dag, dev)?] {
            check_run(dev, &mut d, 1, 4.0, |s| graph.launch(s))?;
            // Re-point the scale node: b = a + 5b = 6·in, so out = 7·in.
            let launch = record_launch(dev, |s| kernels::axpby(s, 1.0, &d.a, 5.0, &mut d.b))?;
            graph.set_kernel(d.scale_node, launch)?;
            check_run(dev, &mut d, 2, 7.0, |s| graph.launch(s))?;
        }
        Ok(())
    }

    fn prop_a_chain_of_kernels_replays_on_one_stream(dev: &Device) -> Result<()> {
        let len = 4099;
        let x_host: Vec<f32> = (0..len).map(|i| (i % 13) as f32).collect();
        let mut x = dev.alloc::<f32>(len, "x")?;
        let mut y = dev.alloc::<f32>(len, "y")?;
        let s = dev.stream()?;
        s.upload(&x_host, &mut x)?;
        let mut dag = Dag::new();
        let mut prev = vec![dag.fill_zero(&mut y, &[])?];
        let kernels_in_chain = 200;
        for _ in 0..kernels_in_chain {
            prev = vec![dag.record_one(dev, &prev, |s| kernels::axpby(s, 1.0, &x, 1.0, &mut y))?];
        }
        let eager = EagerRunner::new(dag.clone(), dev, 8)?;
        assert_eq!((eager.streams(), eager.cross_stream_waits()), (1, 0));
        let want: Vec<f32> = x_host.iter().map(|v| v * kernels_in_chain as f32).collect();
        let runs: Vec<Run<'_>> = vec![
            Box::new(|s| eager.run(s)),
            Box::new({
                let g = Graph::capture(dag.clone(), dev, 8)?;
                move |s| g.launch(s)
            }),
            Box::new({
                let g = Graph::build(dag.clone(), dev)?;
                move |s| g.launch(s)
            }),
        ];
        for run in &runs {
            for _ in 0..2 {
                run(&s)?;
                let got = s.download(&y)?;
                assert_eq!(mismatches(&got, &want), 0);
            }
        }
        Ok(())
    }

    fn prop_independent_branches_run_on_separate_streams(dev: &Device) -> Result<()> {
        let (branches, depth, len) = (8, 25, 1000);
        let ones = {
            let mut b = dev.alloc::<f32>(len, "ones")?;
            dev.stream()?.upload(&vec![1.0; len], &mut b)?;
            b
        };
        let mut outs: Vec<DeviceBuffer<f32>> = (0..branches)
            .map(|i| dev.alloc::<f32>(len, &format!("branch {i}")))
            .collect::<Result<_>>()?;
        let mut dag = Dag::new();
        for out in outs.iter_mut() {
            let mut prev = vec![dag.fill_zero(&mut *out, &[])?];
            for _ in 0..depth {
                prev = vec![dag.record_one(dev, &prev, |s| kernels::axpby(s, 1.0, &ones, 1.0, &mut *out))?];
            }
        }
        let eager = EagerRunner::new(dag.clone(), dev, 8)?;
        assert_eq!((eager.streams(), eager.cross_stream_waits()), (8, 0));
        let graph = Graph::capture(dag, dev, 8)?;
        let s = dev.stream()?;
        for replay in [false, true] {
            if replay {
                graph.launch(&s)?;
            } else {
                eager.run(&s)?;
            }
            for out in &outs {
                let got = s.download(out)?;
                assert_eq!(mismatches(&got, &vec![depth as f32; len]), 0);
            }
        }
        Ok(())
    }

    fn prop_update_keeps_or_rebuilds_the_executable(dev: &Device) -> Result<()> {
        let mut d = diamond(dev)?;
        let mut graph = Graph::build(d.dag.clone(), dev)?;
        check_run(dev, &mut d, 0, 4.0, |s| graph.launch(s))?;
        // Same shape, new scale: Updated in place.
        let mut same_shape = d.dag.clone();
        same_shape.set_kernel(
            d.scale_node,
            record_launch(dev, |s| kernels::axpby(s, 2.0, &d.a, 2.0, &mut d.b))?,
        )?;
        assert_eq!(graph.update(same_shape)?, UpdateOutcome::Updated);
        check_run(dev, &mut d, 1, 5.0, |s| graph.launch(s))?;
        // Another node: the shape changed, so the graph is instantiated again.
        let mut bigger = d.dag.clone();
        bigger.host_fn(|| {}, HostTouches::none(), &[d.download])?;
        assert_eq!(graph.update(bigger)?, UpdateOutcome::Reinstantiated);
        check_run(dev, &mut d, 2, 4.0, |s| graph.launch(s))?;
        Ok(())
    }

    fn prop_host_callbacks_run_once_per_replay(dev: &Device) -> Result<()> {
        let count = Arc::new(AtomicUsize::new(0));
        let mut y = dev.alloc::<f32>(64, "y")?;
        let mut dag = Dag::new();
        let z = dag.fill_zero(&mut y, &[])?;
        let c = Arc::clone(&count);
        dag.host_fn(move || { c.fetch_add(1, Ordering::SeqCst); }, HostTouches::none(), &[z])?;
        let s = dev.stream()?;
        for graph in [Graph::capture(dag.clone(), dev, 2)?, Graph::build(dag.clone(), dev)?] {
            count.store(0, Ordering::SeqCst);
            for _ in 0..5 {
                graph.launch(&s)?;
            }
            s.synchronize()?;
            assert_eq!(count.load(Ordering::SeqCst), 5);
        }
        Ok(())
    }

    fn prop_a_graph_keeps_buffers_alive_after_their_handles_drop(dev: &Device) -> Result<()> {
        let mut d = diamond(dev)?;
        let graph = Graph::build(std::mem::take(&mut d.dag), dev)?;
        // Drop the device buffers' last handles outside the graph; the pinned handles stay
        // ours to feed and read. Replays stay correct.
        drop(std::mem::replace(&mut d.a, dev.alloc::<f32>(1, "placeholder")?));
        drop(std::mem::replace(&mut d.b, dev.alloc::<f32>(1, "placeholder")?));
        check_run(dev, &mut d, 4, 4.0, |s| graph.launch(s))?;
        check_run(dev, &mut d, 5, 4.0, |s| graph.launch(s))?;
        Ok(())
    }

    fn refused_dags_fail_before_the_device(dev: &Device) -> Result<()> {
        let mut x = dev.alloc::<f32>(16, "x")?;
        let mut y = dev.alloc::<f32>(16, "y")?;
        // A race: two writers of y with no path between them.
        let mut dag = Dag::new();
        dag.record_one(dev, &[], |s| kernels::axpby(s, 1.0, &x, 1.0, &mut y))?;
        dag.fill_zero(&mut y, &[])?;
        let err = expect_graph_error(Graph::build(dag.clone(), dev))?;
        assert!(matches!(&err, GraphError::Race { first, second }
            if first.contains("\"y\"") && second.contains("\"y\"")), "{err}");
        expect_graph_error(EagerRunner::new(dag.clone(), dev, 2).map(|_| ()))?;
        // Reads of the same bytes do not race.
        let mut readers = Dag::new();
        readers.record_one(dev, &[], |s| kernels::axpby(s, 1.0, &x, 1.0, &mut y))?;
        readers.copy_on_device(&x, &mut dev.alloc::<f32>(16, "z")?, &[])?;
        Graph::build(readers, dev)?;
        // A cycle, added after the fact.
        let mut cyclic = Dag::new();
        let a = cyclic.fill_zero(&mut x, &[])?;
        let b = cyclic.fill_zero(&mut y, &[a])?;
        cyclic.depend(a, b)?;
        let err = expect_graph_error(Graph::capture(cyclic, dev, 2).map(|_| ()))?;
        assert!(matches!(&err, GraphError::Cycle { path } if path.len() == 3), "{err}");
        // Node ids of another, larger DAG.
        let mut large = Dag::new();
        let mut foreign = large.fill_zero(&mut x, &[])?;
        for _ in 0..5 {
            foreign = large.fill_zero(&mut x, &[foreign])?;
        }
        let err = expect_graph_error(Dag::new().fill_zero(&mut x, &[foreign]).map(|_| ()))?;
        assert!(matches!(err, GraphError::UnknownNode { node: 5, .. }), "{err}");
        Ok(())
    }

    fn operations_illegal_while_recording_are_refused(dev: &Device) -> Result<()> {
        let x = dev.alloc::<f32>(16, "x")?;
        let mut y = dev.alloc::<f32>(16, "y")?;
        let event = dev.event(false)?;
        let mut dag = Dag::new();
        let attempts: Vec<(&str, Run<'_>)> = vec![
            ("stream synchronization", Box::new(|s| s.synchronize())),
            ("device synchronization", Box::new(|s| s.device().synchronize())),
            ("device allocation", Box::new(|s| s.device().alloc::<f32>(4, "late").map(|_| ()))),
            ("download (allocates, then waits)", Box::new(|s| s.download(&x).map(|_| ()))),
            ("recording an event", Box::new(|s| s.record(&event))),
            ("waiting on an event", Box::new(|s| s.wait(&event))),
            ("host wait on an event", Box::new(|_| event.synchronize())),
            ("run-once host callback", Box::new(|s| s.host_fn(|| {}))),
        ];
        for (what, attempt) in attempts {
            let before = dag.len();
            let result = dag.record(dev, &[], |s| {
                kernels::axpby(s, 1.0, &x, 1.0, &mut y)?;
                attempt(s)
            });
            let err = expect_graph_error(result.map(|_| ()))?;
            assert!(matches!(err, GraphError::IllegalInCapture { .. }), "{what}: {err}");
            assert_eq!(dag.len(), before, "{what}: a failed recording added nodes");
        }
        // Outside a recording the same calls are fine.
        dev.stream()?.synchronize()?;
        Ok(())
    }
}

/// Launching on another device's stream and using another device's buffers are refused.
#[test]
fn foreign_streams_and_buffers_are_refused() -> Result<()> {
    let rt = CpuRuntime::new(CpuConfig::checked(), 2);
    let devs = rt.devices();
    let mut x0 = devs[0].alloc::<f32>(8, "x0")?;
    let mut x1 = devs[1].alloc::<f32>(8, "x1")?;
    let mut dag = Dag::new();
    dag.fill_zero(&mut x0, &[])?;
    let graph = Graph::build(dag.clone(), &devs[0])?;
    let err = expect_graph_error(graph.launch(&devs[1].stream()?))?;
    assert!(matches!(err, GraphError::WrongStream { .. }), "{err}");
    dag.fill_zero(&mut x1, &[])?;
    let err = expect_graph_error(Graph::build(dag, &devs[0]).map(|_| ()))?;
    assert!(
        matches!(&err, GraphError::UnknownBuffer { buffer, .. } if buffer == "x1"),
        "{err}"
    );
    Ok(())
}

fn expect_graph_error(r: Result<impl Sized>) -> Result<GraphError> {
    match r {
        Err(Error::Graph(e)) => Ok(e),
        Err(other) => Err(other),
        Ok(_) => panic!("expected a graph error, got success"),
    }
}
