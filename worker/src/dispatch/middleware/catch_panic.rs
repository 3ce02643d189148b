//! Turns a handler panic into a retryable failure instead of a dead task
//! (which would leave the message invisible until its timeout, with no
//! record of why).

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::{Failure, Invocation};

#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanic;

impl Middleware for CatchPanic {
    fn around(&self, inv: Invocation, next: Next) -> BoxFuture {
        Box::pin(async move {
            // The handler's state is dropped with the unwound future; nothing
            // of it is observed afterwards, so unwind safety holds.
            match AssertUnwindSafe(next(inv)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "non-string panic payload".to_owned());
                    Err(Failure::Panic(message))
                }
            }
        })
    }
}
