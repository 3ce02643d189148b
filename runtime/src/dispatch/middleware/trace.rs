//! The one log line per run, from its verdict. It runs inside the `job`
//! span the processor opened for the message.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Invocation, Verdict};

#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

fn log(verdict: &Verdict, elapsed_ms: u64) {
    let (class, error) = (verdict.error_class().unwrap_or_default(), verdict.error_message().unwrap_or_default());
    match verdict {
        Verdict::Succeeded(_) => tracing::info!(elapsed_ms, "job succeeded"),
        Verdict::Retry { after_secs, .. } => {
            tracing::warn!(elapsed_ms, error_class = class, error, retry_in_secs = after_secs, "job failed; will retry")
        }
        Verdict::Failed(_) | Verdict::Exhausted { .. } => {
            tracing::error!(elapsed_ms, error_class = class, error, "job failed permanently; dead-lettering")
        }
    }
}

impl<S> Service<Invocation> for Trace<S>
where
    S: Service<Invocation, Response = Verdict, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Verdict;
    type Error = Infallible;
    type Future = BoxFuture<Result<Verdict, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, inv: Invocation) -> Self::Future {
        let started = Instant::now();
        let run = self.inner.call(inv);
        Box::pin(async move {
            let verdict = run.await?;
            log(&verdict, started.elapsed().as_millis() as u64);
            Ok(verdict)
        })
    }
}
