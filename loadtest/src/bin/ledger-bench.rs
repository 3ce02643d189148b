//! Ledger write throughput: how many jobs per second the worker's batched
//! Postgres writes can record (each job = the `start` upsert that takes the
//! lease + the `finish` update with the outcome), driven through the same
//! `Ledger` the runtime uses, with as many jobs in flight as a fleet would
//! have. The database is a fresh schema, dropped afterwards.
//!
//! ```text
//! cargo run --release -p loadtest --bin ledger-bench -- [--jobs N] [--in-flight N] [--repeats N]
//! ```
//! `--database-url` or `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/jobfleet).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobfleet_contract::Pool;
use jobfleet_runtime::store::{BeginOutcome, FinishItem, FinishOutcome, JobStatus, Ledger, StartItem};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Ledger write throughput through the worker's own `Ledger`.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Jobs per run.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Jobs in flight at once (a pod holds `concurrency`; a fleet, the sum).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    in_flight: u32,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
    /// The ledger's `ledger_flush_interval_ms`.
    #[arg(long, default_value_t = 5)]
    flush_ms: u64,
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/jobfleet")]
    database_url: String,
}

async fn run_once(db: &PgPool, args: &Args) -> Result<f64, String> {
    let ledger = Ledger::new(db.clone(), Duration::from_millis(args.flush_ms));
    let slots = Arc::new(Semaphore::new(args.in_flight as usize));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.jobs {
        let permit = slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let id = Uuid::now_v7();
            let job = StartItem {
                id,
                lease: Duration::from_secs(330),
                job_type: "diag.noop".into(),
                pool: Pool::MEDIA,
                idempotency_key: id.to_string(),
                enqueued_at: OffsetDateTime::now_utc(),
                message_id: format!("bench-{i}"),
            };
            let attempt = match ledger.start(job.clone()).await.map_err(|e| e.to_string())? {
                BeginOutcome::Run { attempt } => attempt,
                other => return Err(format!("unexpected start outcome {other:?}")),
            };
            let finish = FinishItem {
                job,
                fence: Some(attempt),
                status: JobStatus::Succeeded,
                error_class: None,
                error_message: None,
                result: Some(json!({ "ok": true })),
            };
            match ledger.finish(finish).await.map_err(|e| e.to_string())? {
                FinishOutcome::Recorded => Ok(()),
                FinishOutcome::Stale => Err("finish was stale".into()),
            }
        });
        while let Some(done) = tasks.try_join_next() {
            done.map_err(|e| e.to_string())??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let secs = started.elapsed().as_secs_f64();
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'").fetch_one(db).await.map_err(|e| e.to_string())?;
    if recorded < args.jobs as i64 {
        return Err(format!("only {recorded} of {} jobs recorded", args.jobs));
    }
    sqlx::query("TRUNCATE jobs").execute(db).await.map_err(|e| e.to_string())?;
    Ok(args.jobs as f64 / secs)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    let base = args.database_url.clone();
    let admin = match PgPool::connect(&base).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("cannot reach Postgres at {base}: {e} (run `make stack-up`)");
            return ExitCode::FAILURE;
        }
    };
    let schema = format!("ledger_bench_{}", Uuid::new_v4().simple());
    // Our own generated name, never input.
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await {
        eprintln!("cannot create schema: {e}");
        return ExitCode::FAILURE;
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let result = async {
        let db = sqlx::postgres::PgPoolOptions::new().max_connections(10).connect(&url).await.map_err(|e| e.to_string())?;
        jobfleet_runtime::store::migrate(&db).await.map_err(|e| e.to_string())?;
        let mut rates = Vec::new();
        for run in 1..=args.repeats {
            let rate = run_once(&db, &args).await?;
            println!("run {run}: {} jobs in flight {}: {rate:.0} jobs/s (start + finish per job)", args.jobs, args.in_flight);
            rates.push(rate);
        }
        rates.sort_by(f64::total_cmp);
        Ok::<f64, String>(rates[rates.len() / 2])
    }
    .await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await;
    match result {
        Ok(median) => {
            println!(
                "median: {median:.0} jobs/s recorded ({:.0} ledger writes/s), flush interval {} ms, 10 connections",
                median * 2.0,
                args.flush_ms
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ledger-bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
