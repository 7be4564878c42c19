//! What a CPU kernel implementation sees: its launch's buffer arguments as host slices.
//!
//! The executor locks every allocation a launch names before building [`KernelArgs`], and
//! drops the arguments before the locks. `KernelArgs` hands out each buffer as a slice,
//! refusing a write to a buffer declared read-only and any two borrows that overlap with one
//! of them writable, so a CPU kernel cannot create aliasing `&mut` slices.

use std::marker::PhantomData;

use crate::backend::memory::DevRange;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::launch::{Access, KernelArg, ScalarArg};

#[derive(Debug, Clone, Copy)]
struct Slot {
    ptr: *mut u8,
    bytes: usize,
    allocation: u64,
    offset: usize,
    access: Option<Access>,
    scalar: Option<ScalarArg>,
}

/// Buffer arguments of a launch, mapped to host memory for a CPU kernel implementation.
#[derive(Debug)]
pub struct KernelArgs<'a> {
    slots: Vec<Slot>,
    borrowed: Vec<(u64, usize, usize, bool)>,
    _locks: PhantomData<&'a mut ()>,
}

impl<'a> KernelArgs<'a> {
    /// Maps `args` with `resolve` (range → host pointer). The caller holds the locks of
    /// every buffer in `args` for `'a`.
    pub(crate) fn new(
        args: &[KernelArg],
        resolve: impl Fn(&DevRange) -> Result<*mut u8>,
    ) -> Result<KernelArgs<'a>> {
        let slots = args
            .iter()
            .map(|arg| match arg {
                KernelArg::Buffer(b) => Ok(Slot {
                    ptr: resolve(&b.range)?,
                    bytes: b.range.bytes,
                    allocation: b.range.mem.id,
                    offset: b.range.offset,
                    access: Some(b.access),
                    scalar: None,
                }),
                other => Ok(Slot {
                    ptr: std::ptr::null_mut(),
                    bytes: 0,
                    allocation: 0,
                    offset: 0,
                    access: None,
                    scalar: match other {
                        KernelArg::Scalar(s) => Some(*s),
                        _ => None,
                    },
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KernelArgs {
            slots,
            borrowed: Vec::new(),
            _locks: PhantomData,
        })
    }

    fn slot<T: Element>(&mut self, index: usize, write: bool) -> Result<Slot> {
        let slot = *self.slots.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "CPU kernel asked for argument {index} of {}",
                self.slots.len()
            ))
        })?;
        let Some(access) = slot.access else {
            return Err(Error::InvalidArgument(format!(
                "CPU kernel argument {index} is not a buffer"
            )));
        };
        if write && access != Access::Write {
            return Err(Error::InvalidArgument(format!(
                "CPU kernel wrote argument {index}, which the launch declares read-only"
            )));
        }
        if !slot.bytes.is_multiple_of(size_of::<T>())
            || !(slot.ptr as usize).is_multiple_of(align_of::<T>())
        {
            return Err(Error::InvalidArgument(format!(
                "CPU kernel argument {index} ({} bytes) is not a whole, aligned array of {}",
                slot.bytes,
                T::NAME
            )));
        }
        let (start, end) = (slot.offset, slot.offset + slot.bytes);
        let clash = self.borrowed.iter().any(|&(alloc, s, e, w)| {
            alloc == slot.allocation && s < end && start < e && (w || write)
        });
        if clash {
            return Err(Error::InvalidArgument(format!(
                "CPU kernel argument {index} overlaps another argument borrowed at the same time"
            )));
        }
        self.borrowed.push((slot.allocation, start, end, write));
        Ok(slot)
    }

    /// Argument `index`, read-only.
    pub fn read<T: Element>(&mut self, index: usize) -> Result<&'a [T]> {
        let slot = self.slot::<T>(index, false)?;
        if slot.bytes == 0 {
            return Ok(&[]);
        }
        // SAFETY: the pointer addresses `bytes` bytes of a live allocation the executor holds
        // locked for 'a; alignment and size were checked for `T`, every bit pattern is a valid
        // `T` (Pod), and no overlapping writable borrow exists (checked above).
        Ok(
            unsafe {
                std::slice::from_raw_parts(slot.ptr.cast::<T>(), slot.bytes / size_of::<T>())
            },
        )
    }

    /// Argument `index`, writable (declared `Write` by the launch).
    pub fn write<T: Element>(&mut self, index: usize) -> Result<&'a mut [T]> {
        let slot = self.slot::<T>(index, true)?;
        if slot.bytes == 0 {
            return Ok(&mut []);
        }
        // SAFETY: as in `read`, the allocation is locked for writing, and no other borrow of
        // an overlapping range exists (checked above), so this is the only reference.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(slot.ptr.cast::<T>(), slot.bytes / size_of::<T>())
        })
    }

    /// Scalar argument `index` (a number or a `#[repr(C)]` struct passed by value), read as
    /// `T`; its size must be exactly `T`'s.
    pub fn scalar<T: bytemuck::Pod>(&self, index: usize) -> Result<T> {
        let slot = self.slots.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "CPU kernel asked for argument {index} of {}",
                self.slots.len()
            ))
        })?;
        let Some(scalar) = slot.scalar else {
            return Err(Error::InvalidArgument(format!(
                "CPU kernel argument {index} is not a scalar"
            )));
        };
        bytemuck::try_pod_read_unaligned(scalar.bytes()).map_err(|_| {
            Error::InvalidArgument(format!(
                "CPU kernel read argument {index} ({} bytes) as a {}-byte {}",
                scalar.bytes().len(),
                size_of::<T>(),
                std::any::type_name::<T>()
            ))
        })
    }
}
