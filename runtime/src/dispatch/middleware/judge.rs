//! Decides the run's [`Verdict`] once, from the result and the retry policy.
//!
//! A retryable failure on the last allowed attempt is dead-lettered here,
//! with the last error as the reason: the queue's `maxReceiveCount` would
//! move it eventually, but silently; this makes the worker the primary
//! failure path.

use std::convert::Infallible;
use std::task::{Context, Poll};

use serde_json::Value;
use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Failure, Invocation, RetryPolicy, Verdict};

#[derive(Debug, Clone, Copy)]
pub struct JudgeLayer {
    pub policy: RetryPolicy,
}

impl<S> Layer<S> for JudgeLayer {
    type Service = Judge<S>;

    fn layer(&self, inner: S) -> Judge<S> {
        Judge { policy: self.policy, inner }
    }
}

#[derive(Debug, Clone)]
pub struct Judge<S> {
    policy: RetryPolicy,
    inner: S,
}

impl<S> Service<Invocation> for Judge<S>
where
    S: Service<Invocation, Response = Value, Error = Failure>,
    S::Future: Send + 'static,
{
    type Response = Verdict;
    type Error = Infallible;
    type Future = BoxFuture<Result<Verdict, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The stack below is always ready (capacity is decided before
        // receive); a failure there would be a job failure, not readiness.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, inv: Invocation) -> Self::Future {
        let (policy, attempt, received) = (self.policy, inv.ctx.attempt, inv.received);
        let run = self.inner.call(inv);
        Box::pin(async move { Ok(policy.judge(run.await, attempt, received, fastrand::f64())) })
    }
}
