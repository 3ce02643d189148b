//! The `dlq_audit` table: who replayed, redrove or purged what, and how it
//! ended. A row is written before the action touches SQS and updated at the
//! end, so an interrupted or crashed run is visible (`finished = false`).

use jobfleet_contract::Pool;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Replay,
    Redrive,
    Purge,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::Redrive => "redrive",
            Action::Purge => "purge",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewEntry {
    pub action: Action,
    pub actor: String,
    pub env: String,
    pub pool: Pool,
    pub queue: String,
    pub filters: Value,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub matched: u64,
    pub moved: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// One row, as `worker dlq history --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub action: String,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub env: String,
    pub pool: String,
    pub queue: String,
    pub filters: Value,
    pub dry_run: bool,
    pub matched: i64,
    pub moved: i64,
    pub skipped: i64,
    pub failed: i64,
    pub finished: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub outcome: Option<String>,
}

/// The actor: `--actor`, else `$USER`, else `unknown`.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes the row for an action about to start; returns its id.
pub async fn begin(db: &PgPool, entry: &NewEntry) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO dlq_audit (action, actor, env, pool, queue, filters, dry_run) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(entry.action.as_str())
    .bind(&entry.actor)
    .bind(&entry.env)
    .bind(entry.pool.as_str())
    .bind(&entry.queue)
    .bind(&entry.filters)
    .bind(entry.dry_run)
    .fetch_one(db)
    .await
}

/// Records the counts reached so far (the row stays unfinished).
pub async fn progress(db: &PgPool, id: i64, tally: Tally) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dlq_audit SET matched = $2, moved = $3, skipped = $4, failed = $5 WHERE id = $1 AND NOT finished")
        .bind(id)
        .bind(db_int(tally.matched))
        .bind(db_int(tally.moved))
        .bind(db_int(tally.skipped))
        .bind(db_int(tally.failed))
        .execute(db)
        .await
        .map(drop)
}

/// Records the final counts and how the action ended.
pub async fn finish(db: &PgPool, id: i64, tally: Tally, outcome: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dlq_audit SET matched = $2, moved = $3, skipped = $4, failed = $5, finished = true, finished_at = now(), outcome = $6 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(db_int(tally.matched))
    .bind(db_int(tally.moved))
    .bind(db_int(tally.skipped))
    .bind(db_int(tally.failed))
    .bind(outcome)
    .execute(db)
    .await
    .map(drop)
}

/// The newest entries of `env` (optionally one pool), newest first.
pub async fn history(db: &PgPool, env: &str, pool: Option<Pool>, limit: u32) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, action, actor, at, env, pool, queue, filters, dry_run, matched, moved, skipped, failed, finished, finished_at, outcome \
         FROM dlq_audit WHERE env = $1 AND ($2::text IS NULL OR pool = $2) ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(env)
    .bind(pool.map(Pool::as_str))
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

/// Where an action was started: the audit row's `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Cli,
    Console,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Console => "console",
        }
    }
}

/// One row with the console's columns (origin, stop request).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Record {
    pub id: i64,
    pub action: String,
    pub actor: String,
    pub origin: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub env: String,
    pub pool: String,
    pub queue: String,
    pub filters: Value,
    pub dry_run: bool,
    pub matched: i64,
    pub moved: i64,
    pub skipped: i64,
    pub failed: i64,
    pub finished: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub outcome: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub stop_requested_at: Option<OffsetDateTime>,
    pub stop_requested_by: Option<String>,
}

const RECORD_COLUMNS: &str = "id, action, actor, origin, at, env, pool, queue, filters, dry_run, matched, moved, skipped, failed, \
                              finished, finished_at, outcome, stop_requested_at, stop_requested_by";

/// [`begin`] for an action started from `origin`.
pub async fn begin_from(db: &PgPool, entry: &NewEntry, origin: Origin) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO dlq_audit (action, actor, env, pool, queue, filters, dry_run, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id",
    )
    .bind(entry.action.as_str())
    .bind(&entry.actor)
    .bind(&entry.env)
    .bind(entry.pool.as_str())
    .bind(&entry.queue)
    .bind(&entry.filters)
    .bind(entry.dry_run)
    .bind(origin.as_str())
    .fetch_one(db)
    .await
}

pub async fn get(db: &PgPool, env: &str, id: i64) -> Result<Option<Record>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RECORD_COLUMNS} FROM dlq_audit WHERE env = $1 AND id = $2")))
        .bind(env)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Asks a running action to stop; true when the row was running and had
/// no stop request yet. The run reads it with [`stop_requested`].
pub async fn request_stop(db: &PgPool, env: &str, id: i64, by: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE dlq_audit SET stop_requested_at = now(), stop_requested_by = $3 \
         WHERE env = $1 AND id = $2 AND NOT finished AND stop_requested_at IS NULL",
    )
    .bind(env)
    .bind(id)
    .bind(by)
    .execute(db)
    .await
    .map(|done| done.rows_affected() == 1)
}

pub async fn stop_requested(db: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT stop_requested_at IS NOT NULL FROM dlq_audit WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(|found| found.unwrap_or(false))
}

/// Rows of `env`, newest first, optionally one pool, before id `before` (keyset).
pub async fn list(db: &PgPool, env: &str, pool: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<Record>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM dlq_audit WHERE env = $1 AND ($2::text IS NULL OR pool = $2) \
         AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    )))
    .bind(env)
    .bind(pool)
    .bind(before)
    .bind(i64::from(limit.clamp(1, 500)))
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_given_or_the_user_or_unknown() {
        assert_eq!(actor(Some(" alice ")), "alice");
        assert_eq!(actor(Some("")), "unknown");
    }
}
