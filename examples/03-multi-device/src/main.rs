//! Example 03: one job split across devices of different speeds.
//!
//! ```sh
//! cargo run -p riptide-example-multi-device         # every CUDA device, else 4 virtual ones
//! ```

use std::process::ExitCode;

use riptide::host::Device;
use riptide::host::backend::cuda_device_count;
use riptide_example_multi_device::{A, B, split_job, virtual_devices};

fn main() -> ExitCode {
    let (_runtime, devices) = match cuda_device_count() {
        Ok(n) if n > 0 => {
            let devices: Result<Vec<Device>, _> =
                (0..n).map(|i| Device::cuda(i, riptide::KERNELS)).collect();
            match devices {
                Ok(d) => (None, d),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => {
            println!("no CUDA device: 4 virtual devices, 1x to 2.5x slower than an H100 model");
            let (rt, d) = virtual_devices(4);
            (Some(rt), d)
        }
    };
    let data: Vec<f32> = (0..1 << 22).map(|i| (i % 1000) as f32 * 0.01).collect();
    match split_job(&devices, &data, 2) {
        Ok((out, stats)) => {
            let wrong = (0..data.len())
                .filter(|&i| out[i] != data[i].mul_add(A, B))
                .count();
            for d in &stats.devices {
                println!(
                    "device {} ({}): {} chunks, {} elements, busy {:.2} ms",
                    d.ordinal, d.name, d.chunks, d.elements, d.busy_ms
                );
            }
            println!(
                "balance {:.3} (1.0 = every device busy equally long); {} chunks stolen; {wrong} elements wrong",
                stats.balance(),
                stats.stolen
            );
            if wrong == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
