//! Cross-cutting behaviour around every handler, as tower layers.
//!
//! The order, outermost first, and why:
//!
//! 1. [`trace`]: opens the `job` span (id, type, pool, attempt, message id)
//!    so everything below — including timeouts and panics — logs inside it.
//! 2. [`metrics`]: counts the *final* verdict and its duration, so it sits
//!    outside everything that can change the verdict.
//! 3. [`retry_budget`]: turns a retryable failure on the last allowed
//!    attempt into `Exhausted` (dead-lettered), so it must see timeouts and
//!    panics as the failures they are.
//! 4. [`timeout`]: drops a handler that runs too long.
//! 5. [`catch_panic`]: so a panic — in the handler or while resolving its
//!    payload — becomes a `Failure` before any other layer's future is unwound.
//! 6. [`claim_check`]: innermost, fetches a `payload_ref` from S3 so the
//!    handler always gets a payload; inside the timeout and the retry budget
//!    so a slow or flaky S3 is bounded and counted like the handler.
//!
//! Concurrency is not a layer: the poller receives only as many messages as
//! there are free slots, because SQS's visibility clock starts at receive.
//!
//! Each layer is a [`Middleware`]: one `around` function that may inspect
//! the invocation and wraps the call to the next service.

pub mod catch_panic;
pub mod claim_check;
pub mod metrics;
pub mod retry_budget;
pub mod timeout;
pub mod trace;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use crate::dispatch::{Failure, Invocation, JobResult};

pub type BoxFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;

/// The rest of the stack below a middleware.
pub type Next = Box<dyn FnOnce(Invocation) -> BoxFuture + Send>;

pub trait Middleware: Clone + Send + Sync + 'static {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture;
}

/// Makes any [`Middleware`] a tower [`Layer`].
#[derive(Debug, Clone)]
pub struct MiddlewareLayer<M>(pub M);

impl<M: Middleware, S> Layer<S> for MiddlewareLayer<M> {
    type Service = MiddlewareService<M, S>;

    fn layer(&self, inner: S) -> Self::Service {
        MiddlewareService { middleware: self.0.clone(), inner }
    }
}

#[derive(Debug, Clone)]
pub struct MiddlewareService<M, S> {
    middleware: M,
    inner: S,
}

impl<M, S> Service<Invocation> for MiddlewareService<M, S>
where
    M: Middleware,
    S: Service<Invocation, Response = serde_json::Value, Error = Failure> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = serde_json::Value;
    type Error = Failure;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        // Every service in the stack is always ready; readiness (capacity)
        // is decided before receive, not here.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, inv: Invocation) -> BoxFuture {
        let inner = self.inner.clone();
        let next: Next = Box::new(move |inv| Box::pin(inner.oneshot(inv)));
        self.middleware.around(inv, next)
    }
}
