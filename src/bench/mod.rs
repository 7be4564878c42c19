//! Benchmark support shared by `riptide bench`, the criterion benches and the peer
//! comparison: the workloads, the sweeps and their report, and the report's charts.

pub mod graphs;
pub mod plot;
pub mod sweep;
pub mod workloads;
