//! Turns a handler panic into a retryable failure instead of a dead task
//! (which would leave the message invisible until its timeout, with no
//! record of why).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use serde_json::Value;
use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Failure, Invocation, JobResult};

#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

fn panic_message(panic: Box<dyn Any + Send>) -> Failure {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    Failure::Panic(message)
}

impl<S> Service<Invocation> for CatchPanic<S>
where
    S: Service<Invocation, Response = Value, Error = Failure>,
    S::Future: Send + 'static,
{
    type Response = Value;
    type Error = Failure;
    type Future = BoxFuture<JobResult>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, inv: Invocation) -> Self::Future {
        // The handler's state is dropped with the unwound future (or never
        // built, if `call` itself panics); nothing of it is observed
        // afterwards, so unwind safety holds.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(inv))) {
            Ok(run) => Box::pin(async move { AssertUnwindSafe(run).catch_unwind().await.unwrap_or_else(|p| Err(panic_message(p))) }),
            Err(panic) => {
                let failure = panic_message(panic);
                Box::pin(async move { Err(failure) })
            }
        }
    }
}
