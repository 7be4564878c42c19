//! Combining the devices' results of one run: streamed outputs need nothing (each device
//! wrote its own chunks of the output), reductions are combined on the host with the same
//! rule that combines one device's per-chunk partials, histograms are summed bin by bin.
//!
//! Partial results reach the host anyway (each device's pipeline downloads them when it
//! finishes), so the host combine costs one small loop. Whether the NCCL library is present
//! is detected — without loading it into a panic when it is absent — and reported; its
//! absence is the normal case on a single-GPU or CPU-only machine.

use std::fmt;
use std::sync::OnceLock;

use crate::element::Element;
use crate::pipeline::kernel::ChunkKernel;
use crate::pipeline::workloads::{
    CombineExtrema, CombineSums, Elementwise, Extremum, Histogram, HistogramElement, Stencil, Sum,
};

/// How a multi-device run combined its per-device results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CombinePath {
    /// Nothing to combine: every device streamed its chunks into the shared output.
    Streamed,
    /// Per-device results combined on the host.
    Host {
        /// Whether the NCCL library could be loaded on this machine.
        nccl_present: bool,
    },
}

impl fmt::Display for CombinePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CombinePath::Streamed => f.write_str("none (outputs streamed per device)"),
            CombinePath::Host { nccl_present: true } => {
                f.write_str("host (NCCL present, not needed: partials are already on the host)")
            }
            CombinePath::Host {
                nccl_present: false,
            } => f.write_str("host (NCCL library not found)"),
        }
    }
}

/// Whether the NCCL library can be loaded (checked once, never panics).
pub fn nccl_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(crate::backend::cuda::nccl_library_present)
}

fn host() -> CombinePath {
    CombinePath::Host {
        nccl_present: nccl_present(),
    }
}

/// A chunk kernel whose per-device results can be combined into the run's result.
pub trait CombineAcross<T: Element>: ChunkKernel<T> {
    /// Combines the devices' results (in device order) and says how.
    fn combine(&self, parts: Vec<Self::Output>) -> (Self::Output, CombinePath);
}

impl CombineAcross<f32> for Elementwise {
    fn combine(&self, _: Vec<()>) -> ((), CombinePath) {
        ((), CombinePath::Streamed)
    }
}

impl CombineAcross<f32> for Stencil {
    fn combine(&self, _: Vec<()>) -> ((), CombinePath) {
        ((), CombinePath::Streamed)
    }
}

impl<T: CombineSums> CombineAcross<T> for Sum {
    fn combine(&self, parts: Vec<T::Sum>) -> (T::Sum, CombinePath) {
        (T::combine(&parts), host())
    }
}

impl<T: CombineExtrema> CombineAcross<T> for Extremum {
    fn combine(&self, parts: Vec<T>) -> (T, CombinePath) {
        (T::combine(&parts, self.max), host())
    }
}

impl<T: HistogramElement> CombineAcross<T> for Histogram {
    fn combine(&self, parts: Vec<Vec<u32>>) -> (Vec<u32>, CombinePath) {
        let mut total = vec![0u32; self.bins];
        for part in &parts {
            for (t, &c) in total.iter_mut().zip(part) {
                *t = t.wrapping_add(c);
            }
        }
        (total, host())
    }
}
