//! The built-in chunk kernels: elementwise chains, chained scans, stencil sweeps,
//! reductions and histograms.

use crate::backend::{DeviceBuffer, DeviceSliceMut, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::{
    self, MapChain, MinMaxElement, ReduceScratch, ScanElement, ScanKind, ScanScratch, StencilBlock,
    SumElement,
};
use crate::pipeline::kernel::{ChunkContext, ChunkKernel, ChunkOutput};

/// One step of an elementwise chain, applied in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MapStep {
    /// `y = e^clamp(x·scale + offset, lo, hi)`.
    Chain(MapChain),
    /// `k` fused multiply-adds per element: `v = fma(v, a, b)`.
    Compute {
        /// Iterations.
        k: u32,
        /// Multiplier.
        a: f32,
        /// Addend.
        b: f32,
    },
}

/// An elementwise chain over f32: every chunk is independent.
#[derive(Debug, Clone, PartialEq)]
pub struct Elementwise(pub Vec<MapStep>);

impl ChunkKernel<f32> for Elementwise {
    type State = ();
    type Output = ();

    fn name(&self) -> String {
        let steps: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                MapStep::Chain(_) => "map_chain".to_owned(),
                MapStep::Compute { k, .. } => format!("compute(k={k})"),
            })
            .collect();
        steps.join(" → ")
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::InPlace
    }

    fn prepare(&self, _: &Stream, _: usize, _: usize, _: usize, _: usize) -> Result<()> {
        Ok(())
    }

    fn launch(
        &self,
        _: &mut (),
        ctx: &ChunkContext<'_>,
        mut input: DeviceSliceMut<'_, f32>,
        _: Option<DeviceSliceMut<'_, f32>>,
    ) -> Result<()> {
        for step in &self.0 {
            match *step {
                MapStep::Chain(m) => kernels::map_chain_in_place(ctx.stream, m, &mut input)?,
                MapStep::Compute { k, a, b } => {
                    kernels::compute_in_place(ctx.stream, k, a, b, &mut input)?
                }
            }
        }
        Ok(())
    }

    fn finish(&self, _: (), _: &Stream) -> Result<()> {
        Ok(())
    }
}

/// A prefix sum over the whole run: chunk `k`'s scan starts from chunk `k − 1`'s total,
/// handed over in device memory; only the scan kernels are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Inclusive or exclusive.
    pub kind: ScanKind,
}

/// Device state of a chained scan: one carry slot per chunk boundary, one shared scratch.
#[derive(Debug)]
pub struct ScanState<T: Element> {
    carries: DeviceBuffer<T>,
    scratch: ScanScratch,
}

impl<T: ScanElement> ChunkKernel<T> for Scan {
    type State = ScanState<T>;
    /// The run's total.
    type Output = T;

    fn name(&self) -> String {
        format!("{:?} scan", self.kind).to_lowercase()
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::InPlace
    }

    fn ordered(&self) -> bool {
        true
    }

    fn prepare(
        &self,
        stream: &Stream,
        _: usize,
        chunks: usize,
        max_chunk: usize,
        _: usize,
    ) -> Result<ScanState<T>> {
        let mut carries = stream.device().alloc::<T>(chunks + 1, "scan carries")?;
        stream.fill_zero(&mut carries)?;
        let scratch = ScanScratch::new(stream, max_chunk)?;
        Ok(ScanState { carries, scratch })
    }

    fn launch(
        &self,
        state: &mut ScanState<T>,
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, T>,
        _: Option<DeviceSliceMut<'_, T>>,
    ) -> Result<()> {
        let k = ctx.chunk.index;
        let (carry, total) = state.carries.slice_mut(k..k + 2)?.split_at_mut(1)?;
        kernels::scan_in_place(
            ctx.stream,
            self.kind,
            input,
            &carry,
            total,
            &mut state.scratch,
        )
    }

    fn finish(&self, state: ScanState<T>, stream: &Stream) -> Result<T> {
        let n = state.carries.len();
        Ok(stream.download(state.carries.slice(n - 1..n)?)?[0])
    }
}

/// One Jacobi sweep over a row-major grid of `cols` columns: chunks are blocks of whole
/// rows carrying one halo row above and below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stencil {
    /// Columns of the grid.
    pub cols: usize,
}

impl ChunkKernel<f32> for Stencil {
    type State = ();
    type Output = ();

    fn name(&self) -> String {
        format!("jacobi5 ({} columns)", self.cols)
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::Separate
    }

    fn halo(&self) -> usize {
        self.cols
    }

    fn granule(&self) -> usize {
        self.cols
    }

    fn prepare(&self, _: &Stream, _: usize, _: usize, _: usize, _: usize) -> Result<()> {
        if self.cols == 0 {
            return Err(Error::InvalidArgument(
                "stencil: the grid needs at least one column".into(),
            ));
        }
        Ok(())
    }

    fn launch(
        &self,
        _: &mut (),
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, f32>,
        output: Option<DeviceSliceMut<'_, f32>>,
    ) -> Result<()> {
        let c = self.cols;
        let chunk = ctx.chunk;
        let row_begin = chunk.halo_before() / c;
        let block = StencilBlock {
            rows: chunk.upload.len() / c,
            cols: c,
            row_offset: chunk.upload.start / c,
            global_rows: ctx.total_len / c,
            row_begin,
            row_end: row_begin + chunk.len() / c,
        };
        let output = output
            .ok_or_else(|| Error::Backend("stencil chunk without an output buffer".into()))?;
        kernels::jacobi5(ctx.stream, block, &input, output)
    }

    fn finish(&self, _: (), _: &Stream) -> Result<()> {
        Ok(())
    }
}

/// Per-lane scratch and one partial per chunk, combined on the host at the end.
#[derive(Debug)]
pub struct PartialsState<A: Element> {
    partials: DeviceBuffer<A>,
    scratch: Vec<ReduceScratch>,
    /// Partials written so far (`1 + ` the highest chunk index launched): a run that gets
    /// only some of the chunks (one device of several) combines only those it wrote.
    used: usize,
}

impl<A: Element> PartialsState<A> {
    /// Chunk `chunk`'s partial and lane `lane`'s scratch.
    fn slot(
        &mut self,
        chunk: usize,
        lane: usize,
    ) -> Result<(DeviceSliceMut<'_, A>, &mut ReduceScratch)> {
        self.used = self.used.max(chunk + 1);
        Ok((
            self.partials.slice_mut(chunk..chunk + 1)?,
            &mut self.scratch[lane],
        ))
    }

    fn download(&self, stream: &Stream) -> Result<Vec<A>> {
        if self.used == 0 {
            return Ok(Vec::new());
        }
        stream.download(self.partials.slice(0..self.used)?)
    }
}

fn partials_state<A: Element>(
    stream: &Stream,
    lanes: usize,
    chunks: usize,
) -> Result<PartialsState<A>> {
    let partials = stream.device().alloc::<A>(chunks, "reduction partials")?;
    let scratch = (0..lanes)
        .map(|_| ReduceScratch::new(stream))
        .collect::<Result<_>>()?;
    Ok(PartialsState {
        partials,
        scratch,
        used: 0,
    })
}

/// The sum of the whole run (f32: per-chunk f32 partials, combined in f64; integers exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sum;

/// Combining per-chunk partial sums on the host.
pub trait CombineSums: SumElement {
    #[doc(hidden)]
    fn combine(partials: &[Self::Sum]) -> Self::Sum;
}

impl CombineSums for f32 {
    fn combine(p: &[f32]) -> f32 {
        p.iter().map(|&v| v as f64).sum::<f64>() as f32
    }
}

impl CombineSums for u32 {
    fn combine(p: &[u64]) -> u64 {
        p.iter().fold(0u64, |a, &v| a.wrapping_add(v))
    }
}

impl CombineSums for i32 {
    fn combine(p: &[i64]) -> i64 {
        p.iter().fold(0i64, |a, &v| a.wrapping_add(v))
    }
}

impl<T: CombineSums> ChunkKernel<T> for Sum {
    type State = PartialsState<T::Sum>;
    type Output = T::Sum;

    fn name(&self) -> String {
        "sum".into()
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::Accumulated
    }

    fn prepare(
        &self,
        stream: &Stream,
        lanes: usize,
        chunks: usize,
        _: usize,
        _: usize,
    ) -> Result<Self::State> {
        partials_state(stream, lanes, chunks)
    }

    fn launch(
        &self,
        state: &mut Self::State,
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, T>,
        _: Option<DeviceSliceMut<'_, T>>,
    ) -> Result<()> {
        let k = ctx.chunk.index;
        let (out, scratch) = state.slot(k, ctx.lane)?;
        kernels::sum(ctx.stream, &input, out, scratch)
    }

    fn finish(&self, state: Self::State, stream: &Stream) -> Result<T::Sum> {
        Ok(T::combine(&state.download(stream)?))
    }
}

/// The minimum or maximum of the whole run (f32: NaNs ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extremum {
    /// Maximum instead of minimum.
    pub max: bool,
}

/// Combining per-chunk minima or maxima on the host.
pub trait CombineExtrema: MinMaxElement {
    #[doc(hidden)]
    fn combine(partials: &[Self], max: bool) -> Self;
}

impl CombineExtrema for f32 {
    fn combine(p: &[f32], max: bool) -> f32 {
        let init = if max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        let r = p
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .fold(init, |a, v| if max { a.max(v) } else { a.min(v) });
        if !p.is_empty() && p.iter().all(|v| v.is_nan()) {
            f32::NAN
        } else {
            r
        }
    }
}

impl CombineExtrema for u32 {
    fn combine(p: &[u32], max: bool) -> u32 {
        if max {
            p.iter().copied().max().unwrap_or(u32::MIN)
        } else {
            p.iter().copied().min().unwrap_or(u32::MAX)
        }
    }
}

impl CombineExtrema for i32 {
    fn combine(p: &[i32], max: bool) -> i32 {
        if max {
            p.iter().copied().max().unwrap_or(i32::MIN)
        } else {
            p.iter().copied().min().unwrap_or(i32::MAX)
        }
    }
}

impl<T: CombineExtrema> ChunkKernel<T> for Extremum {
    type State = PartialsState<T>;
    type Output = T;

    fn name(&self) -> String {
        if self.max { "max" } else { "min" }.into()
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::Accumulated
    }

    fn prepare(
        &self,
        stream: &Stream,
        lanes: usize,
        chunks: usize,
        _: usize,
        _: usize,
    ) -> Result<Self::State> {
        partials_state(stream, lanes, chunks)
    }

    fn launch(
        &self,
        state: &mut Self::State,
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, T>,
        _: Option<DeviceSliceMut<'_, T>>,
    ) -> Result<()> {
        let k = ctx.chunk.index;
        let (out, scratch) = state.slot(k, ctx.lane)?;
        if self.max {
            kernels::max(ctx.stream, &input, out, scratch)
        } else {
            kernels::min(ctx.stream, &input, out, scratch)
        }
    }

    fn finish(&self, state: Self::State, stream: &Stream) -> Result<T> {
        Ok(T::combine(&state.download(stream)?, self.max))
    }
}

/// How a histogram bins its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binning {
    /// u32 values: bin `(v − lo) / width`.
    Integer {
        /// Lowest counted value.
        lo: u32,
        /// Values per bin.
        width: u32,
    },
    /// f32 values: equal bins over `[lo, hi)`.
    Real {
        /// Lower edge.
        lo: f32,
        /// Upper edge (excluded).
        hi: f32,
    },
}

/// A histogram of the whole run into `bins` counters: one counter set per compute stream
/// (so concurrent chunks never share counters), summed on the host at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Histogram {
    /// Number of bins.
    pub bins: usize,
    /// The binning rule.
    pub binning: Binning,
}

/// Element types the histogram kernels bin.
pub trait HistogramElement: Element {
    #[doc(hidden)]
    fn launch(
        stream: &Stream,
        binning: Binning,
        values: &DeviceSliceMut<'_, Self>,
        counts: DeviceSliceMut<'_, u32>,
    ) -> Result<()>;
}

impl HistogramElement for u32 {
    fn launch(
        stream: &Stream,
        binning: Binning,
        values: &DeviceSliceMut<'_, u32>,
        counts: DeviceSliceMut<'_, u32>,
    ) -> Result<()> {
        match binning {
            Binning::Integer { lo, width } => {
                kernels::histogram_u32(stream, values, lo, width, counts)
            }
            Binning::Real { .. } => Err(Error::InvalidArgument(
                "histogram: u32 values need integer binning (lo, width)".into(),
            )),
        }
    }
}

impl HistogramElement for f32 {
    fn launch(
        stream: &Stream,
        binning: Binning,
        values: &DeviceSliceMut<'_, f32>,
        counts: DeviceSliceMut<'_, u32>,
    ) -> Result<()> {
        match binning {
            Binning::Real { lo, hi } => kernels::histogram_f32(stream, values, lo, hi, counts),
            Binning::Integer { .. } => Err(Error::InvalidArgument(
                "histogram: f32 values need a real range (lo, hi)".into(),
            )),
        }
    }
}

impl<T: HistogramElement> ChunkKernel<T> for Histogram {
    type State = DeviceBuffer<u32>;
    type Output = Vec<u32>;

    fn name(&self) -> String {
        format!("histogram ({} bins)", self.bins)
    }

    fn output(&self) -> ChunkOutput {
        ChunkOutput::Accumulated
    }

    fn prepare(
        &self,
        stream: &Stream,
        lanes: usize,
        _: usize,
        _: usize,
        _: usize,
    ) -> Result<DeviceBuffer<u32>> {
        if self.bins == 0 {
            return Err(Error::InvalidArgument(
                "histogram: at least one bin is needed".into(),
            ));
        }
        let mut counts = stream
            .device()
            .alloc::<u32>(lanes * self.bins, "histogram counts")?;
        stream.fill_zero(&mut counts)?;
        Ok(counts)
    }

    fn launch(
        &self,
        counts: &mut DeviceBuffer<u32>,
        ctx: &ChunkContext<'_>,
        input: DeviceSliceMut<'_, T>,
        _: Option<DeviceSliceMut<'_, T>>,
    ) -> Result<()> {
        let lane = counts.slice_mut(ctx.lane * self.bins..(ctx.lane + 1) * self.bins)?;
        T::launch(ctx.stream, self.binning, &input, lane)
    }

    fn finish(&self, counts: DeviceBuffer<u32>, stream: &Stream) -> Result<Vec<u32>> {
        let all = stream.download(&counts)?;
        let mut total = vec![0u32; self.bins];
        for lane in all.chunks(self.bins) {
            for (t, &c) in total.iter_mut().zip(lane) {
                *t = t.wrapping_add(c);
            }
        }
        Ok(total)
    }
}
