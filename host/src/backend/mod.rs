//! The narrow waist: devices, streams, events, buffers, copies and launches, written once
//! for every backend.
//!
//! | type | what it is |
//! |---|---|
//! | [`Device`] | a CUDA GPU or an emulated CPU device; allocates, makes streams and events |
//! | [`Stream`] | an in-order queue of copies, kernels, memsets and host callbacks |
//! | [`Event`] | a marker recorded on one stream that others (or the host) wait on |
//! | [`DeviceBuffer`], [`PinnedBuffer`] | typed device memory and copy-ready host memory |
//!
//! Everything above this module (pipeline, graphs, multi-device planner) uses only these
//! types, so it runs unchanged on [`cuda`] and on [`cpu`]. Each handle dispatches to its
//! backend through a small enum; combining handles of different backends is an error, not a
//! crash.

pub mod cpu;
pub mod cuda;
mod images;
pub(crate) mod info;
pub(crate) mod memory;
pub mod nccl;
pub(crate) mod record;
pub mod resources;
mod select;
mod stream;

pub use images::PtxImages;
pub(crate) use images::every_entry_waits_for_prior_grids;
pub use info::{BackendKind, DeviceInfo};
pub use memory::{
    DeviceBuffer, DeviceRead, DeviceSlice, DeviceSliceMut, DeviceWrite, HostMut, HostRead, HostRef,
    HostWrite, PinnedBuffer, PinnedSlice, PinnedSliceMut,
};
pub use nccl::{NcclGroup, nccl_present};
pub use resources::{Resources, resources};
pub use select::{BACKEND_ENV, BackendChoice, cuda_device_count, open_devices};
pub use stream::{Event, Stream};

use std::marker::PhantomData;
use std::sync::Arc;

use crate::element::Element;
use crate::error::Result;
use memory::{DeviceMem, DeviceMemory, HostMemory, HostOwner, next_allocation_id};

/// A device: a CUDA GPU, or an emulated device of the CPU backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Device {
    pub(crate) inner: DeviceImpl,
    /// Times every operation on this handle's streams when set ([`crate::trace::Tracer::attach`]).
    pub(crate) tracer: Option<crate::trace::Tracer>,
}

#[derive(Debug, Clone)]
pub(crate) enum DeviceImpl {
    Cuda(Arc<cuda::CudaDevice>),
    Cpu(Arc<cpu::CpuDevice>),
}

impl Device {
    /// Opens CUDA device `ordinal` and loads riptide's kernels: the module given, or from a
    /// set (`riptide::KERNELS`) the newest one the device runs.
    pub fn cuda<'a>(ordinal: usize, kernels: impl Into<PtxImages<'a>>) -> Result<Device> {
        let device = cuda::CudaDevice::open(ordinal, kernels.into(), gpu_kernels::entries::ALL)?;
        Ok(Device {
            inner: DeviceImpl::Cuda(Arc::new(device)),
            tracer: None,
        })
    }

    /// Loads a user kernel module (built with `riptide-build`): on CUDA the cubin for this
    /// device's architecture or the newest PTX it runs; on the CPU backend only its entry
    /// table, so kernels bind and launch with the same checks.
    pub fn load_module(
        &self,
        module: &crate::module::KernelModule,
    ) -> Result<crate::module::LoadedModule> {
        crate::module::load(self, module)
    }

    /// One emulated device on the CPU backend.
    pub fn cpu(config: cpu::CpuConfig) -> Device {
        cpu::CpuRuntime::new(config, 1)
            .devices()
            .pop()
            .expect("a runtime of one device has one device")
    }

    /// The backend running this device.
    pub fn backend(&self) -> BackendKind {
        match &self.inner {
            DeviceImpl::Cuda(_) => BackendKind::Cuda,
            DeviceImpl::Cpu(_) => BackendKind::Cpu,
        }
    }

    /// Name, capabilities and limits.
    pub fn info(&self) -> &DeviceInfo {
        match &self.inner {
            DeviceImpl::Cuda(d) => &d.info,
            DeviceImpl::Cpu(d) => d.info(),
        }
    }

    /// The device's ordinal within its backend.
    pub fn ordinal(&self) -> usize {
        self.info().ordinal
    }

    /// Free and total device memory in bytes.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        match &self.inner {
            DeviceImpl::Cuda(d) => d.memory_info(),
            DeviceImpl::Cpu(d) => Ok(d.memory_info()),
        }
    }

    /// The CPU backend's device, when this is one (for hazard reports and simulated time).
    pub fn as_cpu(&self) -> Option<&cpu::CpuDevice> {
        match &self.inner {
            DeviceImpl::Cpu(d) => Some(d),
            DeviceImpl::Cuda(_) => None,
        }
    }

    /// Registers per thread the driver compiled a built-in kernel to (CUDA only).
    pub fn kernel_registers(&self, entry: &str) -> Result<Option<u32>> {
        match &self.inner {
            DeviceImpl::Cuda(d) => d.registers(entry).map(Some),
            DeviceImpl::Cpu(_) => Ok(None),
        }
    }

    /// How many blocks of built-in kernel `entry` (`block_threads` threads, `shared_bytes`
    /// of dynamic shared memory) one SM holds at once, as the driver computes it from the
    /// registers it compiled the kernel to (CUDA only; `None` on the CPU backend). Launchers
    /// size grids of one wave with it.
    pub fn resident_blocks_per_sm(
        &self,
        entry: &'static str,
        block_threads: u32,
        shared_bytes: u32,
    ) -> Result<Option<u32>> {
        match &self.inner {
            DeviceImpl::Cuda(d) => d
                .resident_blocks(entry, block_threads, shared_bytes)
                .map(Some),
            DeviceImpl::Cpu(_) => Ok(None),
        }
    }

    /// Tears down and recreates the device state after a sticky fault
    /// ([`crate::Error::DeviceFault`]) and returns the fresh device.
    ///
    /// On CUDA this releases the poisoned primary context — dropping the last handle
    /// destroys it; if anything else still retains it, `cuDevicePrimaryCtxReset` (what
    /// `cudaDeviceReset` does) destroys its state — and retains a fresh one and reloads the
    /// kernels. Every stream, event and buffer of the old device, and every other clone of
    /// it, must be dropped first, because their handles dangle afterwards. On the CPU
    /// backend it clears an injected fault. Fails with [`crate::Error::DeviceLost`] when
    /// the device is gone.
    pub fn recover(self) -> Result<Device> {
        match self.inner {
            DeviceImpl::Cuda(d) => {
                let (ordinal, ptx) = (d.info.ordinal, d.ptx.clone());
                drop(d);
                // SAFETY: `self` was the caller's last handle on the device (documented
                // above); dropping it released the old context's module and handles.
                let reset = unsafe { cuda::raw::renew_primary_context(ordinal)? };
                tracing::info!(
                    "device {ordinal}: recreating the context{}",
                    if reset {
                        " (primary context reset)"
                    } else {
                        ""
                    }
                );
                Device::cuda(ordinal, &ptx)
            }
            DeviceImpl::Cpu(ref d) => {
                d.recover()?;
                Ok(self)
            }
        }
    }

    /// A new stream.
    pub fn stream(&self) -> Result<Stream> {
        Stream::new(self)
    }

    /// A new event; `timing` enables [`Event::elapsed_ms`] (CUDA events without timing are
    /// cheaper to record and wait on).
    pub fn event(&self, timing: bool) -> Result<Event> {
        Event::new(self, timing)
    }

    /// Allocates `len` elements of device memory. The contents are unspecified until written.
    pub fn alloc<T: Element>(&self, len: usize, label: &str) -> Result<DeviceBuffer<T>> {
        record::refuse_while_recording("device allocation")?;
        let bytes = len.checked_mul(size_of::<T>()).ok_or_else(|| {
            crate::Error::limit(
                format!("{label}: allocation bytes"),
                u64::MAX,
                usize::MAX as u64,
            )
        })?;
        let mem = match &self.inner {
            DeviceImpl::Cuda(d) => DeviceMem::Cuda(d.alloc(bytes)?),
            DeviceImpl::Cpu(d) => DeviceMem::Cpu(d.alloc(bytes)?),
        };
        Ok(DeviceBuffer {
            mem: Arc::new(DeviceMemory {
                id: next_allocation_id(),
                device: self.ordinal(),
                label: label.to_owned(),
                mem,
                _counted: resources::Counted::new(
                    self.backend(),
                    resources::Counter::DeviceBytes,
                    bytes as u64,
                ),
            }),
            len,
            _type: PhantomData,
        })
    }

    /// Allocates `len` zeroed elements of host memory the device copies to and from
    /// asynchronously (page-locked on CUDA).
    pub fn alloc_pinned<T: Element>(&self, len: usize, label: &str) -> Result<PinnedBuffer<T>> {
        record::refuse_while_recording("pinned host allocation")?;
        let bytes = len.checked_mul(size_of::<T>()).ok_or_else(|| {
            crate::Error::limit(
                format!("{label}: allocation bytes"),
                u64::MAX,
                usize::MAX as u64,
            )
        })?;
        let (ptr, owner) = match &self.inner {
            DeviceImpl::Cuda(d) => {
                let (ptr, alloc) = d.alloc_pinned(bytes)?;
                (ptr, HostOwner::Cuda(alloc))
            }
            DeviceImpl::Cpu(d) => {
                let (ptr, alloc) = d.alloc_host(bytes)?;
                (ptr, HostOwner::Cpu(alloc))
            }
        };
        Ok(PinnedBuffer {
            mem: Arc::new(HostMemory {
                id: next_allocation_id(),
                bytes,
                label: label.to_owned(),
                ptr,
                lock: Default::default(),
                pending: Default::default(),
                owner,
                _counted: resources::Counted::new(
                    self.backend(),
                    resources::Counter::PinnedBytes,
                    bytes as u64,
                ),
            }),
            len,
            _type: PhantomData,
        })
    }

    /// Prepares direct copies from `peer`'s memory into this device's (peer access), where
    /// the hardware allows. Returns whether [`Stream::copy_on_device`] between the two is a
    /// direct device-to-device copy; when it is not, move data through pinned host memory.
    /// Virtual devices of the CPU backend always copy directly (a plain memory copy the race
    /// detector sees like any other).
    pub fn enable_peer_access(&self, peer: &Device) -> Result<bool> {
        match (&self.inner, &peer.inner) {
            (DeviceImpl::Cuda(a), DeviceImpl::Cuda(b)) => a.enable_peer(b),
            (DeviceImpl::Cpu(_), DeviceImpl::Cpu(_)) => Ok(true),
            _ => Err(crate::Error::DeviceMismatch(
                "peer access between devices of different backends".into(),
            )),
        }
    }

    /// Waits for all work queued on the device.
    pub fn synchronize(&self) -> Result<()> {
        record::refuse_while_recording("device synchronization")?;
        match &self.inner {
            DeviceImpl::Cuda(d) => d.synchronize(),
            DeviceImpl::Cpu(d) => d.synchronize(),
        }
    }
}
