//! Example 04: the race detector and chaos mode on your own code.
//!
//! ```sh
//! cargo run -p riptide-example-cpu-backend-tests
//! cargo test -p riptide-example-cpu-backend-tests     # the same checks as tests
//! ```
//!
//! Runs [`axpy_two_streams`] on the cpu backend with the race detector on, correctly
//! ordered and with its event left out, and prints what the detector reports.

use std::process::ExitCode;

use riptide::host::Device;
use riptide::host::backend::cpu::CpuConfig;
use riptide_example_cpu_backend_tests::{Ordering, axpy_two_streams};

fn main() -> ExitCode {
    let x: Vec<f32> = (0..4096).map(|i| i as f32).collect();
    let y = vec![1.0f32; x.len()];

    let device = Device::cpu(CpuConfig::checked());
    match axpy_two_streams(&device, 2.0, &x, &y, Ordering::Event) {
        Ok(out) => println!("ordered by an event: no hazards, y[4095] = {}", out[4095]),
        Err(e) => {
            eprintln!("error: the ordered version failed: {e}");
            return ExitCode::FAILURE;
        }
    }

    let device = Device::cpu(CpuConfig::checked());
    match axpy_two_streams(&device, 2.0, &x, &y, Ordering::Missing) {
        Ok(_) => {
            eprintln!("error: the race detector missed the race");
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("without the event: {e}");
            for h in device.as_cpu().map(|d| d.hazards()).unwrap_or_default() {
                println!(
                    "  {} on {} bytes {:?}\n    first:  {}\n    second: {}",
                    h.kind, h.buffer, h.bytes, h.first, h.second
                );
            }
            ExitCode::SUCCESS
        }
    }
}
