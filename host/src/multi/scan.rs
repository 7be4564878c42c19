//! A prefix scan across devices: each device scans a contiguous block (the existing chained
//! scan, carrying from chunk to chunk on that device), then the host adds to every block
//! the total of the blocks before it.
//!
//! Chunks of a scan depend on their predecessors, so they cannot move between devices
//! while the run is going: the split is static, by the planner's weights. The blocks run
//! at the same time; the fix-up is one pass over the output on the host after all devices
//! finished (memory-bound, and skipped for the first block).

use crate::backend::{Device, PinnedBuffer};
use crate::error::{Error, Result};
use crate::kernels::{ScanElement, ScanKind};
use crate::multi::planner::Weights;
use crate::pipeline::plan::Chunk;
use crate::pipeline::workloads::Scan;
use crate::pipeline::{Pipeline, PipelineConfig, Run};

/// Scan elements whose block totals the host can add.
pub trait ScanOffset: ScanElement {
    /// `a + b` as the scan kernels add (wrapping for integers).
    fn offset_add(a: Self, b: Self) -> Self;
}

impl ScanOffset for u32 {
    fn offset_add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

impl ScanOffset for i32 {
    fn offset_add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}

impl ScanOffset for f32 {
    fn offset_add(a: f32, b: f32) -> f32 {
        a + b
    }
}

/// Scans `input` into `output` (same length) across `devices`, block sizes by `weights`;
/// returns the total and the element ranges each device scanned.
pub fn scan_across<T: ScanOffset>(
    devices: &[Device],
    config: PipelineConfig,
    weights: &Weights,
    kind: ScanKind,
    input: &PinnedBuffer<T>,
    output: &mut PinnedBuffer<T>,
) -> Result<(T, Vec<std::ops::Range<usize>>)> {
    if devices.is_empty() {
        return Err(Error::InvalidArgument(
            "a multi-device scan needs at least one device".into(),
        ));
    }
    if weights.len() != devices.len() {
        return Err(Error::length("scan weights", devices.len(), weights.len()));
    }
    if output.len() != input.len() {
        return Err(Error::length("scan output", input.len(), output.len()));
    }
    let kernel = Scan { kind };
    let blocks = weights.ranges(input.len());
    let pipelines = devices
        .iter()
        .map(|d| Pipeline::new(d, config))
        .collect::<Result<Vec<_>>>()?;
    let mut runs = pipelines
        .iter()
        .zip(&blocks)
        .map(|(p, b)| Run::<T, Scan>::prepare(p, &kernel, b.len()))
        .collect::<Result<Vec<_>>>()?;
    for run in &mut runs {
        run.begin()?;
    }
    let start = std::time::Instant::now();
    // Issue round-robin so every device's first chunks are queued early.
    let most = runs.iter().map(|r| r.chunks.len()).max().unwrap_or(0);
    for k in 0..most {
        for (run, block) in runs.iter_mut().zip(&blocks) {
            let Some(local) = run.chunks.get(k).cloned() else {
                continue;
            };
            let global = Chunk {
                index: local.index,
                range: local.range.start + block.start..local.range.end + block.start,
                upload: local.upload.start + block.start..local.upload.end + block.start,
            };
            run.upload(&local, |up, dst| {
                up.copy_to_device(input.slice(global.upload.clone())?, dst)
            })?;
            run.compute(&kernel, &local)?;
            run.download(&local, |down, src| {
                down.copy_to_host(src, output.slice_mut(global.range.clone())?)
            })?;
        }
    }
    let mut totals = Vec::with_capacity(runs.len());
    for run in runs {
        totals.push(run.finish(&kernel, start)?.0);
    }
    let mut offset = <T as bytemuck::Zeroable>::zeroed();
    let mut out = output.write()?;
    for (block, total) in blocks.iter().zip(&totals) {
        if block.start > 0 {
            for v in &mut out[block.clone()] {
                *v = T::offset_add(*v, offset);
            }
        }
        offset = T::offset_add(offset, *total);
    }
    Ok((offset, blocks))
}
