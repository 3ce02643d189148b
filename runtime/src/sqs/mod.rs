//! Everything that talks to SQS: the instrumented client, the poller that
//! receives only what there is capacity for, the batched acknowledger, the
//! visibility heartbeat and backoff, dead-lettering and queue gauges.

pub mod acker;
pub mod client;
pub mod dead_letter;
pub mod error;
pub mod message;
pub mod poller;
pub mod priority;
pub mod queue_stats;
pub mod visibility;

pub use acker::Acker;
pub use client::Sqs;
pub use error::{SqsError, SqsErrorKind};
pub use message::Received;
