//! The job the reliability scenarios run, and how they count what it did.
//!
//! `reliability.effect` writes one *effect* row per job the way a careful
//! handler would: check by idempotency key, then insert. There is no unique
//! constraint behind it on purpose. Sequential re-executions (after a crash
//! before the outcome was recorded) are absorbed by the check, but two
//! attempts running *at once* could both pass it and double the effect. So
//! a duplicated effect in the tally means the runtime let two attempts of a
//! job overlap: exactly the failure the ledger's lease exists to prevent.
//!
//! Every execution is also logged with its start and end, so the tally can
//! tell re-executions (legitimate, at-least-once) from runs after the
//! job's success was recorded (never legitimate).

use std::time::Duration;

use jobfleet_contract::{Job, JobContext, JobError, Pool};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Effect {
    /// Work time before the effect is written, in milliseconds.
    #[serde(default)]
    pub ms: u64,
}

impl Job for Effect {
    const TYPE: &'static str = "reliability.effect";
    const POOL: Option<Pool> = None;
}

/// Creates the effect tables in the connection's schema.
pub async fn install(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS rel_executions (
             seq bigserial PRIMARY KEY,
             job_id uuid NOT NULL,
             attempt int NOT NULL,
             pid int NOT NULL,
             started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
             finished_at timestamptz);
         CREATE INDEX IF NOT EXISTS rel_executions_job ON rel_executions (job_id);
         CREATE TABLE IF NOT EXISTS rel_effects (
             idempotency_key text NOT NULL,
             job_id uuid NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE INDEX IF NOT EXISTS rel_effects_key ON rel_effects (idempotency_key);",
    )
    .execute(db)
    .await
    .map(drop)
}

#[derive(Debug, Clone)]
pub struct EffectHandler {
    pub db: PgPool,
}

fn db_error(e: sqlx::Error) -> JobError {
    // A database we cannot reach now may be back on the next attempt.
    JobError::retryable(format!("effect store: {e}"))
}

impl jobfleet_contract::Handler<Effect> for EffectHandler {
    type Output = Value;

    async fn handle(&self, job: Effect, ctx: JobContext) -> Result<Value, JobError> {
        let seq: i64 = sqlx::query_scalar("INSERT INTO rel_executions (job_id, attempt, pid) VALUES ($1, $2, $3) RETURNING seq")
            .bind(ctx.id)
            .bind(ctx.attempt as i32)
            .bind(std::process::id() as i32)
            .fetch_one(&self.db)
            .await
            .map_err(db_error)?;
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        let applied = sqlx::query(
            "INSERT INTO rel_effects (idempotency_key, job_id)
             SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM rel_effects WHERE idempotency_key = $1)",
        )
        .bind(&ctx.idempotency_key)
        .bind(ctx.id)
        .execute(&self.db)
        .await
        .map_err(db_error)?
        .rows_affected();
        sqlx::query("UPDATE rel_executions SET finished_at = clock_timestamp() WHERE seq = $1")
            .bind(seq)
            .execute(&self.db)
            .await
            .map_err(db_error)?;
        Ok(json!({ "applied": applied == 1 }))
    }
}

/// What happened to a set of jobs, read from the effect tables and the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub jobs: u64,
    /// Jobs without a `succeeded` ledger row or without an effect.
    pub lost: u64,
    /// Effect rows beyond one per job.
    pub duplicated: u64,
    /// Handler executions beyond one per job (at-least-once, absorbed by
    /// the idempotency check).
    pub reexecuted: u64,
    /// Executions that started after the job's success was recorded.
    pub runs_after_success: u64,
    /// Pairs of executions of one job that overlapped in time (an execution
    /// killed mid-run has no recorded end, so only finished ones count).
    pub overlapping: u64,
    /// Deliveries of already-succeeded jobs the ledger turned away.
    pub duplicate_deliveries: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.jobs += other.jobs;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reexecuted += other.reexecuted;
        self.runs_after_success += other.runs_after_success;
        self.overlapping += other.overlapping;
        self.duplicate_deliveries += other.duplicate_deliveries;
    }
}

impl Tally {
    /// True when every job's effect happened exactly once.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.runs_after_success == 0 && self.overlapping == 0
    }
}

pub async fn tally(db: &PgPool, ids: &[Uuid]) -> Result<Tally, sqlx::Error> {
    let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "WITH sent AS (SELECT unnest($1::uuid[]) AS id),
              eff AS (SELECT job_id, count(*) AS n FROM rel_effects WHERE job_id IN (SELECT id FROM sent) GROUP BY job_id),
              exe AS (SELECT * FROM rel_executions WHERE job_id IN (SELECT id FROM sent))
         SELECT
           (SELECT count(*) FROM sent),
           (SELECT count(*) FROM sent s
              WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.id AND j.status = 'succeeded')
                 OR NOT EXISTS (SELECT 1 FROM eff WHERE eff.job_id = s.id)),
           (SELECT coalesce(sum(n - 1), 0) FROM eff)::bigint,
           (SELECT greatest(count(*) - count(DISTINCT job_id), 0) FROM exe),
           (SELECT count(*) FROM exe JOIN jobs j ON j.id = exe.job_id
              WHERE j.status = 'succeeded' AND exe.started_at > j.finished_at),
           (SELECT count(*) FROM exe a JOIN exe b ON a.job_id = b.job_id AND a.seq < b.seq
              WHERE a.finished_at IS NOT NULL AND b.started_at < a.finished_at),
           (SELECT coalesce(sum(duplicate_deliveries), 0) FROM jobs WHERE id IN (SELECT id FROM sent))::bigint",
    )
    .bind(ids)
    .fetch_one(db)
    .await?;
    let n = |v: i64| v.max(0) as u64;
    Ok(Tally {
        jobs: n(row.0),
        lost: n(row.1),
        duplicated: n(row.2),
        reexecuted: n(row.3),
        runs_after_success: n(row.4),
        overlapping: n(row.5),
        duplicate_deliveries: n(row.6),
    })
}

/// A job of a FIFO group for the ordering scenario: its effect row records
/// the group and its place in it, in the order effects were applied.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ordered {
    pub group: String,
    pub seq: u32,
    /// Work time before the effect is written, in milliseconds.
    #[serde(default)]
    pub ms: u64,
    /// Executions that fail retryably before one succeeds.
    #[serde(default)]
    pub fail_attempts: u32,
    /// Fails permanently (dead-lettered) on its first execution.
    #[serde(default)]
    pub permanent: bool,
}

impl Job for Ordered {
    const TYPE: &'static str = "reliability.ordered";
    const POOL: Option<Pool> = None;
}

/// Creates the ordered-effect table (after [`install`]).
pub async fn install_ordered(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS rel_ordered (
             n bigserial PRIMARY KEY,
             grp text NOT NULL,
             seq int NOT NULL,
             job_id uuid NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT clock_timestamp());",
    )
    .execute(db)
    .await
    .map(drop)
}

impl jobfleet_contract::Handler<Ordered> for EffectHandler {
    type Output = Value;

    async fn handle(&self, job: Ordered, ctx: JobContext) -> Result<Value, JobError> {
        let seq: i64 = sqlx::query_scalar("INSERT INTO rel_executions (job_id, attempt, pid) VALUES ($1, $2, $3) RETURNING seq")
            .bind(ctx.id)
            .bind(ctx.attempt as i32)
            .bind(std::process::id() as i32)
            .fetch_one(&self.db)
            .await
            .map_err(db_error)?;
        let finish = |db: PgPool| async move {
            sqlx::query("UPDATE rel_executions SET finished_at = clock_timestamp() WHERE seq = $1")
                .bind(seq)
                .execute(&db)
                .await
                .map_err(db_error)
        };
        if job.permanent {
            finish(self.db.clone()).await?;
            return Err(JobError::permanent("ordered_permanent", format!("{} #{} fails for good", job.group, job.seq)));
        }
        // Counted from the executions table, not `ctx.attempt`, so the
        // injected failures do not depend on the rule the scenario checks
        // (the runtime's attempt counts runs, not deliveries).
        let executions: i64 = sqlx::query_scalar("SELECT count(*) FROM rel_executions WHERE job_id = $1")
            .bind(ctx.id)
            .fetch_one(&self.db)
            .await
            .map_err(db_error)?;
        if executions <= i64::from(job.fail_attempts) {
            finish(self.db.clone()).await?;
            return Err(JobError::retryable(format!("injected failure {executions} of {}", job.fail_attempts)));
        }
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        let applied = sqlx::query(
            "WITH e AS (
                 INSERT INTO rel_effects (idempotency_key, job_id)
                 SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM rel_effects WHERE idempotency_key = $1)
                 RETURNING job_id)
             INSERT INTO rel_ordered (grp, seq, job_id) SELECT $3, $4, job_id FROM e",
        )
        .bind(&ctx.idempotency_key)
        .bind(ctx.id)
        .bind(&job.group)
        .bind(job.seq as i32)
        .execute(&self.db)
        .await
        .map_err(db_error)?
        .rows_affected();
        finish(self.db.clone()).await?;
        Ok(json!({ "applied": applied == 1 }))
    }
}
