//! Operator commands that are not the daemon: enqueue, queues, the ledger
//! (jobs get, list, prune) and the DLQ tools (list, show, replay, redrive,
//! purge, history).

pub mod actions;
pub mod audit;
pub mod cli;
pub mod dlq;
pub mod enqueue;
pub mod errors;
pub mod filter;
pub mod jobs;
pub mod queues;
pub mod replay;
pub mod table;
