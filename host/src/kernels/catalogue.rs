//! Every launcher, called once on small inputs: the check that each PTX entry has a
//! launcher (the CPU backend records which kernels ran) and a quick end-to-end smoke run of
//! every kernel on any device.

use crate::backend::Device;
use crate::error::Result;
use crate::kernels::{
    self, GemmShape, MapChain, ReduceScratch, ScanKind, ScanScratch, StencilBlock,
};

/// Launches every built-in kernel once on `device` with small inputs, then synchronizes.
pub fn launch_every_kernel(device: &Device) -> Result<()> {
    let s = device.stream()?;
    let n = 1000;
    let mut x = device.alloc::<f32>(n, "catalogue x")?;
    let mut y = device.alloc::<f32>(n, "catalogue y")?;
    let mut xu = device.alloc::<u32>(n, "catalogue u32")?;
    let mut xi = device.alloc::<i32>(n, "catalogue i32")?;
    for b in [&mut x, &mut y] {
        s.fill_zero(b)?;
    }
    s.fill_zero(&mut xu)?;
    s.fill_zero(&mut xi)?;

    kernels::axpby(&s, 2.0, &x, 1.0, &mut y)?;
    let chain = MapChain {
        scale: 1.0,
        offset: 0.0,
        lo: -10.0,
        hi: 10.0,
    };
    kernels::map_chain(&s, chain, &x, &mut y)?;
    kernels::map_chain_in_place(&s, chain, &mut y)?;
    kernels::compute(&s, 4, 0.5, 1.0, &x, &mut y)?;
    kernels::compute_in_place(&s, 4, 0.5, 1.0, &mut y)?;

    let mut reduce = ReduceScratch::new(&s)?;
    let mut out_f = device.alloc::<f32>(1, "catalogue f32 result")?;
    let mut out_u = device.alloc::<u32>(1, "catalogue u32 result")?;
    let mut out_i = device.alloc::<i32>(1, "catalogue i32 result")?;
    let mut out_u64 = device.alloc::<u64>(1, "catalogue u64 result")?;
    let mut out_i64 = device.alloc::<i64>(1, "catalogue i64 result")?;
    kernels::sum(&s, &x, &mut out_f, &mut reduce)?;
    kernels::min(&s, &x, &mut out_f, &mut reduce)?;
    kernels::max(&s, &x, &mut out_f, &mut reduce)?;
    kernels::dot(&s, &x, &y, &mut out_f, &mut reduce)?;
    kernels::sum(&s, &xu, &mut out_u64, &mut reduce)?;
    kernels::min(&s, &xu, &mut out_u, &mut reduce)?;
    kernels::max(&s, &xu, &mut out_u, &mut reduce)?;
    kernels::sum(&s, &xi, &mut out_i64, &mut reduce)?;
    kernels::min(&s, &xi, &mut out_i, &mut reduce)?;
    kernels::max(&s, &xi, &mut out_i, &mut reduce)?;

    let mut scratch = ScanScratch::new(&s, n)?;
    let mut carry_f = device.alloc::<f32>(2, "catalogue f32 carry")?;
    let mut carry_u = device.alloc::<u32>(2, "catalogue u32 carry")?;
    let mut carry_i = device.alloc::<i32>(2, "catalogue i32 carry")?;
    s.fill_zero(&mut carry_f)?;
    s.fill_zero(&mut carry_u)?;
    s.fill_zero(&mut carry_i)?;
    for kind in [ScanKind::Inclusive, ScanKind::Exclusive] {
        let (c, t) = carry_f.as_slice_mut().split_at_mut(1)?;
        kernels::scan(&s, kind, &x, &mut y, &c, t, &mut scratch)?;
        let (c, t) = carry_u.as_slice_mut().split_at_mut(1)?;
        kernels::scan_in_place(&s, kind, &mut xu, &c, t, &mut scratch)?;
        let (c, t) = carry_i.as_slice_mut().split_at_mut(1)?;
        kernels::scan_in_place(&s, kind, &mut xi, &c, t, &mut scratch)?;
    }

    let mut counts = device.alloc::<u32>(16, "catalogue counts")?;
    s.fill_zero(&mut counts)?;
    kernels::histogram_u32(&s, &xu, 0, 8, &mut counts)?;
    kernels::histogram_f32(&s, &x, -1.0, 1.0, &mut counts)?;

    kernels::jacobi5(&s, StencilBlock::whole(25, 40), &x, &mut y)?;
    kernels::transpose(&s, &x, 25, 40, &mut y)?;
    let mut c = device.alloc::<f32>(100, "catalogue C")?;
    let shape = GemmShape {
        m: 10,
        n: 10,
        k: 100,
    };
    kernels::sgemm(
        &s,
        shape,
        1.0,
        x.slice(0..1000)?,
        x.slice(0..1000)?,
        0.0,
        &mut c,
    )?;
    kernels::debug::disarmed(&s)?;
    s.synchronize()
}
