//! The CUDA backend: devices, streams, events and memory on a real GPU through cudarc.
//!
//! cudarc's safe types own the context, streams and events; `raw` holds every other
//! driver call. cudarc's automatic per-buffer event tracking is switched off: riptide
//! orders work explicitly with streams and events, and its own buffers free themselves only
//! after the device is idle.

pub(crate) mod raw;

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaEvent, CudaStream, sys};

use crate::backend::info::{BackendKind, DeviceInfo};
use crate::backend::memory::{DevRange, HostRange};
use crate::backend::{PtxImages, every_entry_waits_for_prior_grids};
use crate::error::{Error, Result};
use crate::launch::{KernelArg, KernelLaunch, KernelRef, LaunchLimits, MAX_SCALAR_BYTES};

/// Whether the NCCL library can be loaded on this machine.
pub(crate) fn nccl_library_present() -> bool {
    raw::nccl_library_present()
}

/// Number of CUDA devices, or why there are none.
pub(crate) fn device_count() -> std::result::Result<usize, String> {
    raw::probe_device_count()
}

/// One CUDA device: its context, its loaded kernels and what it can do.
#[derive(Debug)]
pub(crate) struct CudaDevice {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) info: DeviceInfo,
    /// The PTX the kernels came from, kept to reload them into a recreated context.
    pub(crate) ptx: String,
    /// Whether every built-in kernel waits for prior grids on entry, so graph kernel nodes
    /// may be joined by programmatic edges ([`crate::backend::PtxImages`]).
    pub(crate) programmatic_edges: bool,
    /// Keeps the functions in `kernels` valid.
    _module: raw::Module,
    kernels: HashMap<&'static str, raw::Function>,
    /// Blocks per SM the driver reported for (entry, block threads, shared bytes): asked
    /// once per shape, since launchers size grids with it on every launch.
    resident: Mutex<HashMap<(&'static str, u32, u32), u32>>,
}

impl CudaDevice {
    /// Makes `peer`'s memory directly copyable from this device's streams when the hardware
    /// allows it; returns whether device-to-device copies between the two are direct (always
    /// for two handles on one GPU, which share its primary context).
    pub(crate) fn enable_peer(&self, peer: &CudaDevice) -> Result<bool> {
        if self.ctx.cu_ctx() == peer.ctx.cu_ctx() {
            return Ok(true);
        }
        if !raw::can_access_peer(&self.ctx, &peer.ctx)? {
            return Ok(false);
        }
        raw::enable_peer_access(&self.ctx, &peer.ctx)?;
        Ok(true)
    }

    /// Opens device `ordinal` and loads the module of `kernels` it runs, resolving every
    /// entry in `entries`.
    pub(crate) fn open(
        ordinal: usize,
        kernels: PtxImages<'_>,
        entries: &[&'static str],
    ) -> Result<CudaDevice> {
        let count = device_count().map_err(|reason| Error::NoCudaDevice { reason })?;
        if ordinal >= count {
            return Err(Error::InvalidArgument(format!(
                "CUDA device {ordinal} does not exist; this machine has {count} (0..{count})"
            )));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| raw::driver_error("cuDevicePrimaryCtxRetain", e))?;
        // SAFETY: no cudarc CudaSlice is ever created on this context, so no tracked event
        // state can be left inconsistent by switching tracking off.
        unsafe { ctx.disable_event_tracking() };
        let info = query_info(&ctx, ordinal)?;
        let ptx = kernels.pick(info.compute_capability)?;
        let module = raw::Module::load(&ctx, ptx)?;
        let mut kernels = HashMap::new();
        for &name in entries {
            kernels.insert(name, module.function(name)?);
        }
        Ok(CudaDevice {
            ctx,
            info,
            programmatic_edges: every_entry_waits_for_prior_grids(ptx),
            ptx: ptx.to_owned(),
            _module: module,
            kernels,
            resident: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn function(&self, name: &str) -> Result<raw::Function> {
        self.kernels
            .get(name)
            .copied()
            .ok_or_else(|| Error::MissingKernel {
                name: name.to_owned(),
            })
    }

    /// Registers per thread of a loaded kernel, as the driver compiled it.
    pub(crate) fn registers(&self, name: &str) -> Result<u32> {
        let f = self.function(name)?;
        Ok(f.attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS)? as u32)
    }

    /// Blocks of built-in kernel `name` (`block_threads` threads, `shared_bytes` of dynamic
    /// shared memory) one SM holds at once.
    pub(crate) fn resident_blocks(
        &self,
        name: &'static str,
        block_threads: u32,
        shared_bytes: u32,
    ) -> Result<u32> {
        let key = (name, block_threads, shared_bytes);
        // A poisoned cache holds only complete entries: keep using it.
        let mut cache = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&blocks) = cache.get(&key) {
            return Ok(blocks);
        }
        let blocks =
            self.function(name)?
                .resident_blocks(&self.ctx, block_threads, shared_bytes)?;
        cache.insert(key, blocks);
        Ok(blocks)
    }

    pub(crate) fn alloc(&self, bytes: usize) -> Result<DeviceAlloc> {
        let ptr = raw::device_alloc(&self.ctx, bytes)?;
        Ok(DeviceAlloc {
            ctx: Arc::clone(&self.ctx),
            ptr,
        })
    }

    pub(crate) fn alloc_pinned(&self, bytes: usize) -> Result<(*mut u8, PinnedAlloc)> {
        let ptr = raw::pinned_alloc(&self.ctx, bytes)?;
        Ok((
            ptr,
            PinnedAlloc {
                ctx: Arc::clone(&self.ctx),
            },
        ))
    }

    pub(crate) fn new_stream(&self) -> Result<CudaStreamHandle> {
        let stream = self
            .ctx
            .new_stream()
            .map_err(|e| raw::driver_error("cuStreamCreate", e))?;
        Ok(CudaStreamHandle {
            stream,
            fences: Default::default(),
        })
    }

    pub(crate) fn new_event(&self, timing: bool) -> Result<CudaEvent> {
        let flags = if timing {
            sys::CUevent_flags::CU_EVENT_DEFAULT
        } else {
            sys::CUevent_flags::CU_EVENT_DISABLE_TIMING
        };
        self.ctx
            .new_event(Some(flags))
            .map_err(|e| raw::driver_error("cuEventCreate", e))
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        raw::synchronize_context(&self.ctx)
    }

    /// Free and total device memory, in bytes.
    pub(crate) fn memory_info(&self) -> Result<(usize, usize)> {
        self.ctx
            .mem_get_info()
            .map_err(|e| raw::driver_error("cuMemGetInfo", e))
    }
}

fn query_info(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<DeviceInfo> {
    use sys::CUdevice_attribute as A;
    let attr = |a: A| -> Result<i32> {
        ctx.attribute(a)
            .map_err(|e| raw::driver_error("cuDeviceGetAttribute", e))
    };
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| raw::driver_error("cuDeviceGetAttribute", e))?;
    Ok(DeviceInfo {
        backend: BackendKind::Cuda,
        ordinal,
        name: ctx
            .name()
            .map_err(|e| raw::driver_error("cuDeviceGetName", e))?,
        compute_capability: (major as u32, minor as u32),
        multiprocessors: attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
        total_memory: ctx
            .total_mem()
            .map_err(|e| raw::driver_error("cuDeviceTotalMem", e))? as u64,
        async_engines: attr(A::CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT)? as u32,
        copy_overlaps_kernels: attr(A::CU_DEVICE_ATTRIBUTE_GPU_OVERLAP)? != 0,
        concurrent_kernels: attr(A::CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS)? != 0,
        l2_cache_bytes: attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as u64,
        pci_bus: Some(attr(A::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)? as u32),
        limits: LaunchLimits {
            max_block_threads: attr(A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)? as u32,
            max_block_dim: [
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X)? as u32,
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y)? as u32,
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)? as u32,
            ],
            max_grid_dim: [
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X)? as u32,
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y)? as u32,
                attr(A::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)? as u32,
            ],
            max_shared_bytes: attr(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)? as u32,
        },
    })
}

/// A device allocation; frees itself once the device is idle.
#[derive(Debug)]
pub(crate) struct DeviceAlloc {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) ptr: sys::CUdeviceptr,
}

impl Drop for DeviceAlloc {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `device_alloc` in `ctx` and is freed only here.
        let result = unsafe { raw::device_free(&self.ctx, self.ptr) };
        if let Err(e) = result {
            tracing::error!("freeing device memory failed: {e}");
        }
    }
}

/// Frees a pinned host allocation.
#[derive(Debug)]
pub(crate) struct PinnedAlloc {
    ctx: Arc<CudaContext>,
}

impl PinnedAlloc {
    pub(crate) fn free(&self, ptr: *mut u8) {
        // SAFETY: called once from `HostMemory::drop` after its pending copies completed,
        // with the pointer `alloc_pinned` returned.
        if let Err(e) = unsafe { raw::pinned_free(&self.ctx, ptr) } {
            tracing::error!("freeing pinned memory failed: {e}");
        }
    }
}

/// An event recorded after an operation on pinned memory; host access waits on it.
#[derive(Debug)]
pub(crate) struct CudaFence {
    event: CudaEvent,
}

impl CudaFence {
    pub(crate) fn wait(&self) -> Result<()> {
        self.event
            .synchronize()
            .map_err(|e| raw::driver_error("cuEventSynchronize", e))
    }
}

/// A CUDA stream (non-blocking with respect to the legacy default stream).
#[derive(Debug)]
pub(crate) struct CudaStreamHandle {
    pub(crate) stream: Arc<CudaStream>,
    /// Fence events for reuse: one whose only holder is this pool is no longer awaited by
    /// any pinned buffer, so it may be recorded again (saves an event create and destroy per
    /// copy, which a pipeline issues twice per chunk).
    fences: std::sync::Mutex<Vec<Arc<CudaFence>>>,
}

impl CudaStreamHandle {
    /// The stream's context and raw handle, for collective calls in [`raw`].
    pub(crate) fn raw_parts(&self) -> (&Arc<CudaContext>, sys::CUstream) {
        (self.ctx(), self.cu())
    }

    pub(crate) fn ctx(&self) -> &Arc<CudaContext> {
        self.stream.context()
    }

    fn cu(&self) -> sys::CUstream {
        self.stream.cu_stream()
    }

    /// Records a fence after the work queued so far, for host access to pinned memory.
    pub(crate) fn fence(&self) -> Result<Arc<CudaFence>> {
        let mut pool = self.fences.lock().unwrap_or_else(|e| e.into_inner());
        let fence = match pool.iter().position(|f| Arc::strong_count(f) == 1) {
            Some(i) => Arc::clone(&pool[i]),
            None => {
                let event = self
                    .ctx()
                    .new_event(None)
                    .map_err(|e| raw::driver_error("cuEventCreate", e))?;
                let fence = Arc::new(CudaFence { event });
                pool.push(Arc::clone(&fence));
                fence
            }
        };
        fence
            .event
            .record(&self.stream)
            .map_err(|e| raw::driver_error("cuEventRecord", e))?;
        Ok(fence)
    }

    pub(crate) fn copy_h2d(&self, src: &HostRange, dst: &DevRange) -> Result<()> {
        let DeviceMemCuda(dptr) = cuda_mem(dst)?;
        // SAFETY: both ranges were bounds-checked against their allocations when built; the
        // device allocation frees only after the device is idle and the host allocation only
        // after this stream's fence (added by the caller) completes; host writes wait on it.
        unsafe {
            raw::copy_h2d(
                self.ctx(),
                self.cu(),
                dptr + dst.offset as u64,
                src.mem.ptr.add(src.offset),
                src.bytes,
            )
        }
    }

    pub(crate) fn copy_d2h(&self, src: &DevRange, dst: &HostRange) -> Result<()> {
        let DeviceMemCuda(sptr) = cuda_mem(src)?;
        // SAFETY: as in `copy_h2d`; host reads of `dst` wait on the caller's fence.
        unsafe {
            raw::copy_d2h(
                self.ctx(),
                self.cu(),
                dst.mem.ptr.add(dst.offset),
                sptr + src.offset as u64,
                src.bytes,
            )
        }
    }

    pub(crate) fn copy_d2d(&self, src: &DevRange, dst: &DevRange) -> Result<()> {
        let DeviceMemCuda(sptr) = cuda_mem(src)?;
        let DeviceMemCuda(dptr) = cuda_mem(dst)?;
        if let (
            crate::backend::memory::DeviceMem::Cuda(s),
            crate::backend::memory::DeviceMem::Cuda(d),
        ) = (&src.mem.mem, &dst.mem.mem)
            && s.ctx.cu_ctx() != d.ctx.cu_ctx()
        {
            // SAFETY: as below; each pointer belongs to the context passed with it.
            return unsafe {
                raw::copy_peer(
                    self.ctx(),
                    self.cu(),
                    dptr + dst.offset as u64,
                    &d.ctx,
                    sptr + src.offset as u64,
                    &s.ctx,
                    src.bytes,
                )
            };
        }
        // SAFETY: both ranges are bounds-checked and outlive the copy (freed after idle).
        unsafe {
            raw::copy_d2d(
                self.ctx(),
                self.cu(),
                dptr + dst.offset as u64,
                sptr + src.offset as u64,
                src.bytes,
            )
        }
    }

    pub(crate) fn memset(&self, dst: &DevRange, value: u8) -> Result<()> {
        let DeviceMemCuda(dptr) = cuda_mem(dst)?;
        // SAFETY: the range is bounds-checked and outlives the operation.
        unsafe {
            raw::memset(
                self.ctx(),
                self.cu(),
                dptr + dst.offset as u64,
                value,
                dst.bytes,
            )
        }
    }

    pub(crate) fn launch(&self, device: &CudaDevice, launch: &KernelLaunch) -> Result<()> {
        let mut args = KernelParams::new(device, launch)?;
        let c = launch.config;
        // SAFETY: `func` is an entry of a module loaded in this device's context (a user
        // module's device was checked by `Stream::launch`); the typed launcher that built
        // `launch` matched its arguments to the entry's parameters in order and size (checked
        // against the PTX by the launcher tests for built-in kernels, when the kernel was
        // bound for user kernels) and checked every length the kernel's safety contract
        // names; device ranges outlive the kernel (freed after idle).
        unsafe {
            raw::launch(
                self.ctx(),
                self.cu(),
                args.func,
                (c.grid.x, c.grid.y, c.grid.z),
                (c.block.x, c.block.y, c.block.z),
                c.shared_bytes,
                &mut args.pointers(),
            )
        }
    }

    /// The raw stream handle (graphs launch and capture on it).
    pub(crate) fn raw(&self) -> sys::CUstream {
        self.cu()
    }

    pub(crate) fn record(&self, event: &CudaEvent) -> Result<()> {
        event
            .record(&self.stream)
            .map_err(|e| raw::driver_error("cuEventRecord", e))
    }

    pub(crate) fn wait(&self, event: &CudaEvent) -> Result<()> {
        self.stream
            .wait(event)
            .map_err(|e| raw::driver_error("cuStreamWaitEvent", e))
    }

    pub(crate) fn host_fn(&self, f: Box<dyn FnOnce() + Send>) -> Result<()> {
        raw::launch_host_fn(self.ctx(), self.cu(), f)
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| raw::driver_error("cuStreamSynchronize", e))
    }
}

/// A launch's arguments laid out as the driver takes them: one slot of the widest scalar
/// riptide passes per PTX parameter, pointed to by `pointers()`.
pub(crate) struct KernelParams {
    pub(crate) func: raw::Function,
    values: Vec<[u8; MAX_SCALAR_BYTES]>,
}

impl KernelParams {
    pub(crate) fn new(device: &CudaDevice, launch: &KernelLaunch) -> Result<KernelParams> {
        let func = match &launch.kernel {
            KernelRef::Builtin(name) => device.function(name)?,
            KernelRef::User(entry) => entry.cuda_function()?,
        };
        let mut values = Vec::with_capacity(launch.args.len());
        for arg in &launch.args {
            let mut slot = [0u8; MAX_SCALAR_BYTES];
            match arg {
                KernelArg::Buffer(b) => {
                    let DeviceMemCuda(ptr) = cuda_mem(&b.range)?;
                    slot[..8].copy_from_slice(&(ptr + b.range.offset as u64).to_le_bytes());
                }
                KernelArg::Null => {}
                KernelArg::Scalar(s) => slot[..s.bytes().len()].copy_from_slice(s.bytes()),
            }
            values.push(slot);
        }
        Ok(KernelParams { func, values })
    }

    /// One pointer per parameter slot; valid while `self` is neither moved nor dropped.
    pub(crate) fn pointers(&mut self) -> Vec<*mut c_void> {
        self.values
            .iter_mut()
            .map(|v| v.as_mut_ptr().cast::<c_void>())
            .collect()
    }
}

/// The device address of the start of `range`.
pub(crate) fn device_ptr(range: &DevRange) -> Result<sys::CUdeviceptr> {
    let DeviceMemCuda(ptr) = cuda_mem(range)?;
    Ok(ptr + range.offset as u64)
}

struct DeviceMemCuda(sys::CUdeviceptr);

fn cuda_mem(range: &DevRange) -> Result<DeviceMemCuda> {
    match &range.mem.mem {
        crate::backend::memory::DeviceMem::Cuda(a) => Ok(DeviceMemCuda(a.ptr)),
        crate::backend::memory::DeviceMem::Cpu(_) => Err(Error::DeviceMismatch(format!(
            "buffer {:?} belongs to the cpu backend but was used on a CUDA stream",
            range.mem.label
        ))),
    }
}
