//! What a handler knows about the delivery it is running.

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Pool;

/// Per-delivery facts a handler may need. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job id (stable across redeliveries and replays).
    pub id: Uuid,
    /// The pool running the job.
    pub pool: Pool,
    /// 1 on the first run. Counts real runs of the job (the ledger's attempt,
    /// which put-backs and releases do not bump), restarting at 1 when an
    /// operator replays it; it can over-count after a consumer crash but
    /// never under-counts.
    pub attempt: u32,
    /// Use this key for every external side effect (an `Idempotency-Key`
    /// header, a deterministic S3 key, a unique constraint): SQS delivers at
    /// least once, and only the handler can make the *effect* happen once.
    pub idempotency_key: String,
    /// When the producer created the job.
    pub created_at: OffsetDateTime,
    /// Cancelled when the worker must stop at once (second signal, or the
    /// drain timeout ran out). Long handlers should watch it and return a
    /// retryable error; the message is then released for another worker.
    pub cancel: CancellationToken,
}

impl JobContext {
    /// A context for calling a handler directly, e.g. in a unit test.
    pub fn for_test(pool: Pool) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            pool,
            attempt: 1,
            idempotency_key: id.to_string(),
            created_at: OffsetDateTime::now_utc(),
            cancel: CancellationToken::new(),
        }
    }
}
