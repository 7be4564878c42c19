//! Work split across several devices, balanced while it runs.
//!
//! | module | what lives there |
//! |---|---|
//! | [`planner`] | splitting chunks in proportion to measured throughput |
//! | [`queue`] | per-device blocks of chunks, with stealing from the back of the largest |
//! | `pace` | each device's retirement pace, and the end-game rule that keeps a slow device from holding the last chunks |
//! | [`runner`] | one pipeline per device fed by one issue loop ([`MultiPipeline`]) |
//! | [`combine`] | combining per-device results (NCCL all-reduce over distinct GPUs when present, else the host) |
//! | [`scan`] | a prefix scan over per-device blocks, fixed up with block totals on the host |
//! | [`halo`] | a stencil grid resident on several devices, exchanging halo rows |
//! | [`select`] | parsing device lists (`--devices 0,2`, `RIPTIDE_DEVICES`) |
//!
//! Each device has its own streams, slots, pinned staging and pipeline; nothing is shared
//! between devices except the host thread that issues work and the input and output
//! buffers each device copies its own chunks from and to. The same code runs on CUDA and on
//! the CPU backend, where virtual devices with different simulated speeds test the balancer
//! deterministically.

pub mod combine;
pub mod halo;
mod pace;
pub mod planner;
pub mod queue;
pub mod runner;
pub mod scan;
pub mod select;

pub use combine::{CombineAcross, CombinePath};
pub use halo::{HaloPath, ResidentStencil};
pub use planner::Weights;
pub use queue::ChunkQueue;
pub use runner::{DeviceShare, MultiPipeline, MultiStats};
pub use scan::{ScanOffset, scan_across};
pub use select::{DEVICES_ENV, DeviceList};
