//! Every launcher, called once on small inputs: the check that each PTX entry has a
//! launcher (the CPU backend records which kernels ran) and a quick end-to-end smoke run of
//! every kernel on any device.

use crate::backend::Device;
use crate::error::Result;
use crate::kernels;

/// Launches every built-in kernel once on `device` with small inputs, then synchronizes.
pub fn launch_every_kernel(device: &Device) -> Result<()> {
    let stream = device.stream()?;
    let n = 1000;
    let x = device.alloc::<f32>(n, "catalogue x")?;
    let mut y = device.alloc::<f32>(n, "catalogue y")?;
    stream.fill_zero(y.as_slice_mut())?;
    kernels::axpby(&stream, 2.0, &x, 1.0, &mut y)?;
    stream.synchronize()
}
