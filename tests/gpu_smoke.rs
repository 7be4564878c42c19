//! The smallest end-to-end proof that the embedded PTX loads and computes: axpby on the
//! device against the CPU reference, on every backend.

mod common;

use riptide::host::kernels;

device_tests! {
    fn axpby_matches_the_reference(dev: &Device) -> Result<()> {
        // Odd length: exercises the vectorised body and the scalar tail.
        let n = 1_000_003;
        let x = common::random_f32(n, 1);
        let y0 = common::random_f32(n, 2);
        let (a, b) = (1.5f32, -0.25f32);

        let stream = dev.stream()?;
        let mut host_x = dev.alloc_pinned::<f32>(n, "x (host)")?;
        let mut host_y = dev.alloc_pinned::<f32>(n, "y (host)")?;
        host_x.write()?.copy_from_slice(&x);
        host_y.write()?.copy_from_slice(&y0);
        let mut dx = dev.alloc::<f32>(n, "x")?;
        let mut dy = dev.alloc::<f32>(n, "y")?;
        stream.copy_to_device(&host_x, &mut dx)?;
        stream.copy_to_device(&host_y, &mut dy)?;
        kernels::axpby(&stream, a, &dx, b, &mut dy)?;
        stream.copy_to_host(&dy, &mut host_y)?;
        stream.synchronize()?;

        let mut expected = y0.clone();
        riptide_reference::elementwise::axpby(a, &x, b, &mut expected).expect("lengths match");
        let got = host_y.read()?;
        // Both sides compute fma(a, x, b*y) with IEEE rounding: bit-exact.
        let mismatches = got.iter().zip(&expected).filter(|(g, e)| g.to_bits() != e.to_bits()).count();
        assert_eq!(mismatches, 0, "{mismatches} of {n} elements differ from the reference");
        Ok(())
    }
}
