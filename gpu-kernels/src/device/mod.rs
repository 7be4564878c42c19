//! The device layer: the GPU primitives riptide's kernels are written with, in the role
//! `cuda_std` plays for rust-cuda. It exists only when compiling for `nvptx64`.
//!
//! | module | what lives there |
//! |---|---|
//! | [`grid`] | grid dependency control: waiting for grids launched before this one |
//! | [`index`] | thread, block and grid coordinates; grid-stride loops |
//! | [`shared`] | dynamic shared memory and block barriers |
//! | [`warp`] | lane ids, shuffles, votes, warp-wide reductions |
//! | [`atomic`] | atomics on global and shared memory |
//! | [`math`] | fused multiply-add and PTX approximate (fast-math) instructions |
//! | [`memory`] | 16-byte vector loads and stores |
//! | [`unroll`] | straight-line unrolling for loops over register arrays |
//!
//! Safe functions here are safe in every context a kernel runs in. The `unsafe` ones state
//! in a `# Safety` section what the caller must uphold — usually that a pointer is valid
//! for the access, or that every thread of the block (or warp) reaches the call.

pub mod atomic;
pub mod grid;
pub mod index;
pub mod math;
pub mod memory;
pub mod shared;
pub mod state_space;
pub mod unroll;
pub mod warp;
