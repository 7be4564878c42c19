//! Example 01: a user kernel written in Rust, streamed through the pipeline.
//!
//! ```sh
//! cargo run -p riptide-example-user-kernel                      # CUDA if present, else the cpu backend
//! RIPTIDE_BACKEND=cpu cargo run -p riptide-example-user-kernel -- 1000000
//! ```
//!
//! Streams `n` floats (default 16 Mi, or the first argument) through the soft-clip kernel of
//! the example's own kernels crate in 8 chunks on 2 streams, then checks every element
//! against a double-precision evaluation of the formula.

use std::process::ExitCode;

use riptide::host::backend::cpu::CpuConfig;
use riptide::host::backend::{BackendChoice, open_devices};
use riptide::host::pipeline::PipelineConfig;
use riptide_example_user_kernel::{SoftClip, soft_clip};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("the element count must be a positive integer, got {arg:?}"))?,
        None => 16 << 20,
    };
    if n == 0 {
        return Err("the element count must be at least 1".into());
    }
    let (devices, fallback) = open_devices(
        BackendChoice::from_env()?,
        Some(&[0]),
        riptide::KERNELS,
        &CpuConfig::checked(),
    )?;
    if let Some(why) = fallback {
        println!("no CUDA device ({why}); running on the cpu backend with the race detector on");
    }
    let device = &devices[0];
    println!("device: {}", device.info().name);

    let params = SoftClip {
        scale: 3.0,
        shift: -0.25,
        limit: 2.0,
        reserved: 0.0,
    };
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let config = PipelineConfig::new(n.div_ceil(8), 2, 2);
    let (result, stats) = soft_clip(device, params, &data, config)?;

    // Tolerance: the f32 evaluation rounds x·scale, +shift, limit+|v|, limit·v and the
    // division once each (half an ulp each, relative). The first two give an absolute error
    // of at most ε(|x·scale| + |shift|) in v, which the clip (slope ≤ 1) passes through; the
    // other three add at most 2ε|y| with |y| < limit. ε = 2⁻²⁴; doubled for slack.
    let eps = f32::EPSILON as f64 / 2.0;
    let mut bad = Vec::new();
    for (i, (&x, &y)) in data.iter().zip(&result).enumerate() {
        let v = x as f64 * params.scale as f64 + params.shift as f64;
        let expected = params.limit as f64 * v / (params.limit as f64 + v.abs());
        let tol = 2.0
            * eps
            * ((x as f64 * params.scale as f64).abs()
                + (params.shift as f64).abs()
                + 2.0 * params.limit as f64);
        if (y as f64 - expected).abs() > tol {
            bad.push((i, x, y, expected));
        }
    }
    println!(
        "{} elements in {} chunks: {:.2} ms on the device, {:.2} ms wall",
        n,
        stats.chunks,
        stats.device_ms,
        stats.wall.as_secs_f64() * 1e3
    );
    if !bad.is_empty() {
        return Err(format!(
            "{} of {n} elements differ from the reference; first: {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        )
        .into());
    }
    println!("all {n} elements match the reference");
    Ok(())
}
