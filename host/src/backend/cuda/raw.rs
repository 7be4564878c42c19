//! Every raw CUDA driver call riptide makes, and nothing else.
//!
//! The rest of the CUDA backend uses cudarc's safe context, stream and event types, and
//! comes here for what those do not cover: memory, async copies, module loading with a JIT
//! log, kernel launches with type-erased parameters, host callbacks. Each function binds the
//! right context first where the call needs one, and turns driver errors into
//! [`crate::Error`] naming the call.

use std::ffi::{CString, c_void};
use std::sync::Arc;

use cudarc::driver::{CudaContext, DriverError, result, sys};

use crate::error::{Error, Result};

/// Converts a driver error into riptide's error, naming the call.
pub(crate) fn driver_error(call: &'static str, err: DriverError) -> Error {
    let name = err.error_name().map(|s| s.to_string_lossy().into_owned());
    let text = err.error_string().map(|s| s.to_string_lossy().into_owned());
    let message = match (name, text) {
        (Ok(n), Ok(t)) => format!("{n}: {t}"),
        (Ok(n), Err(_)) => n,
        _ => format!("error code {}", err.0 as u32),
    };
    let code = err.0 as u32;
    if STICKY_FAULTS.contains(&code) {
        Error::DeviceFault {
            operation: call.to_owned(),
            message,
        }
    } else if DEVICE_LOST.contains(&code) {
        Error::DeviceLost {
            operation: call.to_owned(),
            message,
        }
    } else {
        Error::Driver {
            call,
            message,
            code,
        }
    }
}

/// `CUresult` codes that leave the context unusable until it is recreated: illegal address
/// (700), launch timeout (702), assert/trap (710), hardware stack error (714), illegal
/// instruction (715), misaligned address (716), invalid address space (717), invalid PC
/// (718), launch failed (719).
const STICKY_FAULTS: [u32; 9] = [700, 702, 710, 714, 715, 716, 717, 718, 719];

/// `CUresult` codes meaning the driver or device is gone: deinitialised (4), device
/// unavailable (46), no device (100), uncorrectable ECC (214), context destroyed (709),
/// device not ready for the system (802), the driver lost the GPU (999, "unknown", as a
/// fallen-off-the-bus device reports).
const DEVICE_LOST: [u32; 7] = [4, 46, 100, 214, 709, 802, 999];

/// Whether a driver error is an out-of-memory error.
pub(crate) fn is_out_of_memory(err: &DriverError) -> bool {
    err.0 == sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY
}

/// Looks for the CUDA driver library, initialises it and counts devices; the error says in
/// plain words why no device is usable. Never panics on a machine without the driver
/// (cudarc's loader would panic on the first call if the library were absent).
pub(crate) fn probe_device_count() -> std::result::Result<usize, String> {
    // SAFETY: `is_culib_present` only tries to dlopen the driver library by name; it has no
    // preconditions and loads nothing into our address space if the library is absent.
    if !unsafe { sys::is_culib_present() } {
        return Err("the CUDA driver library (libcuda.so) was not found".to_owned());
    }
    result::init().map_err(|e| format!("cuInit failed: {}", describe(&e)))?;
    let count = result::device::get_count()
        .map_err(|e| format!("cuDeviceGetCount failed: {}", describe(&e)))?;
    if count <= 0 {
        return Err("the CUDA driver reports no devices".to_owned());
    }
    Ok(count as usize)
}

/// Makes sure the next `cuDevicePrimaryCtxRetain` on device `ordinal` gets a fresh context,
/// the way out of a sticky error (a trap or illegal address poisons a context for good):
/// `cuDevicePrimaryCtxReset` (what `cudaDeviceReset` does) destroys the primary context's
/// allocations and state. Releasing every handle is not enough: measured on an H100 with
/// driver 580, a primary context released to zero references after a trap came back from
/// the next retain still poisoned. Returns whether the context was still retained by
/// someone when it was reset.
///
/// # Safety
/// Every stream, event, module and allocation made in the old context must already be
/// dropped: their handles dangle after a reset, and the driver may reuse their values.
pub(crate) unsafe fn renew_primary_context(ordinal: usize) -> Result<bool> {
    let device = result::device::get(ordinal as i32).map_err(|e| driver_error("cuDeviceGet", e))?;
    let (mut flags, mut active) = (0u32, 0i32);
    // SAFETY: `device` is a valid device handle; both out-pointers are live locals.
    unsafe { sys::cuDevicePrimaryCtxGetState(device, &mut flags, &mut active) }
        .result()
        .map_err(|e| driver_error("cuDevicePrimaryCtxGetState", e))?;
    // SAFETY: `device` is a valid device handle; the caller guarantees nothing of the old
    // context is still in use.
    unsafe { sys::cuDevicePrimaryCtxReset_v2(device) }
        .result()
        .map_err(|e| driver_error("cuDevicePrimaryCtxReset", e))?;
    Ok(active != 0)
}

fn describe(err: &DriverError) -> String {
    err.error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("code {}", err.0 as u32))
}

/// Stream capture and context-wide synchronization exclude each other: synchronizing a
/// context (which freeing memory does) while any of its streams captures invalidates the
/// capture, whichever thread does it. Captures hold this shared; whole-context
/// synchronizations hold it exclusively and so wait for captures in progress to end.
static CAPTURE_EXCLUSION: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Waits for all work in `ctx` (never while a stream capture is in progress).
pub(crate) fn synchronize_context(ctx: &CudaContext) -> Result<()> {
    let _no_capture = CAPTURE_EXCLUSION.write().unwrap_or_else(|e| e.into_inner());
    bind(ctx)?;
    ctx.synchronize()
        .map_err(|e| driver_error("cuCtxSynchronize", e))
}

fn bind(ctx: &CudaContext) -> Result<()> {
    ctx.bind_to_thread()
        .map_err(|e| driver_error("cuCtxSetCurrent", e))
}

/// Allocates `bytes` of device memory in `ctx` (at least one byte, so every allocation has a
/// distinct address).
pub(crate) fn device_alloc(ctx: &CudaContext, bytes: usize) -> Result<sys::CUdeviceptr> {
    bind(ctx)?;
    // SAFETY: the context is current; the driver returns uninitialised device memory, which
    // the host never reads directly.
    unsafe { result::malloc_sync(bytes.max(1)) }.map_err(|e| {
        if is_out_of_memory(&e) {
            Error::OutOfMemory {
                kind: "device",
                bytes,
            }
        } else {
            driver_error("cuMemAlloc", e)
        }
    })
}

/// Frees device memory after the context is idle.
///
/// # Safety
/// `ptr` must come from [`device_alloc`] in `ctx` and not have been freed.
pub(crate) unsafe fn device_free(ctx: &CudaContext, ptr: sys::CUdeviceptr) -> Result<()> {
    let _no_capture = CAPTURE_EXCLUSION.write().unwrap_or_else(|e| e.into_inner());
    bind(ctx)?;
    ctx.synchronize()
        .map_err(|e| driver_error("cuCtxSynchronize", e))?;
    // SAFETY: the caller guarantees `ptr` is live and ours; the context is idle, so no
    // queued operation can still use it.
    unsafe { result::free_sync(ptr) }.map_err(|e| driver_error("cuMemFree", e))
}

/// Allocates `bytes` of page-locked host memory usable by every context (`PORTABLE`), zeroed.
pub(crate) fn pinned_alloc(ctx: &CudaContext, bytes: usize) -> Result<*mut u8> {
    bind(ctx)?;
    let size = bytes.max(1);
    // SAFETY: the context is current; the returned block is `size` writable bytes.
    let ptr = unsafe { result::malloc_host(size, sys::CU_MEMHOSTALLOC_PORTABLE) }.map_err(|e| {
        if is_out_of_memory(&e) {
            Error::OutOfMemory {
                kind: "pinned host",
                bytes,
            }
        } else {
            driver_error("cuMemHostAlloc", e)
        }
    })?;
    // SAFETY: `ptr` is a fresh allocation of `size` bytes; zeroing makes every later host
    // read see initialised memory.
    unsafe { std::ptr::write_bytes(ptr.cast::<u8>(), 0, size) };
    Ok(ptr.cast())
}

/// Frees page-locked host memory.
///
/// # Safety
/// `ptr` must come from [`pinned_alloc`], not have been freed, and no queued copy may still
/// use it.
pub(crate) unsafe fn pinned_free(ctx: &CudaContext, ptr: *mut u8) -> Result<()> {
    // Freeing page-locked memory may synchronize the context.
    let _no_capture = CAPTURE_EXCLUSION.write().unwrap_or_else(|e| e.into_inner());
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { result::free_host(ptr.cast()) }.map_err(|e| driver_error("cuMemFreeHost", e))
}

/// Queues a host-to-device copy.
///
/// # Safety
/// `dst..dst+bytes` must be live device memory and `src..src+bytes` live page-locked host
/// memory, both staying live and unaliased by host writes until the copy completes.
pub(crate) unsafe fn copy_h2d(
    ctx: &CudaContext,
    stream: sys::CUstream,
    dst: sys::CUdeviceptr,
    src: *const u8,
    bytes: usize,
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { sys::cuMemcpyHtoDAsync_v2(dst, src.cast(), bytes, stream) }
        .result()
        .map_err(|e| driver_error("cuMemcpyHtoDAsync", e))
}

/// Queues a device-to-host copy.
///
/// # Safety
/// As for [`copy_h2d`], with the host range written.
pub(crate) unsafe fn copy_d2h(
    ctx: &CudaContext,
    stream: sys::CUstream,
    dst: *mut u8,
    src: sys::CUdeviceptr,
    bytes: usize,
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { sys::cuMemcpyDtoHAsync_v2(dst.cast(), src, bytes, stream) }
        .result()
        .map_err(|e| driver_error("cuMemcpyDtoHAsync", e))
}

/// Queues a device-to-device copy (same or peer device).
///
/// # Safety
/// Both ranges must be live device memory for `bytes` bytes until the copy completes.
pub(crate) unsafe fn copy_d2d(
    ctx: &CudaContext,
    stream: sys::CUstream,
    dst: sys::CUdeviceptr,
    src: sys::CUdeviceptr,
    bytes: usize,
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { sys::cuMemcpyDtoDAsync_v2(dst, src, bytes, stream) }
        .result()
        .map_err(|e| driver_error("cuMemcpyDtoDAsync", e))
}

/// Queues a copy between memory of two different contexts (devices).
///
/// # Safety
/// `src` must be live device memory of `src_ctx` and `dst` of `dst_ctx`, both for `bytes`
/// bytes, until the copy completes.
pub(crate) unsafe fn copy_peer(
    stream_ctx: &CudaContext,
    stream: sys::CUstream,
    dst: sys::CUdeviceptr,
    dst_ctx: &CudaContext,
    src: sys::CUdeviceptr,
    src_ctx: &CudaContext,
    bytes: usize,
) -> Result<()> {
    bind(stream_ctx)?;
    // SAFETY: forwarded from the caller; both context handles are alive (borrowed).
    unsafe { sys::cuMemcpyPeerAsync(dst, dst_ctx.cu_ctx(), src, src_ctx.cu_ctx(), bytes, stream) }
        .result()
        .map_err(|e| driver_error("cuMemcpyPeerAsync", e))
}

/// Whether `ctx`'s device can address `peer`'s memory directly (false for the same device:
/// memory of one device needs no peer access).
pub(crate) fn can_access_peer(ctx: &CudaContext, peer: &CudaContext) -> Result<bool> {
    if ctx.cu_device() == peer.cu_device() {
        return Ok(false);
    }
    let mut can: std::ffi::c_int = 0;
    // SAFETY: `can` is a valid out-pointer; both device handles come from live contexts.
    unsafe { sys::cuDeviceCanAccessPeer(&mut can, ctx.cu_device(), peer.cu_device()) }
        .result()
        .map_err(|e| driver_error("cuDeviceCanAccessPeer", e))?;
    Ok(can != 0)
}

/// Lets kernels and copies in `ctx` address `peer`'s memory; enabling twice is not an error.
pub(crate) fn enable_peer_access(ctx: &CudaContext, peer: &CudaContext) -> Result<()> {
    bind(ctx)?;
    // SAFETY: both contexts are alive; flags must be 0.
    let status = unsafe { sys::cuCtxEnablePeerAccess(peer.cu_ctx(), 0) };
    match status {
        sys::CUresult::CUDA_SUCCESS | sys::CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED => {
            Ok(())
        }
        other => other
            .result()
            .map_err(|e| driver_error("cuCtxEnablePeerAccess", e)),
    }
}

/// Whether the NCCL library can be loaded. cudarc's dynamic loading panics on the first NCCL
/// call when the library is missing, so this is asked before any.
pub(crate) fn nccl_library_present() -> bool {
    // SAFETY: only tries to open the library under its candidate names; no symbol is
    // resolved or called.
    unsafe { cudarc::nccl::sys::is_culib_present() }
}

fn nccl_error(call: &'static str, err: cudarc::nccl::result::NcclError) -> Error {
    Error::Backend(format!("{call} failed: {err:?}"))
}

/// One NCCL communicator per device of a group (`ncclCommInitAll`), destroyed on drop.
#[derive(Debug)]
pub(crate) struct NcclComms(Vec<cudarc::nccl::sys::ncclComm_t>);

// SAFETY: a communicator may be used from any thread; `NcclComms` calls NCCL only through
// `&mut self` (or in `Drop`), so no two calls on one communicator ever overlap.
unsafe impl Send for NcclComms {}
// SAFETY: `&NcclComms` gives no access to the communicators.
unsafe impl Sync for NcclComms {}

impl NcclComms {
    /// Creates communicators for the given distinct CUDA ordinals. Call only after
    /// [`nccl_library_present`] returned true.
    pub(crate) fn init_all(ordinals: &[usize]) -> Result<NcclComms> {
        let list: Vec<std::ffi::c_int> = ordinals.iter().map(|&o| o as std::ffi::c_int).collect();
        let mut comms = vec![std::ptr::null_mut(); list.len()];
        // SAFETY: `comms` has room for one communicator per entry of `list`, and both
        // pointers stay valid for the call.
        unsafe {
            cudarc::nccl::result::comm_init_all(
                comms.as_mut_ptr(),
                list.len() as std::ffi::c_int,
                list.as_ptr(),
            )
        }
        .map_err(|e| nccl_error("ncclCommInitAll", e))?;
        Ok(NcclComms(comms))
    }

    /// Queues an in-place sum of `count` u32s over every rank, in one NCCL group: rank `i`
    /// uses `buffers[i]` (device memory of context `i`) and `streams[i]`.
    ///
    /// # Safety
    /// Each `(ctx, stream, ptr)` must be rank `i`'s context, a live stream of it and live
    /// device memory of it holding `count` u32s, untouched by other work until the streams
    /// pass this operation.
    pub(crate) unsafe fn all_reduce_sum_u32(
        &mut self,
        ranks: &[(&CudaContext, sys::CUstream, sys::CUdeviceptr)],
        count: usize,
    ) -> Result<()> {
        use cudarc::nccl::{result as nccl, sys as nsys};
        if ranks.len() != self.0.len() {
            return Err(Error::length("NCCL ranks", self.0.len(), ranks.len()));
        }
        nccl::group_start().map_err(|e| nccl_error("ncclGroupStart", e))?;
        let mut first_error = None;
        for (&comm, &(ctx, stream, ptr)) in self.0.iter().zip(ranks) {
            if let Err(e) = bind(ctx) {
                first_error.get_or_insert(e);
                continue;
            }
            let buf = ptr as usize as *mut std::ffi::c_void;
            // SAFETY: forwarded from the caller; send and receive buffers are the same
            // memory, which NCCL supports (in place).
            let r = unsafe {
                nccl::all_reduce(
                    buf,
                    buf,
                    count,
                    nsys::ncclDataType_t::ncclUint32,
                    nsys::ncclRedOp_t::ncclSum,
                    comm,
                    stream as nsys::cudaStream_t,
                )
            };
            if let Err(e) = r {
                first_error.get_or_insert(nccl_error("ncclAllReduce", e));
            }
        }
        // The group is always closed, even after an error, so NCCL's state stays usable.
        let ended = nccl::group_end().map_err(|e| nccl_error("ncclGroupEnd", e));
        match first_error {
            Some(e) => Err(e),
            None => ended.map(drop),
        }
    }
}

impl Drop for NcclComms {
    fn drop(&mut self) {
        for &comm in &self.0 {
            // SAFETY: each communicator came from `ncclCommInitAll` and is destroyed once.
            if let Err(e) = unsafe { cudarc::nccl::result::comm_destroy(comm) } {
                tracing::error!("destroying an NCCL communicator failed: {e:?}");
            }
        }
    }
}

/// Queues setting `bytes` bytes at `dst` to `value`.
///
/// # Safety
/// `dst..dst+bytes` must be live device memory until the operation completes.
pub(crate) unsafe fn memset(
    ctx: &CudaContext,
    stream: sys::CUstream,
    dst: sys::CUdeviceptr,
    value: u8,
    bytes: usize,
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { sys::cuMemsetD8Async(dst, value, bytes, stream) }
        .result()
        .map_err(|e| driver_error("cuMemsetD8Async", e))
}

/// A loaded PTX module; unloaded on drop.
#[derive(Debug)]
pub(crate) struct Module {
    ctx: Arc<CudaContext>,
    handle: sys::CUmodule,
}

// SAFETY: a CUmodule handle may be used from any thread once its context is current, which
// every use here ensures.
unsafe impl Send for Module {}
// SAFETY: as for Send; the handle is only read.
unsafe impl Sync for Module {}

impl Module {
    /// JIT-compiles and loads PTX text; a compile error carries the JIT's log.
    pub(crate) fn load(ctx: &Arc<CudaContext>, ptx: &str) -> Result<Module> {
        let image = CString::new(ptx).map_err(|_| Error::ModuleLoad {
            message: "the PTX text contains a NUL byte".to_owned(),
        })?;
        // SAFETY: `image` is a NUL-terminated PTX string that outlives the call.
        unsafe { Module::load_image(ctx, image.as_ptr().cast()) }
    }

    /// Loads a cubin (an ELF image `ptxas` assembled for this device's architecture).
    pub(crate) fn load_cubin(ctx: &Arc<CudaContext>, cubin: &[u8]) -> Result<Module> {
        if !cubin.starts_with(b"\x7fELF") {
            return Err(Error::ModuleLoad {
                message: "the cubin is not an ELF image".to_owned(),
            });
        }
        // The driver reads the image in place: give it an 8-byte aligned copy, since an
        // embedded `include_bytes!` array is only byte-aligned.
        let mut aligned = vec![0u64; cubin.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut aligned)[..cubin.len()].copy_from_slice(cubin);
        // SAFETY: `aligned` holds the whole ELF image (whose headers give its length) and
        // outlives the call.
        unsafe { Module::load_image(ctx, aligned.as_ptr().cast()) }
    }

    /// Loads a module image (NUL-terminated PTX or a cubin), capturing the JIT's error log.
    ///
    /// # Safety
    /// `image` must point to a complete PTX string (NUL-terminated) or cubin that stays
    /// valid for the duration of the call.
    unsafe fn load_image(ctx: &Arc<CudaContext>, image: *const c_void) -> Result<Module> {
        bind(ctx)?;
        let mut log = vec![0u8; 16 * 1024];
        let mut options = [
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
            sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        ];
        let mut values = [log.as_mut_ptr().cast::<c_void>(), log.len() as *mut c_void];
        let mut handle = std::ptr::null_mut();
        // SAFETY: the caller guarantees `image`; the option arrays have matching lengths,
        // the log buffer outlives the call and its size is passed by value.
        let status = unsafe {
            sys::cuModuleLoadDataEx(
                &mut handle,
                image,
                options.len() as u32,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        };
        if let Err(e) = status.result() {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            return Err(Error::ModuleLoad {
                message: format!(
                    "{}; JIT log: {}",
                    describe(&e),
                    String::from_utf8_lossy(&log[..end]).trim()
                ),
            });
        }
        Ok(Module {
            ctx: Arc::clone(ctx),
            handle,
        })
    }

    /// Looks up a kernel entry.
    pub(crate) fn function(&self, name: &str) -> Result<Function> {
        bind(&self.ctx)?;
        let cname = CString::new(name).map_err(|_| Error::MissingKernel {
            name: name.to_owned(),
        })?;
        // SAFETY: `handle` is a loaded module that lives as long as `self`.
        match unsafe { result::module::get_function(self.handle, cname) } {
            Ok(f) => Ok(Function(f)),
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NOT_FOUND => Err(Error::MissingKernel {
                name: name.to_owned(),
            }),
            Err(e) => Err(driver_error("cuModuleGetFunction", e)),
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if bind(&self.ctx).is_ok() {
            // SAFETY: the handle is live and dropped once; functions from it are only used
            // by `Device`, which holds the module.
            let _ = unsafe { result::module::unload(self.handle) };
        }
    }
}

/// A kernel entry of a [`Module`]; valid while the module is loaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Function(sys::CUfunction);

// SAFETY: a CUfunction handle is usable from any thread with its context current.
unsafe impl Send for Function {}
// SAFETY: as for Send.
unsafe impl Sync for Function {}

impl Function {
    /// Registers used per thread and static shared memory, from the driver.
    pub(crate) fn attribute(&self, attr: sys::CUfunction_attribute) -> Result<i32> {
        // SAFETY: the function handle is valid while its module lives (caller holds it).
        unsafe { result::function::get_function_attribute(self.0, attr) }
            .map_err(|e| driver_error("cuFuncGetAttribute", e))
    }
}

/// Queues a kernel launch.
///
/// # Safety
/// `func` must belong to a module loaded in `ctx`; `params` must hold one pointer per PTX
/// parameter, each pointing to a value of exactly that parameter's size; every device
/// pointer among them must stay valid, and be accessed only as the kernel's contract allows,
/// until the kernel completes.
pub(crate) unsafe fn launch(
    ctx: &CudaContext,
    stream: sys::CUstream,
    func: Function,
    grid: (u32, u32, u32),
    block: (u32, u32, u32),
    shared_bytes: u32,
    params: &mut [*mut c_void],
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: forwarded from the caller.
    unsafe { result::launch_kernel(func.0, grid, block, shared_bytes, stream, params) }
        .map_err(|e| driver_error("cuLaunchKernel", e))
}

type HostCallback = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn run_host_callback(data: *mut c_void) {
    // SAFETY: `data` is the `Box<HostCallback>` leaked by `launch_host_fn`, handed to this
    // trampoline exactly once by the driver.
    let callback = unsafe { Box::from_raw(data.cast::<HostCallback>()) };
    // A panic must not unwind into the driver's thread.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback));
}

/// Queues `f` to run on a driver thread once the stream's earlier work completes. `f` must
/// not call into CUDA (the driver forbids it in host callbacks).
pub(crate) fn launch_host_fn(
    ctx: &CudaContext,
    stream: sys::CUstream,
    f: HostCallback,
) -> Result<()> {
    bind(ctx)?;
    let data = Box::into_raw(Box::new(f));
    // SAFETY: the trampoline takes ownership of `data` exactly once when the driver runs it.
    let status =
        unsafe { result::stream::launch_host_function(stream, run_host_callback, data.cast()) };
    if let Err(e) = status {
        // SAFETY: the driver rejected the callback, so it will never run it; reclaim the box.
        drop(unsafe { Box::from_raw(data) });
        return Err(driver_error("cuLaunchHostFunc", e));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CUDA graphs: explicit construction, stream capture, instantiation, launch and update.

/// A host callback a graph runs on every launch: the graph owns it and outlives every run.
pub(crate) type RepeatableCallback = Arc<dyn Fn() + Send + Sync>;

unsafe extern "C" fn run_repeatable_callback(data: *mut c_void) {
    // SAFETY: `data` points to a `RepeatableCallback` boxed by the graph that holds this
    // node, which is only destroyed after every launch of the graph completed.
    let callback = unsafe { &*data.cast::<RepeatableCallback>() };
    // A panic must not unwind into the driver's thread.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback()));
}

/// Queues a callback that may run many times (it is captured into a graph).
///
/// # Safety
/// `data` must stay valid until every run of it has completed: until the graph captured
/// from this stream is destroyed, after its last launch finished.
pub(crate) unsafe fn launch_host_fn_repeatable(
    ctx: &CudaContext,
    stream: sys::CUstream,
    data: *const RepeatableCallback,
) -> Result<()> {
    bind(ctx)?;
    // SAFETY: the trampoline only borrows `data`, which the caller keeps alive.
    unsafe {
        result::stream::launch_host_function(
            stream,
            run_repeatable_callback,
            data.cast_mut().cast(),
        )
    }
    .map_err(|e| driver_error("cuLaunchHostFunc", e))
}

/// A CUDA graph (the template); destroyed on drop.
#[derive(Debug)]
pub(crate) struct Graph {
    ctx: Arc<CudaContext>,
    pub(crate) handle: sys::CUgraph,
}

// SAFETY: a CUgraph may be used from any thread; riptide never uses one concurrently.
unsafe impl Send for Graph {}
// SAFETY: shared references only read the handle.
unsafe impl Sync for Graph {}

impl Drop for Graph {
    fn drop(&mut self) {
        if bind(&self.ctx).is_ok() {
            // SAFETY: the handle is live and destroyed once; instantiated executables are
            // independent of their template.
            let _ = unsafe { sys::cuGraphDestroy(self.handle) };
        }
    }
}

/// A graph node handle (owned by its graph).
pub(crate) type GraphNode = sys::CUgraphNode;

/// Parameters of a kernel node: function, shape and the launch's parameter pointers.
pub(crate) struct KernelNode<'a> {
    pub(crate) func: Function,
    pub(crate) grid: (u32, u32, u32),
    pub(crate) block: (u32, u32, u32),
    pub(crate) shared_bytes: u32,
    pub(crate) params: &'a mut [*mut c_void],
}

impl KernelNode<'_> {
    fn raw(&mut self) -> sys::CUDA_KERNEL_NODE_PARAMS {
        sys::CUDA_KERNEL_NODE_PARAMS {
            func: self.func.0,
            gridDimX: self.grid.0,
            gridDimY: self.grid.1,
            gridDimZ: self.grid.2,
            blockDimX: self.block.0,
            blockDimY: self.block.1,
            blockDimZ: self.block.2,
            sharedMemBytes: self.shared_bytes,
            kernelParams: self.params.as_mut_ptr(),
            extra: std::ptr::null_mut(),
            kern: std::ptr::null_mut(),
            ctx: std::ptr::null_mut(),
        }
    }
}

/// One side of a linear copy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CopyEnd {
    Host(*mut u8),
    Device(sys::CUdeviceptr),
}

fn linear_copy(dst: CopyEnd, src: CopyEnd, bytes: usize) -> sys::CUDA_MEMCPY3D {
    use sys::CUmemorytype::{CU_MEMORYTYPE_DEVICE, CU_MEMORYTYPE_HOST};
    let (src_type, src_host, src_device) = match src {
        CopyEnd::Host(p) => (CU_MEMORYTYPE_HOST, p.cast_const().cast::<c_void>(), 0),
        CopyEnd::Device(p) => (CU_MEMORYTYPE_DEVICE, std::ptr::null(), p),
    };
    let (dst_type, dst_host, dst_device) = match dst {
        CopyEnd::Host(p) => (CU_MEMORYTYPE_HOST, p.cast::<c_void>(), 0),
        CopyEnd::Device(p) => (CU_MEMORYTYPE_DEVICE, std::ptr::null_mut(), p),
    };
    // One row of `bytes` bytes: offsets, pitches and array fields unused (zero / null).
    sys::CUDA_MEMCPY3D {
        srcXInBytes: 0,
        srcY: 0,
        srcZ: 0,
        srcLOD: 0,
        srcMemoryType: src_type,
        srcHost: src_host,
        srcDevice: src_device,
        srcArray: std::ptr::null_mut(),
        reserved0: std::ptr::null_mut(),
        srcPitch: 0,
        srcHeight: 0,
        dstXInBytes: 0,
        dstY: 0,
        dstZ: 0,
        dstLOD: 0,
        dstMemoryType: dst_type,
        dstHost: dst_host,
        dstDevice: dst_device,
        dstArray: std::ptr::null_mut(),
        reserved1: std::ptr::null_mut(),
        dstPitch: 0,
        dstHeight: 0,
        WidthInBytes: bytes,
        Height: 1,
        Depth: 1,
    }
}

fn memset_params(dst: sys::CUdeviceptr, bytes: usize) -> sys::CUDA_MEMSET_NODE_PARAMS {
    sys::CUDA_MEMSET_NODE_PARAMS {
        dst,
        pitch: 0,
        value: 0,
        elementSize: 1,
        width: bytes,
        height: 1,
    }
}

impl Graph {
    /// An empty graph.
    pub(crate) fn new(ctx: &Arc<CudaContext>) -> Result<Graph> {
        bind(ctx)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: plain out-parameter call with flags 0.
        unsafe { sys::cuGraphCreate(&mut handle, 0) }
            .result()
            .map_err(|e| driver_error("cuGraphCreate", e))?;
        Ok(Graph {
            ctx: Arc::clone(ctx),
            handle,
        })
    }

    /// Adds a kernel node after `deps`.
    ///
    /// # Safety
    /// As for [`launch`]: the parameters must match the entry's PTX parameters, and every
    /// device pointer must stay valid for every launch of any executable made from this graph.
    pub(crate) unsafe fn add_kernel(
        &self,
        deps: &[GraphNode],
        mut node: KernelNode<'_>,
    ) -> Result<GraphNode> {
        bind(&self.ctx)?;
        let params = node.raw();
        let mut out = std::ptr::null_mut();
        // SAFETY: forwarded from the caller; the driver copies the parameter values.
        unsafe {
            sys::cuGraphAddKernelNode_v2(&mut out, self.handle, deps.as_ptr(), deps.len(), &params)
        }
        .result()
        .map_err(|e| driver_error("cuGraphAddKernelNode", e))?;
        Ok(out)
    }

    /// Adds a linear copy node after `deps`.
    ///
    /// # Safety
    /// Both ends must be valid for `bytes` (host ends page-locked) for every launch of any
    /// executable made from this graph.
    pub(crate) unsafe fn add_copy(
        &self,
        deps: &[GraphNode],
        dst: CopyEnd,
        src: CopyEnd,
        bytes: usize,
    ) -> Result<GraphNode> {
        bind(&self.ctx)?;
        let params = linear_copy(dst, src, bytes);
        let mut out = std::ptr::null_mut();
        // SAFETY: forwarded from the caller; `params` describes one row of `bytes` bytes.
        unsafe {
            sys::cuGraphAddMemcpyNode(
                &mut out,
                self.handle,
                deps.as_ptr(),
                deps.len(),
                &params,
                self.ctx.cu_ctx(),
            )
        }
        .result()
        .map_err(|e| driver_error("cuGraphAddMemcpyNode", e))?;
        Ok(out)
    }

    /// Adds a node zero-filling `bytes` at `dst` after `deps`.
    ///
    /// # Safety
    /// `dst` must be valid for `bytes` for every launch of any executable made from this graph.
    pub(crate) unsafe fn add_zero(
        &self,
        deps: &[GraphNode],
        dst: sys::CUdeviceptr,
        bytes: usize,
    ) -> Result<GraphNode> {
        bind(&self.ctx)?;
        let params = memset_params(dst, bytes);
        let mut out = std::ptr::null_mut();
        // SAFETY: forwarded from the caller; a one-row byte memset.
        unsafe {
            sys::cuGraphAddMemsetNode(
                &mut out,
                self.handle,
                deps.as_ptr(),
                deps.len(),
                &params,
                self.ctx.cu_ctx(),
            )
        }
        .result()
        .map_err(|e| driver_error("cuGraphAddMemsetNode", e))?;
        Ok(out)
    }

    /// Adds a host-callback node after `deps`.
    ///
    /// # Safety
    /// `data` must stay valid until every launch of every executable made from this graph
    /// has completed.
    pub(crate) unsafe fn add_host(
        &self,
        deps: &[GraphNode],
        data: *const RepeatableCallback,
    ) -> Result<GraphNode> {
        bind(&self.ctx)?;
        let params = sys::CUDA_HOST_NODE_PARAMS {
            fn_: Some(run_repeatable_callback),
            userData: data.cast_mut().cast(),
        };
        let mut out = std::ptr::null_mut();
        // SAFETY: forwarded from the caller.
        unsafe {
            sys::cuGraphAddHostNode(&mut out, self.handle, deps.as_ptr(), deps.len(), &params)
        }
        .result()
        .map_err(|e| driver_error("cuGraphAddHostNode", e))?;
        Ok(out)
    }

    /// Instantiates the graph into an executable.
    pub(crate) fn instantiate(&self) -> Result<GraphExec> {
        bind(&self.ctx)?;
        let mut exec = std::ptr::null_mut();
        // SAFETY: `handle` is a complete graph; flags 0.
        unsafe { sys::cuGraphInstantiateWithFlags(&mut exec, self.handle, 0) }
            .result()
            .map_err(|e| driver_error("cuGraphInstantiateWithFlags", e))?;
        Ok(GraphExec {
            ctx: Arc::clone(&self.ctx),
            handle: exec,
        })
    }
}

/// An instantiated graph; destroyed on drop.
#[derive(Debug)]
pub(crate) struct GraphExec {
    ctx: Arc<CudaContext>,
    handle: sys::CUgraphExec,
}

// SAFETY: a CUgraphExec may be launched from any thread; riptide serialises updates and
// launches through `&mut`/`&` of its owner.
unsafe impl Send for GraphExec {}
// SAFETY: as for Send.
unsafe impl Sync for GraphExec {}

impl Drop for GraphExec {
    fn drop(&mut self) {
        // Destroying an executable that may still run is undefined: wait for the device.
        if synchronize_context(&self.ctx).is_ok() {
            // SAFETY: the handle is live, idle, and destroyed once.
            let _ = unsafe { sys::cuGraphExecDestroy(self.handle) };
        }
    }
}

impl GraphExec {
    /// Queues one run of the graph on `stream`.
    ///
    /// # Safety
    /// Every pointer the graph's nodes hold must be valid (the owner keeps the memory alive).
    pub(crate) unsafe fn launch(&self, stream: sys::CUstream) -> Result<()> {
        bind(&self.ctx)?;
        // SAFETY: forwarded from the caller.
        unsafe { sys::cuGraphLaunch(self.handle, stream) }
            .result()
            .map_err(|e| driver_error("cuGraphLaunch", e))
    }

    /// Replaces a kernel node's function, shape and parameters for later launches.
    ///
    /// # Safety
    /// As for [`Graph::add_kernel`].
    pub(crate) unsafe fn set_kernel(
        &self,
        node: GraphNode,
        mut params: KernelNode<'_>,
    ) -> Result<()> {
        bind(&self.ctx)?;
        let raw = params.raw();
        // SAFETY: forwarded from the caller; `node` belongs to this executable's graph.
        unsafe { sys::cuGraphExecKernelNodeSetParams_v2(self.handle, node, &raw) }
            .result()
            .map_err(|e| driver_error("cuGraphExecKernelNodeSetParams", e))
    }

    /// Replaces a copy node's ends.
    ///
    /// # Safety
    /// As for [`Graph::add_copy`].
    pub(crate) unsafe fn set_copy(
        &self,
        node: GraphNode,
        dst: CopyEnd,
        src: CopyEnd,
        bytes: usize,
    ) -> Result<()> {
        bind(&self.ctx)?;
        let params = linear_copy(dst, src, bytes);
        // SAFETY: forwarded from the caller.
        unsafe {
            sys::cuGraphExecMemcpyNodeSetParams(self.handle, node, &params, self.ctx.cu_ctx())
        }
        .result()
        .map_err(|e| driver_error("cuGraphExecMemcpyNodeSetParams", e))
    }

    /// Replaces a memset node's destination.
    ///
    /// # Safety
    /// As for [`Graph::add_zero`].
    pub(crate) unsafe fn set_zero(
        &self,
        node: GraphNode,
        dst: sys::CUdeviceptr,
        bytes: usize,
    ) -> Result<()> {
        bind(&self.ctx)?;
        let params = memset_params(dst, bytes);
        // SAFETY: forwarded from the caller.
        unsafe {
            sys::cuGraphExecMemsetNodeSetParams(self.handle, node, &params, self.ctx.cu_ctx())
        }
        .result()
        .map_err(|e| driver_error("cuGraphExecMemsetNodeSetParams", e))
    }

    /// Replaces a host node's callback.
    ///
    /// # Safety
    /// As for [`Graph::add_host`].
    pub(crate) unsafe fn set_host(
        &self,
        node: GraphNode,
        data: *const RepeatableCallback,
    ) -> Result<()> {
        bind(&self.ctx)?;
        let params = sys::CUDA_HOST_NODE_PARAMS {
            fn_: Some(run_repeatable_callback),
            userData: data.cast_mut().cast(),
        };
        // SAFETY: forwarded from the caller.
        unsafe { sys::cuGraphExecHostNodeSetParams(self.handle, node, &params) }
            .result()
            .map_err(|e| driver_error("cuGraphExecHostNodeSetParams", e))
    }
}

/// A capture in progress: context-wide synchronizations wait until it is dropped.
pub(crate) struct CaptureGuard(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>);

/// Starts capturing `stream` (thread-local mode: only this thread's unsafe calls are
/// refused while it captures). Keep the guard until the capture has ended.
pub(crate) fn begin_capture(ctx: &CudaContext, stream: sys::CUstream) -> Result<CaptureGuard> {
    let guard = CaptureGuard(CAPTURE_EXCLUSION.read().unwrap_or_else(|e| e.into_inner()));
    bind(ctx)?;
    // SAFETY: `stream` is a live non-default stream of `ctx`.
    unsafe {
        sys::cuStreamBeginCapture_v2(
            stream,
            sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
        )
    }
    .result()
    .map_err(|e| driver_error("cuStreamBeginCapture", e))?;
    Ok(guard)
}

/// Ends the capture begun on `stream` and returns the captured graph.
pub(crate) fn end_capture(ctx: &Arc<CudaContext>, stream: sys::CUstream) -> Result<Graph> {
    bind(ctx)?;
    let mut handle = std::ptr::null_mut();
    // SAFETY: `stream` is capturing (begun by `begin_capture`); out-parameter call.
    unsafe { sys::cuStreamEndCapture(stream, &mut handle) }
        .result()
        .map_err(|e| driver_error("cuStreamEndCapture", e))?;
    Ok(Graph {
        ctx: Arc::clone(ctx),
        handle,
    })
}

/// The node most recently captured on `stream` (its only capture dependency right after an
/// operation was queued on it).
pub(crate) fn last_captured_node(stream: sys::CUstream) -> Result<GraphNode> {
    let mut status = sys::CUstreamCaptureStatus::CU_STREAM_CAPTURE_STATUS_NONE;
    let mut id: sys::cuuint64_t = 0;
    let mut graph = std::ptr::null_mut();
    let mut deps: *const GraphNode = std::ptr::null();
    let mut edges: *const sys::CUgraphEdgeData = std::ptr::null();
    let mut count = 0usize;
    // SAFETY: out-parameter call on a live stream; the returned array is owned by the
    // driver and read before any further call on the stream.
    unsafe {
        sys::cuStreamGetCaptureInfo_v3(
            stream,
            &mut status,
            &mut id,
            &mut graph,
            &mut deps,
            &mut edges,
            &mut count,
        )
    }
    .result()
    .map_err(|e| driver_error("cuStreamGetCaptureInfo", e))?;
    if status != sys::CUstreamCaptureStatus::CU_STREAM_CAPTURE_STATUS_ACTIVE || count != 1 {
        return Err(Error::Backend(format!(
            "stream capture lost track of the last node (status {status:?}, {count} dependencies)"
        )));
    }
    // SAFETY: `count == 1`, so `deps` points to one valid node handle.
    Ok(unsafe { *deps })
}
