//! Kernel entry points, one file per kernel family. Each entry's name is its constant in
//! [`crate::entries`]; its documentation states shapes, layout, thread mapping and the
//! `# Safety` contract its host launcher checks before launching.

mod debug;
mod elementwise;
mod gemm;
mod histogram;
mod map;
mod reduce;
mod scan;
mod stencil;
mod transpose;
