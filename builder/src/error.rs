//! The builder's error: what failed, and what to do about it.

use std::fmt;
use std::path::PathBuf;

/// Why a kernels crate could not be built into checked PTX. Every message says how to fix
/// the problem.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting passed to [`crate::KernelCrate`] is invalid.
    Config(String),
    /// A file could not be read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The nested `cargo rustc` for `nvptx64-nvidia-cuda` failed (its stderr included).
    Compile {
        /// The architecture being built.
        arch: String,
        /// Why, with cargo's output.
        message: String,
    },
    /// The PTX calls functions it does not define, so the driver could not load it.
    UnresolvedExterns {
        /// The architecture whose PTX was checked.
        arch: String,
        /// The undefined functions.
        functions: Vec<String>,
    },
    /// The PTX's entry declarations could not be read.
    Parse(crate::ptx::PtxParseError),
    /// The architectures' PTX modules declare different entries or parameter lists.
    ArchMismatch(String),
    /// The PTX's entries differ from the list the caller expects.
    Entries {
        /// Expected but not in the PTX.
        missing: Vec<String>,
        /// In the PTX but not expected.
        unexpected: Vec<String>,
    },
    /// `ptxas` is needed (cubins were required) but was not found.
    PtxasMissing(String),
    /// `ptxas` rejected the PTX.
    Ptxas {
        /// The architecture the cubin was for.
        arch: String,
        /// ptxas's output.
        message: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(m) => write!(f, "invalid kernel build settings: {m}"),
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::Compile { arch, message } => write!(
                f,
                "compiling the kernels for nvptx64-nvidia-cuda ({arch}) failed.\n{message}\n\
                 The kernels need a nightly toolchain with the rust-src component and the \
                 nvptx64-nvidia-cuda target (rust-toolchain.toml: components = [\"rust-src\"], \
                 targets = [\"nvptx64-nvidia-cuda\"]), and the crate must be #![no_std] with \
                 device-only code under #[cfg(target_arch = \"nvptx64\")]."
            ),
            BuildError::UnresolvedExterns { arch, functions } => write!(
                f,
                "the {arch} PTX calls functions it does not define: {functions:?}. The driver \
                 cannot link these, so the module would fail to load. Usual causes: a panic \
                 path (slice indexing with bounds checks, `unwrap`, `expect`, overflow checks, \
                 division by a value not known to be non-zero) — use raw pointers with lengths \
                 checked on the host, `get_unchecked`, or wrapping arithmetic; or a \
                 non-inlined function from another crate — mark it #[inline] or keep the \
                 kernels crate self-contained."
            ),
            BuildError::Parse(e) => write!(
                f,
                "{e}. The PTX was produced by the compiler, so this is a gap in riptide-build's \
                 reader: please report it with the PTX's .entry header."
            ),
            BuildError::ArchMismatch(m) => write!(
                f,
                "the architectures' PTX modules disagree: {m}. Kernels whose signature depends \
                 on the target architecture cannot share one host-side launcher; keep \
                 signatures independent of #[cfg(target_feature)]."
            ),
            BuildError::Entries {
                missing,
                unexpected,
            } => write!(
                f,
                "the PTX entry points differ from the expected list.\n  expected but not in the \
                 PTX: {missing:?} (is each kernel `#[unsafe(no_mangle)] pub unsafe extern \
                 \"ptx-kernel\" fn`, compiled under cfg(target_arch = \"nvptx64\")?)\n  in the \
                 PTX but not expected: {unexpected:?} (add it to the expected list)"
            ),
            BuildError::PtxasMissing(m) => write!(
                f,
                "cubins were required but ptxas was not found ({m}). Set RIPTIDE_PTXAS to the \
                 ptxas binary or put it on PATH (NVIDIA's CUDA toolkit, or the PyPI package \
                 nvidia-cuda-nvcc), or build PTX only (the driver then JIT-compiles it at \
                 load)."
            ),
            BuildError::Ptxas { arch, message } => {
                write!(f, "ptxas rejected the PTX for {arch}:\n{message}")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } => Some(source),
            BuildError::Parse(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::ptx::PtxParseError> for BuildError {
    fn from(e: crate::ptx::PtxParseError) -> Self {
        BuildError::Parse(e)
    }
}

/// Attaches a path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.into();
    move |source| BuildError::Io { path, source }
}
