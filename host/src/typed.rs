//! Typed launchers for user kernels: a kernel's parameters declared once, checked against
//! its PTX entry when it is bound, and launched like any built-in kernel.
//!
//! A user kernel implements [`UserKernel`]: its entry name, its parameters as a tuple of
//! [`In<T>`] (a buffer it only reads), [`Out<T>`] (a buffer it writes) and plain-data
//! scalars (numbers or `#[repr(C)]` structs deriving `bytemuck::Pod`), the checks its safety
//! contract needs, and a CPU implementation the cpu backend runs instead of the PTX.
//! [`crate::module::LoadedModule::kernel`] binds it, failing with an error naming the kernel
//! and the parameter when the count or a size differs from the PTX. A launch declares each
//! buffer's access, so streams, pipelines, graphs and the race detector treat it exactly
//! like a built-in kernel.
//!
//! ```no_run
//! use riptide_host::backend::cpu::KernelArgs;
//! use riptide_host::launch::LaunchConfig;
//! use riptide_host::typed::{ArgsOf, In, Out, UserKernel};
//! use riptide_host::{Error, Result};
//!
//! /// `y[i] = 2·x[i]` for `i < n`.
//! struct Double;
//!
//! // SAFETY: the kernel reads x[..n] and writes y[..n]; `validate` checks both hold n.
//! unsafe impl UserKernel for Double {
//!     const ENTRY: &'static str = "double_f32";
//!     type Params = (In<f32>, Out<f32>, u64);
//!
//!     fn validate(_: &LaunchConfig, (x, y, n): &ArgsOf<'_, Self>) -> Result<()> {
//!         if x.len() as u64 != *n || y.len() as u64 != *n {
//!             return Err(Error::InvalidArgument("double: x and y must hold n elements".into()));
//!         }
//!         Ok(())
//!     }
//!
//!     fn cpu(args: &mut KernelArgs<'_>) -> Result<()> {
//!         let x = args.read::<f32>(0)?;
//!         let y = args.write::<f32>(1)?;
//!         y.iter_mut().zip(x).for_each(|(y, x)| *y = 2.0 * x);
//!         Ok(())
//!     }
//! }
//!
//! // Loading and launching (`PTX` from riptide-build's embed file):
//! # const PTX: &str = "";
//! # fn run(device: &riptide_host::Device, x: &riptide_host::DeviceBuffer<f32>,
//! #        y: &mut riptide_host::DeviceBuffer<f32>) -> Result<()> {
//! use riptide_host::launch::Dim3;
//! use riptide_host::module::KernelModule;
//! let module = device.load_module(&KernelModule::from_ptx("mine", PTX)?)?;
//! let double = module.kernel::<Double>()?; // checked against the PTX entry here
//! let stream = device.stream()?;
//! let config = LaunchConfig { grid: Dim3::x(64), block: Dim3::x(256), shared_bytes: 0 };
//! let n = x.len() as u64;
//! double.launch(&stream, config, (x.as_slice(), y.as_slice_mut(), n))?;
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::backend::cpu::KernelArgs;
use crate::backend::{DeviceSlice, DeviceSliceMut, Stream};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::launch::{KernelLaunch, KernelRef, LaunchConfig, MAX_SCALAR_BYTES};
use crate::module::{EntryInfo, LoadedModule, UserEntry};

/// A buffer parameter the kernel only reads: launched with a [`DeviceSlice`].
#[derive(Debug)]
pub struct In<T>(PhantomData<T>);

/// A buffer parameter the kernel writes (and may read): launched with a [`DeviceSliceMut`].
#[derive(Debug)]
pub struct Out<T>(PhantomData<T>);

/// How a declared parameter is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A device pointer to a buffer the kernel reads.
    Read,
    /// A device pointer to a buffer the kernel writes.
    Write,
    /// A value passed by copy.
    Scalar,
}

/// One declared parameter, as checked against the PTX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// How it is passed.
    pub kind: ParamKind,
    /// Its size in the parameter list, in bytes (8 for a device pointer).
    pub size: usize,
    /// The Rust type declared, for messages.
    pub type_name: &'static str,
}

/// One parameter type of a [`UserKernel`]: [`In<T>`], [`Out<T>`] or a plain-data scalar.
pub trait KernelParam {
    /// What a launch passes for it.
    type Arg<'a>;
    /// The declaration checked against the PTX.
    fn spec() -> ParamSpec;
    /// Appends the argument to a launch.
    fn push(arg: &Self::Arg<'_>, launch: KernelLaunch) -> KernelLaunch;
}

impl<T: Element> KernelParam for In<T> {
    type Arg<'a> = DeviceSlice<'a, T>;
    fn spec() -> ParamSpec {
        ParamSpec {
            kind: ParamKind::Read,
            size: 8,
            type_name: std::any::type_name::<Self>(),
        }
    }
    fn push(arg: &DeviceSlice<'_, T>, launch: KernelLaunch) -> KernelLaunch {
        launch.read(arg)
    }
}

impl<T: Element> KernelParam for Out<T> {
    type Arg<'a> = DeviceSliceMut<'a, T>;
    fn spec() -> ParamSpec {
        ParamSpec {
            kind: ParamKind::Write,
            size: 8,
            type_name: std::any::type_name::<Self>(),
        }
    }
    fn push(arg: &DeviceSliceMut<'_, T>, launch: KernelLaunch) -> KernelLaunch {
        launch.write(arg)
    }
}

impl<T: bytemuck::Pod> KernelParam for T {
    type Arg<'a> = T;
    fn spec() -> ParamSpec {
        ParamSpec {
            kind: ParamKind::Scalar,
            size: size_of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }
    fn push(arg: &T, launch: KernelLaunch) -> KernelLaunch {
        launch.scalar(*arg)
    }
}

/// A kernel's whole parameter list: a tuple of [`KernelParam`]s, in PTX order.
pub trait KernelSignature {
    /// The arguments of one launch: the tuple of each parameter's [`KernelParam::Arg`].
    type Args<'a>;
    /// The declarations, in order.
    fn specs() -> Vec<ParamSpec>;
    /// Appends every argument to a launch, in order.
    fn push(args: &Self::Args<'_>, launch: KernelLaunch) -> KernelLaunch;
}

macro_rules! signature {
    ($($p:ident $i:tt),*) => {
        impl<$($p: KernelParam),*> KernelSignature for ($($p,)*) {
            type Args<'a> = ($($p::Arg<'a>,)*);
            fn specs() -> Vec<ParamSpec> {
                vec![$($p::spec()),*]
            }
            #[allow(unused_variables)]
            fn push(args: &Self::Args<'_>, launch: KernelLaunch) -> KernelLaunch {
                $(let launch = $p::push(&args.$i, launch);)*
                launch
            }
        }
    };
}

signature!();
signature!(A 0);
signature!(A 0, B 1);
signature!(A 0, B 1, C 2);
signature!(A 0, B 1, C 2, D 3);
signature!(A 0, B 1, C 2, D 3, E 4);
signature!(A 0, B 1, C 2, D 3, E 4, F 5);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
signature!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// The launch arguments of kernel `K`.
pub type ArgsOf<'a, K> = <<K as UserKernel>::Params as KernelSignature>::Args<'a>;

/// A user kernel: declared once, launched through [`TypedKernel`].
///
/// # Safety
/// Implementing this trait promises that the PTX entry [`UserKernel::ENTRY`], launched with
/// arguments that [`UserKernel::validate`] accepts, touches device memory only through the
/// buffers passed, within their lengths, and writes only those declared [`Out`]. riptide
/// checks the parameter count and sizes against the PTX; it cannot check what the kernel
/// does with them.
pub unsafe trait UserKernel: 'static {
    /// The PTX entry's name.
    const ENTRY: &'static str;
    /// The parameters in PTX order: [`In<T>`], [`Out<T>`] or plain-data scalars.
    type Params: KernelSignature;

    /// Checks a launch's arguments against the kernel's contract (lengths that must agree,
    /// counts the kernel trusts); an error stops the launch. The default accepts all.
    fn validate(config: &LaunchConfig, args: &ArgsOf<'_, Self>) -> Result<()> {
        let _ = (config, args);
        Ok(())
    }

    /// The CPU implementation the cpu backend runs instead of the PTX: arguments are read
    /// by their index in the parameter list ([`KernelArgs::read`], [`KernelArgs::write`],
    /// [`KernelArgs::scalar`]).
    fn cpu(args: &mut KernelArgs<'_>) -> Result<()>;
}

/// Checks declared parameters against a PTX entry's: same count, same sizes, and a pointer
/// in the PTX is declared as a buffer.
pub fn check_signature(kernel: &str, declared: &[ParamSpec], entry: &EntryInfo) -> Result<()> {
    let err = |message: String| Error::KernelSignature {
        kernel: kernel.to_owned(),
        message,
    };
    let ptx_list = || {
        entry
            .params
            .iter()
            .map(|p| {
                format!(
                    "{}{} ({} bytes)",
                    if p.pointer { "pointer " } else { "" },
                    p.ty,
                    p.size
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if declared.len() != entry.params.len() {
        return Err(err(format!(
            "the launcher declares {} parameters but the PTX entry has {}: [{}]",
            declared.len(),
            entry.params.len(),
            ptx_list()
        )));
    }
    for (i, (d, p)) in declared.iter().zip(&entry.params).enumerate() {
        if d.size > MAX_SCALAR_BYTES {
            return Err(err(format!(
                "parameter {i} (`{}`) is {} bytes; at most {MAX_SCALAR_BYTES} can be passed by value",
                d.type_name, d.size
            )));
        }
        if d.size != p.size {
            return Err(err(format!(
                "parameter {i} ({}) is {} bytes (.{}) in the PTX but the launcher declares `{}` of {} bytes",
                p.name, p.size, p.ty, d.type_name, d.size
            )));
        }
        if p.pointer && d.kind == ParamKind::Scalar {
            return Err(err(format!(
                "parameter {i} ({}) is a pointer in the PTX but the launcher declares the scalar `{}`; \
                 declare it In<T> or Out<T>",
                p.name, d.type_name
            )));
        }
    }
    Ok(())
}

/// A user kernel bound to a loaded module: its parameters were checked against the PTX.
pub struct TypedKernel<K: UserKernel> {
    entry: UserEntry,
    _kernel: PhantomData<fn() -> K>,
}

impl<K: UserKernel> Clone for TypedKernel<K> {
    fn clone(&self) -> Self {
        TypedKernel {
            entry: self.entry.clone(),
            _kernel: PhantomData,
        }
    }
}

impl<K: UserKernel> std::fmt::Debug for TypedKernel<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TypedKernel").field(&self.entry).finish()
    }
}

impl LoadedModule {
    /// Binds kernel `K`, checking that the module has its entry and that the declared
    /// parameters match the entry's in count and sizes.
    pub fn kernel<K: UserKernel>(&self) -> Result<TypedKernel<K>> {
        let (entry, info) = self.entry(K::ENTRY)?;
        check_signature(K::ENTRY, &K::Params::specs(), info)?;
        Ok(TypedKernel {
            entry,
            _kernel: PhantomData,
        })
    }
}

impl<K: UserKernel> TypedKernel<K> {
    /// The launch `args` describe, after [`UserKernel::validate`]: for queuing with
    /// [`Stream::launch`] or adding to a graph.
    pub fn describe(&self, config: LaunchConfig, args: ArgsOf<'_, K>) -> Result<KernelLaunch> {
        K::validate(&config, &args)?;
        let launch = KernelLaunch::new(
            KernelRef::User(self.entry.clone()),
            config,
            Arc::new(K::cpu),
        );
        Ok(K::Params::push(&args, launch))
    }

    /// Queues the kernel on `stream` with shape `config`.
    pub fn launch(&self, stream: &Stream, config: LaunchConfig, args: ArgsOf<'_, K>) -> Result<()> {
        stream.launch(&self.describe(config, args)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct Pair {
        a: u64,
        b: f32,
        _pad: u32,
    }

    fn entry(ptx: &str) -> EntryInfo {
        riptide_build::ptx::entries(ptx).unwrap().remove(0)
    }

    #[test]
    fn declared_parameters_are_checked_in_count_size_and_pointerness() {
        let e = entry(
            ".visible .entry k(.param .u64 .ptr .align 1 k_param_0, .param .u64 k_param_1, \
             .param .align 8 .b8 k_param_2[16])\n{\n}\n",
        );
        type Good = (Out<f32>, u64, Pair);
        assert!(check_signature("k", &Good::specs(), &e).is_ok());

        let short = check_signature("k", &<(Out<f32>, u64)>::specs(), &e)
            .unwrap_err()
            .to_string();
        assert!(short.contains("kernel k"), "{short}");
        assert!(
            short.contains("declares 2 parameters but the PTX entry has 3"),
            "{short}"
        );

        let size = check_signature("k", &<(Out<f32>, u32, Pair)>::specs(), &e)
            .unwrap_err()
            .to_string();
        assert!(
            size.contains("parameter 1 (k_param_1) is 8 bytes (.u64)"),
            "{size}"
        );
        assert!(size.contains("`u32` of 4 bytes"), "{size}");

        let pointer = check_signature("k", &<(u64, u64, Pair)>::specs(), &e)
            .unwrap_err()
            .to_string();
        assert!(
            pointer.contains("parameter 0 (k_param_0) is a pointer"),
            "{pointer}"
        );
    }
}
