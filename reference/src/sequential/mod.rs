//! Plain sequential versions of every reference function: simple loops in index order, no
//! rayon, written to be obviously correct.
//!
//! They take the same arguments, validate them the same way and have the same results as
//! the parallel functions — bit for bit where those are exact, and within the references'
//! own f64 error where they are f64 sums (these sum strictly left to right). The property
//! tests use them to check the parallel decompositions.

pub mod elementwise;
pub mod gemm;
pub mod histogram;
pub mod reduce;
pub mod scan;
pub mod stencil;
pub mod transpose;
