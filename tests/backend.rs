//! The backend interface behaves the same on every backend: copies, memsets, events, host
//! callbacks and argument checking; plus the CPU backend's simulated time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime, TimingModel};
use riptide::host::{Device, Error, ErrorKind, Result};

device_tests! {
    fn round_trip_through_device_memory(dev: &Device) -> Result<()> {
        let n = 100_003;
        let data: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let s = dev.stream()?;
        let mut host = dev.alloc_pinned::<u32>(n, "host")?;
        host.write()?.copy_from_slice(&data);
        let mut a = dev.alloc::<u32>(n, "a")?;
        let mut b = dev.alloc::<u32>(n, "b")?;
        s.copy_to_device(&host, &mut a)?;
        s.copy_on_device(&a, &mut b)?;
        s.fill_zero(a.slice_mut(10..20)?)?;
        let mut back = dev.alloc_pinned::<u32>(n, "back")?;
        s.copy_to_host(&b, &mut back)?;
        let mut part = dev.alloc_pinned::<u32>(30, "part")?;
        s.copy_to_host(a.slice(0..30)?, &mut part)?;
        s.synchronize()?;
        assert!(*back.read()? == data[..]);
        let part = part.read()?;
        assert_eq!(&part[..10], &data[..10]);
        assert!(part[10..20].iter().all(|&v| v == 0));
        assert_eq!(&part[20..30], &data[20..30]);
        Ok(())
    }

    fn lengths_and_ranges_are_checked(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let host = dev.alloc_pinned::<f32>(10, "host")?;
        let mut d = dev.alloc::<f32>(11, "dev")?;
        let err = s.copy_to_device(&host, &mut d).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 10, actual: 11, .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = d.slice(5..12).unwrap_err();
        assert!(matches!(err, Error::OutOfRange { start: 5, end: 12, len: 11 }), "{err}");
        #[allow(clippy::reversed_empty_ranges)]
        let err = d.slice(6..5).unwrap_err();
        assert!(matches!(err, Error::OutOfRange { .. }), "{err}");
        let x = dev.alloc::<f32>(10, "x")?;
        let err = riptide::host::kernels::axpby(&s, 1.0, &x, 1.0, &mut d).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { .. }), "{err}");
        Ok(())
    }

    fn host_callbacks_run_in_stream_order(dev: &Device) -> Result<()> {
        let s = dev.stream()?;
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..5 {
            let log = Arc::clone(&log);
            s.host_fn(move || log.lock().unwrap().push(i))?;
        }
        s.synchronize()?;
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        Ok(())
    }

    fn events_order_streams_and_time_work(dev: &Device) -> Result<()> {
        let (a, b) = (dev.stream()?, dev.stream()?);
        let (start, end) = (dev.event(true)?, dev.event(true)?);
        assert!(start.query()?, "a never-recorded event is complete");
        let ran = Arc::new(AtomicUsize::new(0));
        a.record(&start)?;
        let r = Arc::clone(&ran);
        a.host_fn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            r.store(1, Ordering::SeqCst);
        })?;
        a.record(&end)?;
        b.wait(&end)?;
        let r = Arc::clone(&ran);
        let seen = Arc::new(AtomicUsize::new(99));
        let s2 = Arc::clone(&seen);
        b.host_fn(move || s2.store(r.load(Ordering::SeqCst), Ordering::SeqCst))?;
        b.synchronize()?;
        assert_eq!(seen.load(Ordering::SeqCst), 1, "b's callback ran before a's work it waited for");
        end.synchronize()?;
        let ms = start.elapsed_ms(&end)?;
        assert!(ms >= 0.0, "elapsed {ms}");
        Ok(())
    }
}

#[test]
fn device_memory_is_bounded_on_the_cpu_backend() {
    let dev = Device::cpu(CpuConfig {
        memory_bytes: 1 << 20,
        ..CpuConfig::checked()
    });
    let a = dev.alloc::<u8>(800_000, "a").expect("fits");
    let err = dev.alloc::<u8>(300_000, "b").unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfMemory {
                kind: "device",
                bytes: 300_000
            }
        ),
        "{err}"
    );
    drop(a);
    dev.alloc::<u8>(300_000, "b")
        .expect("fits after the first is freed");
}

#[test]
fn mixing_devices_is_an_error_not_a_crash() -> Result<()> {
    let rt = CpuRuntime::new(CpuConfig::checked(), 2);
    let devs = rt.devices();
    let s0 = devs[0].stream()?;
    let host = devs[0].alloc_pinned::<f32>(4, "host")?;
    let mut on1 = devs[1].alloc::<f32>(4, "on device 1")?;
    let err = s0.copy_to_device(&host, &mut on1).unwrap_err();
    assert!(matches!(err, Error::DeviceMismatch(_)), "{err}");
    // A peer copy (source on another device) is allowed.
    let s1 = devs[1].stream()?;
    let mut on0 = devs[0].alloc::<f32>(4, "on device 0")?;
    s1.copy_to_device(&host, &mut on1)?;
    s1.synchronize()?;
    s0.copy_on_device(&on1, &mut on0)?;
    s0.synchronize()?;
    Ok(())
}

fn timed(model: TimingModel) -> (CpuRuntime, Device) {
    let rt = CpuRuntime::new(
        CpuConfig {
            timing: Some(model),
            ..CpuConfig::checked()
        },
        1,
    );
    let d = rt.devices().remove(0);
    (rt, d)
}

#[test]
fn simulated_copy_time_follows_the_model() -> Result<()> {
    let model = TimingModel::H100_PCIE;
    let (_rt, dev) = timed(model.clone());
    let n = 16 << 20; // 64 MiB of f32
    let s = dev.stream()?;
    let host = dev.alloc_pinned::<f32>(n, "host")?;
    let mut d = dev.alloc::<f32>(n, "dev")?;
    let (t0, t1) = (dev.event(true)?, dev.event(true)?);
    s.record(&t0)?;
    s.copy_to_device(&host, &mut d)?;
    s.record(&t1)?;
    let ms = t0.elapsed_ms(&t1)? as f64;
    let expected = (model.copy_latency_s + (n * 4) as f64 / model.h2d_bytes_per_s) * 1e3;
    assert!(
        (ms - expected).abs() < 1e-3 * expected,
        "{ms} ms vs model {expected} ms"
    );
    Ok(())
}

#[test]
fn simulated_copies_in_both_directions_overlap_at_duplex_bandwidth() -> Result<()> {
    let model = TimingModel::H100_PCIE;
    let n = 16 << 20;
    let run = |streams: usize| -> Result<f64> {
        let (rt, dev) = timed(model.clone());
        let ss: Vec<_> = (0..streams).map(|_| dev.stream()).collect::<Result<_>>()?;
        let host_in = dev.alloc_pinned::<f32>(n, "in")?;
        let mut host_out = dev.alloc_pinned::<f32>(n, "out")?;
        let mut a = dev.alloc::<f32>(n, "a")?;
        let b = dev.alloc::<f32>(n, "b")?;
        ss[0].copy_to_device(&host_in, &mut a)?;
        ss[streams - 1].copy_to_host(&b, &mut host_out)?;
        dev.synchronize()?;
        Ok(rt.simulated_seconds().expect("timing on"))
    };
    let serial = run(1)?;
    let overlapped = run(2)?;
    let bytes = (n * 4) as f64;
    let want_serial =
        2.0 * model.copy_latency_s + bytes / model.h2d_bytes_per_s + bytes / model.d2h_bytes_per_s;
    assert!(
        (serial - want_serial).abs() < 1e-6 + 1e-3 * want_serial,
        "{serial} vs {want_serial}"
    );
    // The second copy starts while the first runs, so it moves at duplex bandwidth.
    let want_overlap = model.copy_latency_s + model.submit_s + bytes / model.duplex_bytes_per_s;
    assert!(
        overlapped < serial * 0.7,
        "overlapped {overlapped} s, serial {serial} s"
    );
    assert!(
        (overlapped - want_overlap).abs() < 1e-3 * want_overlap + 2e-6,
        "{overlapped} vs {want_overlap}"
    );
    Ok(())
}

#[test]
fn slower_virtual_devices_take_proportionally_longer() -> Result<()> {
    let rt = CpuRuntime::new(
        CpuConfig {
            timing: Some(TimingModel::H100_PCIE),
            device_slowdown: vec![1.0, 3.0],
            ..CpuConfig::checked()
        },
        2,
    );
    let mut times = Vec::new();
    for dev in rt.devices() {
        let s = dev.stream()?;
        let x = dev.alloc::<f32>(1 << 24, "x")?;
        let mut y = dev.alloc::<f32>(1 << 24, "y")?;
        let (a, b) = (dev.event(true)?, dev.event(true)?);
        // Time the second of two kernels: the stream is then busy, so host submission costs
        // (which a slower device does not slow) stay out of the interval.
        riptide::host::kernels::axpby(&s, 1.0, &x, 1.0, &mut y)?;
        s.record(&a)?;
        riptide::host::kernels::axpby(&s, 1.0, &x, 1.0, &mut y)?;
        s.record(&b)?;
        times.push(a.elapsed_ms(&b)?);
    }
    let ratio = times[1] / times[0];
    assert!(
        (ratio - 3.0).abs() < 1e-3,
        "slowdown ratio {ratio} ({times:?})"
    );
    Ok(())
}

#[test]
fn launchers_accept_empty_stencil_ranges_and_refuse_overflowing_histogram_ranges() -> Result<()> {
    use riptide::host::kernels::{self, StencilBlock};
    let dev = common::cpu_device();
    let s = dev.stream()?;
    let input = dev.alloc::<f32>(10, "grid")?;
    let mut empty = dev.alloc::<f32>(0, "no rows")?;
    let block = StencilBlock {
        rows: 2,
        cols: 5,
        row_offset: 1,
        global_rows: 4,
        row_begin: 1,
        row_end: 1,
    };
    kernels::jacobi5(&s, block, &input, &mut empty)?;
    let mut counts = dev.alloc::<u32>(4, "counts")?;
    let err = kernels::histogram_f32(&s, &input, -3e38, 3e38, &mut counts).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    s.synchronize()
}

#[test]
fn copy_ceilings_measure_the_simulated_links_rates() -> Result<()> {
    let model = TimingModel::H100_PCIE;
    let (_rt, dev) = timed(model.clone());
    let bytes = 64 << 20;
    let c = riptide::host::measure::copy_ceilings(&dev, bytes, 2)?;
    let b = bytes as f64;
    // One copy alone: its latency plus the bytes at the one-way rate.
    let h2d = b / (model.copy_latency_s + b / model.h2d_bytes_per_s);
    let d2h = b / (model.copy_latency_s + b / model.d2h_bytes_per_s);
    let close = |got: f64, want: f64| ((b / got) - (b / want)).abs() <= 1e-3 * (b / want);
    assert!(close(c.h2d, h2d), "h2d {} vs {h2d}", c.h2d);
    assert!(close(c.d2h, d2h), "d2h {} vs {d2h}", c.d2h);
    // Both ways: the bytes of one direction at the duplex rate, plus at most every copy's
    // latency and every queued operation's submission (8 MiB copies in each direction, a
    // start record, a wait and two end records), if none of them overlapped.
    let chunks = (bytes / riptide::host::measure::DUPLEX_CHUNK_BYTES) as f64;
    let fastest = b / model.duplex_bytes_per_s;
    let slowest =
        fastest + 2.0 * chunks * (model.copy_latency_s + model.submit_s) + 4.0 * model.submit_s;
    let t = b / c.duplex_h2d;
    assert!(
        (fastest..=slowest).contains(&t),
        "both ways took {t} s, outside [{fastest}, {slowest}]"
    );
    assert_eq!(c.duplex_h2d, c.duplex_d2h);
    Ok(())
}
