//! Reading the ledger for the web console: job search with keyset
//! pagination, one job with what is known of its envelope, and per-pool
//! throughput. The SQL is built with only the criteria given, so each
//! search is planned against the index that fits it (see the
//! `jobs_*_updated_id_idx` migration) instead of one generic plan.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use jobfleet_runtime::store::records::JobRecord;

/// The statuses a job row can have (the table's CHECK).
pub const STATUSES: [&str; 6] = ["queued", "running", "retrying", "succeeded", "failed", "dead"];
/// The most rows one page returns.
pub const MAX_PAGE: u32 = 200;

const COLUMNS: &str = "id, job_type, pool, status, attempts, idempotency_key, enqueued_at, started_at, finished_at, \
                       updated_at, last_error_class, last_error_message, result, duplicate_deliveries";

/// Where a page ends: the next page starts strictly after this row in
/// (updated_at DESC, id DESC) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    /// `<unix nanos>.<uuid>`: opaque to users, safe in a URL.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.updated_at.unix_timestamp_nanos(), self.id.simple())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (nanos, id) = text.split_once('_')?;
        let updated_at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
        Some(Self { updated_at, id: Uuid::try_parse(id).ok()? })
    }
}

/// A job search; every given criterion must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub status: Option<String>,
    pub pool: Option<String>,
    /// A prefix of the job type (`media.` or `media.thumbnail`).
    pub type_prefix: Option<String>,
    pub error_class: Option<String>,
    /// Updated at or after.
    pub from: Option<OffsetDateTime>,
    /// Updated before.
    pub to: Option<OffsetDateTime>,
    pub id: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<String>,
}

fn like_prefix(prefix: &str) -> String {
    format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// The statement and its parameters for `query`.
pub fn search_sql(query: &JobQuery) -> QueryBuilder<Postgres> {
    statement(query, "")
}

/// The plan Postgres makes for `query` (`make bench-console` checks it has no sequential scan).
pub async fn explain_search(db: &PgPool, query: &JobQuery) -> Result<Vec<String>, sqlx::Error> {
    let mut sql = statement(query, "EXPLAIN ");
    sql.build_query_scalar().fetch_all(db).await
}

fn statement(query: &JobQuery, prefix: &str) -> QueryBuilder<Postgres> {
    let mut sql = QueryBuilder::new(format!("{prefix}SELECT {COLUMNS} FROM jobs WHERE true"));
    if let Some(status) = &query.status {
        sql.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(pool) = &query.pool {
        sql.push(" AND pool = ").push_bind(pool.clone());
    }
    if let Some(prefix) = &query.type_prefix {
        sql.push(" AND job_type LIKE ").push_bind(like_prefix(prefix));
    }
    if let Some(class) = &query.error_class {
        sql.push(" AND last_error_class = ").push_bind(class.clone());
    }
    if let Some(from) = query.from {
        sql.push(" AND updated_at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND updated_at < ").push_bind(to);
    }
    if let Some(id) = query.id {
        sql.push(" AND id = ").push_bind(id);
    }
    if let Some(key) = &query.idempotency_key {
        sql.push(" AND idempotency_key = ").push_bind(key.clone());
    }
    if let Some(after) = query.after {
        sql.push(" AND (updated_at, id) < (").push_bind(after.updated_at).push(", ").push_bind(after.id).push(")");
    }
    let limit = i64::from(query.limit.clamp(1, MAX_PAGE));
    // One row more than the page tells whether a next page exists.
    sql.push(" ORDER BY updated_at DESC, id DESC LIMIT ").push_bind(limit + 1);
    sql
}

/// One page of jobs matching `query`, newest first.
pub async fn search(db: &PgPool, query: &JobQuery) -> Result<JobPage, sqlx::Error> {
    let mut sql = search_sql(query);
    let mut jobs: Vec<JobRecord> = sql.build_query_as().fetch_all(db).await?;
    let limit = query.limit.clamp(1, MAX_PAGE) as usize;
    let next = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|last| Cursor { updated_at: last.updated_at, id: last.id }.encode())
    } else {
        None
    };
    Ok(JobPage { jobs, next })
}

/// A job's envelope, when the database has it: the outbox keeps the body
/// of jobs enqueued through it (jobs sent straight to SQS exist only as
/// messages; the console shows the DLQ copy when there is one).
pub async fn outbox_envelope(db: &PgPool, id: Uuid) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT body FROM job_outbox WHERE job_id = $1").bind(id).fetch_optional(db).await
}

/// Finished jobs of one pool in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HourBucket {
    pub pool: String,
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    pub succeeded: i64,
    /// `failed` and `dead`.
    pub failed: i64,
}

/// Per pool and hour, the last 24 hours of finished jobs (the overview's
/// chart and its hour/day totals). Reads `jobs_pool_finished_idx`.
pub async fn throughput(db: &PgPool, now: OffsetDateTime) -> Result<Vec<HourBucket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT pool, date_trunc('hour', finished_at) AS hour, \
                count(*) FILTER (WHERE status = 'succeeded') AS succeeded, \
                count(*) FILTER (WHERE status IN ('failed', 'dead')) AS failed \
         FROM jobs WHERE finished_at IS NOT NULL AND finished_at >= $1 \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(now - time::Duration::hours(24))
    .fetch_all(db)
    .await
}

/// Per pool, the age in seconds of the oldest job still waiting (queued
/// or retrying): the ledger's view of "oldest message", which SQS does not give.
pub async fn oldest_waiting(db: &PgPool, now: OffsetDateTime) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT pool, floor(extract(epoch FROM ($1 - min(coalesce(enqueued_at, updated_at)))))::bigint \
         FROM jobs WHERE status IN ('queued', 'retrying') GROUP BY pool",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor { updated_at: OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_789).expect("t"), id: Uuid::now_v7() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "x_y", "1_notauuid", "abc"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_given_criteria_are_in_the_statement() {
        let sql = search_sql(&JobQuery { limit: 50, ..JobQuery::default() }).into_sql().as_str().to_owned();
        assert!(!sql.contains("status =") && !sql.contains("LIKE"), "{sql}");
        let sql = search_sql(&JobQuery { status: Some("dead".into()), type_prefix: Some("a_b".into()), limit: 50, ..JobQuery::default() })
            .into_sql()
            .as_str()
            .to_owned();
        assert!(sql.contains("status = $1") && sql.contains("job_type LIKE $2"), "{sql}");
        assert_eq!(like_prefix("a_b%"), "a\\_b\\%%");
    }
}
