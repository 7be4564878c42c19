//! A kernel launch, described once for every backend.
//!
//! Typed launchers (in [`crate::kernels`]) check lengths and limits, then build a
//! [`KernelLaunch`]: which kernel, the launch shape, the arguments in PTX parameter order
//! with each buffer's access declared (read or written), and the CPU implementation that the
//! emulated backend runs instead of the PTX. The CUDA backend turns it into `cuLaunchKernel`;
//! the CPU backend queues the CPU implementation and hands the declared accesses to its race
//! detector; the graph layer stores it as a node.

use std::fmt;
use std::sync::Arc;

use crate::backend::memory::DevRange;
use crate::error::{Error, Result};

/// Grid or block dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim3 {
    /// x extent.
    pub x: u32,
    /// y extent.
    pub y: u32,
    /// z extent.
    pub z: u32,
}

impl Dim3 {
    /// A one-dimensional extent.
    pub const fn x(x: u32) -> Self {
        Dim3 { x, y: 1, z: 1 }
    }

    /// A two-dimensional extent.
    pub const fn xy(x: u32, y: u32) -> Self {
        Dim3 { x, y, z: 1 }
    }

    /// Product of the three extents.
    pub fn volume(&self) -> u64 {
        self.x as u64 * self.y as u64 * self.z as u64
    }
}

/// Launch shape: grid, block and dynamic shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in the grid.
    pub grid: Dim3,
    /// Threads in a block.
    pub block: Dim3,
    /// Dynamic shared memory per block, in bytes.
    pub shared_bytes: u32,
}

/// The device limits a launch is checked against before it reaches a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchLimits {
    /// Threads per block.
    pub max_block_threads: u32,
    /// Per-dimension block extents.
    pub max_block_dim: [u32; 3],
    /// Per-dimension grid extents.
    pub max_grid_dim: [u32; 3],
    /// Dynamic shared memory per block without opting in to more.
    pub max_shared_bytes: u32,
}

impl LaunchConfig {
    /// Checks this shape against `limits`, naming the first limit exceeded.
    pub fn check(&self, kernel: &str, limits: &LaunchLimits) -> Result<()> {
        let threads = self.block.volume();
        if threads == 0 || self.grid.volume() == 0 {
            return Err(Error::InvalidArgument(format!(
                "{kernel}: empty launch (grid {:?}, block {:?})",
                self.grid, self.block
            )));
        }
        if threads > limits.max_block_threads as u64 {
            return Err(Error::limit(
                format!("{kernel}: threads per block"),
                threads,
                limits.max_block_threads as u64,
            ));
        }
        let dims = |d: Dim3| [d.x, d.y, d.z];
        for (axis, (&got, &max)) in ["x", "y", "z"]
            .iter()
            .zip(dims(self.block).iter().zip(&limits.max_block_dim))
        {
            if got > max {
                return Err(Error::limit(
                    format!("{kernel}: block {axis}"),
                    got as u64,
                    max as u64,
                ));
            }
        }
        for (axis, (&got, &max)) in ["x", "y", "z"]
            .iter()
            .zip(dims(self.grid).iter().zip(&limits.max_grid_dim))
        {
            if got > max {
                return Err(Error::limit(
                    format!("{kernel}: grid {axis}"),
                    got as u64,
                    max as u64,
                ));
            }
        }
        if self.shared_bytes > limits.max_shared_bytes {
            return Err(Error::limit(
                format!("{kernel}: dynamic shared memory bytes"),
                self.shared_bytes as u64,
                limits.max_shared_bytes as u64,
            ));
        }
        Ok(())
    }
}

/// How a kernel argument's buffer is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only read.
    Read,
    /// Written (and possibly read).
    Write,
}

/// One kernel argument, in PTX parameter order.
#[derive(Debug, Clone)]
pub enum KernelArg {
    /// A device pointer to the start of a range, with its declared access.
    Buffer(BufferArg),
    /// A null pointer (an optional buffer left out).
    Null,
    /// A scalar passed by value: its bytes, as the PTX parameter expects them.
    Scalar(ScalarArg),
}

/// A buffer argument: the range the kernel may touch and how.
#[derive(Debug, Clone)]
pub struct BufferArg {
    pub(crate) range: DevRange,
    pub(crate) access: Access,
}

impl BufferArg {
    /// The declared access.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Id of the allocation the range lies in.
    pub fn allocation(&self) -> u64 {
        self.range.mem.id
    }

    /// The byte range within the allocation.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        self.range.offset..self.range.offset + self.range.bytes
    }
}

/// The widest scalar (or `#[repr(C)]` struct passed by value) a kernel parameter may hold.
pub const MAX_SCALAR_BYTES: usize = 64;

/// A scalar argument's bytes (at most [`MAX_SCALAR_BYTES`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScalarArg {
    bytes: [u8; MAX_SCALAR_BYTES],
    len: u8,
}

impl ScalarArg {
    /// The scalar's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for ScalarArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scalar({:02x?})", self.bytes())
    }
}

/// A value that can be passed to a kernel as a scalar parameter: any plain-data type of at
/// most [`MAX_SCALAR_BYTES`] bytes (numbers, and `#[repr(C)]` structs deriving
/// `bytemuck::Pod`), passed as its in-memory bytes (little-endian, like the GPU).
pub trait KernelScalar: Copy {
    /// The bytes of the value as the PTX parameter holds them.
    fn to_arg(self) -> ScalarArg;
}

impl<T: bytemuck::Pod> KernelScalar for T {
    fn to_arg(self) -> ScalarArg {
        const {
            assert!(
                size_of::<T>() <= MAX_SCALAR_BYTES,
                "kernel scalar too large"
            )
        };
        let value = bytemuck::bytes_of(&self);
        let mut bytes = [0u8; MAX_SCALAR_BYTES];
        bytes[..value.len()].copy_from_slice(value);
        ScalarArg {
            bytes,
            len: value.len() as u8,
        }
    }
}

/// The CPU implementation of a kernel: runs on the emulated backend with the launch's buffer
/// arguments mapped to host slices.
pub type CpuKernel =
    Arc<dyn Fn(&mut crate::backend::cpu::KernelArgs<'_>) -> Result<()> + Send + Sync>;

/// Identifies a kernel entry in a PTX module.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KernelRef {
    /// An entry of riptide's own module (a name from `gpu_kernels::entries`).
    Builtin(&'static str),
    /// An entry of a module the user loaded ([`crate::module::LoadedModule`]).
    User(crate::module::UserEntry),
}

impl KernelRef {
    /// The PTX entry name.
    pub fn name(&self) -> &str {
        match self {
            KernelRef::Builtin(name) => name,
            KernelRef::User(entry) => entry.name(),
        }
    }
}

/// A complete, checked kernel launch.
#[derive(Clone)]
pub struct KernelLaunch {
    pub(crate) kernel: KernelRef,
    pub(crate) config: LaunchConfig,
    pub(crate) args: Vec<KernelArg>,
    pub(crate) cpu: CpuKernel,
    pub(crate) flops: u64,
}

impl fmt::Debug for KernelLaunch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelLaunch")
            .field("kernel", &self.kernel)
            .field("config", &self.config)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl KernelLaunch {
    /// Starts describing a launch of `kernel` with shape `config`, run on the CPU backend by `cpu`.
    pub fn new(kernel: KernelRef, config: LaunchConfig, cpu: CpuKernel) -> Self {
        KernelLaunch {
            kernel,
            config,
            args: Vec::new(),
            cpu,
            flops: 0,
        }
    }

    /// States the floating-point operations the launch performs, for simulated timing of
    /// compute-bound kernels (memory traffic is taken from the buffer arguments).
    pub fn flops(mut self, flops: u64) -> Self {
        self.flops = flops;
        self
    }

    /// Appends a buffer the kernel reads.
    pub fn read<T: crate::Element>(mut self, buf: &impl crate::DeviceRead<T>) -> Self {
        self.args.push(KernelArg::Buffer(BufferArg {
            range: buf.dev_range(),
            access: Access::Read,
        }));
        self
    }

    /// Appends a buffer the kernel writes.
    pub fn write<T: crate::Element>(mut self, buf: &impl crate::DeviceWrite<T>) -> Self {
        self.args.push(KernelArg::Buffer(BufferArg {
            range: buf.dev_range(),
            access: Access::Write,
        }));
        self
    }

    /// Appends a null pointer argument.
    pub fn null(mut self) -> Self {
        self.args.push(KernelArg::Null);
        self
    }

    /// Appends a scalar argument.
    pub fn scalar(mut self, value: impl KernelScalar) -> Self {
        self.args.push(KernelArg::Scalar(value.to_arg()));
        self
    }

    /// The kernel launched.
    pub fn kernel(&self) -> &KernelRef {
        &self.kernel
    }

    /// The launch shape.
    pub fn config(&self) -> LaunchConfig {
        self.config
    }

    /// The arguments, in PTX parameter order.
    pub fn args(&self) -> &[KernelArg] {
        &self.args
    }

    /// The buffer arguments with their declared accesses.
    pub fn buffers(&self) -> impl Iterator<Item = &BufferArg> {
        self.args.iter().filter_map(|a| match a {
            KernelArg::Buffer(b) => Some(b),
            _ => None,
        })
    }
}
