//! Kernel throughput on a GPU against the device-to-device copy bandwidth measured in the
//! same run, and SGEMM against cuBLAS. Prints a table naming the card. Device time is
//! measured with CUDA events (median of 20 runs after warm-up). Without a GPU it says so
//! and exits successfully.

use std::sync::Arc;

use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, sys::cublasOperation_t};
use cudarc::driver::CudaContext;
use riptide::host::kernels::{
    self, GemmShape, MapChain, ReduceScratch, ScanKind, ScanScratch, StencilBlock,
};
use riptide::host::measure::time_device;
use riptide::host::{Device, Result, Stream};

const ITERS: usize = 20;

struct Row {
    name: String,
    ms: f64,
    bytes: f64,
    target: f64,
}

fn main() -> Result<()> {
    let dev = match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => d,
        Err(e) => {
            println!("kernels bench skipped: {e}");
            return Ok(());
        }
    };
    let s = dev.stream()?;
    let n: usize = 64 << 20; // 64 Mi f32 = 256 MiB per buffer, far beyond L2
    let f32_data = seeded(n);
    let mut x = dev.alloc::<f32>(n, "x")?;
    let mut y = dev.alloc::<f32>(n, "y")?;
    s.upload(&f32_data, &mut x)?;
    s.upload(&f32_data, &mut y)?;
    let mut u = dev.alloc::<u32>(n, "u")?;
    s.upload(
        &f32_data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        &mut u,
    )?;
    let b = (n * 4) as f64;
    let mut rows = Vec::new();
    let mut row = |name: &str, ms: f64, bytes: f64, target: f64| {
        rows.push(Row {
            name: name.into(),
            ms,
            bytes,
            target,
        })
    };

    let copy_ms = time_device(&s, 3, ITERS, || s.copy_on_device(&x, &mut y))?;
    row("device-to-device copy", copy_ms, 2.0 * b, 0.0);
    row(
        "axpby",
        time_device(&s, 3, ITERS, || kernels::axpby(&s, 0.5, &x, 0.25, &mut y))?,
        3.0 * b,
        0.90,
    );
    let m = MapChain {
        scale: 0.5,
        offset: 0.1,
        lo: -10.0,
        hi: 10.0,
    };
    row(
        "map_chain",
        time_device(&s, 3, ITERS, || kernels::map_chain(&s, m, &x, &mut y))?,
        2.0 * b,
        0.90,
    );
    row(
        "compute k=1",
        time_device(&s, 3, ITERS, || {
            kernels::compute(&s, 1, 0.5, 0.25, &x, &mut y)
        })?,
        2.0 * b,
        0.90,
    );
    let mut counts = dev.alloc::<u32>(256, "counts")?;
    row(
        "histogram u32, 256 bins",
        time_device(&s, 3, ITERS, || {
            kernels::histogram_u32(&s, &u, 0, 1 << 24, &mut counts)
        })?,
        b,
        0.90,
    );
    let mut rs = ReduceScratch::new(&s)?;
    let mut out = dev.alloc::<f32>(1, "out")?;
    let mut out64 = dev.alloc::<u64>(1, "out64")?;
    row(
        "sum f32",
        time_device(&s, 3, ITERS, || kernels::sum(&s, &x, &mut out, &mut rs))?,
        b,
        0.85,
    );
    row(
        "max f32",
        time_device(&s, 3, ITERS, || kernels::max(&s, &x, &mut out, &mut rs))?,
        b,
        0.85,
    );
    row(
        "dot f32",
        time_device(&s, 3, ITERS, || kernels::dot(&s, &x, &y, &mut out, &mut rs))?,
        2.0 * b,
        0.85,
    );
    row(
        "sum u32 → u64",
        time_device(&s, 3, ITERS, || kernels::sum(&s, &u, &mut out64, &mut rs))?,
        b,
        0.85,
    );
    let mut ss = ScanScratch::new(&s, n)?;
    let mut carry = dev.alloc::<f32>(2, "carry")?;
    s.fill_zero(&mut carry)?;
    row(
        "inclusive scan f32",
        time_device(&s, 3, ITERS, || {
            let (c, t) = carry.as_slice_mut().split_at_mut(1)?;
            kernels::scan(&s, ScanKind::Inclusive, &x, &mut y, &c, t, &mut ss)
        })?,
        2.0 * b,
        0.85,
    );
    let side = 8192;
    let grid = side * side;
    row(
        "jacobi5 8192²",
        time_device(&s, 3, ITERS, || {
            kernels::jacobi5(
                &s,
                StencilBlock::whole(side, side),
                x.slice(0..grid)?,
                y.slice_mut(0..grid)?,
            )
        })?,
        2.0 * (grid * 4) as f64,
        0.90,
    );
    row(
        "transpose 8192²",
        time_device(&s, 3, ITERS, || {
            kernels::transpose(&s, x.slice(0..grid)?, side, side, y.slice_mut(0..grid)?)
        })?,
        2.0 * (grid * 4) as f64,
        0.90,
    );

    let card = &dev.info().name;
    println!(
        "\nKernel throughput on {card} (device time, median of {ITERS}; bytes = read + write)"
    );
    println!(
        "{:<26} {:>9} {:>10} {:>9} {:>8}",
        "kernel", "ms", "GB/s", "% copy", "target"
    );
    let copy_bw = 2.0 * b / (copy_ms / 1e3);
    for r in &rows {
        let bw = r.bytes / (r.ms / 1e3);
        let pct = 100.0 * bw / copy_bw;
        let target = if r.target > 0.0 {
            format!(
                "{:.0}%{}",
                r.target * 100.0,
                if pct >= r.target * 100.0 { "" } else { " MISS" }
            )
        } else {
            "—".into()
        };
        println!(
            "{:<26} {:>9.3} {:>10.1} {:>8.1}% {:>8}",
            r.name,
            r.ms,
            bw / 1e9,
            pct,
            target
        );
    }
    sgemm_vs_cublas(&dev, &s)?;
    Ok(())
}

fn seeded(n: usize) -> Vec<f32> {
    let mut st = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            ((st >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

fn sgemm_vs_cublas(dev: &Device, s: &Stream) -> Result<()> {
    println!(
        "\nSGEMM on {} (fp32, no TF32; TFLOP/s = 2mnk / device time)",
        dev.info().name
    );
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "m=n=k", "riptide", "cuBLAS", "ratio"
    );
    for size in [2048usize, 4096, 8192] {
        let len = size * size;
        let data = seeded(len);
        let mut a = dev.alloc::<f32>(len, "A")?;
        let mut c = dev.alloc::<f32>(len, "C")?;
        s.upload(&data, &mut a)?;
        let shape = GemmShape {
            m: size,
            n: size,
            k: size,
        };
        let ours = time_device(s, 2, 5, || {
            kernels::sgemm(s, shape, 1.0, &a, &a, 0.0, &mut c)
        })?;
        let flops = 2.0 * (size as f64).powi(3);
        let theirs = match cublas_ms(size, &data) {
            Ok(ms) => Some(ms),
            Err(e) => {
                println!("  cuBLAS unavailable: {e}");
                None
            }
        };
        let tf = |ms: f64| flops / (ms / 1e3) / 1e12;
        match theirs {
            Some(t) => println!(
                "{:<12} {:>12.1} {:>12.1} {:>7.0}%",
                size,
                tf(ours),
                tf(t),
                100.0 * t / ours
            ),
            None => println!("{:<12} {:>12.1} {:>12} {:>8}", size, tf(ours), "—", "—"),
        }
    }
    Ok(())
}

/// cuBLAS SGEMM time for a square product, through cudarc's safe cuBLAS API.
fn cublas_ms(size: usize, data: &[f32]) -> std::result::Result<f64, String> {
    let ctx = CudaContext::new(0).map_err(|e| e.to_string())?;
    let stream = ctx.new_stream().map_err(|e| e.to_string())?;
    let blas = CudaBlas::new(Arc::clone(&stream)).map_err(|e| e.to_string())?;
    let a = stream.clone_htod(data).map_err(|e| e.to_string())?;
    let mut c = stream
        .alloc_zeros::<f32>(size * size)
        .map_err(|e| e.to_string())?;
    let n = size as i32;
    let cfg = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: n,
        n,
        k: n,
        alpha: 1.0f32,
        lda: n,
        ldb: n,
        beta: 0.0f32,
        ldc: n,
    };
    let run = |c: &mut cudarc::driver::CudaSlice<f32>| {
        // SAFETY: A is size², C is size², the leading dimensions are `size`, all on `stream`.
        unsafe { blas.gemm(cfg, &a, &a, c) }.map_err(|e| e.to_string())
    };
    for _ in 0..2 {
        run(&mut c)?;
    }
    let start = ctx
        .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(|e| e.to_string())?;
    let end = ctx
        .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..5 {
        start.record(&stream).map_err(|e| e.to_string())?;
        run(&mut c)?;
        end.record(&stream).map_err(|e| e.to_string())?;
        times.push(start.elapsed_ms(&end).map_err(|e| e.to_string())? as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
