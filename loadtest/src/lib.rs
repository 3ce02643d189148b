//! jobfleet's load generator, benchmark suite, report and autoscaling model.
//! `bash loadtest/bench.sh` is the entry point; see docs/benchmarks.md.

pub mod emu;
pub mod generator;
pub mod procfs;
pub mod report;
pub mod results;
pub mod stats;
pub mod suite;
