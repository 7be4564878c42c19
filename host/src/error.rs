//! The one error type of the host library.
//!
//! Every fallible operation returns [`Result`]. Variants carry the context a user needs to
//! act on the error — which operation, which buffer or kernel, the numbers that disagree —
//! and the CLI maps each [`ErrorKind`] to its own exit code.

use std::fmt;

/// Result alias used throughout the host library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in riptide's host library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No CUDA device can be used; `reason` says why (no driver library, no device, init failed).
    #[error("no CUDA device: {reason}")]
    NoCudaDevice {
        /// Why no device is usable.
        reason: String,
    },

    /// A CUDA driver call failed.
    #[error("CUDA driver call {call} failed: {message}")]
    Driver {
        /// The driver operation, e.g. `cuMemAlloc`.
        call: &'static str,
        /// The driver's error name and description.
        message: String,
        /// The raw `CUresult` code.
        code: u32,
    },

    /// The PTX module failed to load (JIT compilation error, unsupported architecture).
    #[error("loading PTX module failed: {message}")]
    ModuleLoad {
        /// The driver's error and the JIT log.
        message: String,
    },

    /// A kernel entry expected in a loaded module is missing.
    #[error("kernel {name} is not in the loaded PTX module")]
    MissingKernel {
        /// The entry name.
        name: String,
    },

    /// A user kernel's declared parameters differ from its PTX entry's.
    #[error("kernel {kernel}: {message}")]
    KernelSignature {
        /// The PTX entry.
        kernel: String,
        /// Which parameter differs, and how.
        message: String,
    },

    /// Two lengths that must agree do not.
    #[error("{what}: expected {expected} elements, got {actual}")]
    LengthMismatch {
        /// What was being checked, e.g. "axpby: y".
        what: String,
        /// The required length.
        expected: usize,
        /// The length given.
        actual: usize,
    },

    /// A launch or size exceeds a device limit.
    #[error("{what}: requested {requested}, device limit {max}")]
    LimitExceeded {
        /// The limited quantity, e.g. "block threads".
        what: String,
        /// What was asked for.
        requested: u64,
        /// The limit.
        max: u64,
    },

    /// An argument is invalid for a reason other than a length or limit.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A range lies outside the buffer it indexes.
    #[error("range {start}..{end} is outside a buffer of {len} elements")]
    OutOfRange {
        /// Start of the requested range.
        start: usize,
        /// End of the requested range.
        end: usize,
        /// Length of the buffer.
        len: usize,
    },

    /// Objects from different devices or backends were combined in one operation.
    #[error("{0}")]
    DeviceMismatch(String),

    /// Allocating device or pinned memory failed.
    #[error("out of {kind} memory allocating {bytes} bytes")]
    OutOfMemory {
        /// "device" or "pinned host".
        kind: &'static str,
        /// The size of the failed request.
        bytes: usize,
    },

    /// The emulated CPU backend found a race between operations (hazard-check mode).
    #[error("{count} hazard(s) found; first: {first}")]
    Hazards {
        /// How many hazards were reported.
        count: usize,
        /// The first report, in full.
        first: String,
    },

    /// A failure inside a backend worker (an emulated kernel returned an error, a worker died).
    #[error("{0}")]
    Backend(String),

    /// A DAG or graph was refused before reaching the driver.
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),

    /// A kernel or copy faulted (trap, illegal address, launch failure): a sticky error that
    /// poisons the device context until it is torn down and recreated
    /// ([`crate::Device::recover`]).
    #[error("device fault in {operation}: {message} (the device context must be recreated)")]
    DeviceFault {
        /// The operation that reported the fault (a driver call or an emulated op).
        operation: String,
        /// The driver's error name and description.
        message: String,
    },

    /// The driver or the device went away mid-run (device removed, driver unloaded or
    /// deinitialised, uncorrectable ECC error); nothing can be retried.
    #[error("device lost during {operation}: {message}")]
    DeviceLost {
        /// The operation that found the device gone.
        operation: String,
        /// The driver's error name and description.
        message: String,
    },

    /// The run was cancelled (Ctrl-C) before it finished.
    #[error("cancelled")]
    Cancelled,

    /// An input or output file is unreadable, malformed or unwritable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Coarse classification of an [`Error`], one per CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user asked for something invalid (lengths, ranges, arguments, limits).
    InvalidInput,
    /// No usable GPU.
    NoDevice,
    /// The driver, a kernel or a backend failed while running.
    Device,
    /// Memory ran out.
    OutOfMemory,
    /// A race detector found hazards.
    Hazard,
    /// The device faulted (sticky error) or went away.
    DeviceFault,
    /// The user cancelled the run.
    Cancelled,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoCudaDevice { .. } => ErrorKind::NoDevice,
            Error::Driver { .. } | Error::ModuleLoad { .. } | Error::MissingKernel { .. } => {
                ErrorKind::Device
            }
            Error::Backend(_) => ErrorKind::Device,
            Error::LengthMismatch { .. }
            | Error::KernelSignature { .. }
            | Error::LimitExceeded { .. }
            | Error::InvalidArgument(_)
            | Error::OutOfRange { .. }
            | Error::DeviceMismatch(_)
            | Error::File { .. }
            | Error::Graph(_) => ErrorKind::InvalidInput,
            Error::OutOfMemory { .. } => ErrorKind::OutOfMemory,
            Error::Hazards { .. } => ErrorKind::Hazard,
            Error::DeviceFault { .. } | Error::DeviceLost { .. } => ErrorKind::DeviceFault,
            Error::Cancelled => ErrorKind::Cancelled,
        }
    }

    pub(crate) fn length(what: impl fmt::Display, expected: usize, actual: usize) -> Self {
        Error::LengthMismatch {
            what: what.to_string(),
            expected,
            actual,
        }
    }

    pub(crate) fn limit(what: impl fmt::Display, requested: u64, max: u64) -> Self {
        Error::LimitExceeded {
            what: what.to_string(),
            requested,
            max,
        }
    }
}
