//! The job ledger: every delivery's start and outcome, in batched writes.
//!
//! Two statements do all the runtime's writing, each for a whole batch of
//! jobs in one round trip (arrays + UNNEST):
//!
//! - **start** upserts the row as `running`, bumps `attempts` and takes a
//!   lease — unless the job already `succeeded` (the row is left alone but
//!   for a duplicate counter, and the caller skips the handler) or another
//!   attempt holds an unexpired lease (the caller puts the message back).
//!   So at most one attempt of a job runs at a time, even when SQS or the
//!   outbox relay delivers it twice.
//! - **finish** upserts the outcome, fenced by the attempt number `start`
//!   returned: a stale attempt (whose lease expired and whose job another
//!   attempt took over) cannot overwrite the newer one, and nothing ever
//!   overwrites `succeeded`.
//!
//! The runtime deletes a message only after its finish write has committed.

use std::sync::Arc;
use std::time::Duration;

use jobfleet_contract::Pool;
use jobfleet_contract::error::error_chain;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::batch::{BatchSettings, Batcher, BatcherClosed, Linger};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Retrying,
    Succeeded,
    /// The job was understood but cannot succeed (a permanent error).
    Failed,
    /// The message was not a job we can run, or its retries ran out.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Dead)
    }
}

/// The facts every ledger write carries, so either write can create the row.
#[derive(Debug, Clone)]
pub struct StartItem {
    pub id: Uuid,
    /// How long this attempt may hold the job (its timeout plus a margin).
    pub lease: Duration,
    pub job_type: String,
    pub pool: Pool,
    pub idempotency_key: String,
    pub enqueued_at: OffsetDateTime,
    pub message_id: String,
}

#[derive(Debug, Clone)]
pub struct FinishItem {
    pub job: StartItem,
    /// The attempt number `start` returned; `None` for messages that never
    /// started (rejected before running).
    pub fence: Option<i32>,
    pub status: JobStatus,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub result: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginOutcome {
    /// Run the handler; this is attempt number `attempt` (the fence for finish).
    Run { attempt: i32 },
    /// The job already succeeded: delete the message without running.
    AlreadySucceeded,
    /// Another attempt is running it under an unexpired lease.
    Busy,
}

/// Whether a finish write was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    Recorded,
    /// A newer attempt owns the job (or it already succeeded): nothing written.
    Stale,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// `Arc`: one statement's failure is the result of every job in its batch.
    #[error("ledger write failed ({kind:?}): {}", error_chain(source.as_ref()))]
    Database { kind: DbErrorKind, source: Arc<sqlx::Error> },
    /// The worker is stopping and no longer waits for the write.
    #[error("ledger write abandoned: the worker is stopping")]
    Cancelled,
    #[error(transparent)]
    Closed(#[from] BatcherClosed),
}

/// What kind of database failure, decided from sqlx's typed error and the
/// SQLSTATE code, so callers retry only what a retry can fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The database is away, restarting, overloaded, or the statement lost a
    /// serialization race: the same write can succeed later.
    Transient,
    /// A constraint rejected the row: the same write fails the same way.
    Constraint,
    /// Anything else (a bad statement, a decoding error, a missing table).
    Other,
}

impl LedgerError {
    /// Whether retrying the same write can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Database { kind: DbErrorKind::Transient, .. })
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database { kind: DbErrorKind::of(&error), source: Arc::new(error) }
    }
}

impl DbErrorKind {
    pub fn of(error: &sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Transient,
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation | ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    Self::Constraint
                }
                _ => match db.code().as_deref() {
                    // Class 08 (connection exception), 40001 serialization
                    // failure, 40P01 deadlock, 53xxx insufficient resources,
                    // 57P01..57P03 shutdown / cannot connect now.
                    Some(code) if code.starts_with("08") || code.starts_with("53") => Self::Transient,
                    Some("40001" | "40P01" | "57P01" | "57P02" | "57P03") => Self::Transient,
                    _ => Self::Other,
                },
            },
            _ => Self::Other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ledger {
    pool: PgPool,
    starts: Batcher<StartItem, Result<BeginOutcome, LedgerError>>,
    finishes: Batcher<FinishItem, Result<FinishOutcome, LedgerError>>,
}

/// Rows per statement. Large enough that a busy pod writes a few
/// statements per second, small enough to keep each one quick.
const MAX_BATCH: usize = 500;

impl Ledger {
    pub fn new(pool: PgPool, flush_interval: Duration) -> Self {
        // Group commit: the start write is on every job's path to its
        // handler, so a lone write goes at once; under load rows pile up
        // while the previous statement runs.
        let settings =
            BatchSettings { max_items: MAX_BATCH, max_delay: flush_interval, max_concurrent_flushes: 4, linger: Linger::WhileFlushing };
        let db = pool.clone();
        let starts = Batcher::spawn("ledger_start", settings, move |items: Vec<StartItem>| {
            let db = db.clone();
            async move { fan_out(start_batch(&db, &items).await, items.len()) }
        });
        let db = pool.clone();
        let finishes = Batcher::spawn("ledger_finish", settings, move |items: Vec<FinishItem>| {
            let db = db.clone();
            async move { fan_out(finish_batch(&db, &items).await, items.len()) }
        });
        Self { pool, starts, finishes }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Records that a delivery is starting; tells whether to run it.
    pub async fn start(&self, item: StartItem) -> Result<BeginOutcome, LedgerError> {
        self.starts.submit(item).await?
    }

    /// Records the outcome durably (the statement has committed on `Ok`).
    pub async fn finish(&self, item: FinishItem) -> Result<FinishOutcome, LedgerError> {
        self.finishes.submit(item).await?
    }

    /// A cheap round trip for readiness.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop).map_err(LedgerError::from)
    }
}

fn fan_out<T>(result: Result<Vec<T>, LedgerError>, n: usize) -> Vec<Result<T, LedgerError>> {
    match result {
        Ok(values) => values.into_iter().map(Ok).collect(),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

/// Splits items into rounds in which each id appears once: Postgres refuses
/// an upsert that touches the same row twice in one statement, and the same
/// message can be delivered twice within one batch window.
fn rounds_by_id<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Vec<usize>> {
    let mut rounds: Vec<(std::collections::HashSet<Uuid>, Vec<usize>)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let key = id(item);
        match rounds.iter_mut().find(|(seen, _)| !seen.contains(&key)) {
            Some((seen, members)) => {
                seen.insert(key);
                members.push(index);
            }
            None => rounds.push((std::collections::HashSet::from([key]), vec![index])),
        }
    }
    rounds.into_iter().map(|(_, members)| members).collect()
}

const START_SQL: &str = r#"
INSERT INTO jobs AS j (id, job_type, pool, status, attempts, idempotency_key, enqueued_at, started_at,
                       last_message_id, lease_expires_at, updated_at)
SELECT id, job_type, pool, 'running', 1, idempotency_key, enqueued_at, now(), message_id,
       now() + make_interval(secs => lease_secs), now()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::float8[])
     AS u(id, job_type, pool, idempotency_key, enqueued_at, message_id, lease_secs)
ON CONFLICT (id) DO UPDATE SET
    status = CASE WHEN j.status = 'succeeded' THEN j.status ELSE 'running' END,
    attempts = CASE WHEN j.status = 'succeeded' THEN j.attempts ELSE j.attempts + 1 END,
    duplicate_deliveries = j.duplicate_deliveries + CASE WHEN j.status = 'succeeded' THEN 1 ELSE 0 END,
    started_at = CASE WHEN j.status = 'succeeded' THEN j.started_at ELSE now() END,
    finished_at = CASE WHEN j.status = 'succeeded' THEN j.finished_at ELSE NULL END,
    lease_expires_at = CASE WHEN j.status = 'succeeded' THEN NULL ELSE EXCLUDED.lease_expires_at END,
    last_message_id = EXCLUDED.last_message_id,
    updated_at = now()
-- A row another attempt holds is neither updated nor returned: "busy".
WHERE NOT (j.status = 'running' AND j.lease_expires_at > now())
RETURNING id, status, attempts
"#;

async fn start_batch(db: &PgPool, items: &[StartItem]) -> Result<Vec<BeginOutcome>, LedgerError> {
    let mut outcomes = vec![BeginOutcome::Busy; items.len()];
    for round in rounds_by_id(items, |i| i.id) {
        let rows: Vec<&StartItem> = round.iter().map(|&i| &items[i]).collect();
        let returned: Vec<(Uuid, String, i32)> = sqlx::query_as(START_SQL)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job_type.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.pool.as_str().to_owned()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.idempotency_key.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.enqueued_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_id.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lease.as_secs_f64()).collect::<Vec<_>>())
            .fetch_all(db)
            .await
            .map_err(LedgerError::from)?;
        let returned: std::collections::HashMap<Uuid, BeginOutcome> = returned
            .into_iter()
            .map(|(id, status, attempt)| {
                let outcome = if status == "succeeded" { BeginOutcome::AlreadySucceeded } else { BeginOutcome::Run { attempt } };
                (id, outcome)
            })
            .collect();
        for &index in &round {
            if let Some(outcome) = returned.get(&items[index].id) {
                outcomes[index] = *outcome;
            }
        }
    }
    Ok(outcomes)
}

const FINISH_SQL: &str = r#"
-- The proposed row's `attempts` carries the fence (0 = unfenced: a message
-- rejected before it started).
INSERT INTO jobs AS j (id, job_type, pool, status, attempts, idempotency_key, enqueued_at, finished_at,
                       last_error_class, last_error_message, result, last_message_id, updated_at)
SELECT id, job_type, pool, status, fence, idempotency_key, enqueued_at, CASE WHEN terminal THEN now() END,
       error_class, error_message, result::jsonb, message_id, now()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
            $7::text[], $8::bool[], $9::text[], $10::text[], $11::text[], $12::int4[])
     AS u(id, job_type, pool, idempotency_key, enqueued_at, message_id, status, terminal, error_class, error_message, result, fence)
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status,
    finished_at = EXCLUDED.finished_at,
    last_error_class = EXCLUDED.last_error_class,
    last_error_message = EXCLUDED.last_error_message,
    result = EXCLUDED.result,
    last_message_id = EXCLUDED.last_message_id,
    lease_expires_at = NULL,
    updated_at = now()
WHERE j.status <> 'succeeded' AND (EXCLUDED.attempts = 0 OR EXCLUDED.attempts = j.attempts)
RETURNING id
"#;

async fn finish_batch(db: &PgPool, items: &[FinishItem]) -> Result<Vec<FinishOutcome>, LedgerError> {
    let mut outcomes = vec![FinishOutcome::Stale; items.len()];
    for round in rounds_by_id(items, |i| i.job.id) {
        let rows: Vec<&FinishItem> = round.iter().map(|&i| &items[i]).collect();
        let applied: Vec<(Uuid,)> = sqlx::query_as(FINISH_SQL)
            .bind(rows.iter().map(|r| r.job.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job.job_type.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job.pool.as_str().to_owned()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job.idempotency_key.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job.enqueued_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.job.message_id.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.as_str().to_owned()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.is_terminal()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.error_class.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.error_message.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.result.as_ref().map(Value::to_string)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.fence.unwrap_or(0)).collect::<Vec<_>>())
            .fetch_all(db)
            .await
            .map_err(LedgerError::from)?;
        let applied: std::collections::HashSet<Uuid> = applied.into_iter().map(|(id,)| id).collect();
        for &index in &round {
            if applied.contains(&items[index].job.id) {
                outcomes[index] = FinishOutcome::Recorded;
            }
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_go_to_later_rounds_and_order_is_kept() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let rounds = rounds_by_id(&[a, b, a, a, b], |id| *id);
        assert_eq!(rounds, vec![vec![0, 1], vec![2, 4], vec![3]]);
    }

    /// A database error as Postgres reports it: a SQLSTATE code and sqlx's kind.
    #[derive(Debug, thiserror::Error)]
    #[error("{code}")]
    struct Pg {
        code: &'static str,
        unique_violation: bool,
    }

    impl sqlx::error::DatabaseError for Pg {
        fn message(&self) -> &str {
            self.code
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.code.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            if self.unique_violation { sqlx::error::ErrorKind::UniqueViolation } else { sqlx::error::ErrorKind::Other }
        }
    }

    fn pg(code: &'static str, unique_violation: bool) -> LedgerError {
        LedgerError::from(sqlx::Error::Database(Box::new(Pg { code, unique_violation })))
    }

    #[test]
    fn database_errors_have_kinds_and_only_transient_ones_are_retried() {
        let (unique, other) = (true, false);
        let refused = LedgerError::from(sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert!(matches!(refused, LedgerError::Database { kind: DbErrorKind::Transient, .. }) && refused.is_transient());
        assert!(LedgerError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(pg("57P01", other).is_transient(), "admin shutdown (failover)");
        assert!(pg("40001", other).is_transient(), "serialization failure");
        assert!(pg("08006", other).is_transient(), "connection failure");
        assert!(matches!(pg("23505", unique), LedgerError::Database { kind: DbErrorKind::Constraint, .. }));
        assert!(!pg("23505", unique).is_transient());
        assert!(matches!(pg("42P01", other), LedgerError::Database { kind: DbErrorKind::Other, .. }), "undefined table");
        assert!(!LedgerError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(!LedgerError::Cancelled.is_transient());
    }
}
