//! Adapts a typed [`Handler`] to the untyped service the router holds:
//! decode the payload (upcasting old versions), run, serialise the output.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jobfleet_contract::{Handler, Job, JobError, decode_payload};
use serde_json::Value;
use tower::Service;

use crate::dispatch::{Failure, Invocation, JobResult};

pub struct HandlerService<J, H> {
    handler: Arc<H>,
    _job: PhantomData<fn() -> J>,
}

impl<J, H> HandlerService<J, H> {
    pub fn new(handler: H) -> Self {
        Self { handler: Arc::new(handler), _job: PhantomData }
    }
}

impl<J, H> Clone for HandlerService<J, H> {
    fn clone(&self) -> Self {
        Self { handler: self.handler.clone(), _job: PhantomData }
    }
}

impl<J, H> std::fmt::Debug for HandlerService<J, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerService").field("job_type", &std::any::type_name::<J>()).finish()
    }
}

impl<J: Job, H: Handler<J>> Service<Invocation> for HandlerService<J, H> {
    type Response = Value;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = JobResult> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, inv: Invocation) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move {
            let payload = inv.envelope.payload.unwrap_or(Value::Null);
            let job: J = decode_payload(inv.envelope.version, payload).map_err(Failure::Job)?;
            let output = handler.handle(job, inv.ctx).await.map_err(Failure::Job)?;
            serde_json::to_value(output)
                .map_err(|e| Failure::Job(JobError::permanent("unserializable_result", format!("handler result: {e}"))))
        })
    }
}

/// Checks a payload against a job type without running it (`worker enqueue`).
pub fn validate_payload<J: Job>(version: u32, payload: Value) -> Result<(), JobError> {
    decode_payload::<J>(version, payload).map(drop)
}
