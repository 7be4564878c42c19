//! Every raw CUDA driver call riptide makes, and nothing else.
//!
//! The rest of the CUDA backend uses cudarc's safe context, stream and event types, and
//! comes here for what those do not cover: memory, async copies, module loading with a JIT
//! log, kernel launches with type-erased parameters, host callbacks — and, in submodules,
//! copies and collectives between devices (`peer`) and CUDA graphs (`graph`). Each function
//! binds the right context first where the call needs one, and turns driver errors into
//! [`crate::Error`] naming the call.

use std::ffi::{CString, c_void};
use std::sync::Arc;

use cudarc::driver::{CudaContext, DriverError, result, sys};

use crate::error::{Error, Result};

mod graph;
mod peer;

pub(crate) use graph::*;
pub(crate) use peer::*;

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
    unsafe { result::malloc_sync(bytes.max(1)) }
        .map_err(|e| alloc_error(e, "device", bytes, "cuMemAlloc"))
}

/// An allocation's driver error: out of memory as [`Error::OutOfMemory`] naming `kind` and
/// `bytes`, anything else as the error of driver call `call`.
fn alloc_error(e: DriverError, kind: &'static str, bytes: usize, call: &'static str) -> Error {
    if is_out_of_memory(&e) {
        Error::OutOfMemory { kind, bytes }
    } else {
        driver_error(call, e)
    }
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
    let ptr = unsafe { result::malloc_host(size, sys::CU_MEMHOSTALLOC_PORTABLE) }
        .map_err(|e| alloc_error(e, "pinned host", bytes, "cuMemHostAlloc"))?;
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

    /// How many blocks of `block_threads` threads with `shared_bytes` of dynamic shared
    /// memory one SM holds at once, as the driver computes it from the kernel's registers
    /// and shared memory (`cuOccupancyMaxActiveBlocksPerMultiprocessor`).
    pub(crate) fn resident_blocks(
        &self,
        ctx: &CudaContext,
        block_threads: u32,
        shared_bytes: u32,
    ) -> Result<u32> {
        bind(ctx)?;
        let threads = i32::try_from(block_threads).map_err(|_| {
            Error::InvalidArgument(format!(
                "occupancy query: a block of {block_threads} threads is more than CUDA allows"
            ))
        })?;
        // SAFETY: the function handle is valid while its module lives (caller holds it),
        // and its context is current.
        let blocks = unsafe {
            result::occupancy::max_active_block_per_multiprocessor(
                self.0,
                threads,
                shared_bytes as usize,
            )
        }
        .map_err(|e| driver_error("cuOccupancyMaxActiveBlocksPerMultiprocessor", e))?;
        Ok(blocks.max(0) as u32)
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
