//! Reliability suite support: the fault proxy the scenarios put between the
//! worker and its dependencies, the effect job they count exactly-once
//! against, and the report they write. The scenarios themselves are this
//! crate's integration tests (`make test-reliability`).

pub mod effects;
pub mod fault_proxy;
pub mod report;
pub mod sqs_faults;
