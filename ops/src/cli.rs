//! The operator subcommands' command lines (`worker queues`, `worker dlq
//! …`) and the read-only ones' output. Everything that changes a queue is
//! in `actions.rs`. Data goes to stdout (a table, or JSON with `--json`);
//! notes, progress and errors go to stderr.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Subcommand};
use jobfleet_contract::Pool;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::dlq::{DlqMessage, peek_dlq};
use crate::errors::{ErrorKind, OpsError, endpoint_description};
use crate::filter::{Filter, parse_since};
use crate::service::{self, DlqKey};
use crate::table::{ellipsize, human_age, render};
use crate::{actions, audit, queues};
use jobfleet_runtime::config::Config;
use jobfleet_runtime::sqs::Sqs;
use jobfleet_runtime::store;

/// Seconds a peek (`list`, `show`, `queues --peek-dlq`) hides messages at most.
pub const PEEK_VISIBILITY_SECS: u32 = 30;
/// Seconds a replay holds what it received (see `--visibility`).
pub const REPLAY_VISIBILITY_SECS: u32 = 300;

#[derive(Debug, Clone, Args)]
pub struct QueuesArgs {
    /// Only this pool (default: every pool).
    #[arg(long)]
    pub pool: Option<Pool>,
    /// Print JSON (schema in docs/operations.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also estimate the oldest DLQ message's age by peeking at up to 100 DLQ
    /// messages (they are received and released within seconds).
    #[arg(long)]
    pub peek_dlq: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Job type: the envelope's `type` (else the `job_type` attribute); `media.*` matches a prefix.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Error class, the `error_class` attribute (e.g. diag_permanent, invalid_payload, unknown_type).
    #[arg(long, value_name = "CLASS")]
    pub error_class: Option<String>,
    /// Failed at or after: a duration back from now (30m, 2h, 1d, 1h30m) or an RFC 3339 time.
    #[arg(long, value_name = "D")]
    pub since: Option<String>,
    /// A job id or SQS message id (repeat for several).
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<String>,
}

impl FilterArgs {
    pub fn resolve(&self) -> Result<Filter, OpsError> {
        let since = match &self.since {
            Some(text) => Some(parse_since(text, OffsetDateTime::now_utc()).map_err(OpsError::usage)?),
            None => None,
        };
        Ok(Filter { job_type: self.job_type.clone(), error_class: self.error_class.clone(), since, ids: self.ids.clone() })
    }
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead-lettered messages, oldest failure first (peeks: see --visibility).
    List(ListArgs),
    /// Show one dead-lettered message in full, payload pretty-printed.
    Show(ShowArgs),
    /// Move matching messages back to their source queue. Dry-run first.
    Replay(ReplayArgs),
    /// Move every message back with SQS's message move task (falls back to replay where unsupported).
    Redrive(RedriveArgs),
    /// Delete every message in the pool's DLQ.
    Purge(PurgeArgs),
    /// Past replays, redrives and purges (the dlq_audit table), newest first.
    History(HistoryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// media | notifications | ai (or JOBFLEET_POOL)
    #[arg(long)]
    pub pool: Option<Pool>,
    /// A priority queue's DLQ (`[pools.<pool>.priority_queues.<NAME>]`) instead of the pool's own.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show at most this many messages.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON (schema in docs/operations.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds peeked messages may stay hidden; all are released when the listing ends.
    #[arg(long, value_name = "SECS", default_value_t = PEEK_VISIBILITY_SECS, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub visibility: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// media | notifications | ai (or JOBFLEET_POOL)
    #[arg(long)]
    pub pool: Option<Pool>,
    /// A priority queue's DLQ (`[pools.<pool>.priority_queues.<NAME>]`) instead of the pool's own.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    /// Job id (the envelope's id) or SQS message id.
    pub id: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds peeked messages may stay hidden; all are released at the end.
    #[arg(long, value_name = "SECS", default_value_t = PEEK_VISIBILITY_SECS, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub visibility: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// media | notifications | ai (or JOBFLEET_POOL)
    #[arg(long)]
    pub pool: Option<Pool>,
    /// A priority queue's DLQ (`[pools.<pool>.priority_queues.<NAME>]`) instead of the pool's own.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Move at most this many messages.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// At most this many messages per second: 50, 50/s, 600/m.
    #[arg(long, value_name = "R/s")]
    pub rate: Option<String>,
    /// Show what would move; move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send here (queue name or URL) instead of each message's source queue.
    #[arg(long, value_name = "QUEUE")]
    pub to_queue: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Who is doing this, for the audit trail (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the summary as JSON (schema in docs/operations.md).
    #[arg(long)]
    pub json: bool,
    /// Seconds received messages stay hidden while the sweep holds them
    /// (non-matching ones are released when it ends; after a crash they
    /// reappear after this long). Keep it above the sweep's duration.
    #[arg(long, value_name = "SECS", default_value_t = REPLAY_VISIBILITY_SECS, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub visibility: u32,
}

#[derive(Debug, Clone, Args)]
pub struct RedriveArgs {
    /// media | notifications | ai (or JOBFLEET_POOL)
    #[arg(long)]
    pub pool: Option<Pool>,
    /// A priority queue's DLQ (`[pools.<pool>.priority_queues.<NAME>]`) instead of the pool's own.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    /// Only list the DLQ's message move tasks and their progress.
    #[arg(long)]
    pub status: bool,
    /// Messages per second for the move task (SQS: 1–500; default: SQS's own pace).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=500))]
    pub rate: Option<i32>,
    /// Show what would move (through the filtered path: SQS has no dry run); move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Who is doing this, for the audit trail (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// For the fallback path: as `worker dlq replay --visibility`.
    #[arg(long, value_name = "SECS", default_value_t = REPLAY_VISIBILITY_SECS, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub visibility: u32,
}

#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    /// media | notifications | ai (or JOBFLEET_POOL)
    #[arg(long)]
    pub pool: Option<Pool>,
    /// A priority queue's DLQ (`[pools.<pool>.priority_queues.<NAME>]`) instead of the pool's own.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Who is doing this, for the audit trail (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Only this pool.
    #[arg(long)]
    pub pool: Option<Pool>,
    /// Show at most this many entries.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print JSON (schema in docs/operations.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints an operator error the way `main` prints its own.
fn finish(result: Result<ExitCode, OpsError>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code)
        }
    }
}

/// `worker queues`.
pub async fn queues(config: &Config, args: QueuesArgs) -> ExitCode {
    finish(run_queues(config, args).await)
}

/// `worker dlq …`.
pub async fn dlq(config: &Config, command: DlqCommand) -> ExitCode {
    let (pool, queue) = match &command {
        DlqCommand::List(a) => (a.pool, a.queue.as_deref()),
        DlqCommand::Show(a) => (a.pool, a.queue.as_deref()),
        DlqCommand::Replay(a) => (a.pool, a.queue.as_deref()),
        DlqCommand::Redrive(a) => (a.pool, a.queue.as_deref()),
        DlqCommand::Purge(a) => (a.pool, a.queue.as_deref()),
        DlqCommand::History(_) => (None, None),
    };
    // `--queue NAME`: the priority queue's queue and DLQ stand in for the pool's.
    let scoped = match queue {
        None => Cow::Borrowed(config),
        Some(queue) => {
            let scoped = async {
                let key = DlqKey { pool: pool_of(config, pool)?, priority_queue: Some(queue.to_owned()) };
                // A --queue the pool does not have is a usage error (exit 2) here.
                service::scoped_config(&sqs_client().await?, config, &key).await.map_err(|e| match e.kind {
                    ErrorKind::NotFound => {
                        let mut usage = OpsError::usage(format!("--queue {queue}: {}", e.message));
                        usage.hint = e.hint;
                        usage
                    }
                    _ => e,
                })
            };
            match scoped.await {
                Ok(scoped) => scoped,
                Err(e) => return finish(Err(e)),
            }
        }
    };
    let config = scoped.as_ref();
    finish(match command {
        DlqCommand::List(args) => list(config, args).await,
        DlqCommand::Show(args) => show(config, args).await,
        DlqCommand::Replay(args) => actions::replay(config, args).await,
        DlqCommand::Redrive(args) => actions::redrive(config, args).await,
        DlqCommand::Purge(args) => actions::purge(config, args).await,
        DlqCommand::History(args) => history(config, args).await,
    })
}

/// The SQS client, refusing early when no region is configured.
pub(crate) async fn sqs_client() -> Result<Sqs, OpsError> {
    let sqs = Sqs::from_env().await;
    if sqs.client().config().region().is_none() {
        return Err(OpsError::usage("no AWS region configured").hint(format!(
            "set AWS_REGION (e.g. eu-west-1) or use an AWS_PROFILE with a region; locally AWS_REGION=us-east-1 and \
             AWS_ENDPOINT_URL=http://127.0.0.1:4566 (now {})",
            endpoint_description()
        )));
    }
    Ok(sqs)
}

/// `--pool`, else the configured pool; either must be one the configuration declares.
pub(crate) fn pool_of(config: &Config, given: Option<Pool>) -> Result<Pool, OpsError> {
    let pool = given
        .or(config.pool)
        .ok_or_else(|| OpsError::usage("no pool given").hint(format!("pass --pool {} or set JOBFLEET_POOL", configured_list(config))))?;
    configured(config, Some(pool)).map(|_| pool)
}

/// A `--pool` filter, refused when the configuration does not declare it: a
/// typo would otherwise read as "nothing there" on an empty listing.
pub(crate) fn configured(config: &Config, pool: Option<Pool>) -> Result<Option<Pool>, OpsError> {
    match pool {
        Some(pool) if !config.pools.contains_key(&pool) => Err(OpsError::usage(format!("pool {pool} is not configured")).hint(format!(
            "configured pools: {} (add [pools.{pool}] to the file JOBFLEET_CONFIG names to declare it)",
            configured_list(config)
        ))),
        other => Ok(other),
    }
}

fn configured_list(config: &Config) -> String {
    config.pools.keys().map(ToString::to_string).collect::<Vec<_>>().join("|")
}

/// The ledger database, where the audit trail lives; migrated like a worker does.
pub(crate) async fn audit_db(config: &Config) -> Result<PgPool, OpsError> {
    store::open(config, 2).await.map_err(|e| OpsError::database("cannot open the audit database", e, &config.database_url))
}

pub(crate) fn print_json(value: &impl Serialize) -> Result<(), OpsError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| OpsError::failure(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Tells the operator on stderr what a peek does to the queue.
pub(crate) fn peek_note(visibility: u32) {
    eprintln!(
        "note: SQS has no peek: messages are received (their ApproximateReceiveCount goes up by one) and hidden for at most \
         {visibility} s, then released (visibility 0) when this command ends"
    );
}

async fn run_queues(config: &Config, args: QueuesArgs) -> Result<ExitCode, OpsError> {
    let sqs = sqs_client().await?;
    if args.peek_dlq {
        peek_note(PEEK_VISIBILITY_SECS);
    }
    let report = queues::report(&sqs, config, configured(config, args.pool)?, args.peek_dlq, PEEK_VISIBILITY_SECS as i32).await?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", queues::render_table(&report));
    }
    if report.pools.iter().any(|p| p.queue.status == "missing" || p.dlq.status == "missing") {
        eprintln!(
            "note: missing queues: pools map to <env>-jobfleet-<pool> and <env>-jobfleet-<pool>-dlq with env {:?} (JOBFLEET_ENV) at {}",
            config.env,
            endpoint_description()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".to_owned())
}

/// One row of the `list` table (the same numbers `--json` prints).
pub(crate) fn message_row(m: &DlqMessage) -> Vec<String> {
    vec![
        m.age_secs.map(human_age).unwrap_or_else(|| "-".to_owned()),
        queues::rfc3339(m.failed_at),
        or_dash(m.job_type.as_deref()),
        or_dash(m.job_id),
        ellipsize(m.group_id.as_deref().unwrap_or("-"), 24),
        or_dash(m.error_class.as_deref()),
        or_dash(m.attempts),
        m.replay_count.to_string(),
        ellipsize(m.error_message.as_deref().or(m.decode_error.as_deref()).unwrap_or("-"), 60),
    ]
}

pub(crate) const MESSAGE_HEADER: [&str; 9] = ["AGE", "FAILED AT", "TYPE", "JOB ID", "GROUP", "ERROR CLASS", "ATTEMPTS", "REPLAYS", "ERROR"];
pub(crate) const MESSAGE_RIGHT: [bool; 9] = [true, false, false, false, false, false, true, true, false];

async fn dlq_depth(sqs: &Sqs, url: &str) -> Option<u64> {
    sqs.queue_depth(url).await.ok().map(|(visible, _, _)| visible)
}

async fn list(config: &Config, args: ListArgs) -> Result<ExitCode, OpsError> {
    let pool = pool_of(config, args.pool)?;
    let filter = args.filter.resolve()?;
    let sqs = sqs_client().await?;
    let url = queues::require_dlq(&sqs, config, pool).await?;
    let depth = dlq_depth(&sqs, &url).await;
    peek_note(args.visibility);
    let peek = peek_dlq(&sqs, &url, args.visibility as i32, &filter, args.limit).await?;
    let name = queues::name_in_url(&url);
    if args.json {
        print_json(&json!({
            "version": 1,
            "pool": pool,
            "queue": name,
            "filter": filter,
            "scanned": peek.stats.scanned,
            "count": peek.messages.len(),
            "truncated": peek.truncated,
            "messages": peek.messages,
        }))?;
    } else if !peek.messages.is_empty() {
        let rows: Vec<Vec<String>> = peek.messages.iter().map(message_row).collect();
        print!("{}", render(&MESSAGE_HEADER, &rows, &MESSAGE_RIGHT));
    }
    eprintln!(
        "{} message(s) matching {} in {name}; scanned {} of ≈{}{}",
        peek.messages.len(),
        filter.describe(),
        peek.stats.scanned,
        or_dash(depth),
        if peek.truncated { " (--limit reached: more may match)" } else { "" }
    );
    if peek.stats.stalled {
        eprintln!("warning: messages reappeared faster than the listing went round: raise --visibility");
    }
    if peek.release_failed > 0 {
        eprintln!("warning: {} message(s) could not be released; they reappear within {} s", peek.release_failed, args.visibility);
    }
    Ok(ExitCode::SUCCESS)
}

fn attribute_json(message: &DlqMessage) -> Value {
    let mut names: Vec<&String> = message.received.attributes.keys().collect();
    names.sort();
    Value::Object(
        names
            .into_iter()
            .map(|name| {
                let value = &message.received.attributes[name];
                (name.clone(), json!({ "type": value.data_type(), "value": value.string_value() }))
            })
            .collect(),
    )
}

async fn show(config: &Config, args: ShowArgs) -> Result<ExitCode, OpsError> {
    let pool = pool_of(config, args.pool)?;
    let sqs = sqs_client().await?;
    let url = queues::require_dlq(&sqs, config, pool).await?;
    peek_note(args.visibility);
    let filter = Filter { ids: vec![args.id.clone()], ..Filter::default() };
    let peek = peek_dlq(&sqs, &url, args.visibility as i32, &filter, 1).await?;
    let name = queues::name_in_url(&url);
    let Some(message) = peek.messages.into_iter().next() else {
        return Err(OpsError::failure(format!("no message with id {} in {name} (scanned {} messages)", args.id, peek.stats.scanned))
            .hint("ids are job ids (the envelope's id) or SQS message ids, as `worker dlq list` shows them; a message held by another command (a replay, a list) is invisible until it is released"));
    };
    let body_json: Option<Value> = serde_json::from_str(&message.received.body).ok();
    if args.json {
        print_json(&json!({
            "version": 1,
            "queue": name,
            "message": message,
            "attributes": attribute_json(&message),
            "body": message.received.body,
            "envelope": body_json,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = SystemTime::now();
    let sent_ago = message.received.sent_at.and_then(|s| now.duration_since(s).ok()).map(|d| human_age(d.as_secs()));
    let mut lines = vec![
        ("message id", message.message_id.clone()),
        ("job id", or_dash(message.job_id)),
        ("type", or_dash(message.job_type.as_deref())),
    ];
    if let Some(Value::Object(envelope)) = &body_json {
        for key in ["version", "created_at", "idempotency_key", "traceparent", "payload_ref"] {
            if let Some(value) = envelope.get(key) {
                lines.push((key, value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())));
            }
        }
    }
    lines.extend([
        (
            "failed at",
            format!(
                "{} ({} ago{})",
                queues::rfc3339(message.failed_at),
                or_dash(message.age_secs.map(human_age)),
                if message.failed_at_source == Some("sent_timestamp") { ", from SentTimestamp" } else { "" }
            ),
        ),
        ("error class", or_dash(message.error_class.as_deref())),
        ("error message", or_dash(message.error_message.as_deref())),
        ("attempts", or_dash(message.attempts)),
        ("replays", message.replay_count.to_string()),
        ("source queue", or_dash(message.source_queue.as_deref())),
        ("original msg id", or_dash(message.original_message_id.as_deref())),
        ("message group", or_dash(message.group_id.as_deref())),
        ("in DLQ since", format!("{} ago (receive count {}, peeks included)", or_dash(sent_ago), message.receive_count)),
    ]);
    for (label, value) in lines {
        println!("{:<16} {value}", format!("{label}:"));
    }
    println!("attributes:");
    let mut names: Vec<&String> = message.received.attributes.keys().collect();
    names.sort();
    for name in names {
        let value = &message.received.attributes[name];
        println!("  {name} = {} ({})", value.string_value().unwrap_or("<binary>"), value.data_type());
    }
    match (&message.decode_error, &body_json) {
        (None, Some(Value::Object(envelope))) => {
            let payload = envelope.get("payload").cloned().unwrap_or(Value::Null);
            println!("payload:");
            println!("{}", serde_json::to_string_pretty(&payload).unwrap_or_default());
        }
        (error, parsed) => {
            println!("body (not a valid envelope: {}):", error.as_deref().unwrap_or("unknown"));
            match parsed {
                Some(value) => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
                None => println!("{}", message.received.body),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn history(config: &Config, args: HistoryArgs) -> Result<ExitCode, OpsError> {
    let db = audit_db(config).await?;
    let entries = audit::history(&db, &config.env, configured(config, args.pool)?, args.limit)
        .await
        .map_err(|e| OpsError::database("cannot read the audit trail", e, &config.database_url))?;
    if args.json {
        print_json(&json!({ "version": 1, "env": config.env, "entries": entries }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        eprintln!("no DLQ actions recorded for env {:?}{}", config.env, args.pool.map(|p| format!(" pool {p}")).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let filters = match &e.filters {
                Value::Object(map) if !map.is_empty() => ellipsize(&Value::Object(map.clone()).to_string(), 70),
                _ => "-".to_owned(),
            };
            vec![
                e.id.to_string(),
                queues::rfc3339(Some(e.at)),
                e.actor.clone(),
                e.action.clone(),
                e.pool.clone(),
                if e.dry_run { "yes" } else { "no" }.to_owned(),
                e.matched.to_string(),
                e.moved.to_string(),
                e.skipped.to_string(),
                e.failed.to_string(),
                match (e.finished, &e.outcome) {
                    (true, Some(outcome)) => ellipsize(outcome, 60),
                    (true, None) => "finished".to_owned(),
                    (false, _) => "UNFINISHED".to_owned(),
                },
                filters,
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &["ID", "AT", "ACTOR", "ACTION", "POOL", "DRY RUN", "MATCHED", "MOVED", "SKIPPED", "FAILED", "OUTCOME", "FILTERS"],
            &rows,
            &[true, false, false, false, false, false, true, true, true, true, false, false],
        )
    );
    if entries.iter().any(|e| !e.finished) {
        eprintln!("note: UNFINISHED rows are running now, or were killed before they could record their end (counts as last reported)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks y/N on the terminal; refuses without one unless `--yes`.
pub(crate) fn confirm(question: &str, yes: bool, action: &str) -> Result<(), OpsError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(OpsError::usage(format!("refusing to {action} without confirmation: stdin is not a terminal and --yes was not given"))
            .hint("check first with --dry-run (replay) or `worker queues`, then re-run with --yes"));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| OpsError::usage(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(OpsError::usage(format!("{action}: not confirmed; nothing was changed"))),
    }
}
