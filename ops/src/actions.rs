//! The DLQ commands that change queues — `replay`, `redrive`, `purge` —
//! each confirmed (or `--yes`), audited in `dlq_audit` before it starts and
//! when it ends, and reported with exact counts.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jobfleet_contract::Pool;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Action, NewEntry, Tally};
use crate::cli::{
    MESSAGE_HEADER, MESSAGE_RIGHT, PurgeArgs, RedriveArgs, ReplayArgs, audit_db, confirm, message_row, pool_of, print_json, sqs_client,
};
use crate::dlq::SweepStats;
use crate::errors::{OpsError, exit};
use crate::filter::{Filter, parse_rate};
use crate::replay::{self, Counts, Observer, ReplayPlan, ReplaySummary, Stopped, Target};
use crate::table::{human_age, render};
use crate::{queues, service};
use jobfleet_runtime::config::Config;
use jobfleet_runtime::sqs::client::MoveTaskStart;
use jobfleet_runtime::sqs::{Sqs, SqsErrorKind};

/// How often a running replay writes its counts to its audit row.
const AUDIT_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// SIGINT/SIGTERM once: stop after the current batch. Twice: exit now.
fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let Ok(mut signals) = jobfleet_runtime::shutdown::Signals::install() else {
        eprintln!("warning: cannot install signal handlers; Ctrl-C stops at once");
        return token;
    };
    let stop = token.clone();
    tokio::spawn(async move {
        signals.recv().await;
        eprintln!("\ninterrupted: finishing the current batch, then releasing held messages (signal again to stop at once)");
        stop.cancel();
        signals.recv().await;
        eprintln!(
            "stopped at once: a message sent but not yet deleted stays in the DLQ too (a duplicate the ledger makes harmless); \
             held messages reappear after --visibility; the audit row stays UNFINISHED"
        );
        std::process::exit(i32::from(exit::INTERRUPTED));
    });
    token
}

/// Progress bar on stderr (hidden when stderr is not a terminal) and the
/// audit row kept up to date while a replay runs.
struct Progress<'a> {
    bar: ProgressBar,
    db: &'a PgPool,
    audit_id: i64,
    last_write: Instant,
    started: Instant,
}

impl<'a> Progress<'a> {
    fn new(db: &'a PgPool, audit_id: i64, approximate_total: Option<u64>) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(approximate_total, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} scanned · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar, db, audit_id, last_write: Instant::now(), started: Instant::now() }
    }
}

impl Observer for Progress<'_> {
    async fn progress(&mut self, counts: &Counts, sweep: &SweepStats) {
        if self.bar.length().is_some_and(|len| sweep.scanned > len) {
            self.bar.set_length(sweep.scanned);
        }
        self.bar.set_position(sweep.scanned);
        let rate = counts.moved as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "matched {} · moved {} · skipped {} · failed {} · {rate:.0} moved/s",
            counts.matched,
            counts.moved,
            counts.skipped,
            counts.failed()
        ));
        if self.last_write.elapsed() >= AUDIT_PROGRESS_EVERY {
            if let Err(e) = audit::progress(self.db, self.audit_id, service::tally(counts)).await {
                self.bar.suspend(|| eprintln!("warning: cannot update audit row #{}: {e}", self.audit_id));
            }
            self.last_write = Instant::now();
        }
    }
}

/// Resolves `--to-queue` (a name or URL) now, so a typo fails before anything moves.
async fn resolve_to_queue(sqs: &Sqs, config: &Config, pool: Pool, given: &str, dlq_url: &str) -> Result<Target, OpsError> {
    let url = if given.starts_with("https://") || given.starts_with("http://") {
        given.to_owned()
    } else {
        sqs.find_queue_url(given).await?.ok_or_else(|| {
            OpsError::usage(format!("--to-queue {given}: no such queue")).hint(format!(
                "give a queue name or URL; the pool's own queue is {} (the default target)",
                queues::queue_name(config, pool)
            ))
        })?
    };
    if url == dlq_url {
        return Err(OpsError::usage(format!("--to-queue {given} is the dead-letter queue being replayed")));
    }
    let name = url.rsplit('/').next().unwrap_or(given).to_owned();
    Ok(Target { name, url: Some(url) })
}

fn exit_code_of(summary: &ReplaySummary) -> ExitCode {
    match summary.stopped {
        Stopped::Interrupted => ExitCode::from(exit::INTERRUPTED),
        Stopped::Error | Stopped::Stalled => ExitCode::from(exit::FAILURE),
        _ if summary.failed > 0 => ExitCode::from(exit::FAILURE),
        _ => ExitCode::SUCCESS,
    }
}

/// The report of a replay (or redrive fallback): tables and the summary
/// line for people, one JSON document for `--json`.
fn report(summary: &ReplaySummary, verb: &str, dlq_name: &str, audit_id: i64, json: bool, extra: Value) -> Result<(), OpsError> {
    if json {
        let mut value = serde_json::to_value(summary).map_err(|e| OpsError::failure(format!("cannot encode JSON: {e}")))?;
        if let Value::Object(map) = &mut value {
            map.insert("version".into(), json!(1));
            map.insert("action".into(), json!(verb));
            map.insert("queue".into(), json!(dlq_name));
            map.insert("audit_id".into(), json!(audit_id));
            if let Value::Object(extra) = extra {
                map.extend(extra);
            }
        }
        return print_json(&value);
    }
    if summary.dry_run && !summary.planned.is_empty() {
        let rows: Vec<Vec<String>> = summary
            .planned
            .iter()
            .map(|p| {
                let mut row = message_row(&p.message);
                row.pop();
                row.push(p.target.clone());
                row
            })
            .collect();
        let mut header = MESSAGE_HEADER.to_vec();
        header.pop();
        header.push("TARGET");
        print!("{}", render(&header, &rows, &MESSAGE_RIGHT));
        println!();
    }
    if !summary.groups.is_empty() {
        let rows: Vec<Vec<String>> = summary
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.job_type.clone().unwrap_or_else(|| "-".into()),
                    g.error_class.clone().unwrap_or_else(|| "-".into()),
                    g.target.clone(),
                    g.count.to_string(),
                ]
            })
            .collect();
        let count_header = if summary.dry_run { "WOULD MOVE" } else { "MATCHED" };
        print!("{}", render(&["TYPE", "ERROR CLASS", "TARGET", count_header], &rows, &[false, false, false, true]));
    }
    for failure in &summary.failures {
        eprintln!(
            "failed to {} {} (job {}): {}",
            failure.stage,
            failure.message_id,
            failure.job_id.map(|id| id.to_string()).unwrap_or_else(|| "-".into()),
            failure.reason
        );
    }
    if summary.failed as usize > summary.failures.len() {
        eprintln!("… and {} more failures", summary.failed as usize - summary.failures.len());
    }
    let c = &summary.counts;
    let elapsed = format!("{:.1}s", summary.elapsed_secs);
    let line = if summary.dry_run {
        format!(
            "dry run: {} of {} scanned would move, {} skipped, nothing was moved — {elapsed}; audit #{audit_id}",
            c.matched, c.scanned, c.skipped
        )
    } else {
        let state = match summary.stopped {
            Stopped::Interrupted => "interrupted",
            Stopped::Error => "stopped by an error",
            Stopped::Stalled => "stopped (stalled)",
            Stopped::Limit => "finished (--limit reached)",
            Stopped::Exhausted => "finished",
        };
        format!(
            "{verb} {state}: moved {} of {} matched, {} skipped, {} failed (send {}, delete {}) — scanned {} in {elapsed} ({:.0}/s); audit #{audit_id}",
            c.moved, c.matched, c.skipped, summary.failed, c.send_failed, c.delete_failed, c.scanned, summary.rate_per_sec
        )
    };
    println!("{line}");
    if let Some(error) = &summary.error {
        eprintln!("error: {error}");
    }
    if summary.stopped == Stopped::Stalled {
        eprintln!("warning: held messages reappeared faster than the sweep went round; raise --visibility and run again");
    }
    if c.delete_failed > 0 {
        eprintln!(
            "note: {} message(s) were sent but are still in the DLQ; replaying them again only makes duplicates the workers drop",
            c.delete_failed
        );
    }
    if summary.release_failed > 0 {
        eprintln!("note: {} held message(s) could not be released; they reappear when their visibility runs out", summary.release_failed);
    }
    Ok(())
}

struct AuditedRun<'a> {
    db: &'a PgPool,
    audit_id: i64,
}

/// Runs the replay engine with progress, signals and the audit row.
async fn run_engine(sqs: &Sqs, plan: &ReplayPlan, run: &AuditedRun<'_>, depth: Option<u64>) -> ReplaySummary {
    let stop = interrupt_token();
    let mut progress = Progress::new(run.db, run.audit_id, depth);
    let summary = replay::replay(sqs, plan, &stop, &mut progress).await;
    progress.bar.finish_and_clear();
    summary
}

async fn finish_audit(run: &AuditedRun<'_>, tally: Tally, outcome: &str) -> Result<(), OpsError> {
    audit::finish(run.db, run.audit_id, tally, outcome)
        .await
        .map_err(|e| OpsError::failure(format!("the action ended but its audit row #{} could not be updated: {e}", run.audit_id)))
}

pub(crate) async fn replay(config: &Config, args: ReplayArgs) -> Result<ExitCode, OpsError> {
    let pool = pool_of(config, args.pool)?;
    let filter = args.filter.resolve()?;
    let rate = args.rate.as_deref().map(parse_rate).transpose().map_err(OpsError::usage)?;
    if args.limit == Some(0) {
        return Err(OpsError::usage("--limit 0 would move nothing"));
    }
    let sqs = sqs_client().await?;
    let prepared = service::dlq_queues(&sqs, config, pool).await?;
    let to_queue = match &args.to_queue {
        Some(given) => Some(resolve_to_queue(&sqs, config, pool, given, &prepared.dlq_url).await?),
        None => None,
    };
    let target_text = match &to_queue {
        Some(t) => t.name.clone(),
        None => format!("each message's source queue (else {})", prepared.main.name),
    };
    eprintln!(
        "{}replay from {} (≈{} visible) to {target_text}; filter: {}{}{}",
        if args.dry_run { "DRY RUN: " } else { "" },
        prepared.dlq_name,
        prepared.approximate_visible.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
        filter.describe(),
        args.limit.map(|l| format!("; limit {l}")).unwrap_or_default(),
        rate.map(|r| format!("; at most {r}/s")).unwrap_or_default(),
    );
    if !args.dry_run {
        confirm(&format!("Replay the matching messages of {} now?", prepared.dlq_name), args.yes, "replay")?;
    }
    let db = audit_db(config).await?;
    let filters = service::filters_json(
        &filter,
        json!({
            "since_arg": args.filter.since,
            "limit": args.limit,
            "rate_per_sec": rate,
            "to_queue": to_queue.as_ref().map(|t| t.name.clone()),
        }),
    );
    let entry = NewEntry {
        action: Action::Replay,
        actor: audit::actor(args.actor.as_deref()),
        env: config.env.clone(),
        pool,
        queue: prepared.dlq_name.clone(),
        filters,
        dry_run: args.dry_run,
    };
    let audit_id =
        audit::begin(&db, &entry).await.map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    eprintln!(
        "note: the sweep receives DLQ messages (ApproximateReceiveCount +1) and holds those it does not move invisible for up to \
         {} s; they are released (visibility 0) as soon as it ends",
        args.visibility
    );
    let plan = ReplayPlan {
        dlq_url: prepared.dlq_url.clone(),
        filter,
        limit: args.limit,
        rate_per_sec: rate,
        dry_run: args.dry_run,
        to_queue,
        default_target: prepared.main.clone(),
        known_urls: HashMap::new(),
        visibility_secs: args.visibility as i32,
        crash_after_first_send: replay::crash_after_send_requested(),
    };
    let run = AuditedRun { db: &db, audit_id };
    let summary = run_engine(&sqs, &plan, &run, prepared.approximate_visible).await;
    let audited = finish_audit(&run, service::tally(&summary.counts), &service::outcome_text(&summary)).await;
    report(&summary, "replay", &prepared.dlq_name, audit_id, args.json, json!({ "pool": pool }))?;
    audited?;
    Ok(exit_code_of(&summary))
}

fn print_tasks(tasks: &[jobfleet_runtime::sqs::client::MoveTask]) {
    if tasks.is_empty() {
        println!("no message move tasks for this DLQ");
        return;
    }
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.status.clone().unwrap_or_default(),
                human_age(((now_ms - t.started_at_ms).max(0) / 1000) as u64),
                t.moved.to_string(),
                t.to_move.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                t.destination_arn.clone().unwrap_or_else(|| "(source queues)".into()),
                t.failure_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["STATUS", "STARTED", "MOVED", "TO MOVE", "DESTINATION", "FAILURE"], &rows, &[false, true, true, true, false, false])
    );
}

pub(crate) async fn redrive(config: &Config, args: RedriveArgs) -> Result<ExitCode, OpsError> {
    let pool = pool_of(config, args.pool)?;
    let sqs = sqs_client().await?;
    let prepared = service::dlq_queues(&sqs, config, pool).await?;
    let dlq_arn = service::queue_arn(&sqs, &prepared.dlq_url, &prepared.dlq_name, pool, &config.env).await?;
    if args.status {
        return match sqs.list_message_move_tasks(&dlq_arn).await? {
            Some(tasks) if args.json => {
                print_json(&json!({ "version": 1, "queue": prepared.dlq_name, "tasks": tasks }))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(tasks) => {
                print_tasks(&tasks);
                Ok(ExitCode::SUCCESS)
            }
            None => Err(OpsError::failure("this SQS endpoint does not implement ListMessageMoveTasks")
                .hint("redrives here run through the filtered path; see `worker dlq history`")),
        };
    }
    let Some(main_url) = prepared.main.url.clone() else {
        return Err(OpsError::queue_missing(&prepared.main.name, pool, &config.env));
    };
    let main_arn = service::queue_arn(&sqs, &main_url, &prepared.main.name, pool, &config.env).await?;
    eprintln!(
        "{}redrive every message of {} (≈{} visible) to {}",
        if args.dry_run { "DRY RUN: " } else { "" },
        prepared.dlq_name,
        prepared.approximate_visible.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
        prepared.main.name
    );
    if !args.dry_run {
        confirm(&format!("Move ALL messages of {} to {}?", prepared.dlq_name, prepared.main.name), args.yes, "redrive")?;
    }
    let db = audit_db(config).await?;
    let entry = NewEntry {
        action: Action::Redrive,
        actor: audit::actor(args.actor.as_deref()),
        env: config.env.clone(),
        pool,
        queue: prepared.dlq_name.clone(),
        filters: json!({ "rate_per_sec": args.rate, "destination": prepared.main.name }),
        dry_run: args.dry_run,
    };
    let audit_id =
        audit::begin(&db, &entry).await.map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    let run = AuditedRun { db: &db, audit_id };

    if !args.dry_run {
        match sqs.start_message_move_task(&dlq_arn, Some(&main_arn), args.rate).await {
            Ok(MoveTaskStart::Started { task_handle }) => {
                let matched = prepared.approximate_visible.unwrap_or(0);
                finish_audit(&run, Tally { matched, ..Tally::default() }, &format!("move task started: {task_handle}")).await?;
                let tasks = sqs.list_message_move_tasks(&dlq_arn).await.ok().flatten().unwrap_or_default();
                if args.json {
                    print_json(&json!({
                        "version": 1, "action": "redrive", "mode": "message_move_task", "queue": prepared.dlq_name,
                        "task_handle": task_handle, "approximate_count": prepared.approximate_visible, "audit_id": audit_id, "tasks": tasks,
                    }))?;
                } else {
                    print_tasks(&tasks);
                    println!(
                        "redrive started: SQS is moving ≈{matched} message(s) from {} to {} in the background (task {task_handle}); \
                         follow it with `worker dlq redrive --pool {pool} --status`; audit #{audit_id}",
                        prepared.dlq_name, prepared.main.name
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Ok(MoveTaskStart::Unsupported { reason }) => eprintln!(
                "note: this SQS endpoint does not implement StartMessageMoveTask ({reason}); falling back to the filtered replay \
                 path with no filter: every message goes back to its source queue (else {}), error attributes removed",
                prepared.main.name
            ),
            Err(e) => {
                let _ = finish_audit(&run, Tally::default(), &format!("error: {e}")).await;
                return Err(OpsError::sqs(&e));
            }
        }
    } else {
        eprintln!("note: SQS's move task has no dry run; showing what the filtered path would move");
    }

    let plan = ReplayPlan {
        dlq_url: prepared.dlq_url.clone(),
        filter: Filter::default(),
        limit: None,
        rate_per_sec: args.rate.map(f64::from),
        dry_run: args.dry_run,
        to_queue: None,
        default_target: prepared.main.clone(),
        known_urls: HashMap::new(),
        visibility_secs: args.visibility as i32,
        crash_after_first_send: false,
    };
    let summary = run_engine(&sqs, &plan, &run, prepared.approximate_visible).await;
    let audited =
        finish_audit(&run, service::tally(&summary.counts), &format!("fallback replay: {}", service::outcome_text(&summary))).await;
    report(&summary, "redrive", &prepared.dlq_name, audit_id, args.json, json!({ "pool": pool, "mode": "filtered_fallback" }))?;
    audited?;
    Ok(exit_code_of(&summary))
}

pub(crate) async fn purge(config: &Config, args: PurgeArgs) -> Result<ExitCode, OpsError> {
    let pool = pool_of(config, args.pool)?;
    let sqs = sqs_client().await?;
    let url = queues::require_dlq(&sqs, config, pool).await?;
    let name = queues::name_in_url(&url);
    let (visible, in_flight, delayed) = sqs.queue_depth(&url).await?;
    let count = visible + in_flight + delayed;
    eprintln!("purge {name}: ≈{count} message(s) ({visible} visible, {in_flight} in flight, {delayed} delayed) will be deleted for good");
    confirm(&format!("Delete all ≈{count} messages of {name}? This cannot be undone."), args.yes, "purge")?;
    let db = audit_db(config).await?;
    let entry = NewEntry {
        action: Action::Purge,
        actor: audit::actor(args.actor.as_deref()),
        env: config.env.clone(),
        pool,
        queue: name.clone(),
        filters: json!({}),
        dry_run: false,
    };
    let audit_id =
        audit::begin(&db, &entry).await.map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    let run = AuditedRun { db: &db, audit_id };
    if let Err(e) = sqs.purge(&url).await {
        let _ = finish_audit(&run, Tally::default(), &format!("error: {e}")).await;
        let error = OpsError::sqs(&e);
        return Err(if e.kind == SqsErrorKind::Throttled {
            error.hint("SQS allows one purge per queue every 60 seconds; the previous purge may still be deleting")
        } else {
            error
        });
    }
    finish_audit(&run, Tally { matched: count, ..Tally::default() }, "purged").await?;
    if args.json {
        print_json(&json!({ "version": 1, "action": "purge", "queue": name, "approximate_count": count, "audit_id": audit_id }))?;
    } else {
        println!("purged ≈{count} message(s) from {name} (SQS finishes deleting within 60 s); audit #{audit_id}");
    }
    Ok(ExitCode::SUCCESS)
}
