//! Per-type hard timeout. A timed-out handler's future is dropped; its
//! message is retried like any transient failure.

use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;
use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Failure, Invocation, JobResult};

#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    pub limit: Duration,
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout { limit: self.limit, inner }
    }
}

#[derive(Debug, Clone)]
pub struct Timeout<S> {
    limit: Duration,
    inner: S,
}

impl<S> Service<Invocation> for Timeout<S>
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
        let limit = self.limit;
        let run = self.inner.call(inv);
        Box::pin(async move { tokio::time::timeout(limit, run).await.unwrap_or(Err(Failure::Timeout(limit))) })
    }
}
