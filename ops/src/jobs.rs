//! `worker jobs get|list|prune`: the ledger from the command line. The same
//! rows are what the API reads (docs/producers.md has the SQL).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cli::{audit_db, print_json};
use crate::errors::OpsError;
use crate::filter::{parse_duration, parse_since};
use crate::table::{ellipsize, human_age, render};
use jobfleet_runtime::config::Config;
use jobfleet_runtime::store::records::{self, JobRecord, ListFilter, MIN_RETENTION};

const STATUSES: [&str; 6] = ["queued", "running", "retrying", "succeeded", "failed", "dead"];

#[derive(Debug, Clone, Subcommand)]
pub enum JobsCommand {
    /// One job's ledger row: status, attempts, timings, last error, result.
    Get {
        id: Uuid,
        /// Print JSON (the row's columns) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Recent jobs, newest first.
    List {
        /// queued | running | retrying | succeeded | failed | dead
        #[arg(long)]
        status: Option<String>,
        /// Job type; `media.*` matches a prefix.
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        /// Updated since: a duration back (30m, 2h, 1d) or an RFC 3339 time.
        #[arg(long, value_name = "D")]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON (an array of rows) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete finished jobs and sent outbox rows older than a cut-off
    /// (`worker run` also does this every `prune_interval_secs`).
    Prune(PruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Age of the finish time beyond which rows go: 30d, 6w, … (at least 14d).
    #[arg(long, value_name = "D")]
    pub older_than: String,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, command: JobsCommand) -> ExitCode {
    let result = match command {
        JobsCommand::Get { id, json } => get(config, id, json).await,
        JobsCommand::List { status, job_type, since, limit, json } => list(config, status, job_type, since, limit, json).await,
        JobsCommand::Prune(args) => prune(config, args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code)
        }
    }
}

async fn get(config: &Config, id: Uuid, json: bool) -> Result<ExitCode, OpsError> {
    let db = audit_db(config).await?;
    let record = records::get(&db, id).await.map_err(|e| OpsError::database("cannot read the ledger", e, &config.database_url))?;
    let Some(record) = record else {
        return Err(OpsError::failure(format!("no job {id} in the ledger"))
            .hint("jobs appear when a worker first receives them (or at once when enqueued through the outbox); pruned jobs are gone"));
    };
    if json {
        print_json(&record)?;
    } else {
        print!("{}", describe(&record, OffsetDateTime::now_utc()));
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(
    config: &Config,
    status: Option<String>,
    job_type: Option<String>,
    since: Option<String>,
    limit: u32,
    json: bool,
) -> Result<ExitCode, OpsError> {
    if let Some(s) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(OpsError::usage(format!("--status {s:?} is not a job status")).hint(format!("one of {}", STATUSES.join(", "))));
    }
    let now = OffsetDateTime::now_utc();
    let since = since.map(|s| parse_since(&s, now)).transpose().map_err(OpsError::usage)?;
    let db = audit_db(config).await?;
    let filter = ListFilter { status, job_type, since, limit: i64::from(limit) };
    let rows = records::list(&db, &filter).await.map_err(|e| OpsError::database("cannot read the ledger", e, &config.database_url))?;
    if json {
        print_json(&rows)?;
    } else {
        print!("{}", table(&rows, now));
        eprintln!("{} job(s)", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

async fn prune(config: &Config, args: PruneArgs) -> Result<ExitCode, OpsError> {
    let older_than = parse_duration(&args.older_than).map_err(|e| OpsError::usage(format!("--older-than {:?}: {e}", args.older_than)))?;
    if older_than < MIN_RETENTION {
        return Err(OpsError::usage(format!("--older-than {} is under 14 days", args.older_than))
            .hint("SQS keeps messages up to 14 days; a redelivery of a pruned job would run it again"));
    }
    let db = audit_db(config).await?;
    let pruned = records::prune(&db, older_than).await.map_err(|e| OpsError::database("prune failed", e, &config.database_url))?;
    if args.json {
        print_json(&pruned)?;
    } else {
        println!("pruned {} job(s) and {} outbox row(s) finished more than {} ago", pruned.jobs, pruned.outbox, args.older_than);
    }
    Ok(ExitCode::SUCCESS)
}

fn age(at: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    at.map(|t| format!("{} ago", human_age((now - t).whole_seconds().max(0) as u64))).unwrap_or_else(|| "-".into())
}

fn table(rows: &[JobRecord], now: OffsetDateTime) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.job_type.clone(),
                r.status.clone(),
                r.attempts.to_string(),
                age(Some(r.updated_at), now),
                ellipsize(
                    &r.last_error_class
                        .as_deref()
                        .map(|c| format!("{c}: {}", r.last_error_message.as_deref().unwrap_or("")))
                        .unwrap_or_default(),
                    60,
                ),
            ]
        })
        .collect();
    render(&["ID", "TYPE", "STATUS", "ATTEMPTS", "UPDATED", "LAST ERROR"], &body, &[false, false, false, true, false, false])
}

fn describe(r: &JobRecord, now: OffsetDateTime) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    line("id", r.id.to_string());
    line("type", r.job_type.clone());
    line("pool", r.pool.clone());
    line("status", r.status.clone());
    line("attempts", r.attempts.to_string());
    line("duplicates", r.duplicate_deliveries.to_string());
    line("idempotency key", r.idempotency_key.clone());
    line("enqueued", age(r.enqueued_at, now));
    line("started", age(r.started_at, now));
    line("finished", age(r.finished_at, now));
    line("updated", age(Some(r.updated_at), now));
    if let Some(class) = &r.last_error_class {
        line("last error", format!("{class}: {}", r.last_error_message.as_deref().unwrap_or("")));
    }
    if let Some(result) = &r.result {
        line("result", serde_json::to_string_pretty(result).unwrap_or_default().replace('\n', "\n                "));
    }
    out
}
