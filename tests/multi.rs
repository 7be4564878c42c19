//! Several devices: results equal the reference whatever the split (elementwise, sum,
//! min/max, histogram, scan, stencil with halos from the host, and a grid resident on the
//! devices exchanging halo rows by peer copies or through pinned host memory), with the
//! race detector on and under chaos scheduling. The balancer's makespan is tested in
//! `multi_balance.rs`.
//!
//! On a GPU, two or three logical devices opened on GPU 0 run the same bodies through the
//! real multi-context paths (`*_on_one_gpu`, ignored without a GPU).

mod common;

use riptide::host::backend::cpu::{CpuConfig, CpuRuntime, TimingModel};
use riptide::host::kernels::{MapChain, ScanKind};
use riptide::host::multi::{HaloPath, MultiPipeline, ResidentStencil, Weights, scan_across};
use riptide::host::pipeline::workloads::{
    Binning, Elementwise, Extremum, Histogram, MapStep, Stencil, Sum,
};
use riptide::host::pipeline::{ChunkOutput, PipelineConfig};
use riptide::host::{Device, Element, Error, Result};
use riptide_reference as reference;

const CHAIN: MapChain = MapChain {
    scale: 0.5,
    offset: -0.25,
    lo: -8.0,
    hi: 8.0,
};

fn chain() -> Elementwise {
    Elementwise(vec![
        MapStep::Compute {
            k: 3,
            a: 0.75,
            b: 0.125,
        },
        MapStep::Chain(CHAIN),
    ])
}

fn data_f32(n: usize, seed: u64) -> Vec<f32> {
    common::random_f32(n, seed)
        .into_iter()
        .map(|v| v * 4.0)
        .collect()
}

fn data_u32(n: usize, seed: u64) -> Vec<u32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u32
        })
        .collect()
}

/// Runs `kernel` over `data` on `multi`; returns the combined output, the streamed data and
/// the stats.
fn run_multi<T: Element, K: riptide::host::multi::CombineAcross<T>>(
    multi: &mut MultiPipeline,
    kernel: &K,
    data: &[T],
) -> Result<(K::Output, Vec<T>, riptide::host::multi::MultiStats)> {
    let dev = multi.devices().remove(0);
    let mut input = dev.alloc_pinned::<T>(data.len(), "input")?;
    input.write()?.copy_from_slice(data);
    let mut output = if kernel.output() != ChunkOutput::Accumulated {
        Some(dev.alloc_pinned::<T>(data.len(), "output")?)
    } else {
        None
    };
    let (out, stats) = multi.run(kernel, &input, output.as_mut())?;
    let back = match &output {
        Some(o) => o.read()?.to_vec(),
        None => Vec::new(),
    };
    Ok((out, back, stats))
}

fn assert_chain_matches(x: &[f32], got: &[f32]) {
    let mut y = x.to_vec();
    reference::elementwise::compute_in_place(0.75, 0.125, 3, &mut y);
    let mut refs = vec![reference::elementwise::MapChainRef::default(); y.len()];
    let p = reference::elementwise::MapChainParams {
        scale: CHAIN.scale,
        offset: CHAIN.offset,
        lo: CHAIN.lo,
        hi: CHAIN.hi,
    };
    reference::elementwise::map_chain(&y, p, &mut refs).expect("lengths match");
    // GPU `exp` is approximate: each element must be admitted by the reference's bound.
    let bad = refs.iter().zip(got).filter(|(r, g)| !r.admits(**g)).count();
    assert_eq!(
        bad,
        0,
        "{bad} of {} elements outside the map_chain bound",
        got.len()
    );
}

/// Every workload over several lengths on `devices`, compared with the reference.
fn results_match_the_reference(devices: &[Device]) -> Result<()> {
    let c = 3000;
    for n in [0, 1, c - 1, c + 1, 11 * c + 7] {
        let mut multi = MultiPipeline::new(devices, PipelineConfig::new(c, 2, 2))?;
        let x = data_f32(n, n as u64);
        let (_, got, stats) = run_multi(&mut multi, &chain(), &x)?;
        assert_chain_matches(&x, &got);
        let covered: usize = stats.devices.iter().map(|d| d.elements).sum();
        assert_eq!(covered, n, "every element is processed exactly once");
        // A second run starts from the split the first one measured.
        multi.learn(&stats);
        let (_, got, _) = run_multi(&mut multi, &chain(), &x)?;
        assert_chain_matches(&x, &got);

        let xu = data_u32(n, 7 + n as u64);
        assert_eq!(
            run_multi(&mut multi, &Sum, &xu)?.0,
            reference::reduce::sum_u32(&xu)
        );
        assert_eq!(
            run_multi(&mut multi, &Extremum { max: false }, &xu)?.0,
            reference::reduce::min_u32(&xu)
        );
        assert_eq!(
            run_multi(&mut multi, &Extremum { max: true }, &xu)?.0,
            reference::reduce::max_u32(&xu)
        );
        let h = Histogram {
            bins: 100,
            binning: Binning::Integer {
                lo: 1 << 20,
                width: 1 << 25,
            },
        };
        let mut want = vec![0u32; 100];
        reference::histogram::histogram_u32(&xu, 1 << 20, 1 << 25, &mut want).expect("valid");
        assert_eq!(run_multi(&mut multi, &h, &xu)?.0, want);

        let s = run_multi(&mut multi, &Sum, &x)?.0;
        let r = reference::reduce::sum_f32(&x);
        // Each chunk's f32 sum has the kernel's tree depth; each device adds its partials in
        // f64 and rounds once to f32, and the devices' sums are added in f64 and rounded
        // once more: two roundings beyond the tree.
        let grid =
            riptide::host::kernels::reduction_grid(&devices[0], gpu_kernels::entries::SUM_F32, c)?;
        let depth = gpu_kernels::config::reduce_f32_depth(c, grid) as u32;
        let bound = reference::bounds::sum_bound(r.abs_sum, depth + 2);
        assert!(r.admits(s, bound), "sum {s} vs {} (bound {bound})", r.value);
    }
    // A stencil sweep streamed through several devices: halos come from the host input.
    let cols = 37;
    for rows in [1, 3, 64, 257] {
        let x = data_f32(rows * cols, rows as u64);
        let mut want = vec![0.0f32; rows * cols];
        let block = reference::stencil::Jacobi5Block::whole(rows, cols);
        reference::stencil::jacobi5(&block, &x, &mut want).expect("valid block");
        let mut multi = MultiPipeline::new(devices, PipelineConfig::new(5 * cols, 1, 2))?;
        let (_, got, _) = run_multi(&mut multi, &Stencil { cols }, &x)?;
        let bad = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g.to_bits() != w.to_bits())
            .count();
        assert_eq!(bad, 0, "rows {rows}: {bad} cells differ");
    }
    Ok(())
}

/// A resident grid swept several times with halo exchanges equals the reference's sweeps
/// bit for bit (the same sums in the same order, in f32).
fn resident_stencil_matches(devices: &[Device], force_host: bool) -> Result<Vec<HaloPath>> {
    let cols = 29;
    let mut paths = Vec::new();
    for rows in [devices.len(), 7, 100] {
        let grid = data_f32(rows * cols, 3 + rows as u64);
        let weights = Weights::from_throughput(
            &(0..devices.len())
                .map(|i| 1.0 + i as f64)
                .collect::<Vec<_>>(),
        )?;
        let mut st = ResidentStencil::new(devices, &grid, cols, &weights, force_host)?;
        paths = st.halo_paths().to_vec();
        for sweeps in [1, 4] {
            st.sweep(sweeps)?;
            let got = st.download()?;
            let want =
                reference::stencil::jacobi5_sweeps(&grid, cols, st.sweeps()).expect("a whole grid");
            let bad = got
                .iter()
                .zip(&want)
                .filter(|(g, w)| g.to_bits() != w.to_bits())
                .count();
            assert_eq!(
                bad,
                0,
                "{} devices, {rows} rows, {} sweeps: {bad} cells differ",
                devices.len(),
                st.sweeps()
            );
        }
    }
    Ok(paths)
}

fn cpu_devices(n: usize, slowdown: Vec<f64>) -> Vec<Device> {
    CpuRuntime::new(
        CpuConfig {
            timing: Some(TimingModel::H100_PCIE),
            device_slowdown: slowdown,
            ..CpuConfig::checked()
        },
        n,
    )
    .devices()
}

#[test]
fn results_equal_the_reference_on_virtual_devices() -> Result<()> {
    for n in [1, 2, 3, 5] {
        let slowdown = (0..n).map(|i| 1.0 + 0.7 * i as f64).collect();
        results_match_the_reference(&cpu_devices(n, slowdown))?;
    }
    Ok(())
}

/// Chaos scheduling runs queued work in adversarial orders: any cross-device order the
/// runner or the halo exchange forgot to state as an event gives a wrong result or a hazard.
#[test]
fn multi_device_runs_are_correct_under_chaos() -> Result<()> {
    use riptide::host::backend::cpu::{Chaos, ChaosPolicy};
    let x = data_f32(9_001, 4);
    let grid = data_f32(40 * 13, 8);
    let want_grid = reference::stencil::jacobi5_sweeps(&grid, 13, 3).expect("a whole grid");
    for seed in 0..4 {
        for policy in [ChaosPolicy::Random, ChaosPolicy::LatestFirst] {
            let devices = CpuRuntime::new(
                CpuConfig {
                    chaos: Some(Chaos { seed, policy }),
                    ..CpuConfig::checked()
                },
                3,
            )
            .devices();
            let mut multi = MultiPipeline::new(&devices, PipelineConfig::new(700, 2, 2))?;
            let (_, got, _) = run_multi(&mut multi, &chain(), &x)?;
            assert_chain_matches(&x, &got);
            for force_host in [false, true] {
                let mut st =
                    ResidentStencil::new(&devices, &grid, 13, &Weights::equal(3), force_host)?;
                st.sweep(3)?;
                let got = st.download()?;
                let bad = got
                    .iter()
                    .zip(&want_grid)
                    .filter(|(g, w)| g.to_bits() != w.to_bits())
                    .count();
                assert_eq!(
                    bad, 0,
                    "seed {seed} {policy:?} host {force_host}: {bad} cells differ"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn resident_stencil_exchanges_halos_between_virtual_devices() -> Result<()> {
    for n in [1, 2, 3, 5] {
        let devices = cpu_devices(n, Vec::new());
        let peer = resident_stencil_matches(&devices, false)?;
        assert!(peer.iter().all(|p| *p == HaloPath::Peer));
        let host = resident_stencil_matches(&devices, true)?;
        assert_eq!(host.len(), n - 1);
        assert!(host.iter().all(|p| *p == HaloPath::Host));
    }
    Ok(())
}

#[test]
fn bad_multi_device_requests_are_refused() -> Result<()> {
    assert!(matches!(
        MultiPipeline::new(&[], PipelineConfig::new(10, 1, 2)),
        Err(Error::InvalidArgument(_))
    ));
    let devices = cpu_devices(2, Vec::new());
    let mut multi = MultiPipeline::new(&devices, PipelineConfig::new(10, 1, 2))?;
    assert!(multi.set_weights(Weights::equal(3)).is_err());
    let grid = vec![0.0f32; 10];
    assert!(ResidentStencil::new(&devices, &grid, 3, &Weights::equal(2), false).is_err());
    assert!(ResidentStencil::new(&devices, &grid, 5, &Weights::equal(1), false).is_err());
    Ok(())
}

/// A scan across devices (per-device blocks, then block totals added on the host) equals
/// one whole scan exactly (u32 arithmetic wraps identically in any grouping).
fn scans_match(devices: &[Device]) -> Result<()> {
    let dev = &devices[0];
    for n in [0, 1, 5, 4999, 5001, 23_456] {
        let x = data_u32(n, 17 + n as u64);
        let mut input = dev.alloc_pinned::<u32>(n, "scan input")?;
        input.write()?.copy_from_slice(&x);
        let mut output = dev.alloc_pinned::<u32>(n, "scan output")?;
        for kind in [ScanKind::Inclusive, ScanKind::Exclusive] {
            let rk = match kind {
                ScanKind::Inclusive => reference::scan::ScanKind::Inclusive,
                ScanKind::Exclusive => reference::scan::ScanKind::Exclusive,
            };
            let mut want = vec![0u32; n];
            let total = reference::scan::scan_u32(&x, 0, rk, &mut want).expect("lengths");
            let weights = Weights::from_throughput(
                &(0..devices.len())
                    .map(|i| 3.0 - i as f64 * 0.5)
                    .collect::<Vec<_>>(),
            )?;
            let (t, blocks) = scan_across(
                devices,
                PipelineConfig::new(2000, 2, 2),
                &weights,
                kind,
                &input,
                &mut output,
            )?;
            assert_eq!(blocks.iter().map(|b| b.len()).sum::<usize>(), n);
            let got = output.read()?;
            let bad = got.iter().zip(&want).filter(|(g, w)| g != w).count();
            assert_eq!(bad, 0, "{kind:?} n={n}: {bad} elements differ");
            assert_eq!(t, total);
        }
    }
    Ok(())
}

#[test]
fn scans_across_virtual_devices_equal_one_scan() -> Result<()> {
    for n in [1, 2, 3, 4] {
        scans_match(&cpu_devices(n, Vec::new()))?;
    }
    Ok(())
}

#[test]
fn riptide_run_splits_across_the_selected_virtual_devices() -> Result<()> {
    use riptide::cli::run::{RunOptions, run};
    use riptide::host::multi::DeviceList;
    let options = |devices| RunOptions {
        bytes: Some(2 << 20),
        config: Some(PipelineConfig::new(64 << 10, 2, 2)),
        use_cache: false,
        devices,
        trace: Default::default(),
    };
    // Runs, verifies every element (an error otherwise) and prints the per-device table.
    run(
        riptide::host::BackendChoice::Cpu,
        &options(DeviceList::Only(vec![2, 0])),
    )?;
    let err = run(
        riptide::host::BackendChoice::Cpu,
        &options(DeviceList::Only(vec![8])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("device 8 does not exist"), "{err}");
    assert_eq!(riptide::cli::exit_code(&err), 2);
    Ok(())
}

#[test]
fn without_distinct_gpus_and_nccl_reductions_combine_on_the_host() -> Result<()> {
    use riptide::host::backend::{NcclGroup, nccl_present};
    use riptide::host::multi::CombinePath;
    // Asking must never panic, whether or not the library is installed.
    let present = nccl_present();
    let devices = cpu_devices(3, Vec::new());
    assert!(
        NcclGroup::new(&devices)?.is_none(),
        "no NCCL group over cpu devices"
    );
    let mut multi = MultiPipeline::new(&devices, PipelineConfig::new(100, 1, 2))?;
    assert!(!multi.uses_nccl());
    let h = Histogram {
        bins: 4,
        binning: Binning::Integer { lo: 0, width: 1 },
    };
    let (counts, _, stats) = run_multi(&mut multi, &h, &[0u32, 1, 1, 2, 3, 3, 3, 9])?;
    assert_eq!(counts, vec![1, 2, 1, 3], "9 falls outside the 4 bins");
    assert_eq!(
        stats.combine,
        CombinePath::Host {
            nccl_present: present
        }
    );
    Ok(())
}

// ---- Two or three logical devices on one GPU ----

fn logical_gpus(n: usize) -> Option<Vec<Device>> {
    (0..n).map(|_| common::gpu_device()).collect()
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn results_equal_the_reference_on_one_gpu() -> Result<()> {
    for n in [2, 3] {
        let Some(devices) = logical_gpus(n) else {
            return Ok(());
        };
        results_match_the_reference(&devices)?;
        scans_match(&devices)?;
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn logical_devices_of_one_gpu_get_no_nccl_group() -> Result<()> {
    let Some(devices) = logical_gpus(2) else {
        return Ok(());
    };
    // One GPU cannot appear twice in an NCCL communicator: combine on the host.
    assert!(riptide::host::backend::NcclGroup::new(&devices)?.is_none());
    Ok(())
}

/// Needs two distinct GPUs and the NCCL library; says why and passes otherwise.
#[test]
#[ignore = "needs two CUDA GPUs and NCCL"]
fn nccl_all_reduce_sums_histograms_over_distinct_gpus() -> Result<()> {
    use riptide::host::multi::CombinePath;
    // No GPU at all fails under RIPTIDE_REQUIRE_GPU=1, like every GPU test.
    if common::gpu_device().is_none() {
        return Ok(());
    }
    let count = riptide::host::backend::cuda_device_count().unwrap_or(0);
    if count < 2 || !riptide::host::backend::nccl_present() {
        eprintln!(
            "skipping: {count} CUDA device(s), NCCL present: {}",
            riptide::host::backend::nccl_present()
        );
        return Ok(());
    }
    let devices = vec![
        Device::cuda(0, riptide::KERNELS)?,
        Device::cuda(1, riptide::KERNELS)?,
    ];
    let mut group = riptide::host::backend::NcclGroup::new(&devices)?.expect("two GPUs and NCCL");
    let parts = vec![vec![1u32, 2, 3, u32::MAX], vec![10, 20, 30, 2]];
    // u32 sums wrap, as the host combine does.
    assert_eq!(group.sum_u32(&parts)?, vec![11, 22, 33, 1]);
    let mut multi = MultiPipeline::new(&devices, PipelineConfig::new(3000, 2, 2))?;
    assert!(multi.uses_nccl());
    let x = data_u32(50_001, 5);
    let h = Histogram {
        bins: 100,
        binning: Binning::Integer {
            lo: 1 << 20,
            width: 1 << 25,
        },
    };
    let mut want = vec![0u32; 100];
    reference::histogram::histogram_u32(&x, 1 << 20, 1 << 25, &mut want).expect("valid");
    let (got, _, stats) = run_multi(&mut multi, &h, &x)?;
    assert_eq!(got, want);
    assert_eq!(stats.combine, CombinePath::Nccl);
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn resident_stencil_exchanges_halos_on_one_gpu() -> Result<()> {
    for n in [2, 3] {
        let Some(devices) = logical_gpus(n) else {
            return Ok(());
        };
        let peer = resident_stencil_matches(&devices, false)?;
        assert!(
            peer.iter().all(|p| *p == HaloPath::Peer),
            "one GPU copies directly"
        );
        let host = resident_stencil_matches(&devices, true)?;
        assert!(host.iter().all(|p| *p == HaloPath::Host));
    }
    Ok(())
}

// ---- Distinct GPUs ----

/// Every CUDA device present, when there are at least two; says why and gives `None`
/// otherwise (no GPU at all fails under RIPTIDE_REQUIRE_GPU=1, like every GPU test).
fn distinct_gpus() -> Option<Vec<Device>> {
    common::gpu_device()?;
    let count = riptide::host::backend::cuda_device_count().unwrap_or(0);
    if count < 2 {
        eprintln!("skipping: {count} CUDA device(s); this test needs two");
        return None;
    }
    (0..count)
        .map(|i| Device::cuda(i, riptide::KERNELS).ok())
        .collect()
}

#[test]
#[ignore = "needs two CUDA GPUs"]
fn results_equal_the_reference_over_distinct_gpus() -> Result<()> {
    let Some(devices) = distinct_gpus() else {
        return Ok(());
    };
    results_match_the_reference(&devices)?;
    scans_match(&devices)?;
    Ok(())
}

#[test]
#[ignore = "needs two CUDA GPUs"]
fn resident_stencil_exchanges_halos_between_distinct_gpus() -> Result<()> {
    let Some(devices) = distinct_gpus() else {
        return Ok(());
    };
    let mut reachable = true;
    for pair in devices.windows(2) {
        reachable &=
            pair[1].enable_peer_access(&pair[0])? && pair[0].enable_peer_access(&pair[1])?;
    }
    let peer = resident_stencil_matches(&devices, false)?;
    // Peer copies where neighbouring GPUs can reach each other, the host path otherwise;
    // both must give the reference's bits.
    eprintln!("halo paths between distinct GPUs (peer access: {reachable}): {peer:?}");
    let want = if reachable {
        HaloPath::Peer
    } else {
        HaloPath::Host
    };
    assert!(peer.iter().all(|p| *p == want), "{peer:?}");
    let host = resident_stencil_matches(&devices, true)?;
    assert!(host.iter().all(|p| *p == HaloPath::Host));
    Ok(())
}
