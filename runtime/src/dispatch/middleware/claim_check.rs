//! Replaces a claim-checked envelope's `payload_ref` with the payload from
//! S3, so handlers never see the difference. It sits inside the timeout (a
//! stuck S3 read is bounded like the handler) and inside the judge (a flaky
//! S3 counts as an attempt, and a missing object is permanent).
//!
//! The payload is deleted only after the job's success is recorded and its
//! message deleted (a redelivery before that must still find it), so the
//! release is the processor's: `ClaimStore::release`, next to
//! `ClaimStore::fetch` in `store/claims.rs`.

use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;
use tower::{Layer, Service};

use super::BoxFuture;
use crate::dispatch::{Failure, Invocation, JobResult};
use crate::store::claims::ClaimStore;

#[derive(Debug, Clone)]
pub struct ClaimCheckLayer {
    pub store: Arc<ClaimStore>,
}

impl<S> Layer<S> for ClaimCheckLayer {
    type Service = ResolveClaimCheck<S>;

    fn layer(&self, inner: S) -> ResolveClaimCheck<S> {
        ResolveClaimCheck { store: self.store.clone(), inner }
    }
}

#[derive(Debug, Clone)]
pub struct ResolveClaimCheck<S> {
    store: Arc<ClaimStore>,
    inner: S,
}

impl<S> Service<Invocation> for ResolveClaimCheck<S>
where
    // The handler's own boxed future: returned as is when there is nothing
    // to fetch, not boxed again.
    S: Service<Invocation, Response = Value, Error = Failure, Future = BoxFuture<JobResult>> + Clone + Send + 'static,
{
    type Response = Value;
    type Error = Failure;
    type Future = BoxFuture<JobResult>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut inv: Invocation) -> Self::Future {
        let Some(payload_ref) = inv.envelope.payload_ref.take() else {
            return self.inner.call(inv);
        };
        // The inner call waits for the fetch: take the service that was
        // made ready and leave a clone in its place (tower's usual move).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = self.store.clone();
        Box::pin(async move {
            inv.envelope.payload = Some(store.fetch(&payload_ref).await.map_err(Failure::Job)?);
            inner.call(inv).await
        })
    }
}
