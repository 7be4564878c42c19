//! The streaming pipeline gives the reference's results for every kind of chunk kernel —
//! elementwise chains, chained scans, stencil halos, reductions, histograms — at lengths 0,
//! 1, a chunk ± 1 and many chunks; pipelined, serial and producer–consumer runs agree; the
//! race detector stays silent (CPU backend, hazards fail the run) and chaos interleavings
//! change nothing.

mod common;

use proptest::prelude::*;
use riptide::host::backend::cpu::{Chaos, ChaosPolicy, CpuConfig, CpuRuntime};
use riptide::host::kernels::{MapChain, ScanKind};
use riptide::host::pipeline::workloads::{
    Binning, Elementwise, Extremum, Histogram, MapStep, Scan, Stencil, Sum,
};
use riptide::host::pipeline::{ChunkKernel, Pipeline, PipelineConfig};
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

/// Runs `kernel` over `data` with `config`; returns the kernel's output and the streamed data.
fn run<T: Element, K: ChunkKernel<T>>(
    dev: &Device,
    config: PipelineConfig,
    kernel: &K,
    data: &[T],
) -> Result<(K::Output, Vec<T>)> {
    let mut input = dev.alloc_pinned::<T>(data.len(), "input")?;
    input.write()?.copy_from_slice(data);
    let mut p = Pipeline::new(dev, config)?;
    let streamed = kernel.output() != riptide::host::pipeline::ChunkOutput::Accumulated;
    let mut output = if streamed {
        Some(dev.alloc_pinned::<T>(data.len(), "output")?)
    } else {
        None
    };
    let (out, _) = p.run(kernel, &input, output.as_mut())?;
    let back = match &output {
        Some(o) => o.read()?.to_vec(),
        None => Vec::new(),
    };
    Ok((out, back))
}

/// The same through the producer–consumer mode.
fn run_streaming<T: Element, K: ChunkKernel<T>>(
    dev: &Device,
    config: PipelineConfig,
    kernel: &K,
    data: &[T],
) -> Result<(K::Output, Vec<T>)> {
    let mut p = Pipeline::new(dev, config)?;
    let mut back = vec![T::zeroed(); data.len()];
    let (out, _) = p.run_streaming(
        kernel,
        data.len(),
        |range, dst| {
            dst.copy_from_slice(&data[range]);
            Ok(())
        },
        |range, src| {
            back[range].copy_from_slice(src);
            Ok(())
        },
    )?;
    Ok((out, back))
}

fn expected_chain(x: &[f32]) -> Vec<f32> {
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
    refs.iter().map(|r| r.value as f32).collect()
}

/// GPU `exp` is approximate: each element must be admitted by the reference's bound
/// (docs/kernels.md, map_chain); the CPU backend computes the reference itself.
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
    let bad = refs.iter().zip(got).filter(|(r, g)| !r.admits(**g)).count();
    assert_eq!(
        bad,
        0,
        "{bad} of {} elements outside the map_chain bound",
        got.len()
    );
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

/// Lengths around a chunk of `c`: 0, 1, c − 1, c, c + 1 and several chunks plus a tail.
fn lengths(c: usize) -> [usize; 6] {
    [0, 1, c - 1, c, c + 1, 7 * c + 3]
}

fn configs(c: usize) -> [PipelineConfig; 4] {
    [
        PipelineConfig::serial(c),
        PipelineConfig::new(c, 1, 2),
        PipelineConfig::new(c, 2, 2),
        PipelineConfig::new(c, 3, 3),
    ]
}

device_tests! {
    fn elementwise_chain_matches_the_reference(dev: &Device) -> Result<()> {
        let c = 4096;
        for n in lengths(c) {
            let x = data_f32(n, n as u64);
            for config in configs(c) {
                let (_, got) = run(dev, config, &chain(), &x)?;
                assert_chain_matches(&x, &got);
            }
            let (_, got) = run_streaming(dev, PipelineConfig::new(c, 2, 2), &chain(), &x)?;
            assert_chain_matches(&x, &got);
        }
        Ok(())
    }

    fn chained_integer_scans_equal_one_whole_scan(dev: &Device) -> Result<()> {
        let c = 5000;
        for n in lengths(c) {
            let x = data_u32(n, 3 + n as u64);
            for kind in [ScanKind::Inclusive, ScanKind::Exclusive] {
                let rk = match kind { ScanKind::Inclusive => reference::scan::ScanKind::Inclusive, ScanKind::Exclusive => reference::scan::ScanKind::Exclusive };
                let mut want = vec![0u32; n];
                let total = reference::scan::scan_u32(&x, 0, rk, &mut want).expect("lengths");
                for config in configs(c) {
                    let (t, got) = run(dev, config, &Scan { kind }, &x)?;
                    assert!(got == want, "{kind:?} scan differs, n={n}, {config:?}");
                    assert_eq!(t, total);
                }
                let (t, got) = run_streaming(dev, PipelineConfig::new(c, 3, 2), &Scan { kind }, &x)?;
                assert!(got == want && t == total, "streaming {kind:?} scan differs, n={n}");
            }
        }
        Ok(())
    }

    fn stencil_chunks_with_halos_equal_one_sweep(dev: &Device) -> Result<()> {
        let cols = 37;
        for rows in [1, 2, 3, 10, 64, 257] {
            let x = data_f32(rows * cols, rows as u64);
            let mut want = vec![0.0f32; rows * cols];
            let block = reference::stencil::Jacobi5Block::whole(rows, cols);
            reference::stencil::jacobi5(&block, &x, &mut want).expect("valid block");
            for chunk_rows in [1, 2, 5, 64] {
                for config in [PipelineConfig::serial(chunk_rows * cols), PipelineConfig::new(chunk_rows * cols, 2, 2)] {
                    let (_, got) = run(dev, config, &Stencil { cols }, &x)?;
                    let bad = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
                    assert_eq!(bad, 0, "rows {rows}, chunk rows {chunk_rows}: {bad} cells differ");
                }
            }
        }
        Ok(())
    }

    fn reductions_and_histograms_combine_chunks_exactly(dev: &Device) -> Result<()> {
        let c = 3000;
        for n in lengths(c) {
            let x = data_u32(n, 11 + n as u64);
            let config = PipelineConfig::new(c, 3, 2);
            assert_eq!(run(dev, config, &Sum, &x)?.0, reference::reduce::sum_u32(&x));
            assert_eq!(run(dev, config, &Extremum { max: false }, &x)?.0, reference::reduce::min_u32(&x));
            assert_eq!(run(dev, config, &Extremum { max: true }, &x)?.0, reference::reduce::max_u32(&x));
            let h = Histogram { bins: 100, binning: Binning::Integer { lo: 1 << 20, width: 1 << 25 } };
            let mut want = vec![0u32; 100];
            reference::histogram::histogram_u32(&x, 1 << 20, 1 << 25, &mut want).expect("valid");
            assert_eq!(run(dev, config, &h, &x)?.0, want);
            assert_eq!(run_streaming(dev, config, &h, &x)?.0, want);
            let xf = data_f32(n, n as u64);
            let s = run(dev, config, &Sum, &xf)?.0;
            let r = reference::reduce::sum_f32(&xf);
            // Each chunk's f32 sum has the kernel's tree depth; the host adds the partials in
            // f64 (exact for this count) and rounds once.
            let grid = riptide::host::kernels::reduction_grid(dev, gpu_kernels::entries::SUM_F32, c)?;
            let depth = gpu_kernels::config::reduce_f32_depth(c, grid) as u32;
            let bound = reference::bounds::sum_bound(r.abs_sum, depth + 1);
            assert!(r.admits(s, bound), "sum {s} vs {} (bound {bound})", r.value);
        }
        Ok(())
    }

    fn oversized_chunks_and_bad_outputs_are_refused(dev: &Device) -> Result<()> {
        let x = vec![1.0f32; 100];
        let mut input = dev.alloc_pinned::<f32>(100, "input")?;
        input.write()?.copy_from_slice(&x);
        let mut short = dev.alloc_pinned::<f32>(99, "short output")?;
        let mut p = Pipeline::new(dev, PipelineConfig::new(10, 2, 2))?;
        let err = p.run(&chain(), &input, Some(&mut short)).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 100, actual: 99, .. }), "{err}");
        let err = p.run(&chain(), &input, None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(Pipeline::new(dev, PipelineConfig::new(0, 1, 1)).is_err());
        assert!(Pipeline::new(dev, PipelineConfig::new(10, 0, 1)).is_err());
        let err = run(dev, PipelineConfig::new(10, 1, 1), &Stencil { cols: 7 }, &x).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "100 cells are not whole rows of 7: {err}");
        Ok(())
    }
}

#[test]
fn chunks_larger_than_device_memory_are_refused_before_allocating() -> Result<()> {
    let dev = Device::cpu(CpuConfig {
        memory_bytes: 1 << 20,
        ..CpuConfig::checked()
    });
    let n = 1 << 20;
    let err = run(
        &dev,
        PipelineConfig::new(n, 2, 2),
        &chain(),
        &vec![0.0f32; n],
    )
    .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    // A chunk that fits works on the same device.
    run(
        &dev,
        PipelineConfig::new(16 << 10, 2, 2),
        &chain(),
        &vec![0.0f32; n],
    )?;
    Ok(())
}

#[test]
fn pipelines_are_clean_and_correct_under_chaos() -> Result<()> {
    let x = data_f32(20_011, 5);
    let xs = data_u32(20_011, 6);
    let mut want_scan = vec![0u32; xs.len()];
    reference::scan::scan_u32(&xs, 0, reference::scan::ScanKind::Inclusive, &mut want_scan)
        .expect("lengths");
    for seed in 0..6 {
        for policy in [ChaosPolicy::Random, ChaosPolicy::LatestFirst] {
            let rt = CpuRuntime::new(
                CpuConfig {
                    chaos: Some(Chaos { seed, policy }),
                    ..CpuConfig::checked()
                },
                1,
            );
            let dev = rt.devices().remove(0);
            let (_, got) = run(&dev, PipelineConfig::new(1000, 3, 2), &chain(), &x)?;
            assert!(got == expected_chain(&x), "seed {seed} {policy:?}");
            let (_, got) = run(
                &dev,
                PipelineConfig::new(1000, 3, 2),
                &Scan {
                    kind: ScanKind::Inclusive,
                },
                &xs,
            )?;
            assert!(got == want_scan, "scan, seed {seed} {policy:?}");
            assert!(rt.hazards().is_empty(), "{:#?}", rt.hazards());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn prop_pipelined_elementwise_equals_serial(n in 0usize..50_000, chunk in 1usize..20_000, streams in 1usize..4, depth in 1usize..4, seed: u64) {
        let dev = common::cpu_device();
        let x = data_f32(n, seed);
        let (_, pipelined) = run(&dev, PipelineConfig::new(chunk, streams, depth), &chain(), &x).unwrap();
        let (_, serial) = run(&dev, PipelineConfig::serial(chunk), &chain(), &x).unwrap();
        prop_assert!(pipelined == serial);
        prop_assert!(pipelined == expected_chain(&x));
    }

    #[test]
    fn prop_chained_f32_scan_is_within_the_chained_bound(n in 0usize..40_000, chunk in 1usize..9_000, seed: u64) {
        let dev = common::cpu_device();
        let x = data_f32(n, seed);
        let (total, got) = run(&dev, PipelineConfig::new(chunk, 2, 2), &Scan { kind: ScanKind::Inclusive }, &x).unwrap();
        let mut refs = vec![reference::bounds::RefSum::default(); n];
        let t = reference::scan::scan_f32(&x, 0.0, reference::scan::ScanKind::Inclusive, &mut refs).unwrap();
        // Each chunk boundary adds one rounding of the carried total to the kernel's depth.
        let depth = |i: usize| ((i / chunk) * (gpu_kernels::config::scan_f32_depth(chunk) + 2) + gpu_kernels::config::scan_f32_depth(i % chunk) + 1) as u32;
        for (i, (r, g)) in refs.iter().zip(&got).enumerate() {
            prop_assert!(r.admits(*g, reference::bounds::scan_bound(r.abs_sum, depth(i))), "element {i}: {g} vs {}", r.value);
        }
        prop_assert!(t.admits(total, reference::bounds::scan_bound(t.abs_sum, depth(n.max(1) - 1))));
    }
}
