//! riptide's orchestration library.
//!
//! | module | what lives there |
//! |---|---|
//! | [`backend`] | devices, streams, events, buffers: the interface every layer above is written against, with a CUDA and an emulated CPU implementation |
//! | [`launch`] | a kernel launch described once for every backend |
//! | [`kernels`] | one typed launcher per built-in kernel |
//! | [`module`], [`typed`] | user kernel modules built with `riptide-build`, and their typed launchers |
//! | [`pipeline`] | chunked multi-stream streaming of data larger than device memory |
//! | [`graph`] | event dependency graphs: eager on a stream pool, captured or built as CUDA graphs, replayed and updated |
//! | [`multi`] | work split and balanced across several devices |
//! | [`trace`] | opt-in per-operation timing: Chrome trace JSON, SVG timelines, run metrics, NVTX ranges |
//! | [`error`] | the one error type |
//!
//! Data flows one way: a planner builds work from these types, the backend runs it. Nothing
//! above [`backend`] calls the CUDA driver, and kernels never know about streams.
//!
//! # CUDA and the cpu backend, side by side
//! Every type below works on both backends; the cpu backend emulates what the GPU does so
//! that orchestration code is developed and tested without one.
//!
//! | CUDA | riptide | on the cpu backend |
//! |---|---|---|
//! | device + primary context | [`Device`] ([`Device::cuda`], [`Device::cpu`]) | a virtual device; several share one race detector and clock ([`backend::cpu::CpuRuntime`]) |
//! | `cuMemAlloc` | [`Device::alloc`] → [`DeviceBuffer`], views [`DeviceSlice`] / [`DeviceSliceMut`] | 64-byte aligned host memory, capped at the configured device memory |
//! | `cuMemHostAlloc` (pinned) | [`Device::alloc_pinned`] → [`PinnedBuffer`] | plain host memory; host access is checked against queued copies |
//! | stream (`CUstream`) | [`Stream`] | a worker thread per stream, or the chaos scheduler |
//! | event (`CUevent`), `cuStreamWaitEvent` | [`Event`], [`Stream::record`], [`Stream::wait`] | a completion marker plus a vector clock for the race detector |
//! | `cuMemcpyAsync` | [`Stream::copy_to_device`], [`Stream::copy_to_host`] | `memcpy` on the stream's worker |
//! | PTX module (`cuModuleLoadData`) | built-in: loaded by [`Device::cuda`]; user: [`Device::load_module`] | the entry table only, for the same signature checks |
//! | `cuLaunchKernel` | a typed launcher ([`kernels`], [`typed::TypedKernel`]) → [`launch::KernelLaunch`] → [`Stream::launch`] | the kernel's CPU implementation, with its declared buffers mapped to slices |
//! | a data race between streams | undefined behaviour | reported by the race detector ([`backend::cpu::Hazard`], [`ErrorKind::Hazard`]) |
//! | `cuEventElapsedTime` | [`Event::elapsed_ms`] | wall time, or simulated device time ([`backend::cpu::TimingModel`]) |

pub mod backend;
pub mod element;
pub mod error;
pub mod graph;
pub mod kernels;
pub mod launch;
pub mod measure;
pub mod module;
pub mod multi;
pub mod pipeline;
pub mod trace;
pub mod typed;

pub use backend::{
    BackendChoice, BackendKind, Device, DeviceBuffer, DeviceInfo, DeviceRead, DeviceSlice,
    DeviceSliceMut, DeviceWrite, Event, HostRead, HostWrite, PinnedBuffer, PtxImages, Stream,
};
pub use element::Element;
pub use error::{Error, ErrorKind, Result};
