//! Per-type hard timeout. A timed-out handler's future is dropped; its
//! message is retried like any transient failure.

use std::time::Duration;

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::{Failure, Invocation};

#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    pub limit: Duration,
}

impl Middleware for Timeout {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture {
        let limit = self.limit;
        Box::pin(async move { tokio::time::timeout(limit, next(inv)).await.unwrap_or(Err(Failure::Timeout(limit))) })
    }
}
