//! The jobfleet job contract and its handlers.
//!
//! This crate is what producers and handler authors depend on: the wire
//! [`Envelope`], the [`Job`] trait that ties a typed payload to its wire name,
//! version and pool, the [`Handler`] trait, and [`JobError`], the only way a
//! handler tells the runtime what to do with a failed message. The runtime
//! (`worker` crate) never inspects error types or strings to decide: it
//! matches on [`JobError`]'s variants.

pub mod aws;
pub mod claim_check;
pub mod context;
pub mod diag;
pub mod envelope;
pub mod error;
pub mod inference;
pub mod job;
pub mod media;
pub mod net;
pub mod notifications;
pub mod pool;
pub mod producer;
pub mod schema;
pub mod settings;

pub use context::JobContext;
pub use envelope::{DecodeError, DecodeErrorClass, Envelope};
pub use error::JobError;
pub use job::{Handler, Job, decode_payload};
pub use pool::Pool;
