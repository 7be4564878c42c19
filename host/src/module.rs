//! User kernel modules: PTX (and cubins) a project built with `riptide-build`, loaded on a
//! [`Device`] next to riptide's own kernels.
//!
//! A [`KernelModule`] is the module as built: its PTX per architecture, its cubins, and the
//! entry table read from the PTX (every kernel's parameter list). [`Device::load_module`]
//! loads it: on CUDA the driver loads the cubin for the device's exact architecture when
//! there is one, else JIT-compiles the newest PTX the device can run; on the CPU backend only
//! the entry table is kept, so binding and launching are checked the same way on both.
//! [`LoadedModule::kernel`] then binds a typed launcher ([`crate::typed`]), checking its
//! declared parameters against the entry's.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use riptide_build::{EntryInfo, ParamInfo};

use crate::backend::{Device, DeviceImpl, cuda};
use crate::error::{Error, Result};

/// A kernel module as built: PTX per target architecture, optional cubins, and the entry
/// table read from the PTX.
#[derive(Debug, Clone)]
pub struct KernelModule {
    name: String,
    ptx: Vec<(String, String)>,
    cubins: Vec<(String, Vec<u8>)>,
    entries: Vec<EntryInfo>,
}

impl KernelModule {
    /// A module from `riptide-build`'s embed file: `ptx` and `cubins` are its `PTX` and
    /// `CUBINS` constants (architecture, contents). `name` appears in messages.
    ///
    /// Fails when there is no PTX, an architecture name is malformed, or the PTX's entry
    /// declarations cannot be read or differ between architectures.
    pub fn new(name: &str, ptx: &[(&str, &str)], cubins: &[(&str, &[u8])]) -> Result<Self> {
        let load_err = |message: String| Error::ModuleLoad {
            message: format!("module {name}: {message}"),
        };
        let Some((_, first)) = ptx.first() else {
            return Err(load_err("no PTX given".to_owned()));
        };
        for (arch, _) in ptx
            .iter()
            .copied()
            .chain(cubins.iter().map(|(a, _)| (*a, "")))
        {
            arch_number(arch).ok_or_else(|| {
                load_err(format!("{arch:?} is not an architecture name like sm_80"))
            })?;
        }
        let entries = riptide_build::ptx::entries(first).map_err(|e| load_err(e.to_string()))?;
        for (arch, text) in &ptx[1..] {
            let other = riptide_build::ptx::entries(text).map_err(|e| load_err(e.to_string()))?;
            if other != entries {
                return Err(load_err(format!(
                    "the {arch} PTX declares other entries than the {} PTX",
                    ptx[0].0
                )));
            }
        }
        Ok(KernelModule {
            name: name.to_owned(),
            ptx: ptx
                .iter()
                .map(|(a, t)| (a.to_string(), t.to_string()))
                .collect(),
            cubins: cubins
                .iter()
                .map(|(a, c)| (a.to_string(), c.to_vec()))
                .collect(),
            entries,
        })
    }

    /// A module of one PTX text; its architecture is read from its `.target` line.
    pub fn from_ptx(name: &str, ptx: &str) -> Result<Self> {
        let arch = riptide_build::ptx::target(ptx).unwrap_or("sm_80");
        KernelModule::new(name, &[(arch, ptx)], &[])
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every kernel entry with its parameter list, as the PTX declares them.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryInfo> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// What to load on a device of compute capability `cc`: a cubin of exactly that
    /// architecture (`sm_90` or `sm_90a` for 9.0), else the PTX of the newest architecture
    /// the device runs (generic PTX of it or older; `a`/`f`-suffixed PTX of it exactly).
    fn image_for(&self, cc: (u32, u32)) -> Result<Image<'_>> {
        let device = cc.0 * 10 + cc.1;
        let exact = format!("sm_{device}");
        let runs = |arch: &str, cubin: bool| match arch_number(arch) {
            Some(n) if cubin || arch.ends_with(['a', 'f']) => n == device,
            Some(n) => n <= device,
            None => false,
        };
        if let Some((_, cubin)) = self.cubins.iter().find(|(a, _)| runs(a, true)) {
            return Ok(Image::Cubin(cubin));
        }
        self.ptx
            .iter()
            .filter(|(a, _)| runs(a, false))
            .filter_map(|(a, t)| Some((arch_number(a)?, t)))
            .max_by_key(|(n, _)| *n)
            .map(|(_, t)| Image::Ptx(t))
            .ok_or_else(|| Error::ModuleLoad {
                message: format!(
                    "module {}: no PTX runs on this device ({exact}); built for {:?}. Build \
                     the kernels for {exact} or an older architecture",
                    self.name,
                    self.ptx.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>()
                ),
            })
    }
}

enum Image<'a> {
    Ptx(&'a str),
    Cubin(&'a [u8]),
}

fn arch_number(arch: &str) -> Option<u32> {
    let digits = arch.strip_prefix("sm_")?.trim_end_matches(['a', 'f']);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

static NEXT_MODULE_ID: AtomicU64 = AtomicU64::new(1);

/// A [`KernelModule`] loaded on one device. Cheap to clone; the module stays loaded while
/// any clone, bound kernel or queued launch of it lives.
#[derive(Debug, Clone)]
pub struct LoadedModule {
    inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    id: u64,
    device: Device,
    source: KernelModule,
    /// The driver's module on CUDA; `None` on the CPU backend.
    cuda: Option<cuda::raw::Module>,
}

impl fmt::Debug for ModuleInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("id", &self.id)
            .field("name", &self.source.name)
            .finish_non_exhaustive()
    }
}

/// Loads `module` on `device` (see [`Device::load_module`]).
pub(crate) fn load(device: &Device, module: &KernelModule) -> Result<LoadedModule> {
    let cuda = match &device.inner {
        DeviceImpl::Cuda(d) => Some(
            match module.image_for(d.info.compute_capability)? {
                Image::Ptx(ptx) => cuda::raw::Module::load(&d.ctx, ptx),
                Image::Cubin(cubin) => cuda::raw::Module::load_cubin(&d.ctx, cubin),
            }
            .map_err(|e| match e {
                Error::ModuleLoad { message } => Error::ModuleLoad {
                    message: format!("module {}: {message}", module.name),
                },
                other => other,
            })?,
        ),
        DeviceImpl::Cpu(_) => None,
    };
    Ok(LoadedModule {
        inner: Arc::new(ModuleInner {
            id: NEXT_MODULE_ID.fetch_add(1, Ordering::Relaxed),
            device: device.clone(),
            source: module.clone(),
            cuda,
        }),
    })
}

impl LoadedModule {
    /// The module as built.
    pub fn module(&self) -> &KernelModule {
        &self.inner.source
    }

    /// The device it is loaded on.
    pub fn device(&self) -> &Device {
        &self.inner.device
    }

    /// Registers per thread the driver compiled entry `name` to (CUDA only; `None` on the
    /// cpu backend).
    pub fn kernel_registers(&self, name: &str) -> Result<Option<u32>> {
        match &self.inner.cuda {
            Some(m) => {
                let attr = cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS;
                Ok(Some(m.function(name)?.attribute(attr)? as u32))
            }
            None => Ok(None),
        }
    }

    /// Resolves entry `name` for launching, checking it exists.
    pub(crate) fn entry(&self, name: &str) -> Result<(UserEntry, &EntryInfo)> {
        let info = self
            .inner
            .source
            .entry(name)
            .ok_or_else(|| Error::MissingKernel {
                name: format!(
                    "{name} (module {} has {:?})",
                    self.inner.source.name,
                    self.inner
                        .source
                        .entries
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                ),
            })?;
        let function = match &self.inner.cuda {
            Some(m) => Some(m.function(name)?),
            None => None,
        };
        Ok((
            UserEntry {
                module: Arc::clone(&self.inner),
                name: Arc::from(name),
                function,
            },
            info,
        ))
    }
}

/// An entry of a loaded user module, as a [`crate::launch::KernelRef::User`] names it.
/// Two are equal when they name the same entry of the same loaded module.
#[derive(Clone)]
pub struct UserEntry {
    module: Arc<ModuleInner>,
    name: Arc<str>,
    function: Option<cuda::raw::Function>,
}

impl UserEntry {
    /// The PTX entry name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the module it belongs to.
    pub fn module_name(&self) -> &str {
        &self.module.source.name
    }

    /// The driver's function handle (CUDA only).
    pub(crate) fn cuda_function(&self) -> Result<cuda::raw::Function> {
        self.function.ok_or_else(|| {
            Error::DeviceMismatch(format!(
                "kernel {} of module {} was loaded on the cpu backend but launched on a CUDA stream",
                self.name, self.module.source.name
            ))
        })
    }

    /// Fails unless the module was loaded on `device`.
    pub(crate) fn check_device(&self, device: &Device) -> Result<()> {
        let same = match (&self.module.device.inner, &device.inner) {
            (DeviceImpl::Cuda(a), DeviceImpl::Cuda(b)) => Arc::ptr_eq(a, b),
            (DeviceImpl::Cpu(a), DeviceImpl::Cpu(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(Error::DeviceMismatch(format!(
                "kernel {} of module {} is loaded on {} device {} but was launched on a stream \
                 of {} device {}; load the module on every device that launches it",
                self.name,
                self.module.source.name,
                self.module.device.backend(),
                self.module.device.ordinal(),
                device.backend(),
                device.ordinal()
            )))
        }
    }
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.module.source.name, self.name)
    }
}

impl PartialEq for UserEntry {
    fn eq(&self, other: &Self) -> bool {
        self.module.id == other.module.id && self.name == other.name
    }
}

impl Eq for UserEntry {}

impl Hash for UserEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.module.id.hash(state);
        self.name.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTX_80: &str = ".version 7.0\n.target sm_80\n.address_size 64\n\
        .visible .entry k(\n\t.param .u64 .ptr .align 1 k_param_0,\n\t.param .u64 k_param_1\n)\n{\n\tret;\n}\n";
    const PTX_90: &str = ".version 7.8\n.target sm_90\n.address_size 64\n\
        .visible .entry k(\n\t.param .u64 .ptr .align 1 k_param_0,\n\t.param .u64 k_param_1\n)\n{\n\tret;\n}\n";

    fn module() -> KernelModule {
        KernelModule::new(
            "m",
            &[("sm_80", PTX_80), ("sm_90", PTX_90)],
            &[("sm_100", b"\x7fELF cubin")],
        )
        .unwrap()
    }

    #[test]
    fn picks_the_exact_cubin_else_the_newest_ptx_the_device_runs() {
        let m = module();
        assert!(matches!(m.image_for((10, 0)), Ok(Image::Cubin(_))));
        assert!(matches!(m.image_for((9, 0)), Ok(Image::Ptx(t)) if t == PTX_90));
        assert!(matches!(m.image_for((8, 9)), Ok(Image::Ptx(t)) if t == PTX_80));
        assert!(matches!(m.image_for((12, 0)), Ok(Image::Ptx(t)) if t == PTX_90));
        let err = m.image_for((7, 5)).err().unwrap().to_string();
        assert!(err.contains("no PTX runs on this device (sm_75)"), "{err}");
        // Architecture-specific PTX serves only its own architecture.
        let specific =
            KernelModule::new("m", &[("sm_80", PTX_80), ("sm_90a", PTX_90)], &[]).unwrap();
        assert!(matches!(specific.image_for((9, 0)), Ok(Image::Ptx(t)) if t == PTX_90));
        assert!(matches!(specific.image_for((10, 0)), Ok(Image::Ptx(t)) if t == PTX_80));
    }

    #[test]
    fn reads_the_entry_table_and_rejects_bad_input() {
        let m = KernelModule::from_ptx("m", PTX_90).unwrap();
        assert_eq!(m.entries().len(), 1);
        assert_eq!(m.entry("k").unwrap().params[1].size, 8);
        let none = KernelModule::new("m", &[], &[]).unwrap_err().to_string();
        assert!(none.contains("no PTX"), "{none}");
        let bad = KernelModule::new("m", &[("compute_80", PTX_80)], &[])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("\"compute_80\""), "{bad}");
        let other = PTX_90.replace("k_param_1", "k_param_1,\n\t.param .f32 k_param_2");
        let differ = KernelModule::new("m", &[("sm_80", PTX_80), ("sm_90", &other)], &[])
            .unwrap_err()
            .to_string();
        assert!(differ.contains("other entries"), "{differ}");
    }
}
