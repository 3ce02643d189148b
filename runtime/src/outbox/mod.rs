//! The transactional outbox relay.
//!
//! Producers that share the ledger database insert jobs into `job_outbox`
//! inside their own transaction (see docs/producers.md for the SQL
//! contract), so "the order is saved" and "the job is enqueued" commit
//! together. The relay publishes pending rows to SQS and marks them sent.

pub mod relay;

pub use relay::{Relay, RelayError};
