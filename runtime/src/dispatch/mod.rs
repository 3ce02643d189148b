//! Typed dispatch: the router maps an envelope's `type` to a handler wrapped
//! in the middleware stack (see [`middleware`] for the order and why), which
//! ends each run in one [`Verdict`].

pub mod catalog;
pub(crate) mod fairness;
pub mod handler_service;
pub mod invocation;
pub mod middleware;
pub(crate) mod ordering;
pub mod router;
pub mod verdict;

pub use invocation::{Failure, Invocation, JobResult};
pub use router::{Route, Router, RouterError, StackSettings};
pub use verdict::{RetryPolicy, Verdict};
