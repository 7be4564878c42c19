//! A stencil grid resident on several devices: each device holds a block of whole rows plus
//! one halo row from each neighbour, sweeps its block, and swaps boundary rows with its
//! neighbours before the next sweep — by direct device-to-device (peer) copies where the
//! devices allow, otherwise through pinned host memory.
//!
//! # Ordering of one sweep
//! Every device sweeps `cur` into `next` and records `swept`. Then, for each boundary:
//! - peer: the lower device's stream waits for the upper's `swept` and copies the upper's
//!   last row into its top halo; the upper's stream does the mirror image;
//! - host: each side's own stream downloads its boundary row into a pinned staging row and
//!   records `sent`; the neighbour's stream waits for `sent` and uploads it into its halo.
//!   Staging rows alternate between two sets by sweep parity: a staging row is rewritten
//!   two sweeps later, by which time its reader has passed an event the writer waited on.
//!
//! No host synchronization happens between sweeps; every cross-device order is an event.

use crate::backend::{Device, DeviceBuffer, Event, PinnedBuffer, Stream};
use crate::error::{Error, Result};
use crate::kernels::{self, StencilBlock};
use crate::multi::planner::Weights;

/// How halo rows cross one boundary between neighbouring devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaloPath {
    /// Direct device-to-device copies.
    Peer,
    /// Through pinned host memory (no peer access between the two devices).
    Host,
}

/// One device's block: owned rows `first_row..first_row + rows`, stored with a halo row
/// above (`top` = 1) unless it holds the grid's first row, and below (`bottom` = 1) unless
/// it holds the last.
#[derive(Debug)]
struct Part {
    stream: Stream,
    first_row: usize,
    rows: usize,
    top: usize,
    bottom: usize,
    cur: DeviceBuffer<f32>,
    next: DeviceBuffer<f32>,
    swept: Event,
}

impl Part {
    fn stored_rows(&self) -> usize {
        self.top + self.rows + self.bottom
    }
}

/// Pinned staging for the host path of one boundary: per parity, a row going down (upper
/// device's last row) and a row going up (lower device's first row), and their events.
#[derive(Debug)]
struct Staging {
    down: [PinnedBuffer<f32>; 2],
    up: [PinnedBuffer<f32>; 2],
    sent_down: Event,
    sent_up: Event,
}

/// A `rows × cols` grid split by rows across devices, swept in place on the devices.
#[derive(Debug)]
pub struct ResidentStencil {
    cols: usize,
    rows: usize,
    parts: Vec<Part>,
    paths: Vec<HaloPath>,
    staging: Vec<Option<Staging>>,
    sweeps: usize,
}

impl ResidentStencil {
    /// Uploads `grid` (row-major, `cols` columns) split by `weights` over `devices`; a
    /// device whose share is zero rows takes no part. `force_host` sends every halo through
    /// pinned host memory even where peer copies work (to exercise that path).
    pub fn new(
        devices: &[Device],
        grid: &[f32],
        cols: usize,
        weights: &Weights,
        force_host: bool,
    ) -> Result<ResidentStencil> {
        if cols == 0 || grid.is_empty() || !grid.len().is_multiple_of(cols) {
            return Err(Error::InvalidArgument(format!(
                "stencil: {} values are not a non-empty grid of {cols} columns",
                grid.len()
            )));
        }
        if weights.len() != devices.len() {
            return Err(Error::length(
                "stencil weights",
                devices.len(),
                weights.len(),
            ));
        }
        let rows = grid.len() / cols;
        let mut parts = Vec::new();
        let mut used = Vec::new();
        for (device, range) in devices.iter().zip(weights.ranges(rows)) {
            if range.is_empty() {
                continue;
            }
            let top = usize::from(range.start > 0);
            let bottom = usize::from(range.end < rows);
            let stored = (range.start - top)..(range.end + bottom);
            let stream = device.stream()?;
            let len = stored.len() * cols;
            let mut cur = device.alloc::<f32>(len, "resident stencil grid")?;
            let mut next = device.alloc::<f32>(len, "resident stencil next")?;
            stream.upload(&grid[stored.start * cols..stored.end * cols], &mut cur)?;
            // Halo rows of `next` are written only by exchanges; start them equal to `cur`.
            stream.copy_on_device(&cur, &mut next)?;
            parts.push(Part {
                swept: device.event(false)?,
                stream,
                first_row: range.start,
                rows: range.len(),
                top,
                bottom,
                cur,
                next,
            });
            used.push(device.clone());
        }
        let mut paths = Vec::new();
        let mut staging = Vec::new();
        for pair in used.windows(2) {
            let peer = !force_host
                && pair[1].enable_peer_access(&pair[0])?
                && pair[0].enable_peer_access(&pair[1])?;
            if peer {
                paths.push(HaloPath::Peer);
                staging.push(None);
            } else {
                paths.push(HaloPath::Host);
                let row = |label: &str| pair[0].alloc_pinned::<f32>(cols, label);
                staging.push(Some(Staging {
                    down: [row("halo staging down")?, row("halo staging down")?],
                    up: [row("halo staging up")?, row("halo staging up")?],
                    sent_down: pair[0].event(false)?,
                    sent_up: pair[1].event(false)?,
                }));
            }
        }
        for part in &parts {
            part.stream.synchronize()?;
        }
        Ok(ResidentStencil {
            cols,
            rows,
            parts,
            paths,
            staging,
            sweeps: 0,
        })
    }

    /// How each boundary between consecutive participating devices exchanges halos.
    pub fn halo_paths(&self) -> &[HaloPath] {
        &self.paths
    }

    /// Owned rows of each participating device, in order.
    pub fn row_split(&self) -> Vec<std::ops::Range<usize>> {
        self.parts
            .iter()
            .map(|p| p.first_row..p.first_row + p.rows)
            .collect()
    }

    /// Queues `count` Jacobi sweeps with halo exchanges between them (no host waits).
    pub fn sweep(&mut self, count: usize) -> Result<()> {
        let cols = self.cols;
        for _ in 0..count {
            for part in &mut self.parts {
                let block = StencilBlock {
                    rows: part.stored_rows(),
                    cols,
                    row_offset: part.first_row - part.top,
                    global_rows: self.rows,
                    row_begin: part.top,
                    row_end: part.top + part.rows,
                };
                let owned = part.top * cols..(part.top + part.rows) * cols;
                kernels::jacobi5(&part.stream, block, &part.cur, part.next.slice_mut(owned)?)?;
                part.stream.record(&part.swept)?;
            }
            let parity = self.sweeps % 2;
            for b in 0..self.paths.len() {
                self.exchange(b, parity)?;
            }
            for part in &mut self.parts {
                std::mem::swap(&mut part.cur, &mut part.next);
            }
            self.sweeps += 1;
        }
        Ok(())
    }

    /// Queues the halo exchange across boundary `b` (between parts `b` and `b + 1`).
    fn exchange(&mut self, b: usize, parity: usize) -> Result<()> {
        let cols = self.cols;
        let (head, tail) = self.parts.split_at_mut(b + 1);
        let (upper, lower) = (&mut head[b], &mut tail[0]);
        // Upper's last owned row and bottom halo; lower's top halo and first owned row.
        let upper_last = (upper.top + upper.rows - 1) * cols..(upper.top + upper.rows) * cols;
        let upper_halo = (upper.top + upper.rows) * cols..(upper.top + upper.rows + 1) * cols;
        let lower_halo = 0..cols;
        let lower_first = cols..2 * cols;
        match self.staging[b].as_mut() {
            None => {
                lower.stream.wait(&upper.swept)?;
                lower.stream.copy_on_device(
                    upper.next.slice(upper_last)?,
                    lower.next.slice_mut(lower_halo)?,
                )?;
                upper.stream.wait(&lower.swept)?;
                upper.stream.copy_on_device(
                    lower.next.slice(lower_first)?,
                    upper.next.slice_mut(upper_halo)?,
                )?;
            }
            Some(st) => {
                let (down, up) = (&mut st.down[parity], &mut st.up[parity]);
                upper
                    .stream
                    .copy_to_host(upper.next.slice(upper_last)?, &mut *down)?;
                upper.stream.record(&st.sent_down)?;
                lower
                    .stream
                    .copy_to_host(lower.next.slice(lower_first)?, &mut *up)?;
                lower.stream.record(&st.sent_up)?;
                lower.stream.wait(&st.sent_down)?;
                lower
                    .stream
                    .copy_to_device(&*down, lower.next.slice_mut(lower_halo)?)?;
                upper.stream.wait(&st.sent_up)?;
                upper
                    .stream
                    .copy_to_device(&*up, upper.next.slice_mut(upper_halo)?)?;
            }
        }
        Ok(())
    }

    /// Waits for every queued sweep and returns the whole grid.
    pub fn download(&self) -> Result<Vec<f32>> {
        let mut grid = Vec::with_capacity(self.rows * self.cols);
        for part in &self.parts {
            let owned = part.top * self.cols..(part.top + part.rows) * self.cols;
            grid.extend(part.stream.download(part.cur.slice(owned)?)?);
        }
        Ok(grid)
    }

    /// Sweeps queued so far.
    pub fn sweeps(&self) -> usize {
        self.sweeps
    }
}
