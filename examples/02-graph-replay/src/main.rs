//! Example 02: a DAG captured as a graph, replayed with new inputs and an updated parameter.
//!
//! ```sh
//! cargo run -p riptide-example-graph-replay            # on CUDA device 0, else the cpu backend
//! ```

use std::process::ExitCode;

use riptide::host::Device;
use riptide::host::backend::cpu::CpuConfig;
use riptide_example_graph_replay::ScaledSum;

fn main() -> ExitCode {
    let device = Device::cuda(0, riptide::KERNELS).unwrap_or_else(|e| {
        println!("{e}; using the cpu backend with its race detector");
        Device::cpu(CpuConfig::checked())
    });
    let len = 1 << 20;
    let run = || -> riptide::Result<()> {
        let stream = device.stream()?;
        let mut graph = ScaledSum::new(&device, len, 3.0)?;
        for (round, a) in [(0, 3.0f32), (1, 3.0), (2, -1.0), (3, 0.5)] {
            if round > 0 {
                graph.set_scale(a)?;
            }
            let data: Vec<f32> = (0..len).map(|i| ((i + round) % 100) as f32).collect();
            let out = graph.run(&stream, &data)?;
            let wrong = (0..len).filter(|&i| out[i] != (a + 2.0) * data[i]).count();
            println!("replay {round}: a = {a:>4}, out = (a + 2)·in, {wrong} elements wrong");
            if wrong > 0 {
                return Err(riptide::Error::Backend(format!("{wrong} elements wrong")));
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => {
            println!("graph on {}: every replay verified", device.info().name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
