//! The dead-letter actions as functions with typed results, for callers
//! that are not a terminal (the web console): no prompts, no printing.
//! They run the same engine (`replay::replay`), the same queue lookups and
//! the same audit rows as the CLI's `worker dlq …`; a confirmation is the
//! caller's job, done before calling.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use jobfleet_contract::Pool;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Action, NewEntry, Origin, Tally};
use crate::dlq::{DlqMessage, Peek, SweepStats, peek_dlq};
use crate::errors::{ErrorKind, OpsError, endpoint_description};
use crate::filter::Filter;
use crate::queues;
use crate::replay::{self, Counts, Observer, ReplayPlan, ReplaySummary, Target};
use jobfleet_runtime::config::{Config, QueueLane};
use jobfleet_runtime::sqs::Sqs;
use jobfleet_runtime::sqs::client::MoveTaskStart;

/// How often a running replay writes its counts to its audit row and
/// reads whether a stop was asked for there.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// An SQS client from the environment (AWS_REGION, AWS_ENDPOINT_URL, …).
pub async fn sqs_client() -> Result<Sqs, OpsError> {
    let sqs = Sqs::from_env().await;
    if sqs.client().config().region().is_none() {
        return Err(OpsError::usage("no AWS region configured")
            .hint(format!("set AWS_REGION (locally us-east-1); now using {}", endpoint_description())));
    }
    Ok(sqs)
}

/// The ledger database (where the audit trail lives), migrated when the
/// configuration says a process should.
pub async fn connect_db(config: &Config, max_connections: u32) -> Result<PgPool, OpsError> {
    let db = jobfleet_runtime::store::connect(&config.database_url, max_connections)
        .await
        .map_err(|e| OpsError::database("cannot open the ledger database", e, &config.database_url))?;
    if config.migrate_on_start {
        jobfleet_runtime::store::migrate(&db)
            .await
            .map_err(|e| OpsError::database("cannot migrate the ledger database", e, &config.database_url))?;
    }
    Ok(db)
}

/// A configured pool, or the operator error naming the pools there are.
pub fn configured_pool(config: &Config, name: &str) -> Result<Pool, OpsError> {
    let known = || config.pools.keys().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    let pool: Pool = name.parse().map_err(|_| OpsError::not_found(format!("no pool {name:?}")).hint(format!("pools: {}", known())))?;
    if !config.pools.contains_key(&pool) {
        return Err(OpsError::not_found(format!("pool {pool} is not configured")).hint(format!("pools: {}", known())));
    }
    Ok(pool)
}

/// A dead-letter queue as operators name it: a pool's own (`notifications`)
/// or the one of a pool's priority queue (`notifications:high`, the CLI's
/// `--pool notifications --queue high`). `:` cannot occur in either name,
/// so the text form is unambiguous in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DlqKey {
    pub pool: Pool,
    pub priority_queue: Option<String>,
}

impl DlqKey {
    pub fn of_pool(pool: Pool) -> Self {
        Self { pool, priority_queue: None }
    }

    /// Parses `pool` or `pool:queue`, refusing a pool or a priority queue
    /// the configuration does not declare.
    pub fn parse(config: &Config, text: &str) -> Result<Self, OpsError> {
        let (pool, queue) = match text.split_once(':') {
            Some((pool, queue)) => (pool, Some(queue)),
            None => (text, None),
        };
        let key = Self { pool: configured_pool(config, pool)?, priority_queue: queue.map(str::to_owned) };
        key.lane(config)?;
        Ok(key)
    }

    /// Every dead-letter queue of a configured pool: its own first, then
    /// its priority queues' (highest weight first).
    pub fn all_of(config: &Config, pool: Pool) -> Vec<Self> {
        let lanes = config.queue_lanes(pool).unwrap_or_default();
        let mut keys = vec![Self::of_pool(pool)];
        keys.extend(lanes.into_iter().filter(|l| !l.is_own()).map(|l| Self { pool, priority_queue: Some(l.label) }));
        keys
    }

    /// The key of the pool's DLQ called `dlq_name` (an audit row's `queue`),
    /// when it is one of the queues the configuration names.
    pub fn for_dlq_name(config: &Config, pool: Pool, dlq_name: &str) -> Option<Self> {
        let lanes = config.queue_lanes(pool).ok()?;
        let lane = lanes.into_iter().find(|l| l.dlq_name == dlq_name)?;
        Some(Self { pool, priority_queue: (!lane.is_own()).then_some(lane.label) })
    }

    /// The name of the queue this DLQ's messages go back to.
    pub fn queue_name(&self, config: &Config) -> String {
        match self.lane(config) {
            Ok(Some(lane)) => lane.queue_name,
            _ => queues::queue_name(config, self.pool),
        }
    }

    /// The configured priority queue the key names (`None` for the pool's own).
    fn lane(&self, config: &Config) -> Result<Option<QueueLane>, OpsError> {
        let Some(queue) = &self.priority_queue else { return Ok(None) };
        queues::priority_lane(config, self.pool, queue).map(Some).map_err(|hint| {
            OpsError::not_found(format!("{queue:?} is not a priority queue of pool {}", self.pool))
                .hint(format!("{hint}; without one, the pool's own DLQ"))
        })
    }
}

impl std::fmt::Display for DlqKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.priority_queue {
            Some(queue) => write!(f, "{}:{queue}", self.pool),
            None => f.write_str(self.pool.as_str()),
        }
    }
}

/// The configuration every DLQ function here and in the CLI sees for
/// `key`: for a priority queue, the pool set and that queue's queue and DLQ
/// URLs in place of the pool's (the URL overrides every DLQ call honours),
/// so a replay takes its messages back to the queue they came from.
pub async fn scoped_config<'a>(sqs: &Sqs, config: &'a Config, key: &DlqKey) -> Result<Cow<'a, Config>, OpsError> {
    let Some(lane) = key.lane(config)? else { return Ok(Cow::Borrowed(config)) };
    let (queue_url, dlq_url) = queues::lane_urls(sqs, &lane).await?;
    let missing = |name: &str| OpsError::queue_missing(name, key.pool, &config.env);
    let queue_url = queue_url.ok_or_else(|| missing(&lane.queue_name))?;
    let dlq_url = dlq_url.ok_or_else(|| missing(&lane.dlq_name))?;
    Ok(Cow::Owned(Config { pool: Some(key.pool), queue_url: Some(queue_url), dlq_url: Some(dlq_url), ..config.clone() }))
}

/// A pool's dead-letter queue and the queue replays go back to.
#[derive(Debug, Clone)]
pub struct DlqQueues {
    pub pool: Pool,
    pub dlq_name: String,
    pub dlq_url: String,
    pub main: Target,
    pub approximate_visible: Option<u64>,
}

pub async fn dlq_queues(sqs: &Sqs, config: &Config, pool: Pool) -> Result<DlqQueues, OpsError> {
    let dlq_url = queues::require_dlq(sqs, config, pool).await?;
    let main_url = queues::main_queue_url(sqs, config, pool, true).await?;
    let main = Target { name: main_url.as_deref().map_or_else(|| queues::queue_name(config, pool), queues::name_in_url), url: main_url };
    let approximate_visible = sqs.queue_depth(&dlq_url).await.ok().map(|(visible, _, _)| visible);
    Ok(DlqQueues { pool, dlq_name: queues::name_in_url(&dlq_url), dlq_url, main, approximate_visible })
}

/// Messages of one job type and error class in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriageGroup {
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub count: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_failed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub newest_failed_at: Option<OffsetDateTime>,
}

/// A DLQ's messages grouped by type × error class, largest group first.
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub pool: Pool,
    pub queue: String,
    pub approximate_visible: Option<u64>,
    pub scanned: u64,
    /// More messages than `limit` were there: the counts are of a sample.
    pub truncated: bool,
    pub groups: Vec<TriageGroup>,
}

pub fn group(messages: &[DlqMessage]) -> Vec<TriageGroup> {
    let mut groups: BTreeMap<(Option<String>, Option<String>), TriageGroup> = BTreeMap::new();
    for m in messages {
        let g = groups.entry((m.job_type.clone(), m.error_class.clone())).or_insert_with(|| TriageGroup {
            job_type: m.job_type.clone(),
            error_class: m.error_class.clone(),
            count: 0,
            oldest_failed_at: None,
            newest_failed_at: None,
        });
        g.count += 1;
        if let Some(at) = m.failed_at {
            g.oldest_failed_at = Some(g.oldest_failed_at.map_or(at, |o| o.min(at)));
            g.newest_failed_at = Some(g.newest_failed_at.map_or(at, |o| o.max(at)));
        }
    }
    let mut out: Vec<TriageGroup> = groups.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.job_type.cmp(&b.job_type)).then_with(|| a.error_class.cmp(&b.error_class)));
    out
}

/// Peeks a DLQ (up to `limit` messages, each released at the end) and groups it.
pub async fn triage(sqs: &Sqs, config: &Config, pool: Pool, limit: usize, visibility_secs: i32) -> Result<Triage, OpsError> {
    let queues = dlq_queues(sqs, config, pool).await?;
    let peek = peek_dlq(sqs, &queues.dlq_url, visibility_secs, &Filter::default(), limit).await?;
    Ok(Triage {
        pool,
        queue: queues.dlq_name,
        approximate_visible: queues.approximate_visible,
        scanned: peek.stats.scanned,
        truncated: peek.truncated,
        groups: group(&peek.messages),
    })
}

/// The DLQ's messages matching `filter` (up to `limit`), oldest failure first.
pub async fn browse(sqs: &Sqs, config: &Config, pool: Pool, filter: &Filter, limit: usize, visibility_secs: i32) -> Result<Peek, OpsError> {
    let queues = dlq_queues(sqs, config, pool).await?;
    Ok(peek_dlq(sqs, &queues.dlq_url, visibility_secs, filter, limit).await?)
}

/// A replay as asked for: which messages, how fast, and whether only a preview.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub pool: Pool,
    pub filter: Filter,
    pub rate_per_sec: Option<f64>,
    pub limit: Option<u64>,
    pub dry_run: bool,
    /// How long the sweep holds messages it does not move.
    pub visibility_secs: i32,
    /// Anything else the audit row should record (the preview it confirms, …).
    pub extra: Value,
}

/// A replay whose audit row is written and which is ready to run.
#[derive(Debug, Clone)]
pub struct StartedReplay {
    pub audit_id: i64,
    pub dlq_name: String,
    pub approximate_visible: Option<u64>,
    plan: ReplayPlan,
}

pub(crate) fn filters_json(filter: &Filter, extra: Value) -> Value {
    let mut value = serde_json::to_value(filter).unwrap_or_else(|_| json!({}));
    if let (Value::Object(map), Value::Object(extra)) = (&mut value, extra) {
        map.extend(extra.into_iter().filter(|(_, v)| !v.is_null()));
    }
    value
}

/// Resolves the queues and writes the audit row of a replay (or its dry run).
pub async fn begin_replay(
    sqs: &Sqs,
    config: &Config,
    db: &PgPool,
    request: ReplayRequest,
    actor: &str,
    origin: Origin,
) -> Result<StartedReplay, OpsError> {
    if request.limit == Some(0) {
        return Err(OpsError::usage("a limit of 0 would move nothing"));
    }
    if let Some(rate) = request.rate_per_sec
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(OpsError::usage(format!("rate {rate} must be more than 0 messages per second")));
    }
    let queues = dlq_queues(sqs, config, request.pool).await?;
    let mut extra = json!({ "limit": request.limit, "rate_per_sec": request.rate_per_sec });
    if let (Value::Object(map), Value::Object(more)) = (&mut extra, request.extra) {
        map.extend(more);
    }
    let entry = NewEntry {
        action: Action::Replay,
        actor: actor.to_owned(),
        env: config.env.clone(),
        pool: request.pool,
        queue: queues.dlq_name.clone(),
        filters: filters_json(&request.filter, extra),
        dry_run: request.dry_run,
    };
    let audit_id = audit::begin_from(db, &entry, origin)
        .await
        .map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    let plan = ReplayPlan {
        dlq_url: queues.dlq_url,
        filter: request.filter,
        limit: request.limit,
        rate_per_sec: request.rate_per_sec,
        dry_run: request.dry_run,
        to_queue: None,
        default_target: queues.main,
        known_urls: HashMap::new(),
        visibility_secs: request.visibility_secs,
        crash_after_first_send: false,
    };
    Ok(StartedReplay { audit_id, dlq_name: queues.dlq_name, approximate_visible: queues.approximate_visible, plan })
}

/// Told about a running replay's progress after every batch.
pub trait ProgressSink: Send {
    fn progress(&mut self, counts: &Counts, sweep: &SweepStats) -> impl Future<Output = ()> + Send;
}

impl ProgressSink for replay::Quiet {
    async fn progress(&mut self, _: &Counts, _: &SweepStats) {}
}

/// Keeps the audit row current and turns a stop request written there
/// (from any process) into a stop of this run.
struct Persisted<'a, S> {
    db: &'a PgPool,
    audit_id: i64,
    stop: CancellationToken,
    last_write: Instant,
    inner: &'a mut S,
}

impl<S: ProgressSink> Observer for Persisted<'_, S> {
    async fn progress(&mut self, counts: &Counts, sweep: &SweepStats) {
        self.inner.progress(counts, sweep).await;
        if self.last_write.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_write = Instant::now();
        if let Err(e) = audit::progress(self.db, self.audit_id, tally(counts)).await {
            tracing::warn!(audit_id = self.audit_id, error = %e, "cannot update the audit row");
        }
        if audit::stop_requested(self.db, self.audit_id).await.unwrap_or(false) {
            self.stop.cancel();
        }
    }
}

pub(crate) fn tally(counts: &Counts) -> Tally {
    Tally { matched: counts.matched, moved: counts.moved, skipped: counts.skipped, failed: counts.failed() }
}

/// How a replay ended, as its audit row's `outcome` says it.
pub fn outcome_text(summary: &ReplaySummary) -> String {
    let stopped = serde_json::to_value(summary.stopped).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    match &summary.error {
        Some(error) => format!("{stopped}: {error}"),
        None => stopped,
    }
}

/// Runs a begun replay to its end (or `stop`, or a stop request in its
/// audit row) and finishes the audit row.
pub async fn run_replay<S: ProgressSink>(
    sqs: &Sqs,
    db: &PgPool,
    started: &StartedReplay,
    stop: &CancellationToken,
    sink: &mut S,
) -> Result<ReplaySummary, OpsError> {
    let mut observer = Persisted { db, audit_id: started.audit_id, stop: stop.clone(), last_write: Instant::now(), inner: sink };
    let summary = replay::replay(sqs, &started.plan, stop, &mut observer).await;
    audit::finish(db, started.audit_id, tally(&summary.counts), &outcome_text(&summary)).await.map_err(|e| {
        OpsError::failure(format!("the replay ended but its audit row #{} could not be updated: {e}", started.audit_id))
            .kind(ErrorKind::Database)
    })?;
    Ok(summary)
}

/// How a redrive started.
#[derive(Debug, Clone)]
pub enum RedriveStart {
    /// SQS moves the messages itself (StartMessageMoveTask); the audit row is finished.
    MoveTask { audit_id: i64, task_handle: String, approximate_count: u64 },
    /// The endpoint has no move tasks: an unfiltered replay to run.
    Replay(Box<StartedReplay>),
}

pub(crate) async fn queue_arn(sqs: &Sqs, url: &str, name: &str, pool: Pool, env: &str) -> Result<String, OpsError> {
    sqs.queue_attributes(url, &[QueueAttributeName::QueueArn])
        .await?
        .and_then(|mut attrs| attrs.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| OpsError::queue_missing(name, pool, env))
}

/// Moves every message of the pool's DLQ back to its queue.
#[allow(clippy::too_many_arguments, reason = "the queues, the audit's who, and the pace: each a separate decision of the caller")]
pub async fn begin_redrive(
    sqs: &Sqs,
    config: &Config,
    db: &PgPool,
    pool: Pool,
    rate_per_sec: Option<i32>,
    actor: &str,
    origin: Origin,
    visibility_secs: i32,
) -> Result<RedriveStart, OpsError> {
    let queues = dlq_queues(sqs, config, pool).await?;
    let Some(main_url) = queues.main.url.clone() else {
        return Err(OpsError::queue_missing(&queues.main.name, pool, &config.env));
    };
    let dlq_arn = queue_arn(sqs, &queues.dlq_url, &queues.dlq_name, pool, &config.env).await?;
    let main_arn = queue_arn(sqs, &main_url, &queues.main.name, pool, &config.env).await?;
    let entry = NewEntry {
        action: Action::Redrive,
        actor: actor.to_owned(),
        env: config.env.clone(),
        pool,
        queue: queues.dlq_name.clone(),
        filters: json!({ "rate_per_sec": rate_per_sec, "destination": queues.main.name }),
        dry_run: false,
    };
    let audit_id = audit::begin_from(db, &entry, origin)
        .await
        .map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    let finish = |tally: Tally, outcome: String| async move {
        audit::finish(db, audit_id, tally, &outcome)
            .await
            .map_err(|e| OpsError::database("cannot finish the audit row", e, &config.database_url))
    };
    match sqs.start_message_move_task(&dlq_arn, Some(&main_arn), rate_per_sec).await {
        Ok(MoveTaskStart::Started { task_handle }) => {
            let approximate_count = queues.approximate_visible.unwrap_or(0);
            finish(Tally { matched: approximate_count, ..Tally::default() }, format!("move task started: {task_handle}")).await?;
            Ok(RedriveStart::MoveTask { audit_id, task_handle, approximate_count })
        }
        Ok(MoveTaskStart::Unsupported { .. }) => {
            let plan = ReplayPlan {
                dlq_url: queues.dlq_url,
                filter: Filter::default(),
                limit: None,
                rate_per_sec: rate_per_sec.map(f64::from),
                dry_run: false,
                to_queue: None,
                default_target: queues.main,
                known_urls: HashMap::new(),
                visibility_secs,
                crash_after_first_send: false,
            };
            Ok(RedriveStart::Replay(Box::new(StartedReplay {
                audit_id,
                dlq_name: queues.dlq_name,
                approximate_visible: queues.approximate_visible,
                plan,
            })))
        }
        Err(e) => {
            let _ = finish(Tally::default(), format!("error: {e}")).await;
            Err(OpsError::sqs(&e))
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone, Serialize)]
pub struct Purged {
    pub audit_id: i64,
    pub queue: String,
    pub approximate_count: u64,
}

/// Deletes every message of the pool's DLQ (audited).
pub async fn purge(sqs: &Sqs, config: &Config, db: &PgPool, pool: Pool, actor: &str, origin: Origin) -> Result<Purged, OpsError> {
    let url = queues::require_dlq(sqs, config, pool).await?;
    let queue = queues::name_in_url(&url);
    let (visible, in_flight, delayed) = sqs.queue_depth(&url).await?;
    let approximate_count = visible + in_flight + delayed;
    let entry = NewEntry {
        action: Action::Purge,
        actor: actor.to_owned(),
        env: config.env.clone(),
        pool,
        queue: queue.clone(),
        filters: json!({}),
        dry_run: false,
    };
    let audit_id = audit::begin_from(db, &entry, origin)
        .await
        .map_err(|e| OpsError::database("cannot write the audit row", e, &config.database_url))?;
    let outcome = match sqs.purge(&url).await {
        Ok(()) => Ok(()),
        Err(e) => Err(OpsError::sqs(&e)),
    };
    let (tally, text) = match &outcome {
        Ok(()) => (Tally { matched: approximate_count, ..Tally::default() }, "purged".to_owned()),
        Err(e) => (Tally::default(), format!("error: {}", e.message)),
    };
    audit::finish(db, audit_id, tally, &text)
        .await
        .map_err(|e| OpsError::database("cannot finish the audit row", e, &config.database_url))?;
    outcome?;
    Ok(Purged { audit_id, queue, approximate_count })
}
