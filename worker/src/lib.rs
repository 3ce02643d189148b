//! The jobfleet worker runtime.
//!
//! A [`runtime::start`]ed worker long-polls its pool's SQS queue, runs each
//! message through the [`dispatch`] router and middleware, records every
//! outcome in the Postgres ledger ([`store`]) before acknowledging it on
//! SQS ([`sqs`]), and exports metrics and health on the [`admin`] port.
//! See docs/ARCHITECTURE.md for the life of one message.

pub mod admin;
pub mod batch;
pub mod config;
pub mod dispatch;
pub mod ops;
pub mod outbox;
pub mod runtime;
pub mod shutdown;
pub mod sqs;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use dispatch::Router;
pub use shutdown::Shutdown;
