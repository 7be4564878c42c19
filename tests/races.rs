//! The race detector and chaos mode of the CPU backend: planted races are reported (naming
//! both operations, their streams and the buffer range) and, under the latest-first chaos
//! scheduler, give a wrong result on every run; correctly synchronized double-buffered and
//! three-stage multi-stream patterns give no report and the right result — on the CPU
//! backend under every scheduler, and on a GPU.

mod common;

use riptide::host::backend::cpu::{Chaos, ChaosPolicy, CpuConfig, CpuRuntime, Hazard};
use riptide::host::kernels;
use riptide::host::{Device, Event, Result, Stream};

/// A runtime that records hazards without failing, optionally under chaos.
fn observing(chaos: Option<Chaos>) -> (CpuRuntime, Device) {
    let config = CpuConfig {
        hazard_check: true,
        fail_on_hazard: false,
        chaos,
        ..CpuConfig::default()
    };
    let rt = CpuRuntime::new(config, 1);
    let dev = rt.devices().remove(0);
    (rt, dev)
}

fn chaos(seed: u64, policy: ChaosPolicy) -> Option<Chaos> {
    Some(Chaos { seed, policy })
}

/// The kernel every pattern applies: `y = 2·y` (axpby with `a = 0` over a zero `x`).
struct Doubler {
    zeros: riptide::host::DeviceBuffer<f32>,
}

impl Doubler {
    fn new(dev: &Device, len: usize) -> Result<Doubler> {
        let mut zeros = dev.alloc::<f32>(len, "zeros")?;
        let s = dev.stream()?;
        s.fill_zero(&mut zeros)?;
        s.synchronize()?;
        Ok(Doubler { zeros })
    }

    fn apply(&self, stream: &Stream, y: riptide::host::DeviceSliceMut<'_, f32>) -> Result<()> {
        let x = self.zeros.slice(0..y.len())?;
        kernels::axpby(stream, 0.0, x, 2.0, y)
    }
}

fn doubled(data: &[f32]) -> Vec<f32> {
    data.iter().map(|v| 2.0 * v).collect()
}

fn data(len: usize) -> Vec<f32> {
    (0..len).map(|i| i as f32 + 1.0).collect()
}

/// Race 1 — a missing event wait: the kernel on the compute stream does not wait for the
/// upload on the copy stream.
fn missing_wait(dev: &Device, input: &[f32], wait: bool) -> Result<Vec<f32>> {
    let (copy, compute) = (dev.stream()?, dev.stream()?);
    let doubler = Doubler::new(dev, input.len())?;
    let uploaded = dev.event(false)?;
    let mut host_in = dev.alloc_pinned::<f32>(input.len(), "input")?;
    host_in.write()?.copy_from_slice(input);
    let mut host_out = dev.alloc_pinned::<f32>(input.len(), "output")?;
    let mut buf = dev.alloc::<f32>(input.len(), "chunk")?;
    copy.copy_to_device(&host_in, &mut buf)?;
    copy.record(&uploaded)?;
    if wait {
        compute.wait(&uploaded)?;
    }
    doubler.apply(&compute, buf.as_slice_mut())?;
    compute.copy_to_host(&buf, &mut host_out)?;
    copy.synchronize()?;
    compute.synchronize()?;
    Ok(host_out.read()?.to_vec())
}

/// Race 2 — a device buffer reused before its download finished: chunk 1's upload on
/// stream B overwrites the buffer chunk 0 is still being downloaded from on stream A.
fn reuse_before_download(dev: &Device, input: &[f32], wait: bool) -> Result<Vec<f32>> {
    let half = input.len() / 2;
    let (a, b) = (dev.stream()?, dev.stream()?);
    let doubler = Doubler::new(dev, half)?;
    let downloaded = dev.event(false)?;
    let mut host_in = dev.alloc_pinned::<f32>(input.len(), "input")?;
    host_in.write()?.copy_from_slice(input);
    let mut host_out = dev.alloc_pinned::<f32>(input.len(), "output")?;
    let mut buf = dev.alloc::<f32>(half, "shared chunk buffer")?;
    a.copy_to_device(host_in.slice(0..half)?, &mut buf)?;
    doubler.apply(&a, buf.as_slice_mut())?;
    a.copy_to_host(&buf, host_out.slice_mut(0..half)?)?;
    a.record(&downloaded)?;
    if wait {
        b.wait(&downloaded)?;
    }
    b.copy_to_device(host_in.slice(half..)?, &mut buf)?;
    doubler.apply(&b, buf.as_slice_mut())?;
    b.copy_to_host(&buf, host_out.slice_mut(half..)?)?;
    a.synchronize()?;
    b.synchronize()?;
    Ok(host_out.read()?.to_vec())
}

/// Race 3 — the host reads pinned output before the download completed.
fn read_before_sync(dev: &Device, input: &[f32], sync: bool) -> Result<Vec<f32>> {
    let s = dev.stream()?;
    let doubler = Doubler::new(dev, input.len())?;
    let mut host_in = dev.alloc_pinned::<f32>(input.len(), "input")?;
    host_in.write()?.copy_from_slice(input);
    let mut host_out = dev.alloc_pinned::<f32>(input.len(), "output")?;
    let mut buf = dev.alloc::<f32>(input.len(), "chunk")?;
    s.copy_to_device(&host_in, &mut buf)?;
    doubler.apply(&s, buf.as_slice_mut())?;
    s.copy_to_host(&buf, &mut host_out)?;
    if sync {
        s.synchronize()?;
    }
    let seen = host_out.read()?.to_vec();
    s.synchronize()?;
    Ok(seen)
}

/// Race 4 — kernels read chunks still being uploaded: every kernel waits on the event of
/// chunk 0's upload only, not its own chunk's.
fn kernels_wait_on_first_chunk_only(
    dev: &Device,
    input: &[f32],
    chunks: usize,
    correct: bool,
) -> Result<Vec<f32>> {
    let len = input.len() / chunks;
    let (copy, compute) = (dev.stream()?, dev.stream()?);
    let doubler = Doubler::new(dev, len)?;
    let mut host_in = dev.alloc_pinned::<f32>(input.len(), "input")?;
    host_in.write()?.copy_from_slice(input);
    let mut host_out = dev.alloc_pinned::<f32>(input.len(), "output")?;
    let mut buf = dev.alloc::<f32>(input.len(), "all chunks")?;
    let events: Vec<Event> = (0..chunks)
        .map(|_| dev.event(false))
        .collect::<Result<_>>()?;
    for (k, ev) in events.iter().enumerate() {
        copy.copy_to_device(
            host_in.slice(k * len..(k + 1) * len)?,
            buf.slice_mut(k * len..(k + 1) * len)?,
        )?;
        copy.record(ev)?;
    }
    for k in 0..chunks {
        compute.wait(&events[if correct { k } else { 0 }])?;
        doubler.apply(&compute, buf.slice_mut(k * len..(k + 1) * len)?)?;
    }
    compute.copy_to_host(&buf, &mut host_out)?;
    copy.synchronize()?;
    compute.synchronize()?;
    Ok(host_out.read()?.to_vec())
}

/// Under random chaos, some seed in 0..32 gives a wrong result, and that seed gives the
/// same wrong result again (the interleaving is reproducible).
fn breaks_under_some_seed(
    run: impl Fn(&Device) -> Result<Vec<f32>>,
    expected: &[f32],
) -> Result<()> {
    for seed in 0..32 {
        let (_, dev) = observing(chaos(seed, ChaosPolicy::Random));
        let got = run(&dev)?;
        if got != expected {
            let (_, again) = observing(chaos(seed, ChaosPolicy::Random));
            assert!(
                run(&again)? == got,
                "seed {seed} did not reproduce its interleaving"
            );
            return Ok(());
        }
    }
    panic!("no seed in 0..32 exposed the race");
}

/// Under the latest-first scheduler, every seed gives a wrong result.
fn breaks_latest_first(run: impl Fn(&Device) -> Result<Vec<f32>>, expected: &[f32]) -> Result<()> {
    for seed in 0..5 {
        let (_, dev) = observing(chaos(seed, ChaosPolicy::LatestFirst));
        assert!(
            run(&dev)? != expected,
            "seed {seed}: latest-first did not expose the race"
        );
    }
    Ok(())
}

fn assert_reported(hazards: &[Hazard], buffer: &str, ops: [&str; 2]) {
    assert!(
        hazards.iter().any(|h| h.buffer.contains(buffer)
            && (h.first.contains(ops[0]) && h.second.contains(ops[1])
                || h.first.contains(ops[1]) && h.second.contains(ops[0]))),
        "no hazard on {buffer} between {ops:?}; got {hazards:#?}"
    );
}

#[test]
fn missing_event_wait_is_reported_and_breaks_under_chaos() -> Result<()> {
    let input = data(4096);
    let (rt, dev) = observing(None);
    missing_wait(&dev, &input, false)?;
    let hz = rt.hazards();
    assert_reported(
        &hz,
        "chunk",
        [
            "copy host \"input\" -> device \"chunk\"",
            "kernel riptide_axpby_f32",
        ],
    );
    let h = hz
        .iter()
        .find(|h| h.buffer.contains("chunk"))
        .expect("reported");
    assert_eq!(h.bytes, 0..4096 * 4, "the whole chunk is the overlap");
    assert!(
        h.first.contains("stream #") && h.second.contains("stream #"),
        "{h}"
    );
    breaks_latest_first(|d| missing_wait(d, &input, false), &doubled(&input))?;
    breaks_under_some_seed(|d| missing_wait(d, &input, false), &doubled(&input))
}

#[test]
fn buffer_reused_before_its_download_is_reported_and_breaks_under_chaos() -> Result<()> {
    let input = data(8192);
    let (rt, dev) = observing(None);
    reuse_before_download(&dev, &input, false)?;
    let hz = rt.hazards();
    assert_reported(
        &hz,
        "shared chunk buffer",
        [
            "copy device \"shared chunk buffer\" -> host \"output\"",
            "copy host \"input\" -> device \"shared chunk buffer\"",
        ],
    );
    assert!(hz.iter().any(|h| h.kind == "write after read"), "{hz:#?}");
    breaks_under_some_seed(
        |d| reuse_before_download(d, &input, false),
        &doubled(&input),
    )
}

#[test]
fn host_read_before_synchronizing_is_reported_and_stale_under_chaos() -> Result<()> {
    let input = data(1024);
    let (rt, dev) = observing(None);
    read_before_sync(&dev, &input, false)?;
    assert_reported(
        &rt.hazards(),
        "output",
        [
            "copy device \"chunk\" -> host \"output\"",
            "host read of \"output\"",
        ],
    );
    // Host access does not wait in chaos mode: stale output under every scheduler.
    breaks_latest_first(|d| read_before_sync(d, &input, false), &doubled(&input))?;
    breaks_under_some_seed(|d| read_before_sync(d, &input, false), &doubled(&input))
}

#[test]
fn kernel_reading_a_chunk_still_uploading_is_reported_and_breaks_under_chaos() -> Result<()> {
    let input = data(4 * 1000);
    let (rt, dev) = observing(None);
    kernels_wait_on_first_chunk_only(&dev, &input, 4, false)?;
    let hz = rt.hazards();
    assert_reported(
        &hz,
        "all chunks",
        [
            "copy host \"input\" -> device \"all chunks\"",
            "kernel riptide_axpby_f32",
        ],
    );
    // Chunk 0 is ordered; chunks 1..4 are not: the reported ranges start at chunk 1.
    assert!(hz.iter().all(|h| h.bytes.start >= 1000 * 4), "{hz:#?}");
    breaks_latest_first(
        |d| kernels_wait_on_first_chunk_only(d, &input, 4, false),
        &doubled(&input),
    )?;
    breaks_under_some_seed(
        |d| kernels_wait_on_first_chunk_only(d, &input, 4, false),
        &doubled(&input),
    )
}

#[test]
fn synchronized_versions_are_clean_and_correct_under_every_scheduler() -> Result<()> {
    let input = data(8000);
    let expected = doubled(&input);
    let mut schedulers = vec![None];
    for seed in 0..8 {
        schedulers.push(chaos(seed, ChaosPolicy::Random));
        schedulers.push(chaos(seed, ChaosPolicy::LatestFirst));
    }
    for sched in schedulers {
        let (rt, dev) = observing(sched.clone());
        assert!(missing_wait(&dev, &input, true)? == expected, "{sched:?}");
        assert!(
            reuse_before_download(&dev, &input, true)? == expected,
            "{sched:?}"
        );
        assert!(
            read_before_sync(&dev, &input, true)? == expected,
            "{sched:?}"
        );
        assert!(
            kernels_wait_on_first_chunk_only(&dev, &input, 4, true)? == expected,
            "{sched:?}"
        );
        assert!(rt.hazards().is_empty(), "{sched:?}: {:#?}", rt.hazards());
    }
    Ok(())
}

/// Three stages on three streams — uploads, kernels, downloads — over `buffers` device
/// buffers reused round-robin, ordered by events only.
fn three_stage(dev: &Device, input: &[f32], chunk: usize, buffers: usize) -> Result<Vec<f32>> {
    let chunks = input.len().div_ceil(chunk);
    let (up, work, down) = (dev.stream()?, dev.stream()?, dev.stream()?);
    let doubler = Doubler::new(dev, chunk)?;
    let mut host_in = dev.alloc_pinned::<f32>(input.len(), "input")?;
    host_in.write()?.copy_from_slice(input);
    let mut host_out = dev.alloc_pinned::<f32>(input.len(), "output")?;
    let mut bufs: Vec<_> = (0..buffers)
        .map(|i| dev.alloc::<f32>(chunk, &format!("buffer {i}")))
        .collect::<Result<_>>()?;
    let ev = |n: usize| {
        (0..n)
            .map(|_| dev.event(false))
            .collect::<Result<Vec<Event>>>()
    };
    let (uploaded, computed, freed) = (ev(chunks)?, ev(chunks)?, ev(buffers)?);
    for k in 0..chunks {
        let (lo, hi) = (k * chunk, ((k + 1) * chunk).min(input.len()));
        let b = k % buffers;
        let buf = &mut bufs[b];
        up.wait(&freed[b])?; // the download of the chunk that last used this buffer
        up.copy_to_device(host_in.slice(lo..hi)?, buf.slice_mut(0..hi - lo)?)?;
        up.record(&uploaded[k])?;
        work.wait(&uploaded[k])?;
        doubler.apply(&work, buf.slice_mut(0..hi - lo)?)?;
        work.record(&computed[k])?;
        down.wait(&computed[k])?;
        down.copy_to_host(buf.slice(0..hi - lo)?, host_out.slice_mut(lo..hi)?)?;
        down.record(&freed[b])?;
    }
    down.synchronize()?;
    let out = host_out.read()?.to_vec();
    Ok(out)
}

device_tests! {
    fn three_stage_pipeline_is_correct(dev: &Device) -> Result<()> {
        for (len, chunk, buffers) in [(10_000, 1000, 2), (10_001, 1000, 3), (999, 1000, 2), (1 << 20, 1 << 16, 3)] {
            let input = data(len);
            assert!(three_stage(dev, &input, chunk, buffers)? == doubled(&input), "len {len} chunk {chunk} buffers {buffers}");
        }
        Ok(())
    }
}

#[test]
fn three_stage_pipeline_is_clean_under_chaos() -> Result<()> {
    let input = data(12_345);
    for seed in 0..6 {
        for policy in [ChaosPolicy::Random, ChaosPolicy::LatestFirst] {
            let (rt, dev) = observing(chaos(seed, policy));
            assert!(
                three_stage(&dev, &input, 1000, 2)? == doubled(&input),
                "seed {seed} {policy:?}"
            );
            assert!(rt.hazards().is_empty(), "{:#?}", rt.hazards());
        }
    }
    Ok(())
}
