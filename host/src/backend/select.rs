//! Choosing a backend: CUDA when a device exists, the CPU backend otherwise, overridable by
//! a flag or the `RIPTIDE_BACKEND` environment variable.

use std::fmt;
use std::str::FromStr;

use crate::backend::{Device, PtxImages, cpu, cuda};
use crate::error::{Error, Result};

/// Environment variable naming the backend: `auto`, `cuda` or `cpu`.
pub const BACKEND_ENV: &str = "RIPTIDE_BACKEND";

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// CUDA if a device is usable, else the CPU backend.
    #[default]
    Auto,
    /// CUDA only; no device is an error.
    Cuda,
    /// The emulated CPU backend.
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "cuda" | "gpu" => Ok(BackendChoice::Cuda),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(Error::InvalidArgument(format!(
                "unknown backend {other:?}; expected auto, cuda or cpu"
            ))),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Cuda => "cuda",
            BackendChoice::Cpu => "cpu",
        })
    }
}

impl BackendChoice {
    /// The choice named by [`BACKEND_ENV`], or `Auto` when it is unset.
    pub fn from_env() -> Result<BackendChoice> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) if !v.trim().is_empty() => v
                .parse()
                .map_err(|e| Error::InvalidArgument(format!("{BACKEND_ENV}: {e}"))),
            _ => Ok(BackendChoice::Auto),
        }
    }
}

/// Number of CUDA devices, or the plain reason there are none.
pub fn cuda_device_count() -> std::result::Result<usize, String> {
    cuda::device_count()
}

/// Opens the devices `choice` selects: every CUDA device (or those in `ordinals`), or
/// `virtual_devices` emulated ones. Returns the devices and, when `Auto` fell back to the
/// CPU backend, the reason.
pub fn open_devices<'a>(
    choice: BackendChoice,
    ordinals: Option<&[usize]>,
    kernels: impl Into<PtxImages<'a>>,
    cpu_config: &cpu::CpuConfig,
) -> Result<(Vec<Device>, Option<String>)> {
    let kernels = kernels.into();
    let cuda_devices = |count: usize| -> Result<Vec<Device>> {
        let wanted: Vec<usize> = match ordinals {
            Some(list) => list.to_vec(),
            None => (0..count).collect(),
        };
        wanted
            .into_iter()
            .map(|o| Device::cuda(o, kernels))
            .collect()
    };
    match choice {
        BackendChoice::Cuda => {
            let count = cuda::device_count().map_err(|reason| Error::NoCudaDevice { reason })?;
            Ok((cuda_devices(count)?, None))
        }
        BackendChoice::Cpu => Ok((cpu_devices(ordinals, cpu_config)?, None)),
        BackendChoice::Auto => match cuda::device_count() {
            Ok(count) => Ok((cuda_devices(count)?, None)),
            Err(reason) => Ok((cpu_devices(ordinals, cpu_config)?, Some(reason))),
        },
    }
}

fn cpu_devices(ordinals: Option<&[usize]>, config: &cpu::CpuConfig) -> Result<Vec<Device>> {
    let count = config.virtual_devices.max(1);
    if let Some(&bad) = ordinals.and_then(|list| list.iter().find(|&&o| o >= count)) {
        return Err(Error::InvalidArgument(format!(
            "device {bad} does not exist; the cpu backend has {count} virtual device(s) (0..{count})"
        )));
    }
    let all = cpu::CpuRuntime::new(config.clone(), count).devices();
    Ok(match ordinals {
        Some(list) => list.iter().map(|&o| all[o].clone()).collect(),
        None => all,
    })
}
