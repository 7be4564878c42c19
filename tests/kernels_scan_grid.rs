//! The scan's result does not depend on the grid (gpu-kernels `kernels/scan/`: every value
//! is a fixed tree of the data, and tiles are claimed in order from a counter). The launcher always
//! picks `scan_grid`; these tests launch the scan entries directly with grids it never
//! picks — one block (every tile in turn), a few blocks (tickets interleaved, so look-backs
//! wait on tiles other blocks hold), and more blocks than tiles (blocks that draw only the
//! closing ticket) — over a length that spans three
//! look-back super-groups and ends in a partial tile, with aligned and unaligned pointers.
//!
//! Expected values: for `u32`, the wrapping prefix sums computed here (exact); for `f32`,
//! the recommended-grid launch through `kernels::scan`, bit for bit (its accuracy is
//! checked by tests/kernels_scan.rs). Every launch must leave the tile counter (scratch
//! word 0) at zero: the last claim's reset.
//!
//! GPU only: the CPU backend runs the launcher's CPU implementation, not the grid.

mod common;
#[path = "kernels_support/mod.rs"]
mod support;

use std::sync::Arc;

use gpu_kernels::config::{SCAN_BLOCK, SCAN_SHARED_BYTES, scan_scratch_words, scan_tiles};
use gpu_kernels::entries;
use riptide::host::kernels::{self, ScanKind, ScanScratch};
use riptide::host::launch::{CpuKernel, Dim3, KernelLaunch, KernelRef, LaunchConfig};
use riptide::host::{Device, DeviceBuffer, Error, Result, Stream};

use support::{Bits, Guarded, POISON_F32, POISON_U32, SUMMABLE, assert_bits_eq, f32s, u32s};

/// Three super-groups of `2^22` elements, five tiles and a partial tile of 123 elements:
/// 3078 tiles.
const LEN: usize = 3 * (1 << 22) + 5 * 4096 + 123;

/// Grids the launcher never picks for `LEN` (it picks `6 · SMs`); the last is more blocks
/// than tiles.
fn grids() -> [u32; 6] {
    [1, 2, 3, 5, 33, scan_tiles(LEN) as u32 + 7]
}

/// One launch's buffers: input, output, carry and total, each with poisoned guards.
struct Io<T: Bits> {
    x: Guarded<T>,
    y: Guarded<T>,
    carry: Guarded<T>,
    total: Guarded<T>,
}

impl<T: Bits> Io<T> {
    /// Input `x` and carry `carry` with guards, output and total poisoned; `x` and `y`
    /// start `off` elements past a 16-byte boundary.
    fn new(dev: &Device, s: &Stream, x: &[T], carry: T, off: usize, poison: T) -> Result<Self> {
        Ok(Io {
            x: Guarded::new(dev, s, x, off, poison)?,
            y: Guarded::poisoned(dev, s, x.len(), off, poison)?,
            carry: Guarded::new(dev, s, &[carry], 0, poison)?,
            total: Guarded::poisoned(dev, s, 1, 0, poison)?,
        })
    }

    /// Poisons the output and the total again before the next launch.
    fn repoison(&mut self, s: &Stream) -> Result<()> {
        self.y.fill(s, &vec![self.y.poison; self.y.len])?;
        self.total.fill(s, &[self.total.poison])
    }
}

/// Scratch for `LEN` elements, zeroed, and its epoch counter.
struct Scratch {
    words: DeviceBuffer<u64>,
    epoch: u32,
}

impl Scratch {
    fn new(s: &Stream) -> Result<Scratch> {
        let mut words = s
            .device()
            .alloc::<u64>(scan_scratch_words(LEN), "scan scratch")?;
        s.fill_zero(&mut words)?;
        s.synchronize()?;
        Ok(Scratch { words, epoch: 0 })
    }

    /// Launches scan entry `entry` with `grid` blocks and the next epoch, then checks that
    /// the tile counter is zero again.
    fn run<T: Bits>(
        &mut self,
        s: &Stream,
        entry: &'static str,
        grid: u32,
        io: &mut Io<T>,
    ) -> Result<()> {
        self.epoch += 1;
        let cpu: CpuKernel = Arc::new(|_| {
            Err(Error::InvalidArgument(
                "kernels_scan_grid launches the GPU kernel only".to_owned(),
            ))
        });
        let config = LaunchConfig {
            grid: Dim3::x(grid),
            block: Dim3::x(SCAN_BLOCK),
            shared_bytes: SCAN_SHARED_BYTES,
        };
        let launch = KernelLaunch::new(KernelRef::Builtin(entry), config, cpu)
            .read(&io.x.data()?)
            .write(&io.y.data_mut()?)
            .scalar(io.x.len)
            .read(&io.carry.data()?)
            .write(&io.total.data_mut()?)
            .write(&&mut self.words)
            .scalar(self.epoch);
        s.launch(&launch)?;
        let counter = s.download(self.words.slice(0..1)?)?[0];
        assert_eq!(
            counter, 0,
            "{entry} with {grid} blocks left the tile counter at {counter}"
        );
        Ok(())
    }
}

/// Wrapping prefix sums of `x` from `carry`: `(y, total)`.
fn wrapping_scan(x: &[u32], carry: u32, inclusive: bool) -> (Vec<u32>, u32) {
    let mut acc = carry;
    let y = x
        .iter()
        .map(|&v| {
            let before = acc;
            acc = acc.wrapping_add(v);
            if inclusive { acc } else { before }
        })
        .collect();
    (y, acc)
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn scan_u32_is_exact_for_every_grid() -> Result<()> {
    let Some(dev) = common::gpu_device() else {
        return Ok(());
    };
    let s = dev.stream()?;
    let mut scratch = Scratch::new(&s)?;
    let x = u32s(LEN, 11);
    let carry = 0x8000_0001_u32;
    for (entry, inclusive) in [
        (entries::SCAN_INCLUSIVE_U32, true),
        (entries::SCAN_EXCLUSIVE_U32, false),
    ] {
        let (want, want_total) = wrapping_scan(&x, carry, inclusive);
        // Offset 0: 16-byte aligned (the `cp.async` path); offset 1: the scalar path.
        for off in [0, 1] {
            let mut io = Io::new(&dev, &s, &x, carry, off, POISON_U32)?;
            for grid in grids() {
                io.repoison(&s)?;
                scratch.run(&s, entry, grid, &mut io)?;
                let what = format!("{entry}, {grid} blocks, offset {off}");
                assert_bits_eq(&what, &io.y.read(&s)?, &want);
                assert_eq!(io.total.read(&s)?[0], want_total, "{what}: total");
            }
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn scan_f32_bits_do_not_depend_on_the_grid() -> Result<()> {
    let Some(dev) = common::gpu_device() else {
        return Ok(());
    };
    let s = dev.stream()?;
    let mut scratch = Scratch::new(&s)?;
    let mut launcher_scratch = ScanScratch::new(&s, LEN)?;
    let x = f32s(LEN, 12, SUMMABLE);
    let carry = 0.375_f32;
    for (entry, kind) in [
        (entries::SCAN_INCLUSIVE_F32, ScanKind::Inclusive),
        (entries::SCAN_EXCLUSIVE_F32, ScanKind::Exclusive),
    ] {
        for off in [0, 1] {
            let mut io = Io::new(&dev, &s, &x, carry, off, POISON_F32)?;
            // The launcher's grid (`scan_grid`), through the public API.
            kernels::scan(
                &s,
                kind,
                io.x.data()?,
                io.y.data_mut()?,
                io.carry.data()?,
                io.total.data_mut()?,
                &mut launcher_scratch,
            )?;
            let want = io.y.read(&s)?;
            let want_total = io.total.read(&s)?;
            for grid in grids() {
                io.repoison(&s)?;
                scratch.run(&s, entry, grid, &mut io)?;
                let what = format!("{entry}, {grid} blocks, offset {off}");
                assert_bits_eq(&what, &io.y.read(&s)?, &want);
                assert_bits_eq(&format!("{what}: total"), &io.total.read(&s)?, &want_total);
            }
        }
    }
    Ok(())
}
