//! Operator actions as a library: queue depths, the ledger (jobs get, list,
//! prune), enqueue, and the dead-letter tools (list, show, replay, redrive,
//! purge, history) with their audit trail. The `worker` binary's CLI and the
//! web console call the same functions, so both do exactly the same thing.

pub mod actions;
pub mod audit;
pub mod cli;
pub mod dlq;
pub mod enqueue;
pub mod errors;
pub mod filter;
pub mod jobs;
pub mod ledger;
pub mod queues;
pub mod replay;
pub mod service;
pub mod table;
