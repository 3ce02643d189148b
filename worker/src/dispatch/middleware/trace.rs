//! The `job` span and the one log line per run.

use tracing::Instrument;

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::Invocation;

#[derive(Debug, Clone, Copy, Default)]
pub struct Trace;

impl Middleware for Trace {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture {
        let span = tracing::info_span!(
            "job",
            job_id = %inv.ctx.id,
            job_type = inv.job_type,
            pool = inv.ctx.pool.as_str(),
            attempt = inv.ctx.attempt,
            message_id = %inv.message_id,
            traceparent = inv.envelope.traceparent.as_deref().unwrap_or(""),
        );
        Box::pin(
            async move {
                let started = std::time::Instant::now();
                let result = next(inv).await;
                let elapsed_ms = started.elapsed().as_millis() as u64;
                match &result {
                    Ok(_) => tracing::info!(elapsed_ms, "job succeeded"),
                    Err(f) if f.is_retryable() => {
                        tracing::warn!(elapsed_ms, error_class = f.class(), error = %f.message(), "job failed; will retry")
                    }
                    Err(f) => tracing::error!(elapsed_ms, error_class = f.class(), error = %f.message(), "job failed permanently"),
                }
                result
            }
            .instrument(span),
        )
    }
}
