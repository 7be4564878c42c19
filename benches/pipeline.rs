//! The streaming pipeline on a GPU: 512 MiB in and 512 MiB out through a PCIe-bound kernel
//! chain, serial (one stream) versus the tuned pipeline versus a hand-written loop of the
//! kind the CUDA samples use (round-robin chunks over 2–4 streams, raw cudarc calls), all
//! against the ceiling `max(in / H2D, out / D2H, kernel time)` with both bandwidths measured
//! in this run while both directions are active. Prints a table naming the card.

use std::ffi::{CString, c_void};

use cudarc::driver::{CudaContext, result, sys};
use gpu_kernels::entries;
use riptide::host::kernels::{self, MapChain};
use riptide::host::measure::{copy_ceilings, time_device};
use riptide::host::pipeline::workloads::{Elementwise, MapStep};
use riptide::host::pipeline::{Pipeline, PipelineConfig, tune};
use riptide::host::{Device, Result};

const CHAIN: MapChain = MapChain {
    scale: 0.5,
    offset: 0.1,
    lo: -10.0,
    hi: 10.0,
};
const MIB: usize = 1 << 20;

fn chain() -> Elementwise {
    Elementwise(vec![
        MapStep::Compute {
            k: 1,
            a: 0.5,
            b: 0.25,
        },
        MapStep::Chain(CHAIN),
    ])
}

fn main() -> Result<()> {
    let dev = match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => d,
        Err(e) => {
            println!("pipeline bench skipped: {e}");
            return Ok(());
        }
    };
    let n = 512 * MIB / 4;
    let bytes = (n * 4) as f64;
    let ceil = copy_ceilings(&dev, 256 * MIB, 5)?;
    // Kernel time of the chain over the whole dataset on the device.
    let s = dev.stream()?;
    let mut d = dev.alloc::<f32>(n, "kernel-time buffer")?;
    s.fill_zero(&mut d)?;
    let kernel_ms = time_device(&s, 2, 5, || {
        kernels::compute_in_place(&s, 1, 0.5, 0.25, &mut d)?;
        kernels::map_chain_in_place(&s, CHAIN, &mut d)
    })?;
    drop(d);
    let ceiling_ms = (bytes / ceil.duplex_h2d).max(bytes / ceil.duplex_d2h) * 1e3;
    let ceiling_ms = ceiling_ms.max(kernel_ms);

    let mut input = dev.alloc_pinned::<f32>(n, "input")?;
    {
        let mut w = input.write()?;
        for (i, v) in w.iter_mut().enumerate() {
            *v = ((i % 1000) as f32) * 0.001 - 0.5;
        }
    }
    let mut output = dev.alloc_pinned::<f32>(n, "output")?;
    let run =
        |config: PipelineConfig, output: &mut riptide::host::PinnedBuffer<f32>| -> Result<f64> {
            let mut p = Pipeline::new(&dev, config)?;
            p.run(&chain(), &input, Some(output))?; // warm-up
            let mut best = f64::MAX;
            for _ in 0..3 {
                // Host wall time, as for the hand-written loop: first queued operation to the end.
                best = best.min(p.run(&chain(), &input, Some(output))?.1.wall.as_secs_f64() * 1e3);
            }
            Ok(best)
        };
    let serial_ms = run(PipelineConfig::serial(32 * MIB / 4), &mut output)?;
    let tuned = tune::tune(&dev, &chain(), 256 * MIB / 4, false)?;
    let tuned_ms = run(tuned.best, &mut output)?;
    let mut hand = Vec::new();
    for streams in [2usize, 3, 4] {
        hand.push((
            streams,
            hand_written(&dev, n, streams, 16).map_err(riptide::Error::Backend)?,
        ));
    }
    let best_hand = hand.iter().map(|h| h.1).fold(f64::MAX, f64::min);

    let card = &dev.info().name;
    println!("\nStreaming pipeline on {card}: 512 MiB in + 512 MiB out, compute(k=1) → map_chain");
    println!(
        "host link this run: H2D {:.1} GB/s, D2H {:.1} GB/s alone; {:.1} GB/s each way with both directions active (8 MiB copies)",
        ceil.h2d / 1e9,
        ceil.d2h / 1e9,
        ceil.duplex_h2d.min(ceil.duplex_d2h) / 1e9
    );
    println!(
        "kernel chain alone over 512 MiB: {kernel_ms:.2} ms; ceiling max(in/H2D, out/D2H, kernel) = {ceiling_ms:.2} ms"
    );
    println!(
        "{:<44} {:>9} {:>12} {:>9} {:>10}",
        "variant (host wall time)", "ms", "GB/s in+out", "speedup", "% ceiling"
    );
    let line = |name: &str, ms: f64| {
        println!(
            "{:<44} {:>9.2} {:>12.1} {:>8.2}x {:>9.1}%",
            name,
            ms,
            2.0 * bytes / (ms / 1e3) / 1e9,
            serial_ms / ms,
            100.0 * ceiling_ms / ms
        );
    };
    line("serial, one stream (32 MiB chunks)", serial_ms);
    for (streams, ms) in &hand {
        line(
            &format!("hand-written loop, {streams} streams, 16 chunks"),
            *ms,
        );
    }
    let c = tuned.best;
    line(
        &format!(
            "riptide tuned ({} MiB chunks, {} streams, depth {})",
            c.chunk_elems * 4 / MIB,
            c.streams,
            c.depth
        ),
        tuned_ms,
    );
    println!(
        "riptide tuned vs best hand-written: {:.3}x",
        best_hand / tuned_ms
    );
    Ok(())
}

/// The CUDA-samples loop: chunk `k` goes to stream `k mod streams`, which uploads it into
/// that stream's device buffer, runs the chain in place and downloads it. Raw cudarc calls.
fn hand_written(
    dev: &Device,
    n: usize,
    streams: usize,
    chunks: usize,
) -> std::result::Result<f64, String> {
    let e = |err: cudarc::driver::DriverError| format!("{err:?}");
    let ctx = CudaContext::new(dev.ordinal()).map_err(e)?;
    ctx.bind_to_thread().map_err(e)?;
    let chunk = n / chunks;
    let ptx = CString::new(riptide::PTX).map_err(|x| x.to_string())?;
    // SAFETY: a NUL-terminated PTX image; the module lives until the end of this function.
    let module = unsafe { result::module::load_data(ptx.as_ptr().cast()) }.map_err(e)?;
    let name = |s: &str| CString::new(s).expect("entry names have no NUL");
    // SAFETY: `module` is loaded; the names are entries of riptide's PTX.
    let (compute, map) = unsafe {
        (
            result::module::get_function(module, name(entries::COMPUTE_F32)).map_err(e)?,
            result::module::get_function(module, name(entries::MAP_CHAIN_F32)).map_err(e)?,
        )
    };
    // SAFETY: plain allocations of the sizes used below, freed at the end.
    let (h_in, h_out, bufs) = unsafe {
        let h_in = result::malloc_host(n * 4, 0).map_err(e)?.cast::<f32>();
        let h_out = result::malloc_host(n * 4, 0).map_err(e)?.cast::<f32>();
        let bufs: Vec<sys::CUdeviceptr> = (0..streams)
            .map(|_| result::malloc_sync(chunk * 4))
            .collect::<std::result::Result<_, _>>()
            .map_err(e)?;
        (h_in, h_out, bufs)
    };
    let ss: Vec<sys::CUstream> = (0..streams)
        .map(|_| result::stream::create(result::stream::StreamKind::NonBlocking))
        .collect::<std::result::Result<_, _>>()
        .map_err(e)?;
    let blocks = (dev.info().multiprocessors * 8, 1, 1);
    let one_pass = || -> std::result::Result<(), String> {
        for k in 0..chunks {
            let (st, buf) = (ss[k % streams], bufs[k % streams]);
            let mut len = chunk;
            let (mut a, mut b, mut kk) = (0.5f32, 0.25f32, 1u32);
            let (mut scale, mut offset, mut lo, mut hi) =
                (CHAIN.scale, CHAIN.offset, CHAIN.lo, CHAIN.hi);
            let mut x = buf;
            let mut y = buf;
            // SAFETY: `buf` holds `chunk` f32s; the host ranges are inside the pinned
            // allocations; every parameter pointer addresses a live local of the size of the
            // kernel's parameter (pointers and usize 8 bytes, f32/u32 4 bytes).
            unsafe {
                result::memcpy_htod_async(
                    x,
                    std::slice::from_raw_parts(h_in.add(k * chunk), chunk),
                    st,
                )
                .map_err(e)?;
                let mut p1: [*mut c_void; 6] = [
                    (&mut x as *mut u64).cast(),
                    (&mut y as *mut u64).cast(),
                    (&mut len as *mut usize).cast(),
                    (&mut a as *mut f32).cast(),
                    (&mut b as *mut f32).cast(),
                    (&mut kk as *mut u32).cast(),
                ];
                result::launch_kernel(compute, blocks, (256, 1, 1), 0, st, &mut p1).map_err(e)?;
                let mut p2: [*mut c_void; 7] = [
                    (&mut x as *mut u64).cast(),
                    (&mut y as *mut u64).cast(),
                    (&mut len as *mut usize).cast(),
                    (&mut scale as *mut f32).cast(),
                    (&mut offset as *mut f32).cast(),
                    (&mut lo as *mut f32).cast(),
                    (&mut hi as *mut f32).cast(),
                ];
                result::launch_kernel(map, blocks, (256, 1, 1), 0, st, &mut p2).map_err(e)?;
                result::memcpy_dtoh_async(
                    std::slice::from_raw_parts_mut(h_out.add(k * chunk), chunk),
                    y,
                    st,
                )
                .map_err(e)?;
            }
        }
        Ok(())
    };
    one_pass()?;
    ctx.synchronize().map_err(e)?;
    let mut best = f64::MAX;
    for _ in 0..3 {
        // Wall time of a whole pass: the streams are non-blocking, so one event pair cannot
        // bracket all of them; synchronize the context around the pass instead.
        ctx.synchronize().map_err(e)?;
        let t0 = std::time::Instant::now();
        one_pass()?;
        ctx.synchronize().map_err(e)?;
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
    }
    // SAFETY: every queued operation completed (context synchronized); each pointer is freed once.
    unsafe {
        for s in ss {
            result::stream::destroy(s).map_err(e)?;
        }
        for b in bufs {
            result::free_sync(b).map_err(e)?;
        }
        result::free_host(h_in.cast()).map_err(e)?;
        result::free_host(h_out.cast()).map_err(e)?;
        result::module::unload(module).map_err(e)?;
    }
    Ok(best)
}
