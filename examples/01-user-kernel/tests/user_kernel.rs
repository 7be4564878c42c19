//! The user kernel behaves like a built-in one: it streams through the pipeline with results
//! equal to an independent evaluation of its formula (on the cpu backend, and on a GPU when
//! asked for), its launcher is checked against the PTX when bound, and the race detector
//! sees its declared buffers.

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime, KernelArgs};
use riptide::host::launch::LaunchConfig;
use riptide::host::module::KernelModule;
use riptide::host::pipeline::PipelineConfig;
use riptide::host::typed::{In, Out, UserKernel};
use riptide::host::{Device, Error, ErrorKind, Result};
use riptide_example_user_kernel::{
    SoftClip, SoftClipChunks, SoftClipKernel, embedded, kernels_module, launch_config,
    soft_clip_with,
};

const PARAMS: SoftClip = SoftClip {
    scale: 2.5,
    shift: 0.125,
    limit: 1.5,
    reserved: 0.0,
};

/// The formula in f64, written here from its definition (`y = limit·v / (limit + |v|)`,
/// `v = x·scale + shift`), not taken from the example's code.
fn expected(x: f32, p: SoftClip) -> f64 {
    let v = x as f64 * p.scale as f64 + p.shift as f64;
    p.limit as f64 * v / (p.limit as f64 + v.abs())
}

/// Tolerance: f32 rounds x·scale and +shift (absolute error ≤ ε(|x·scale| + |shift|) in v,
/// passed through by the clip, whose slope is at most 1), then limit + |v|, limit·v and the
/// division (≤ 1.5 ulp of |y| < limit, bounded by 2ε·limit). ε = 2⁻²⁴, doubled for slack.
fn tolerance(x: f32, p: SoftClip) -> f64 {
    let eps = f32::EPSILON as f64 / 2.0;
    2.0 * eps * ((x as f64 * p.scale as f64).abs() + (p.shift as f64).abs() + 2.0 * p.limit as f64)
}

fn data(n: usize) -> Vec<f32> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect()
}

fn check_pipeline(device: &Device) -> Result<()> {
    check_pipeline_with(device, &SoftClipChunks::new(device, PARAMS)?)
}

fn check_pipeline_with(device: &Device, chunks: &SoftClipChunks) -> Result<()> {
    // 100 003 elements in chunks of 12 289: nine chunks, the last one short.
    let x = data(100_003);
    let (y, stats) = soft_clip_with(chunks, device, &x, PipelineConfig::new(12_289, 2, 2))?;
    assert_eq!(stats.chunks, 9);
    let bad: Vec<(usize, f32, f64)> = x
        .iter()
        .zip(&y)
        .enumerate()
        .filter(|(_, (x, y))| (**y as f64 - expected(**x, PARAMS)).abs() > tolerance(**x, PARAMS))
        .map(|(i, (x, y))| (i, *y, expected(*x, PARAMS)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} elements differ; first (index, got, expected): {:?}",
        bad.len(),
        x.len(),
        &bad[..bad.len().min(5)]
    );
    Ok(())
}

#[test]
fn pipeline_matches_the_formula_on_cpu() -> Result<()> {
    check_pipeline(&Device::cpu(CpuConfig::checked()))
}

/// CUDA device 0; `None` (the test then passes as skipped) without one, unless
/// `RIPTIDE_REQUIRE_GPU=1`, which turns a missing GPU into a failure.
fn gpu() -> Option<Device> {
    match Device::cuda(0, riptide::KERNELS) {
        Ok(device) => Some(device),
        Err(e) if std::env::var("RIPTIDE_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("RIPTIDE_REQUIRE_GPU=1 but no usable CUDA device: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn pipeline_matches_the_formula_on_gpu() -> Result<()> {
    match gpu() {
        Some(device) => check_pipeline(&device),
        None => Ok(()),
    }
}

/// The module as built (with the sm_90 cubin when ptxas was found at build time) and as PTX
/// only (JIT-compiled by the driver) give the same results on the GPU.
#[test]
#[ignore = "needs a CUDA GPU"]
fn cubin_and_ptx_modules_both_load_and_run_on_gpu() -> Result<()> {
    let Some(device) = gpu() else {
        return Ok(());
    };
    let built = kernels_module()?;
    let ptx_only = KernelModule::new("example-kernels (PTX only)", embedded::PTX, &[])?;
    for module in [&built, &ptx_only] {
        let chunks = SoftClipChunks::with_module(&device, module, PARAMS)?;
        check_pipeline_with(&device, &chunks)?;
        let loaded = device.load_module(module)?;
        let registers = loaded.kernel_registers(riptide_example_kernels::SOFT_CLIP_F32)?;
        println!("{}: {registers:?} registers per thread", module.name());
        assert!(registers.is_some_and(|r| r > 0));
    }
    println!(
        "cubins embedded: {:?}",
        embedded::CUBINS.iter().map(|(a, _)| a).collect::<Vec<_>>()
    );
    Ok(())
}

/// Declares the soft clip with one parameter too few.
struct MissingParam;
// SAFETY: never launched; only bound, which must fail.
unsafe impl UserKernel for MissingParam {
    const ENTRY: &'static str = riptide_example_kernels::SOFT_CLIP_F32;
    type Params = (In<f32>, Out<f32>, u64);
    fn cpu(_: &mut KernelArgs<'_>) -> Result<()> {
        unreachable!("never launched")
    }
}

/// Declares the element count as a u32 where the PTX has a u64.
struct WrongSize;
// SAFETY: never launched; only bound, which must fail.
unsafe impl UserKernel for WrongSize {
    const ENTRY: &'static str = riptide_example_kernels::SOFT_CLIP_F32;
    type Params = (In<f32>, Out<f32>, u32, SoftClip);
    fn cpu(_: &mut KernelArgs<'_>) -> Result<()> {
        unreachable!("never launched")
    }
}

/// Declares the output buffer as a plain u64.
struct PointerAsScalar;
// SAFETY: never launched; only bound, which must fail.
unsafe impl UserKernel for PointerAsScalar {
    const ENTRY: &'static str = riptide_example_kernels::SOFT_CLIP_F32;
    type Params = (In<f32>, u64, u64, SoftClip);
    fn cpu(_: &mut KernelArgs<'_>) -> Result<()> {
        unreachable!("never launched")
    }
}

/// Names an entry the module does not have.
struct NotInModule;
// SAFETY: never launched; only bound, which must fail.
unsafe impl UserKernel for NotInModule {
    const ENTRY: &'static str = "example_not_there";
    type Params = ();
    fn cpu(_: &mut KernelArgs<'_>) -> Result<()> {
        unreachable!("never launched")
    }
}

#[test]
fn binding_checks_the_declared_parameters_against_the_ptx() -> Result<()> {
    let device = Device::cpu(CpuConfig::checked());
    let module = device.load_module(&kernels_module()?)?;
    assert!(module.kernel::<SoftClipKernel>().is_ok());

    let count = module.kernel::<MissingParam>().unwrap_err();
    assert_eq!(count.kind(), ErrorKind::InvalidInput);
    let text = count.to_string();
    assert!(text.contains("kernel example_soft_clip_f32"), "{text}");
    assert!(
        text.contains("declares 3 parameters but the PTX entry has 4"),
        "{text}"
    );

    let size = module.kernel::<WrongSize>().unwrap_err().to_string();
    assert!(
        size.contains("parameter 2 (example_soft_clip_f32_param_2) is 8 bytes (.u64) in the PTX"),
        "{size}"
    );
    assert!(size.contains("`u32` of 4 bytes"), "{size}");

    let pointer = module.kernel::<PointerAsScalar>().unwrap_err().to_string();
    assert!(
        pointer.contains("parameter 1 (example_soft_clip_f32_param_1) is a pointer"),
        "{pointer}"
    );

    let missing = module.kernel::<NotInModule>().unwrap_err();
    assert!(matches!(missing, Error::MissingKernel { .. }), "{missing}");
    assert!(
        missing.to_string().contains("example_soft_clip_f32"),
        "{missing}"
    );
    Ok(())
}

#[test]
fn launches_are_checked_against_the_kernels_contract_and_device() -> Result<()> {
    let runtime = CpuRuntime::new(CpuConfig::checked(), 2);
    let devices = runtime.devices();
    let kernel = devices[0]
        .load_module(&kernels_module()?)?
        .kernel::<SoftClipKernel>()?;
    let x = devices[0].alloc::<f32>(100, "x")?;
    let mut y = devices[0].alloc::<f32>(99, "y")?;
    let s = devices[0].stream()?;
    let config = launch_config(&devices[0], 100);
    let short = kernel
        .launch(&s, config, (x.as_slice(), y.as_slice_mut(), 100, PARAMS))
        .unwrap_err()
        .to_string();
    assert!(short.contains("y (99) must hold n = 100"), "{short}");

    // The module is loaded on device 0 only: a launch on device 1 is refused.
    let other = devices[1].stream()?;
    let x1 = devices[1].alloc::<f32>(10, "x1")?;
    let mut y1 = devices[1].alloc::<f32>(10, "y1")?;
    let elsewhere = kernel
        .launch(
            &other,
            launch_config(&devices[1], 10),
            (x1.as_slice(), y1.as_slice_mut(), 10, PARAMS),
        )
        .unwrap_err();
    assert_eq!(elsewhere.kind(), ErrorKind::InvalidInput);
    assert!(
        elsewhere
            .to_string()
            .contains("load the module on every device"),
        "{elsewhere}"
    );
    Ok(())
}

#[test]
fn the_race_detector_sees_a_user_kernels_buffers() -> Result<()> {
    let device = Device::cpu(CpuConfig::checked());
    let kernel = device
        .load_module(&kernels_module()?)?
        .kernel::<SoftClipKernel>()?;
    let n = 1000;
    let mut x = device.alloc::<f32>(n, "x")?;
    let mut y = device.alloc::<f32>(n, "shared y")?;
    let (a, b) = (device.stream()?, device.stream()?);
    a.fill_zero(&mut x)?;
    let ready = device.event(false)?;
    a.record(&ready)?;
    b.wait(&ready)?;
    let config: LaunchConfig = launch_config(&device, n);
    // Both streams write `shared y` with nothing ordering the two kernels: a write-after-write race.
    kernel.launch(
        &a,
        config,
        (x.as_slice(), y.as_slice_mut(), n as u64, PARAMS),
    )?;
    kernel.launch(
        &b,
        config,
        (x.as_slice(), y.as_slice_mut(), n as u64, PARAMS),
    )?;
    let err = device.synchronize().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Hazard, "{err}");
    let hazards = device.as_cpu().expect("a cpu device").hazards();
    assert!(
        hazards
            .iter()
            .any(|h| h.kind == "write after write" && h.buffer.contains("shared y")),
        "{hazards:?}"
    );
    Ok(())
}

#[test]
fn the_example_runs_on_the_cpu_backend() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_01-user-kernel"))
        .arg("200000")
        .env("RIPTIDE_BACKEND", "cpu")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("all 200000 elements match the reference"),
        "{stdout}"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_01-user-kernel"))
        .arg("many")
        .env("RIPTIDE_BACKEND", "cpu")
        .output()
        .expect("run the example");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("positive integer, got \"many\""));
}

/// Counts elements of `got` outside the formula's tolerance for inputs `x`.
fn outside_tolerance(x: &[f32], got: &[f32]) -> usize {
    x.iter()
        .zip(got)
        .filter(|&(&x, &y)| (y as f64 - expected(x, PARAMS)).abs() > tolerance(x, PARAMS))
        .count()
}

/// In a graph built on a Hopper GPU riptide's kernels follow their kernel predecessors
/// through programmatic edges (launched while those finish; they wait for them on entry);
/// a user kernel, which makes no such promise, never does. So a user kernel cannot take a
/// riptide kernel's node in place — `set_kernel` refuses, `update` instantiates again — and
/// the results stay those of the formula. On older GPUs no edge is programmatic and the
/// in-place replacement is allowed.
#[test]
#[ignore = "needs a CUDA GPU"]
fn user_kernels_never_follow_programmatic_graph_edges_on_gpu() -> Result<()> {
    use riptide::host::graph::{Dag, Graph, UpdateOutcome, record_launch};
    use riptide::host::kernels;
    let Some(device) = gpu() else {
        return Ok(());
    };
    let n = 10_007;
    let x = data(n);
    let s = device.stream()?;
    let mut dx = device.alloc::<f32>(n, "x")?;
    s.upload(&x, &mut dx)?;
    let (mut a, mut b, mut c) = (
        device.alloc::<f32>(n, "a")?,
        device.alloc::<f32>(n, "b")?,
        device.alloc::<f32>(n, "c")?,
    );
    let clip = device
        .load_module(&kernels_module()?)?
        .kernel::<SoftClipKernel>()?;
    let config = launch_config(&device, n);
    // a = 0; a += x; a += x; b = clip(a)  →  b = clip(2x).
    let mut dag = Dag::new();
    let zero = dag.fill_zero(&mut a, &[])?;
    let first = dag.record_one(&device, &[zero], |s| {
        kernels::axpby(s, 1.0, &dx, 1.0, &mut a)
    })?;
    let second = dag.record_one(&device, &[first], |s| {
        kernels::axpby(s, 1.0, &dx, 1.0, &mut a)
    })?;
    dag.record_one(&device, &[second], |s| {
        clip.launch(
            s,
            config,
            (a.as_slice(), b.as_slice_mut(), n as u64, PARAMS),
        )
    })?;
    let mut graph = Graph::build(dag.clone(), &device)?;
    let hopper = device.info().compute_capability.0 >= 9;
    // Only the second axpby follows a kernel that is riptide's own... and is riptide's own.
    assert_eq!(graph.programmatic_nodes(), usize::from(hopper));
    graph.launch(&s)?;
    let twice: Vec<f32> = x.iter().map(|v| v + v).collect();
    assert_eq!(outside_tolerance(&twice, &s.download(&b)?), 0);

    // The user kernel in the second axpby's place (reading x, writing c).
    let user = record_launch(&device, |s| {
        clip.launch(
            s,
            config,
            (dx.as_slice(), c.as_slice_mut(), n as u64, PARAMS),
        )
    })?;
    match graph.set_kernel(second, user.clone()) {
        Err(e) if hopper => assert!(e.to_string().contains("programmatic edges"), "{e}"),
        Err(e) => return Err(e),
        Ok(()) => assert!(
            !hopper,
            "a user kernel took a node with programmatic edges in"
        ),
    }
    let mut replaced = dag.clone();
    replaced.set_kernel(second, user)?;
    let outcome = graph.update(replaced)?;
    let want = if hopper {
        UpdateOutcome::Reinstantiated
    } else {
        UpdateOutcome::Updated
    };
    assert_eq!(outcome, want);
    assert_eq!(graph.programmatic_nodes(), 0);
    graph.launch(&s)?;
    // Now a = x (one axpby), b = clip(x), c = clip(x).
    assert_eq!(outside_tolerance(&x, &s.download(&b)?), 0);
    assert_eq!(outside_tolerance(&x, &s.download(&c)?), 0);
    Ok(())
}
