//! NCCL collectives over a group of distinct CUDA devices, when the NCCL library is present.
//!
//! NCCL is loaded dynamically and only after [`nccl_present`] found it, since a missing
//! library would otherwise panic on the first call. Its absence — a CPU-only or single-GPU
//! machine, or a driver install without NCCL — is a normal case: [`NcclGroup::new`] returns
//! `None` and callers combine on the host. One GPU cannot appear twice in a communicator, so
//! several logical devices on one GPU get `None` too.

use std::sync::OnceLock;

use crate::backend::{BackendKind, Device, DeviceBuffer, DeviceImpl, Stream, cuda};
use crate::error::{Error, Result};

/// Whether the NCCL library can be loaded on this machine (checked once, never panics).
pub fn nccl_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(cuda::nccl_library_present)
}

/// NCCL communicators over distinct CUDA devices, with one stream per device.
#[derive(Debug)]
pub struct NcclGroup {
    devices: Vec<Device>,
    streams: Vec<Stream>,
    comms: cuda::raw::NcclComms,
}

impl NcclGroup {
    /// A group over `devices`, or `None` when NCCL cannot serve them: the library is absent,
    /// fewer than two devices, a device is not CUDA, or one GPU appears twice.
    pub fn new(devices: &[Device]) -> Result<Option<NcclGroup>> {
        if devices.len() < 2 || devices.iter().any(|d| d.backend() != BackendKind::Cuda) {
            return Ok(None);
        }
        let ordinals: Vec<usize> = devices.iter().map(Device::ordinal).collect();
        let mut distinct = ordinals.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != ordinals.len() || !nccl_present() {
            return Ok(None);
        }
        let comms = cuda::raw::NcclComms::init_all(&ordinals)?;
        let streams = devices
            .iter()
            .map(Device::stream)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(NcclGroup {
            devices: devices.to_vec(),
            streams,
            comms,
        }))
    }

    /// The devices, rank order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// Replaces every rank's buffer with the element-wise (wrapping) sum of all ranks'
    /// buffers; `buffers[i]` must live on device `i`, all of one length. Waits for the result.
    pub fn all_reduce_sum_u32(&mut self, buffers: &mut [DeviceBuffer<u32>]) -> Result<()> {
        if buffers.len() != self.devices.len() {
            return Err(Error::length(
                "all-reduce buffers",
                self.devices.len(),
                buffers.len(),
            ));
        }
        let count = buffers.first().map_or(0, DeviceBuffer::len);
        if buffers.iter().any(|b| b.len() != count) {
            return Err(Error::length(
                "all-reduce buffers (all of one length)",
                count,
                buffers.iter().map(DeviceBuffer::len).max().unwrap_or(0),
            ));
        }
        if count == 0 {
            return Ok(());
        }
        let mut ranks = Vec::with_capacity(buffers.len());
        for (i, (buf, stream)) in buffers.iter().zip(&self.streams).enumerate() {
            let ptr = match (&buf.mem.mem, &self.devices[i].inner) {
                (crate::backend::memory::DeviceMem::Cuda(a), DeviceImpl::Cuda(_))
                    if buf.mem.device == self.devices[i].ordinal() =>
                {
                    a.ptr
                }
                _ => {
                    return Err(Error::DeviceMismatch(format!(
                        "all-reduce: buffer {i} does not live on rank {i}'s device"
                    )));
                }
            };
            let (ctx, cu) = stream
                .cuda()
                .expect("the group's streams are CUDA streams")
                .raw_parts();
            ranks.push((&**ctx, cu, ptr));
        }
        // SAFETY: each rank's buffer is live device memory of its device holding `count`
        // u32s (checked above), borrowed mutably for the call, and the group's streams are
        // synchronized below before the borrow ends.
        unsafe { self.comms.all_reduce_sum_u32(&ranks, count)? };
        for stream in &self.streams {
            stream.trace_untimed_work();
            stream.synchronize()?;
        }
        Ok(())
    }

    /// Uploads each device's host vector, sums them with an all-reduce and returns the sum.
    pub fn sum_u32(&mut self, parts: &[Vec<u32>]) -> Result<Vec<u32>> {
        let len = parts.first().map_or(0, Vec::len);
        let mut buffers = Vec::with_capacity(parts.len());
        for ((part, device), stream) in parts.iter().zip(&self.devices).zip(&self.streams) {
            if part.len() != len {
                return Err(Error::length("all-reduce part", len, part.len()));
            }
            let mut buf = device.alloc::<u32>(len, "all-reduce part")?;
            stream.upload(part, &mut buf)?;
            buffers.push(buf);
        }
        self.all_reduce_sum_u32(&mut buffers)?;
        self.streams[0].download(&buffers[0])
    }
}
