//! Raw driver and NCCL calls between devices: peer copies, peer access, communicators and
//! all-reduce.

use cudarc::driver::{CudaContext, sys};

use super::{bind, driver_error};
use crate::error::{Error, Result};

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
