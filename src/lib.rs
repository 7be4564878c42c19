//! riptide: CUDA stream concurrency in Rust.
//!
//! This crate is the facade: it embeds the PTX that the build compiled from `gpu-kernels`,
//! re-exports the orchestration library (`riptide-host`, as [`host`]), and holds the command
//! line's logic ([`cli`]) and the benchmarks' shared workloads and sweeps ([`mod@bench`]).
//!
//! ```
//! use riptide::host::backend::cpu::CpuConfig;
//! use riptide::host::{Device, kernels};
//!
//! // The cpu backend with the race detector on; `Device::cuda(0, riptide::KERNELS)` on a GPU.
//! let device = Device::cpu(CpuConfig::checked());
//! let stream = device.stream()?;
//! let mut x = device.alloc_pinned::<f32>(4, "x")?;
//! x.write()?.copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
//! let mut y = device.alloc_pinned::<f32>(4, "y")?;
//! let (mut dx, mut dy) = (device.alloc::<f32>(4, "dx")?, device.alloc::<f32>(4, "dy")?);
//! stream.copy_to_device(&x, &mut dx)?;
//! stream.fill_zero(&mut dy)?;
//! kernels::axpby(&stream, 2.0, &dx, 1.0, &mut dy)?; // y = 2·x + y
//! stream.copy_to_host(&dy, &mut y)?;
//! stream.synchronize()?;
//! assert_eq!(&*y.read()?, &[2.0, 4.0, 6.0, 8.0]);
//! # Ok::<(), riptide::Error>(())
//! ```
//!
//! # Writing GPU code in Rust, and testing it on the CPU
//!
//! | CUDA C++ | riptide | on the cpu backend |
//! |---|---|---|
//! | `__global__ void k(...)` in a `.cu` file | `pub unsafe extern "ptx-kernel" fn k(...)` in a `#![no_std]` kernels crate | the kernel's CPU implementation, a Rust closure or [`host::typed::UserKernel::cpu`] |
//! | `nvcc -ptx` / `-cubin` | `riptide-build` from your `build.rs`: PTX per architecture, cubins where `ptxas` is found | — |
//! | `cuModuleLoadData` | [`host::Device::load_module`] | keeps the entry table |
//! | `k<<<grid, block, smem, stream>>>(args)` | [`host::typed::TypedKernel::launch`] (parameters checked against the PTX when bound) | runs the CPU implementation on the stream's worker |
//! | `cudaMalloc`, `cudaMallocHost` | [`host::Device::alloc`], [`host::Device::alloc_pinned`] | host memory |
//! | streams, events | [`host::Stream`], [`host::Event`] | emulated, with a race detector and chaos scheduling |
//! | a hand-written double-buffering loop | [`host::pipeline::Pipeline`] with a [`host::pipeline::ChunkKernel`] | the same schedule, checked for races |
//!
//! `examples/` has runnable programs: 01 a user kernel in its own kernels crate streamed
//! through the pipeline, 04 a user's own tests on the cpu backend. The concept table of the
//! host library ([`host`]) lists every type against its CUDA counterpart.

pub mod bench;
pub mod cli;

pub use riptide_host as host;
pub use riptide_host::{Device, Error, Result};

/// The built-in kernels' PTX for every architecture the build compiled (`build.rs`: `sm_80`
/// and `sm_90` unless `RIPTIDE_PTX_ARCH` names one): `Device::cuda(0, riptide::KERNELS)`
/// loads the newest module the device runs — on Hopper the one whose kernels take
/// programmatic graph edges.
pub const KERNELS: host::PtxImages<'static> = host::PtxImages::Set(IMAGES);

const IMAGES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/riptide_kernel_images.rs"));

/// The PTX of the oldest architecture built (`PTX_ARCH`), which every supported GPU runs.
pub const PTX: &str = IMAGES[0].1;

/// The target architecture of [`PTX`] (`RIPTIDE_PTX_ARCH` at build time, `sm_80` by
/// default).
pub const PTX_ARCH: &str = env!("RIPTIDE_PTX_ARCH");
