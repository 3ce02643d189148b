//! The transactional outbox, producer side: insert a job in the same
//! database transaction as the business change that causes it, so the job
//! exists exactly when that transaction commits. `worker relay` (or the fleet
//! service) publishes the rows to SQS. The SQL contract, usable from any
//! language, is in docs/producers.md; this is its Rust form.
//!
//! ```no_run
//! # async fn demo(db: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! use jobfleet_contract::{Pool, outbox};
//! let mut tx = db.begin().await?;
//! // ... the producer's own writes ...
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Report { id: u64 }
//! # impl jobfleet_contract::Job for Report {
//! #     const TYPE: &'static str = "reports.render";
//! #     const POOL: Option<Pool> = Some(Pool::from_static("reports"));
//! # }
//! let envelope = outbox::enqueue_job(&mut tx, &Report { id: 7 }).await.map_err(|e| match e {
//!     outbox::OutboxError::Database(e) => e,
//!     other => sqlx::Error::Protocol(other.to_string()),
//! })?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::{Envelope, Job, Pool};

/// Inserts `envelope` for `pool` into the outbox inside the caller's
/// transaction; `not_before` delays publishing (beyond SQS's 15 minutes).
pub async fn enqueue_tx(
    tx: &mut Transaction<'_, Postgres>,
    pool: Pool,
    envelope: &Envelope,
    not_before: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    enqueue_tx_in_group(tx, pool, envelope, not_before, None).await
}

/// [`enqueue_tx`] with a `MessageGroupId`: the group of a FIFO pool (jobs
/// of one group run in order) or the tenant on a standard queue. The relay
/// publishes the row with it (and, to a FIFO queue, the job id as the
/// deduplication id).
pub async fn enqueue_tx_in_group(
    tx: &mut Transaction<'_, Postgres>,
    pool: Pool,
    envelope: &Envelope,
    not_before: Option<OffsetDateTime>,
    message_group_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_outbox (job_id, pool, job_type, body, not_before, message_group_id)
         VALUES ($1, $2, $3, $4::jsonb, COALESCE($5, now()), $6)",
    )
    .bind(envelope.id)
    .bind(pool.as_str())
    .bind(&envelope.job_type)
    .bind(envelope.to_json())
    .bind(not_before)
    .bind(message_group_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Why a typed job could not be put in the outbox.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{job_type} is accepted by every pool: name the pool with `enqueue_job_in`")]
    NoPool { job_type: &'static str },
    #[error("could not serialize the {job_type} payload: {source}")]
    Serialize { job_type: &'static str, source: serde_json::Error },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Inserts a typed job for its home pool (`J::POOL`); returns its envelope
/// (the id is the job's id in the ledger).
pub async fn enqueue_job<J: Job>(tx: &mut Transaction<'_, Postgres>, job: &J) -> Result<Envelope, OutboxError> {
    let pool = J::POOL.ok_or(OutboxError::NoPool { job_type: J::TYPE })?;
    enqueue_job_in(tx, pool, job, None).await
}

/// Inserts a typed job for `pool`, published no earlier than `not_before`.
pub async fn enqueue_job_in<J: Job>(
    tx: &mut Transaction<'_, Postgres>,
    pool: Pool,
    job: &J,
    not_before: Option<OffsetDateTime>,
) -> Result<Envelope, OutboxError> {
    let envelope = Envelope::new(job).map_err(|source| OutboxError::Serialize { job_type: J::TYPE, source })?;
    enqueue_tx(tx, pool, &envelope, not_before).await?;
    Ok(envelope)
}
