//! Raw CUDA graph calls: explicit construction, stream capture, instantiation, launch and
//! in-place updates of an executable.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::driver::{CudaContext, result, sys};

use super::{CAPTURE_EXCLUSION, Function, bind, driver_error, synchronize_context};
use crate::error::{Error, Result};

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

    /// Adds a kernel node after `deps` (full edges: it starts once they completed) and after
    /// the kernel nodes `early` through programmatic edges (it is launched while they finish
    /// and waits for them itself with `griddepcontrol.wait`).
    ///
    /// # Safety
    /// As for [`launch`]: the parameters must match the entry's PTX parameters, and every
    /// device pointer must stay valid for every launch of any executable made from this graph.
    /// If `early` is not empty, the kernel must execute `griddepcontrol.wait` before it
    /// touches memory, and every node of `early` must be a kernel node of this graph.
    pub(crate) unsafe fn add_kernel(
        &self,
        deps: &[GraphNode],
        early: &[GraphNode],
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
        if !early.is_empty() {
            let programmatic = sys::CUgraphEdgeData {
                from_port: sys::CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC as u8,
                to_port: 0,
                type_: sys::CUgraphDependencyType::CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC as u8,
                reserved: [0; 5],
            };
            let to = vec![out; early.len()];
            let edges = vec![programmatic; early.len()];
            // SAFETY: `early` are kernel nodes of this graph (the caller's contract), `to`
            // and `edges` hold one entry per edge, and the kernel waits for prior grids.
            unsafe {
                sys::cuGraphAddDependencies_v2(
                    self.handle,
                    early.as_ptr(),
                    to.as_ptr(),
                    edges.as_ptr(),
                    early.len(),
                )
            }
            .result()
            .map_err(|e| driver_error("cuGraphAddDependencies", e))?;
        }
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
            serial: std::sync::Mutex::new(()),
        })
    }
}

/// An instantiated graph; destroyed on drop.
#[derive(Debug)]
pub(crate) struct GraphExec {
    ctx: Arc<CudaContext>,
    handle: sys::CUgraphExec,
    /// The driver does not synchronise calls on one executable: every call holds this.
    serial: std::sync::Mutex<()>,
}

// SAFETY: a CUgraphExec may be used from any thread (each call binds the context first);
// calls on it never overlap, because each holds `serial`.
unsafe impl Send for GraphExec {}
// SAFETY: as for Send: shared references only reach the handle under `serial`.
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
    fn serial(&self) -> std::sync::MutexGuard<'_, ()> {
        self.serial.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one run of the graph on `stream`.
    ///
    /// # Safety
    /// Every pointer the graph's nodes hold must be valid (the owner keeps the memory alive).
    pub(crate) unsafe fn launch(&self, stream: sys::CUstream) -> Result<()> {
        let _serial = self.serial();
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
        let _serial = self.serial();
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
        let _serial = self.serial();
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
        let _serial = self.serial();
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
        let _serial = self.serial();
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
