//! The element types device buffers hold.
//!
//! An [`Element`] is plain data: any bit pattern is a valid value, it has no padding, and
//! it can be passed to a kernel by value. The trait is sealed to the types riptide's
//! kernels and the `.npy` formats use.

use bytemuck::Pod;

mod sealed {
    pub trait Sealed {}
}

/// A type device buffers, pinned buffers and kernel scalars may hold.
pub trait Element:
    Pod + Send + Sync + PartialEq + std::fmt::Debug + 'static + sealed::Sealed
{
    /// Name used in messages and `.npy` headers, e.g. `f32`.
    const NAME: &'static str;
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const NAME: &'static str = stringify!($t);
        }
    )*};
}

element!(f32, f64, u32, i32, u64, i64, u8);
