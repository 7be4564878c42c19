//! Example 01, the host side: a user kernel written in Rust, bound with a typed launcher and
//! streamed through riptide's pipeline.
//!
//! The kernel lives in the example's own `#![no_std]` crate (`kernels/`); `build.rs` builds
//! it with `riptide-build` and generates the embed file included below. Here it is
//! declared once as a [`UserKernel`] — parameters, contract checks, CPU implementation —
//! and wrapped in a [`ChunkKernel`] so the pipeline streams data of any size through it,
//! overlapping copies with kernels on a GPU, and under the race detector on the cpu backend.
//!
//! | step | code |
//! |---|---|
//! | build the kernels crate | `build.rs`: `KernelCrate::new("kernels").arch("sm_80").cubin("sm_90")` |
//! | embed PTX and cubins | [`kernels_module`] from the generated `PTX` / `CUBINS` |
//! | declare the launcher | `unsafe impl UserKernel for SoftClipKernel` |
//! | bind, checked against the PTX | [`SoftClipChunks::new`] (`LoadedModule::kernel`) |
//! | stream through the pipeline | `impl ChunkKernel<f32> for SoftClipChunks` |

use riptide::host::backend::cpu::KernelArgs;
use riptide::host::backend::{DeviceSliceMut, Stream};
use riptide::host::launch::{Dim3, LaunchConfig};
use riptide::host::module::{KernelModule, LoadedModule};
use riptide::host::pipeline::{ChunkContext, ChunkKernel, ChunkOutput};
use riptide::host::typed::{ArgsOf, In, Out, TypedKernel, UserKernel};
use riptide::host::{Device, Error, Result};
pub use riptide_example_kernels::SoftClip;

/// The PTX (and cubins) `build.rs` built from `kernels/`.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/example_kernels.rs"));
}

/// The example's kernel module, as built.
pub fn kernels_module() -> Result<KernelModule> {
    KernelModule::new("example-kernels", embedded::PTX, embedded::CUBINS)
}

/// The soft-clip kernel's launcher: `(x, y, n, params)`, as the PTX entry declares them.
#[derive(Debug)]
pub struct SoftClipKernel;

// SAFETY: `example_soft_clip_f32` reads x[..n] and writes y[..n] only (see its `# Safety`);
// `validate` refuses any launch where x or y holds fewer than n elements.
unsafe impl UserKernel for SoftClipKernel {
    const ENTRY: &'static str = riptide_example_kernels::SOFT_CLIP_F32;
    type Params = (In<f32>, Out<f32>, u64, SoftClip);

    fn validate(_: &LaunchConfig, (x, y, n, p): &ArgsOf<'_, Self>) -> Result<()> {
        if x.len() as u64 != *n || y.len() as u64 != *n {
            return Err(Error::InvalidArgument(format!(
                "soft clip: x ({}) and y ({}) must hold n = {n} elements",
                x.len(),
                y.len()
            )));
        }
        if !(p.limit > 0.0 && p.limit.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "soft clip: limit must be positive and finite (got {})",
                p.limit
            )));
        }
        Ok(())
    }

    fn cpu(args: &mut KernelArgs<'_>) -> Result<()> {
        let p: SoftClip = args.scalar(3)?;
        let x = args.read::<f32>(0)?;
        let y = args.write::<f32>(1)?;
        for (y, &x) in y.iter_mut().zip(x) {
            let v = x * p.scale + p.shift;
            *y = p.limit * v / (p.limit + v.abs());
        }
        Ok(())
    }
}

/// The soft clip as a pipeline stage: every chunk is independent, results go to a separate
/// buffer streamed back.
#[derive(Debug, Clone)]
pub struct SoftClipChunks {
    kernel: TypedKernel<SoftClipKernel>,
    params: SoftClip,
}

impl SoftClipChunks {
    /// Loads the example's module on `device` and binds the kernel (checking its declared
    /// parameters against the PTX entry).
    pub fn new(device: &Device, params: SoftClip) -> Result<SoftClipChunks> {
        SoftClipChunks::with_module(device, &kernels_module()?, params)
    }

    /// As [`SoftClipChunks::new`], from a given build of the module (for instance PTX only,
    /// without the cubins).
    pub fn with_module(
        device: &Device,
        module: &KernelModule,
        params: SoftClip,
    ) -> Result<SoftClipChunks> {
        let module: LoadedModule = device.load_module(module)?;
        Ok(SoftClipChunks {
            kernel: module.kernel::<SoftClipKernel>()?,
            params,
        })
    }
}

/// A grid-stride launch shape for `n` elements: at most 8 blocks per multiprocessor.
pub fn launch_config(device: &Device, n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(riptide_example_kernels::BLOCK as usize).max(1);
    let cap = device.info().multiprocessors.max(1) as usize * 8;
    LaunchConfig {
        grid: Dim3::x(blocks.min(cap) as u32),
        block: Dim3::x(riptide_example_kernels::BLOCK),
        shared_bytes: 0,
    }
}

impl ChunkKernel<f32> for SoftClipChunks {
    type State = ();
    type Output = ();

    fn name(&self) -> String {
        "soft clip (user kernel)".to_owned()
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::Separate
    }

    fn prepare(&self, _: &Stream, _: usize, _: usize, _: usize, _: usize) -> Result<()> {
        Ok(())
    }

    fn launch(
        &self,
        _: &mut (),
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, f32>,
        output: Option<DeviceSliceMut<'_, f32>>,
    ) -> Result<()> {
        let output = output.ok_or_else(|| {
            Error::InvalidArgument("soft clip: the pipeline gave no output buffer".to_owned())
        })?;
        let n = input.len();
        let config = launch_config(ctx.stream.device(), n);
        self.kernel.launch(
            ctx.stream,
            config,
            (input.as_slice(), output, n as u64, self.params),
        )
    }

    fn finish(&self, _: (), _: &Stream) -> Result<()> {
        Ok(())
    }
}

/// Streams `data` through the soft clip on `device` with pipeline configuration `config`;
/// returns the results and the run's statistics.
pub fn soft_clip(
    device: &Device,
    params: SoftClip,
    data: &[f32],
    config: riptide::host::pipeline::PipelineConfig,
) -> Result<(Vec<f32>, riptide::host::pipeline::RunStats)> {
    soft_clip_with(&SoftClipChunks::new(device, params)?, device, data, config)
}

/// [`soft_clip`] with an already bound kernel.
pub fn soft_clip_with(
    chunks: &SoftClipChunks,
    device: &Device,
    data: &[f32],
    config: riptide::host::pipeline::PipelineConfig,
) -> Result<(Vec<f32>, riptide::host::pipeline::RunStats)> {
    let mut input = device.alloc_pinned::<f32>(data.len(), "soft clip input")?;
    input.write()?.copy_from_slice(data);
    let mut output = device.alloc_pinned::<f32>(data.len(), "soft clip output")?;
    let mut pipeline = riptide::host::pipeline::Pipeline::new(device, config)?;
    let ((), stats) = pipeline.run(chunks, &input, Some(&mut output))?;
    let result = output.read()?.to_vec();
    Ok((result, stats))
}
