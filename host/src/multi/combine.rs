//! Combining the devices' results of one run: streamed outputs need nothing (each device
//! wrote its own chunks of the output), reductions are combined on the host with the same
//! rule that combines one device's per-chunk partials, histograms are summed bin by bin.
//!
//! Histograms over distinct GPUs are summed by an NCCL all-reduce when the NCCL library is
//! present ([`NcclGroup`]); otherwise — the normal case on one GPU, several logical devices
//! of one GPU, or the CPU backend — on the host. Scalar reductions are combined on the host:
//! each device's pipeline already downloaded its partial, and adding a handful of numbers
//! costs less than any collective call.

use std::fmt;

use crate::backend::{NcclGroup, nccl_present};
use crate::element::Element;
use crate::error::Result;
use crate::pipeline::kernel::ChunkKernel;
use crate::pipeline::workloads::{
    CombineExtrema, CombineSums, Elementwise, Extremum, Histogram, HistogramElement, Stencil, Sum,
};

/// How a multi-device run combined its per-device results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CombinePath {
    /// Nothing to combine: every device streamed its chunks into the shared output.
    Streamed,
    /// Per-device results summed by an NCCL all-reduce over the devices.
    Nccl,
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
            CombinePath::Nccl => f.write_str("NCCL all-reduce"),
            CombinePath::Host { nccl_present: true } => f.write_str("host (NCCL present)"),
            CombinePath::Host {
                nccl_present: false,
            } => f.write_str("host (NCCL library not found)"),
        }
    }
}

fn host() -> CombinePath {
    CombinePath::Host {
        nccl_present: nccl_present(),
    }
}

/// A chunk kernel whose per-device results can be combined into the run's result.
pub trait CombineAcross<T: Element>: ChunkKernel<T> {
    /// Combines the devices' results (in device order) and says how; `nccl` is the run's
    /// NCCL group when its devices have one.
    fn combine(
        &self,
        parts: Vec<Self::Output>,
        nccl: Option<&mut NcclGroup>,
    ) -> Result<(Self::Output, CombinePath)>;
}

impl CombineAcross<f32> for Elementwise {
    fn combine(&self, _: Vec<()>, _: Option<&mut NcclGroup>) -> Result<((), CombinePath)> {
        Ok(((), CombinePath::Streamed))
    }
}

impl CombineAcross<f32> for Stencil {
    fn combine(&self, _: Vec<()>, _: Option<&mut NcclGroup>) -> Result<((), CombinePath)> {
        Ok(((), CombinePath::Streamed))
    }
}

impl<T: CombineSums> CombineAcross<T> for Sum {
    fn combine(
        &self,
        parts: Vec<T::Sum>,
        _: Option<&mut NcclGroup>,
    ) -> Result<(T::Sum, CombinePath)> {
        Ok((T::combine(&parts), host()))
    }
}

impl<T: CombineExtrema> CombineAcross<T> for Extremum {
    fn combine(&self, parts: Vec<T>, _: Option<&mut NcclGroup>) -> Result<(T, CombinePath)> {
        Ok((T::combine(&parts, self.max), host()))
    }
}

impl<T: HistogramElement> CombineAcross<T> for Histogram {
    fn combine(
        &self,
        parts: Vec<Vec<u32>>,
        nccl: Option<&mut NcclGroup>,
    ) -> Result<(Vec<u32>, CombinePath)> {
        if let Some(group) = nccl {
            return Ok((group.sum_u32(&parts)?, CombinePath::Nccl));
        }
        let mut total = vec![0u32; self.bins];
        for part in &parts {
            for (t, &c) in total.iter_mut().zip(part) {
                *t = t.wrapping_add(c);
            }
        }
        Ok((total, host()))
    }
}
