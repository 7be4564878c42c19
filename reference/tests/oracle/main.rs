//! Tests of the CPU oracle: property tests that every parallel function equals its
//! sequential version (bit for bit where exact, within the references' derived f64 error
//! otherwise), hand-checked examples, argument errors, and checks that the error-bound
//! helpers are neither violated by correct f32 computations nor vacuous.

mod bounds;
mod elementwise;
mod errors;
mod gemm;
mod histogram;
mod inputs;
mod reduce;
mod scan;
mod stencil;
mod transpose;
