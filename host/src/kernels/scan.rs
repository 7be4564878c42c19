//! Launchers for the single-pass (decoupled look-back) prefix sums with a carry in device
//! memory and a total out (docs/kernels.md, Scan), so chunked scans chain on the device.

use std::sync::Arc;

use gpu_kernels::config::{
    SCAN_BLOCK, SCAN_EPOCH_LIMIT, SCAN_SHARED_BYTES, scan_grid, scan_scratch_words,
};
use gpu_kernels::entries;
use riptide_reference::bounds::RefSum;
use riptide_reference::scan::{self as reference, ScanKind as RefKind};

use crate::backend::{DeviceBuffer, DeviceRead, DeviceWrite, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::backend_error;
use crate::launch::{Dim3, KernelLaunch, KernelRef, LaunchConfig};

/// Which prefix a scan writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanKind {
    /// `y[i] = carry + Σ_{j≤i} x[j]`.
    Inclusive,
    /// `y[i] = carry + Σ_{j<i} x[j]`.
    Exclusive,
}

impl ScanKind {
    fn reference(self) -> RefKind {
        match self {
            ScanKind::Inclusive => RefKind::Inclusive,
            ScanKind::Exclusive => RefKind::Exclusive,
        }
    }
}

/// Scratch for scans of up to `capacity` elements: the tile counter and the epoch-tagged
/// tile status words, zeroed once. Scans that may run at the same time need different
/// scratch.
#[derive(Debug)]
pub struct ScanScratch {
    words: DeviceBuffer<u64>,
    capacity: usize,
    epoch: u32,
}

impl ScanScratch {
    /// Allocates and zeroes scratch for scans of up to `capacity` elements; the zeroing is
    /// queued on `stream` and waited for.
    pub fn new(stream: &Stream, capacity: usize) -> Result<ScanScratch> {
        let mut words = stream
            .device()
            .alloc::<u64>(scan_scratch_words(capacity), "scan scratch")?;
        stream.fill_zero(&mut words)?;
        stream.synchronize()?;
        Ok(ScanScratch {
            words,
            capacity,
            epoch: 0,
        })
    }

    /// The next launch epoch; re-zeroes the status words (on `stream`) when the epochs run out.
    fn next_epoch(&mut self, stream: &Stream) -> Result<u32> {
        self.epoch += 1;
        if self.epoch >= SCAN_EPOCH_LIMIT {
            stream.fill_zero(&mut self.words)?;
            self.epoch = 1;
        }
        Ok(self.epoch)
    }
}

/// The element types with scan kernels.
pub trait ScanElement: Element {
    #[doc(hidden)]
    const INCLUSIVE: &'static str;
    #[doc(hidden)]
    const EXCLUSIVE: &'static str;
    #[doc(hidden)]
    fn cpu_scan(x: &[Self], carry: Self, kind: ScanKind, y: &mut [Self]) -> Result<Self>;
}

impl ScanElement for u32 {
    const INCLUSIVE: &'static str = entries::SCAN_INCLUSIVE_U32;
    const EXCLUSIVE: &'static str = entries::SCAN_EXCLUSIVE_U32;
    fn cpu_scan(x: &[u32], carry: u32, kind: ScanKind, y: &mut [u32]) -> Result<u32> {
        reference::scan_u32(x, carry, kind.reference(), y).map_err(backend_error)
    }
}

impl ScanElement for i32 {
    const INCLUSIVE: &'static str = entries::SCAN_INCLUSIVE_I32;
    const EXCLUSIVE: &'static str = entries::SCAN_EXCLUSIVE_I32;
    fn cpu_scan(x: &[i32], carry: i32, kind: ScanKind, y: &mut [i32]) -> Result<i32> {
        reference::scan_i32(x, carry, kind.reference(), y).map_err(backend_error)
    }
}

impl ScanElement for f32 {
    const INCLUSIVE: &'static str = entries::SCAN_INCLUSIVE_F32;
    const EXCLUSIVE: &'static str = entries::SCAN_EXCLUSIVE_F32;
    fn cpu_scan(x: &[f32], carry: f32, kind: ScanKind, y: &mut [f32]) -> Result<f32> {
        let mut refs = vec![RefSum::default(); x.len()];
        let total =
            reference::scan_f32(x, carry, kind.reference(), &mut refs).map_err(backend_error)?;
        for (out, r) in y.iter_mut().zip(&refs) {
            *out = r.value as f32;
        }
        Ok(total.value as f32)
    }
}

fn one<T: Element>(what: &str, b: &impl DeviceRead<T>) -> Result<()> {
    if b.elements() != 1 {
        return Err(Error::length(format!("scan: {what}"), 1, b.elements()));
    }
    Ok(())
}

fn scan_launch<T: ScanElement>(
    stream: &Stream,
    kind: ScanKind,
    len: usize,
    scratch: &ScanScratch,
    in_place: bool,
) -> Result<KernelLaunch> {
    if len > scratch.capacity {
        return Err(Error::limit(
            "scan: elements (scratch capacity)",
            len as u64,
            scratch.capacity as u64,
        ));
    }
    let entry = match kind {
        ScanKind::Inclusive => T::INCLUSIVE,
        ScanKind::Exclusive => T::EXCLUSIVE,
    };
    let grid = scan_grid(len, stream.device().info().multiprocessors.max(1));
    Ok(KernelLaunch::new(
        KernelRef::Builtin(entry),
        LaunchConfig {
            grid: Dim3::x(grid),
            block: Dim3::x(SCAN_BLOCK),
            shared_bytes: SCAN_SHARED_BYTES,
        },
        Arc::new(move |args| {
            let carry = args.read::<T>(3)?[0];
            let total = if in_place {
                let y = args.write::<T>(1)?;
                let x = y.to_vec();
                T::cpu_scan(&x, carry, kind, y)?
            } else {
                let x = args.read::<T>(0)?;
                T::cpu_scan(x, carry, kind, args.write::<T>(1)?)?
            };
            args.write::<T>(4)?[0] = total;
            Ok(())
        }),
    ))
}

/// Queues a prefix sum of `x` into `y` starting from `carry_in[0]` (device memory), writing
/// `carry_in[0] + Σ x` to `total_out[0]`. Integer scans wrap modulo 2^32.
pub fn scan<T: ScanElement>(
    stream: &Stream,
    kind: ScanKind,
    x: impl DeviceRead<T>,
    y: impl DeviceWrite<T>,
    carry_in: impl DeviceRead<T>,
    total_out: impl DeviceWrite<T>,
    scratch: &mut ScanScratch,
) -> Result<()> {
    let len = y.elements();
    if x.elements() != len {
        return Err(Error::length("scan: x (y's length)", len, x.elements()));
    }
    one("carry_in", &carry_in)?;
    if total_out.elements() != 1 {
        return Err(Error::length("scan: total_out", 1, total_out.elements()));
    }
    let epoch = scratch.next_epoch(stream)?;
    let launch = scan_launch::<T>(stream, kind, len, scratch, false)?
        .read(&x)
        .write(&y)
        .scalar(len)
        .read(&carry_in)
        .write(&total_out)
        .write(&&mut scratch.words)
        .scalar(epoch);
    stream.launch(&launch)
}

/// [`scan`] in place on `y`.
pub fn scan_in_place<T: ScanElement>(
    stream: &Stream,
    kind: ScanKind,
    y: impl DeviceWrite<T>,
    carry_in: impl DeviceRead<T>,
    total_out: impl DeviceWrite<T>,
    scratch: &mut ScanScratch,
) -> Result<()> {
    let len = y.elements();
    one("carry_in", &carry_in)?;
    if total_out.elements() != 1 {
        return Err(Error::length("scan: total_out", 1, total_out.elements()));
    }
    let epoch = scratch.next_epoch(stream)?;
    let launch = scan_launch::<T>(stream, kind, len, scratch, true)?
        .write(&y)
        .write(&y)
        .scalar(len)
        .read(&carry_in)
        .write(&total_out)
        .write(&&mut scratch.words)
        .scalar(epoch);
    stream.launch(&launch)
}
