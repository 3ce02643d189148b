//! Dead-letters a job whose retries are spent, with the last error as reason.
//!
//! The queue's maxReceiveCount would move it eventually, but silently and
//! without the reason; this layer makes the worker the primary failure path.

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::{Failure, Invocation};

#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    pub max_attempts: u32,
}

impl Middleware for RetryBudget {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture {
        let attempt = inv.ctx.attempt;
        let max_attempts = self.max_attempts;
        Box::pin(async move {
            match next(inv).await {
                Err(failure) if failure.is_retryable() && attempt >= max_attempts => {
                    Err(Failure::Exhausted { attempts: attempt, last: Box::new(failure) })
                }
                other => other,
            }
        })
    }
}
