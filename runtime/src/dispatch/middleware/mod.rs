//! Cross-cutting behaviour around every handler, as tower layers.
//!
//! The order, outermost first, and why:
//!
//! 1. [`trace`]: the one log line per run, from its verdict. (The `job`
//!    span itself is opened by the processor around the message's whole
//!    life, so the ledger, ack and dead-letter logs are inside it too.)
//! 2. [`metrics`]: the in-flight gauge, the duration histogram by outcome
//!    and the retries counter; outside the judge, so it reads the verdict.
//! 3. [`judge`]: turns the result into the run's one [`Verdict`]
//!    (success, retry after a delay, failed, or exhausted on the last
//!    attempt), so it must see timeouts and panics as the failures they are.
//! 4. [`timeout`]: drops a handler that runs too long.
//! 5. [`catch_panic`]: so a panic — in the handler or while resolving its
//!    payload — becomes a `Failure` before any other layer's future is unwound.
//! 6. [`claim_check`]: innermost, fetches a `payload_ref` from S3 so the
//!    handler always gets a payload; inside the timeout and the judge so a
//!    slow or flaky S3 is bounded and counted like the handler.
//!
//! `jobfleet_jobs_total` is not counted here: the processor counts every
//! delivery once, including those that never reach a handler (duplicates,
//! malformed messages).
//!
//! Concurrency is not a layer: the poller receives only as many messages as
//! there are free slots, because SQS's visibility clock starts at receive.
//!
//! Each layer is a plain tower [`Layer`](tower::Layer) with its own
//! [`Service`](tower::Service): a run costs one boxed future per layer, not
//! the closures, clones and double boxing of a generic "around" adapter
//! (`runtime/tests/allocations.rs` counts them: 10 per no-op job, was 24).

pub mod catch_panic;
pub mod claim_check;
pub mod judge;
pub mod metrics;
pub mod timeout;
pub mod trace;

use std::future::Future;
use std::pin::Pin;

#[cfg(doc)]
use crate::dispatch::Verdict;

/// A layer's future: boxed once, so the stack's type stays nameable.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
