//! What a device is and can do: the numbers planners and launchers size work from.

use std::fmt;

use crate::launch::LaunchLimits;

/// Which implementation runs a device's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// A real GPU through the CUDA driver.
    Cuda,
    /// Emulated streams on the CPU; kernels run through the rayon reference.
    Cpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Cuda => "cuda",
            BackendKind::Cpu => "cpu",
        })
    }
}

/// A device's identity and capabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// Backend running the device.
    pub backend: BackendKind,
    /// Ordinal among the devices of its backend (CUDA ordinal, or virtual index).
    pub ordinal: usize,
    /// Marketing name, e.g. "NVIDIA H100 80GB HBM3", or the emulated device's name.
    pub name: String,
    /// Compute capability (major, minor); (0, 0) for the CPU backend.
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors (or, on the CPU backend, worker threads).
    pub multiprocessors: u32,
    /// Total device memory in bytes.
    pub total_memory: u64,
    /// Copy engines: 2 lets host-to-device and device-to-host copies run at once.
    pub async_engines: u32,
    /// Whether copies can overlap kernel execution.
    pub copy_overlaps_kernels: bool,
    /// Whether several kernels can run at once.
    pub concurrent_kernels: bool,
    /// L2 cache in bytes.
    pub l2_cache_bytes: u64,
    /// PCI bus id, when known.
    pub pci_bus: Option<u32>,
    /// Limits launches are checked against.
    pub limits: LaunchLimits,
}

impl DeviceInfo {
    /// Launch limits of every NVIDIA GPU from compute capability 8.0 on, used by the CPU
    /// backend so launches it accepts would also be accepted by a GPU.
    pub const GPU_LIMITS: LaunchLimits = LaunchLimits {
        max_block_threads: 1024,
        max_block_dim: [1024, 1024, 64],
        max_grid_dim: [i32::MAX as u32, 65535, 65535],
        max_shared_bytes: 48 * 1024,
    };
}
