//! The kernel workloads every benchmark measures — `riptide bench`, the criterion benches and
//! the peer comparison — defined once so their numbers describe the same work: saxpy, sum,
//! inclusive scan (cumsum), a 256-bin histogram, a square transpose, and the device-to-device
//! copy they are compared with.

use serde::{Deserialize, Serialize};

use riptide_host::kernels::{self, ReduceScratch, ScanKind, ScanScratch};
use riptide_host::{Device, DeviceBuffer, Result, Stream};

/// One kernel workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelWorkload {
    /// Device-to-device copy of `n` f32 (the ceiling the kernels are compared with).
    Copy,
    /// `y = 2x + y` over `n` f32 (`axpby` with b = 1).
    Saxpy,
    /// Sum of `n` f32.
    Sum,
    /// Inclusive prefix sum of `n` f32.
    Cumsum,
    /// 256-bin histogram of `n` u32 in [0, 2²⁴), bins 2¹⁶ wide.
    Histogram,
    /// Transpose of the largest square f32 matrix of at most `n` elements.
    Transpose,
}

impl KernelWorkload {
    /// Every workload, the copy first.
    pub const ALL: [KernelWorkload; 6] = [
        KernelWorkload::Copy,
        KernelWorkload::Saxpy,
        KernelWorkload::Sum,
        KernelWorkload::Cumsum,
        KernelWorkload::Histogram,
        KernelWorkload::Transpose,
    ];

    /// The name used in tables, JSON and the peer script.
    pub fn name(self) -> &'static str {
        match self {
            KernelWorkload::Copy => "copy",
            KernelWorkload::Saxpy => "saxpy",
            KernelWorkload::Sum => "sum",
            KernelWorkload::Cumsum => "cumsum",
            KernelWorkload::Histogram => "histogram",
            KernelWorkload::Transpose => "transpose",
        }
    }

    /// Bytes the workload must read plus write over `n` elements (its memory traffic).
    pub fn bytes(self, n: usize) -> u64 {
        let b = 4 * n as u64;
        match self {
            KernelWorkload::Copy | KernelWorkload::Cumsum => 2 * b,
            KernelWorkload::Saxpy => 3 * b,
            KernelWorkload::Sum | KernelWorkload::Histogram => b,
            KernelWorkload::Transpose => {
                let side = square_side(n) as u64;
                2 * 4 * side * side
            }
        }
    }
}

/// The side of the largest square matrix of at most `n` elements.
pub fn square_side(n: usize) -> usize {
    n.isqrt()
}

/// Device buffers for every workload over `n` elements, filled once.
#[derive(Debug)]
pub struct KernelBuffers {
    n: usize,
    x: DeviceBuffer<f32>,
    y: DeviceBuffer<f32>,
    u: DeviceBuffer<u32>,
    counts: DeviceBuffer<u32>,
    out: DeviceBuffer<f32>,
    carry: DeviceBuffer<f32>,
    reduce: ReduceScratch,
    scan: ScanScratch,
}

impl KernelBuffers {
    /// Allocates and fills the buffers on `stream`'s device (`n` ≥ 1).
    pub fn new(stream: &Stream, n: usize) -> Result<KernelBuffers> {
        let dev: &Device = stream.device();
        let n = n.max(1);
        let data: Vec<f32> = (0..n)
            .map(|i| ((i % 1021) as f32 - 510.0) / 512.0)
            .collect();
        let mut x = dev.alloc::<f32>(n, "bench x")?;
        let mut y = dev.alloc::<f32>(n, "bench y")?;
        let mut u = dev.alloc::<u32>(n, "bench u")?;
        stream.upload(&data, &mut x)?;
        stream.upload(&data, &mut y)?;
        let bits: Vec<u32> = (0..n as u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 8)
            .collect();
        stream.upload(&bits, &mut u)?;
        let mut carry = dev.alloc::<f32>(2, "bench carry")?;
        stream.fill_zero(&mut carry)?;
        Ok(KernelBuffers {
            n,
            x,
            y,
            u,
            counts: dev.alloc::<u32>(256, "bench counts")?,
            out: dev.alloc::<f32>(1, "bench out")?,
            carry,
            reduce: ReduceScratch::new(stream)?,
            scan: ScanScratch::new(stream, n)?,
        })
    }

    /// Elements per buffer.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: buffers hold at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Queues one run of `workload` on `stream`.
    pub fn queue(&mut self, stream: &Stream, workload: KernelWorkload) -> Result<()> {
        match workload {
            KernelWorkload::Copy => stream.copy_on_device(&self.x, &mut self.y),
            KernelWorkload::Saxpy => kernels::axpby(stream, 2.0, &self.x, 1.0, &mut self.y),
            KernelWorkload::Sum => kernels::sum(stream, &self.x, &mut self.out, &mut self.reduce),
            KernelWorkload::Cumsum => {
                let (c, t) = self.carry.as_slice_mut().split_at_mut(1)?;
                kernels::scan(
                    stream,
                    ScanKind::Inclusive,
                    &self.x,
                    &mut self.y,
                    &c,
                    t,
                    &mut self.scan,
                )
            }
            KernelWorkload::Histogram => {
                kernels::histogram_u32(stream, &self.u, 0, 1 << 16, &mut self.counts)
            }
            KernelWorkload::Transpose => {
                let side = square_side(self.n);
                let grid = side * side;
                kernels::transpose(
                    stream,
                    self.x.slice(0..grid)?,
                    side,
                    side,
                    self.y.slice_mut(0..grid)?,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_reads_plus_writes() {
        // 1000 f32 = 4000 bytes; transpose uses the 31×31 square (961 elements).
        assert_eq!(KernelWorkload::Copy.bytes(1000), 8000);
        assert_eq!(KernelWorkload::Saxpy.bytes(1000), 12000);
        assert_eq!(KernelWorkload::Sum.bytes(1000), 4000);
        assert_eq!(KernelWorkload::Transpose.bytes(1000), 2 * 4 * 961);
        assert_eq!(square_side(1 << 20), 1024);
    }
}
