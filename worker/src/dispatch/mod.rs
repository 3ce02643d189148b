//! Typed dispatch: the router maps an envelope's `type` to a handler wrapped
//! in the middleware stack (see [`middleware`] for the order and why).

pub mod catalog;
pub mod handler_service;
pub mod invocation;
pub mod middleware;
pub mod router;

pub use invocation::{Failure, Invocation, JobResult};
pub use router::{Route, Router, StackSettings};
