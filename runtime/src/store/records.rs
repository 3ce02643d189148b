//! Reading the ledger (`worker jobs get|list`, the API's status reads) and
//! keeping it bounded (`worker jobs prune`, and the periodic prune in
//! `worker run`).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// One job as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JobRecord {
    pub id: Uuid,
    pub job_type: String,
    pub pool: String,
    pub status: String,
    pub attempts: i32,
    pub idempotency_key: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub enqueued_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub last_error_class: Option<String>,
    pub last_error_message: Option<String>,
    pub result: Option<Value>,
    pub duplicate_deliveries: i32,
}

const COLUMNS: &str = "id, job_type, pool, status, attempts, idempotency_key, enqueued_at, started_at, finished_at, \
                       updated_at, last_error_class, last_error_message, result, duplicate_deliveries";

/// `worker jobs list` filters; all optional, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    /// Exact type, or a prefix with a trailing `*` (`media.*`).
    pub job_type: Option<String>,
    /// Updated at or after.
    pub since: Option<OffsetDateTime>,
    pub limit: i64,
}

pub async fn get(db: &PgPool, id: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as::<_, JobRecord>(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn list(db: &PgPool, filter: &ListFilter) -> Result<Vec<JobRecord>, sqlx::Error> {
    let (type_exact, type_prefix) = match filter.job_type.as_deref() {
        Some(t) => match t.strip_suffix('*') {
            Some(prefix) => (None, Some(format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))),
            None => (Some(t.to_owned()), None),
        },
        None => (None, None),
    };
    // One static statement with optional parameters: the planner uses
    // jobs_status_updated_idx when a status is given.
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::text IS NULL OR job_type = $2)
           AND ($3::text IS NULL OR job_type LIKE $3)
           AND ($4::timestamptz IS NULL OR updated_at >= $4)
         ORDER BY updated_at DESC, id DESC
         LIMIT $5"
    );
    sqlx::query_as::<_, JobRecord>(sqlx::AssertSqlSafe(sql))
        .bind(filter.status.as_deref())
        .bind(type_exact)
        .bind(type_prefix)
        .bind(filter.since)
        .bind(filter.limit.max(1))
        .fetch_all(db)
        .await
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Finished jobs (succeeded, failed, dead) older than the cut-off.
    pub jobs: u64,
    /// Outbox rows sent before the cut-off.
    pub outbox: u64,
}

/// Rows deleted per statement: short transactions, so a prune of millions of
/// rows never holds locks or bloats WAL in one go, and running it on several
/// pods at once is harmless (`SKIP LOCKED`).
const PRUNE_BATCH: i64 = 5_000;

/// Deletes finished jobs and sent outbox rows that finished before
/// `now - older_than`. Running and retrying jobs are never touched.
pub async fn prune(db: &PgPool, older_than: Duration) -> Result<Pruned, sqlx::Error> {
    let cutoff = OffsetDateTime::now_utc() - older_than;
    let mut pruned = Pruned::default();
    loop {
        let deleted = sqlx::query(
            "DELETE FROM jobs WHERE id IN (
                 SELECT id FROM jobs
                 WHERE finished_at < $1 AND status IN ('succeeded', 'failed', 'dead')
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(cutoff)
        .bind(PRUNE_BATCH)
        .execute(db)
        .await?
        .rows_affected();
        pruned.jobs += deleted;
        if deleted < PRUNE_BATCH as u64 {
            break;
        }
    }
    loop {
        let deleted = sqlx::query(
            "DELETE FROM job_outbox WHERE seq IN (
                 SELECT seq FROM job_outbox WHERE sent_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(cutoff)
        .bind(PRUNE_BATCH)
        .execute(db)
        .await?
        .rows_affected();
        pruned.outbox += deleted;
        if deleted < PRUNE_BATCH as u64 {
            break;
        }
    }
    Ok(pruned)
}

/// The SQS maximum message retention: a ledger row younger than this may
/// still meet a redelivery of its message, and deleting it would let that
/// redelivery run the job a second time.
pub const MIN_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// `worker run`'s retention task: prunes every `every`, starting at a random
/// point in the first interval so a fleet's pods do not all prune at once.
pub async fn prune_periodically(db: PgPool, older_than: Duration, every: Duration, stop: tokio_util::sync::CancellationToken) {
    let first = every.mul_f64(fastrand::f64());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match prune(&db, older_than).await {
            Ok(pruned) => tracing::info!(jobs = pruned.jobs, outbox = pruned.outbox, "ledger pruned"),
            Err(e) => tracing::warn!(error = %e, "ledger prune failed; retrying next interval"),
        }
    }
}
