//! Replaces a claim-checked envelope's `payload_ref` with the payload from
//! S3, so handlers never see the difference. It sits inside the timeout (a
//! stuck S3 read is bounded like the handler) and inside the retry budget (a
//! flaky S3 counts as an attempt, and a missing object is permanent).

use std::sync::Arc;

use super::{BoxFuture, Middleware, Next};
use crate::dispatch::{Failure, Invocation};
use crate::store::claims::ClaimStore;

#[derive(Debug, Clone)]
pub struct ResolveClaimCheck {
    pub store: Arc<ClaimStore>,
}

impl Middleware for ResolveClaimCheck {
    fn around(&self, mut inv: Invocation, next: Next) -> BoxFuture {
        let store = self.store.clone();
        Box::pin(async move {
            if let Some(payload_ref) = inv.envelope.payload_ref.take() {
                let payload = store.fetch(&payload_ref).await.map_err(Failure::Job)?;
                inv.envelope.payload = Some(payload);
            }
            next(inv).await
        })
    }
}
