//! Example 02 as tests: replays equal `(a + 2)·in` exactly (small integers and `a` with few
//! significant bits, so every product and sum is exact in f32), on the cpu backend with the
//! race detector on and, ignored unless asked, on CUDA device 0.

use riptide::host::backend::cpu::CpuConfig;
use riptide::host::{Device, Result};
use riptide_example_graph_replay::ScaledSum;

fn check(device: &Device) -> Result<()> {
    let len = 10_007;
    let stream = device.stream()?;
    let mut graph = ScaledSum::new(device, len, 3.0)?;
    for (round, a) in [(0usize, 3.0f32), (1, 3.0), (2, -1.5), (3, 0.25)] {
        if round > 0 {
            graph.set_scale(a)?;
        }
        let data: Vec<f32> = (0..len).map(|i| ((i * 7 + round) % 64) as f32).collect();
        let out = graph.run(&stream, &data)?;
        let wrong = (0..len).filter(|&i| out[i] != (a + 2.0) * data[i]).count();
        assert_eq!(wrong, 0, "replay {round} with a = {a}");
    }
    Ok(())
}

#[test]
fn replays_with_new_inputs_and_parameters_on_the_cpu_backend() -> Result<()> {
    check(&Device::cpu(CpuConfig::checked()))
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn replays_with_new_inputs_and_parameters_on_a_gpu() -> Result<()> {
    match Device::cuda(0, riptide::KERNELS) {
        Ok(d) => check(&d),
        Err(e) if std::env::var("RIPTIDE_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("RIPTIDE_REQUIRE_GPU=1 but no usable CUDA device: {e}")
        }
        Err(_) => Ok(()),
    }
}
