//! Device buffers and pinned host buffers, the handles operations name.
//!
//! A buffer is a typed handle (`DeviceBuffer<T>`, `PinnedBuffer<T>`) around a reference-counted,
//! untyped allocation. Operations name a byte range of an allocation ([`DevRange`],
//! [`HostRange`]); the CPU backend's race detector and the graph layer key on the allocation's
//! id. Written ranges are passed `&mut` (or as a [`DeviceSliceMut`]), read ones `&`, so the
//! borrow checker keeps host-side aliasing honest at the moment an operation is queued; what
//! happens later on the device is ordered by streams and events.
//!
//! Dropping a device allocation waits for the device to go idle before freeing it, so an
//! operation still queued against it can never touch freed memory. Host access to a pinned
//! buffer ([`PinnedBuffer::read`], [`PinnedBuffer::write`]) first waits for every queued
//! operation that touches it, so the host never reads memory a copy engine is writing.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut, Range, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::backend::cpu;
use crate::backend::cuda;
use crate::element::Element;
use crate::error::{Error, Result};

static NEXT_ALLOCATION_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique allocation id: names buffers in hazard reports and graph nodes.
pub(crate) fn next_allocation_id() -> u64 {
    NEXT_ALLOCATION_ID.fetch_add(1, Ordering::Relaxed)
}

/// The backend part of a device allocation.
#[derive(Debug)]
pub(crate) enum DeviceMem {
    Cuda(cuda::DeviceAlloc),
    Cpu(cpu::CpuMemory),
}

/// An untyped device allocation shared by buffers, queued operations and graphs.
#[derive(Debug)]
pub(crate) struct DeviceMemory {
    pub(crate) id: u64,
    pub(crate) device: usize,
    pub(crate) label: String,
    pub(crate) mem: DeviceMem,
    pub(crate) _counted: crate::backend::resources::Counted,
}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        if let DeviceMem::Cpu(m) = &self.mem {
            m.forget(self.id);
        }
    }
}

/// Something queued that may still touch a pinned buffer: wait for it before host access.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Cuda(Arc<cuda::CudaFence>),
    Cpu(Arc<cpu::Completion>),
}

impl Pending {
    fn wait(&self) -> Result<()> {
        match self {
            Pending::Cuda(fence) => fence.wait(),
            Pending::Cpu(done) => done.wait_for_host(),
        }
    }
}

/// An untyped page-locked (or, on the CPU backend, plain) host allocation.
#[derive(Debug)]
pub(crate) struct HostMemory {
    pub(crate) id: u64,
    pub(crate) bytes: usize,
    pub(crate) label: String,
    pub(crate) ptr: *mut u8,
    /// Serialises host access with the CPU backend's workers; uncontended on CUDA.
    pub(crate) lock: RwLock<()>,
    /// Operations queued against this memory, latest per stream.
    pub(crate) pending: Mutex<Vec<(u64, Pending)>>,
    pub(crate) owner: HostOwner,
    pub(crate) _counted: crate::backend::resources::Counted,
}

/// Who frees a [`HostMemory`], and how host accesses are checked.
#[derive(Debug)]
pub(crate) enum HostOwner {
    Cuda(cuda::PinnedAlloc),
    Cpu(cpu::CpuHostAlloc),
}

// SAFETY: `ptr` is a heap allocation owned by `HostMemory` for its whole life; all access to
// the bytes goes through `lock` (host side) or queued operations ordered by `pending`.
unsafe impl Send for HostMemory {}
// SAFETY: as for Send; shared references only hand out the pointer under `lock`.
unsafe impl Sync for HostMemory {}

impl HostMemory {
    /// Records that an operation queued on `stream` touches this memory.
    pub(crate) fn add_pending(&self, stream: u64, pending: Pending) {
        let mut list = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|(s, _)| *s != stream);
        list.push((stream, pending));
    }

    /// Waits for every queued operation touching this memory.
    pub(crate) fn wait_pending(&self) -> Result<()> {
        let list = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, pending) in &list {
            pending.wait()?;
        }
        Ok(())
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // Queued copies may still read or write these bytes.
        let _ = self.wait_pending();
        match &self.owner {
            HostOwner::Cuda(alloc) => alloc.free(self.ptr),
            HostOwner::Cpu(alloc) => alloc.free(self.id, self.ptr, self.bytes),
        }
    }
}

/// A byte range of a device allocation, as queued operations name it. Opaque outside the crate.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct DevRange {
    pub(crate) mem: Arc<DeviceMemory>,
    pub(crate) offset: usize,
    pub(crate) bytes: usize,
}

/// A byte range of a host allocation, as queued operations name it. Opaque outside the crate.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct HostRange {
    pub(crate) mem: Arc<HostMemory>,
    pub(crate) offset: usize,
    pub(crate) bytes: usize,
}

pub(crate) fn resolve_range(range: impl RangeBounds<usize>, len: usize) -> Result<Range<usize>> {
    use std::ops::Bound;
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    if start > end || end > len {
        return Err(Error::OutOfRange { start, end, len });
    }
    Ok(start..end)
}

/// A typed buffer in device memory (or, on the CPU backend, emulated device memory).
#[derive(Debug)]
pub struct DeviceBuffer<T: Element> {
    pub(crate) mem: Arc<DeviceMemory>,
    pub(crate) len: usize,
    pub(crate) _type: PhantomData<T>,
}

impl<T: Element> DeviceBuffer<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ordinal of the device the buffer lives on.
    pub fn device(&self) -> usize {
        self.mem.device
    }

    /// The label given at allocation, used in hazard reports and traces.
    pub fn label(&self) -> &str {
        &self.mem.label
    }

    /// A read-only view of `range` (in elements).
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<DeviceSlice<'_, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(DeviceSlice {
            mem: &self.mem,
            start: r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }

    /// A writable view of `range` (in elements).
    pub fn slice_mut(&mut self, range: impl RangeBounds<usize>) -> Result<DeviceSliceMut<'_, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(DeviceSliceMut {
            mem: &self.mem,
            start: r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }

    /// A read-only view of the whole buffer.
    pub fn as_slice(&self) -> DeviceSlice<'_, T> {
        DeviceSlice {
            mem: &self.mem,
            start: 0,
            len: self.len,
            _type: PhantomData,
        }
    }

    /// A writable view of the whole buffer.
    pub fn as_slice_mut(&mut self) -> DeviceSliceMut<'_, T> {
        DeviceSliceMut {
            mem: &self.mem,
            start: 0,
            len: self.len,
            _type: PhantomData,
        }
    }
}

/// A read-only range of a [`DeviceBuffer`].
#[derive(Debug, Clone, Copy)]
pub struct DeviceSlice<'a, T: Element> {
    mem: &'a Arc<DeviceMemory>,
    start: usize,
    len: usize,
    _type: PhantomData<&'a [T]>,
}

/// A writable range of a [`DeviceBuffer`]; disjoint ones come from [`DeviceSliceMut::split_at_mut`].
#[derive(Debug)]
pub struct DeviceSliceMut<'a, T: Element> {
    mem: &'a Arc<DeviceMemory>,
    start: usize,
    len: usize,
    _type: PhantomData<&'a mut [T]>,
}

impl<'a, T: Element> DeviceSlice<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A sub-range of this slice.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<DeviceSlice<'a, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(DeviceSlice {
            mem: self.mem,
            start: self.start + r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }
}

impl<'a, T: Element> DeviceSliceMut<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Splits into `[0, mid)` and `[mid, len)`, both writable.
    pub fn split_at_mut(
        self,
        mid: usize,
    ) -> Result<(DeviceSliceMut<'a, T>, DeviceSliceMut<'a, T>)> {
        if mid > self.len {
            return Err(Error::OutOfRange {
                start: mid,
                end: mid,
                len: self.len,
            });
        }
        let head = DeviceSliceMut {
            mem: self.mem,
            start: self.start,
            len: mid,
            _type: PhantomData,
        };
        let tail = DeviceSliceMut {
            mem: self.mem,
            start: self.start + mid,
            len: self.len - mid,
            _type: PhantomData,
        };
        Ok((head, tail))
    }

    /// A writable sub-range, borrowing this slice.
    pub fn slice_mut(&mut self, range: impl RangeBounds<usize>) -> Result<DeviceSliceMut<'_, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(DeviceSliceMut {
            mem: self.mem,
            start: self.start + r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }

    /// A read-only view of the same range.
    pub fn as_slice(&self) -> DeviceSlice<'_, T> {
        DeviceSlice {
            mem: self.mem,
            start: self.start,
            len: self.len,
            _type: PhantomData,
        }
    }
}

/// Device data an operation reads: `&DeviceBuffer`, `DeviceSlice`, `&DeviceSliceMut`.
pub trait DeviceRead<T: Element> {
    /// The element count.
    fn elements(&self) -> usize;
    #[doc(hidden)]
    fn dev_range(&self) -> DevRange;
}

/// Device data an operation writes: `&mut DeviceBuffer`, `DeviceSliceMut`, `&mut DeviceSliceMut`.
pub trait DeviceWrite<T: Element> {
    /// The element count.
    fn elements(&self) -> usize;
    #[doc(hidden)]
    fn dev_range(&self) -> DevRange;
}

fn dev_range<T>(mem: &Arc<DeviceMemory>, start: usize, len: usize) -> DevRange {
    let size = size_of::<T>();
    DevRange {
        mem: Arc::clone(mem),
        offset: start * size,
        bytes: len * size,
    }
}

impl<T: Element> DeviceRead<T> for &DeviceBuffer<T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(&self.mem, 0, self.len)
    }
}

impl<T: Element> DeviceRead<T> for DeviceSlice<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(self.mem, self.start, self.len)
    }
}

impl<T: Element> DeviceRead<T> for &DeviceSliceMut<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(self.mem, self.start, self.len)
    }
}

impl<T: Element> DeviceWrite<T> for &mut DeviceBuffer<T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(&self.mem, 0, self.len)
    }
}

impl<T: Element> DeviceWrite<T> for DeviceSliceMut<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(self.mem, self.start, self.len)
    }
}

impl<T: Element> DeviceWrite<T> for &mut DeviceSliceMut<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn dev_range(&self) -> DevRange {
        dev_range::<T>(self.mem, self.start, self.len)
    }
}

/// A typed host buffer the device copies to and from asynchronously: page-locked on CUDA,
/// plain memory on the CPU backend.
#[derive(Debug)]
pub struct PinnedBuffer<T: Element> {
    pub(crate) mem: Arc<HostMemory>,
    pub(crate) len: usize,
    pub(crate) _type: PhantomData<T>,
}

impl<T: Element> PinnedBuffer<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The label given at allocation.
    pub fn label(&self) -> &str {
        &self.mem.label
    }

    /// Host read access. Waits for queued operations that touch this buffer first; on the
    /// CPU backend with hazard checking, an access that relied on that wait rather than on a
    /// synchronization the program made is reported as a hazard.
    pub fn read(&self) -> Result<HostRef<'_, T>> {
        crate::backend::record::refuse_while_recording("host access to a pinned buffer")?;
        self.before_host_access(false)?;
        let guard = self.mem.lock.read().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the allocation holds `len` initialised `T`s (zeroed at allocation, `T: Pod`),
        // is aligned for `T`, and `guard` excludes writers for the slice's lifetime.
        let slice = unsafe { std::slice::from_raw_parts(self.mem.ptr.cast::<T>(), self.len) };
        Ok(HostRef {
            _guard: guard,
            slice,
        })
    }

    /// Host write access; waits like [`PinnedBuffer::read`].
    pub fn write(&mut self) -> Result<HostMut<'_, T>> {
        crate::backend::record::refuse_while_recording("host access to a pinned buffer")?;
        self.before_host_access(true)?;
        let guard = self.mem.lock.write().unwrap_or_else(|e| e.into_inner());
        // SAFETY: as in `read`, and the write guard plus `&mut self` make this the only
        // reference to the bytes for the slice's lifetime.
        let slice = unsafe { std::slice::from_raw_parts_mut(self.mem.ptr.cast::<T>(), self.len) };
        Ok(HostMut {
            _guard: guard,
            slice,
        })
    }

    fn before_host_access(&self, write: bool) -> Result<()> {
        if let HostOwner::Cpu(alloc) = &self.mem.owner {
            alloc.check_host_access(&self.mem, write)?;
        }
        self.mem.wait_pending()
    }

    /// A read-only view of `range` (in elements), for copies to the device.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<PinnedSlice<'_, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(PinnedSlice {
            mem: &self.mem,
            start: r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }

    /// A writable view of `range` (in elements), for copies from the device.
    pub fn slice_mut(&mut self, range: impl RangeBounds<usize>) -> Result<PinnedSliceMut<'_, T>> {
        let r = resolve_range(range, self.len)?;
        Ok(PinnedSliceMut {
            mem: &self.mem,
            start: r.start,
            len: r.end - r.start,
            _type: PhantomData,
        })
    }
}

/// Host read access to a [`PinnedBuffer`].
#[derive(Debug)]
pub struct HostRef<'a, T> {
    _guard: RwLockReadGuard<'a, ()>,
    slice: &'a [T],
}

impl<T> Deref for HostRef<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}

/// Host write access to a [`PinnedBuffer`].
#[derive(Debug)]
pub struct HostMut<'a, T> {
    _guard: RwLockWriteGuard<'a, ()>,
    slice: &'a mut [T],
}

impl<T> Deref for HostMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}

impl<T> DerefMut for HostMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.slice
    }
}

/// A read-only range of a [`PinnedBuffer`], the source of a host-to-device copy.
#[derive(Debug, Clone, Copy)]
pub struct PinnedSlice<'a, T: Element> {
    mem: &'a Arc<HostMemory>,
    start: usize,
    len: usize,
    _type: PhantomData<&'a [T]>,
}

/// A writable range of a [`PinnedBuffer`], the destination of a device-to-host copy.
#[derive(Debug)]
pub struct PinnedSliceMut<'a, T: Element> {
    mem: &'a Arc<HostMemory>,
    start: usize,
    len: usize,
    _type: PhantomData<&'a mut [T]>,
}

/// Host data a copy reads: `&PinnedBuffer`, `PinnedSlice`.
pub trait HostRead<T: Element> {
    /// The element count.
    fn elements(&self) -> usize;
    #[doc(hidden)]
    fn host_range(&self) -> HostRange;
}

/// Host data a copy writes: `&mut PinnedBuffer`, `PinnedSliceMut`.
pub trait HostWrite<T: Element> {
    /// The element count.
    fn elements(&self) -> usize;
    #[doc(hidden)]
    fn host_range(&self) -> HostRange;
}

fn host_range<T>(mem: &Arc<HostMemory>, start: usize, len: usize) -> HostRange {
    let size = size_of::<T>();
    HostRange {
        mem: Arc::clone(mem),
        offset: start * size,
        bytes: len * size,
    }
}

impl<T: Element> HostRead<T> for &PinnedBuffer<T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn host_range(&self) -> HostRange {
        host_range::<T>(&self.mem, 0, self.len)
    }
}

impl<T: Element> HostRead<T> for PinnedSlice<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn host_range(&self) -> HostRange {
        host_range::<T>(self.mem, self.start, self.len)
    }
}

impl<T: Element> HostWrite<T> for &mut PinnedBuffer<T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn host_range(&self) -> HostRange {
        host_range::<T>(&self.mem, 0, self.len)
    }
}

impl<T: Element> HostWrite<T> for PinnedSliceMut<'_, T> {
    fn elements(&self) -> usize {
        self.len
    }
    fn host_range(&self) -> HostRange {
        host_range::<T>(self.mem, self.start, self.len)
    }
}
