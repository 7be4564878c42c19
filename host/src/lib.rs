//! riptide's orchestration library.
//!
//! | module | what lives there |
//! |---|---|
//! | [`backend`] | devices, streams, events, buffers: the interface every layer above is written against, with a CUDA and an emulated CPU implementation |
//! | [`launch`] | a kernel launch described once for every backend |
//! | [`kernels`] | one typed launcher per built-in kernel |
//! | [`module`], [`typed`] | user kernel modules built with `riptide-build`, and their typed launchers |
//! | [`pipeline`] | chunked multi-stream streaming of data larger than device memory |
//! | [`error`] | the one error type |
//!
//! Data flows one way: a planner builds work from these types, the backend runs it. Nothing
//! above [`backend`] calls the CUDA driver, and kernels never know about streams.

pub mod backend;
pub mod element;
pub mod error;
pub mod kernels;
pub mod launch;
pub mod measure;
pub mod module;
pub mod pipeline;
pub mod typed;

pub use backend::{
    BackendChoice, BackendKind, Device, DeviceBuffer, DeviceInfo, DeviceRead, DeviceSlice,
    DeviceSliceMut, DeviceWrite, Event, HostRead, HostWrite, PinnedBuffer, Stream,
};
pub use element::Element;
pub use error::{Error, ErrorKind, Result};
