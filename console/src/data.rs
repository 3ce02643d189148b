//! What each page shows, gathered from the ops library. The JSON API
//! returns these structures as they are; the HTML pages render them.

use jobfleet_ops::audit::{self, Record};
use jobfleet_ops::dlq::DlqMessage;
use jobfleet_ops::filter::{Filter, parse_since};
use jobfleet_ops::ledger::{self, Cursor, HourBucket, JobPage, JobQuery, STATUSES};
use jobfleet_ops::queues::{self, QueueState};
use jobfleet_ops::replay::ReplaySummary;
use jobfleet_ops::service::{self, DlqKey, Triage};
use jobfleet_runtime::config::Config;
use jobfleet_runtime::store::records::{self, JobRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::ConsoleError;
use crate::redact::{redact, redact_body};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Window {
    pub succeeded: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolOverview {
    pub pool: String,
    pub queue: QueueState,
    pub dlq: QueueState,
    /// The pool's priority queues, highest weight first.
    pub priority_queues: Vec<queues::PriorityQueueState>,
    pub last_hour: Window,
    pub last_day: Window,
    /// Visible ÷ the last hour's completion rate: how long the backlog takes to drain.
    pub backlog_secs: Option<f64>,
    /// Age of the oldest job the ledger has as queued or retrying.
    pub oldest_waiting_secs: Option<i64>,
    pub hours: Vec<HourBucket>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub env: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub pools: Vec<PoolOverview>,
}

pub async fn overview(state: &AppState) -> Result<Overview, ConsoleError> {
    let now = OffsetDateTime::now_utc();
    let report = queues::report(&state.sqs, &state.config, None, false, 0).await?;
    let buckets = ledger::throughput(&state.db, now).await?;
    let oldest: BTreeMap<String, i64> = ledger::oldest_waiting(&state.db, now).await?.into_iter().collect();
    let hour_ago = now - time::Duration::hours(1);
    let pools = report
        .pools
        .into_iter()
        .map(|p| {
            let name = p.pool.to_string();
            let hours: Vec<HourBucket> = buckets.iter().filter(|b| b.pool == name).cloned().collect();
            let mut last_hour = Window::default();
            let mut last_day = Window::default();
            for b in &hours {
                last_day.succeeded += b.succeeded;
                last_day.failed += b.failed;
                // The current and the previous hour's bucket: "last hour" is
                // at most two buckets wide, read as the last 60–120 minutes.
                if b.hour + time::Duration::hours(1) > hour_ago {
                    last_hour.succeeded += b.succeeded;
                    last_hour.failed += b.failed;
                }
            }
            let per_sec = last_hour.succeeded as f64 / 3_600.0;
            let backlog_secs = p.queue.visible.filter(|_| per_sec > 0.0).map(|v| v as f64 / per_sec);
            PoolOverview {
                oldest_waiting_secs: oldest.get(&name).copied(),
                pool: name,
                queue: p.queue,
                dlq: p.dlq,
                priority_queues: p.priority_queues,
                last_hour,
                last_day,
                backlog_secs,
                hours,
            }
        })
        .collect();
    Ok(Overview { env: state.config.env.clone(), generated_at: now, pools })
}

/// The job search as given in the URL (kept as text to refill the form).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobsParams {
    pub status: Option<String>,
    pub pool: Option<String>,
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub id: Option<String>,
    pub key: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

fn given(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `2h` (back from now), RFC 3339, or `YYYY-MM-DDTHH:MM` (a browser's
/// datetime-local, read as UTC).
fn parse_time(name: &str, text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, ConsoleError> {
    if let Ok(at) = parse_since(text, now) {
        return Ok(at);
    }
    let with_zone = if text.len() == 16 { format!("{text}:00Z") } else { format!("{text}Z") };
    OffsetDateTime::parse(&with_zone, &Rfc3339)
        .map_err(|_| ConsoleError::bad_request(format!("{name} {text:?} is not a time"), Some("use 2h, 1d, or 2026-12-05T09:00:00Z")))
}

impl JobsParams {
    pub fn query(&self) -> Result<JobQuery, ConsoleError> {
        let now = OffsetDateTime::now_utc();
        let status = given(&self.status);
        if let Some(s) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
            return Err(ConsoleError::bad_request(
                format!("status {s:?} is not a job status"),
                Some("queued, running, retrying, succeeded, failed or dead"),
            ));
        }
        let id = match given(&self.id) {
            Some(text) => {
                Some(Uuid::try_parse(&text).map_err(|_| ConsoleError::bad_request(format!("job id {text:?} is not a UUID"), None))?)
            }
            None => None,
        };
        let after = match given(&self.after) {
            Some(text) => Some(
                Cursor::decode(&text)
                    .ok_or_else(|| ConsoleError::bad_request("the page cursor is not valid", Some("start from the first page")))?,
            ),
            None => None,
        };
        Ok(JobQuery {
            status,
            pool: given(&self.pool),
            type_prefix: given(&self.job_type).map(|t| t.trim_end_matches('*').to_owned()),
            error_class: given(&self.error_class),
            from: given(&self.from).map(|t| parse_time("from", &t, now)).transpose()?,
            to: given(&self.to).map(|t| parse_time("to", &t, now)).transpose()?,
            id,
            idempotency_key: given(&self.key),
            after,
            limit: self.limit.unwrap_or(50),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JobsData {
    #[serde(skip)]
    pub params: JobsParams,
    #[serde(skip)]
    pub pools: Vec<String>,
    #[serde(flatten)]
    pub page: JobPage,
}

pub async fn jobs(state: &AppState, params: JobsParams) -> Result<JobsData, ConsoleError> {
    let query = params.query()?;
    let page = ledger::search(&state.db, &query).await?;
    Ok(JobsData { params, pools: state.config.pools.keys().map(|p| p.to_string()).collect(), page })
}

#[derive(Debug, Clone, Serialize)]
pub struct JobDetail {
    pub job: JobRecord,
    /// The envelope (redacted), from the outbox or the DLQ copy.
    pub envelope: Option<Value>,
    pub dlq_checked: bool,
    pub dlq_message: Option<DlqMessage>,
    /// The DLQ the message is in (`pool` or `pool:queue`), as in `/dlq/{key}`.
    pub dlq_key: Option<String>,
}

pub async fn job(state: &AppState, id: &str) -> Result<JobDetail, ConsoleError> {
    let id = Uuid::try_parse(id).map_err(|_| ConsoleError::bad_request(format!("{id:?} is not a job id"), None))?;
    let job = records::get(&state.db, id).await?.ok_or_else(|| ConsoleError::not_found(format!("no job {id} in the ledger")))?;
    let mut envelope = ledger::outbox_envelope(&state.db, id).await?;
    let dlq_checked = matches!(job.status.as_str(), "failed" | "dead");
    let mut dlq_message = None;
    let mut dlq_key = None;
    if dlq_checked && let Ok(pool) = service::configured_pool(&state.config, &job.pool) {
        // The ledger does not say which of the pool's queues the job came
        // from: look in each DLQ, the pool's own first.
        let filter = Filter { ids: vec![id.to_string()], ..Filter::default() };
        for key in DlqKey::all_of(&state.config, pool) {
            let config = service::scoped_config(&state.sqs, &state.config, &key).await?;
            let peek = service::browse(&state.sqs, &config, pool, &filter, 1, state.settings.visibility_secs).await?;
            if let Some(m) = peek.messages.into_iter().next() {
                if envelope.is_none() {
                    envelope = serde_json::from_str(&m.received.body).ok();
                }
                dlq_message = Some(m);
                dlq_key = Some(key.to_string());
                break;
            }
        }
    }
    let envelope = envelope.map(|e| redact(&e, &state.settings.redact));
    Ok(JobDetail { job, envelope, dlq_checked, dlq_message, dlq_key })
}

#[derive(Debug, Clone, Serialize)]
pub struct DlqIndex {
    pub pools: Vec<queues::PoolState>,
}

pub async fn dlq_index(state: &AppState) -> Result<DlqIndex, ConsoleError> {
    Ok(DlqIndex { pools: queues::report(&state.sqs, &state.config, None, false, 0).await?.pools })
}

/// The dead-letter queue a URL names (`media`, or `notifications:high` for
/// a priority queue's) and the configuration the ops calls see for it.
pub async fn dlq_scope<'a>(state: &'a AppState, key: &str) -> Result<(DlqKey, Cow<'a, Config>), ConsoleError> {
    let key = DlqKey::parse(&state.config, key)?;
    let config = service::scoped_config(&state.sqs, &state.config, &key).await?;
    Ok((key, config))
}

#[derive(Debug, Clone, Serialize)]
pub struct TriageData {
    /// As in `/dlq/{dlq_key}`.
    pub dlq_key: String,
    /// The queue a redrive moves the messages back to.
    pub queue_name: String,
    #[serde(flatten)]
    pub triage: Triage,
}

pub async fn triage(state: &AppState, key: &str) -> Result<TriageData, ConsoleError> {
    let (key, config) = dlq_scope(state, key).await?;
    let triage = service::triage(&state.sqs, &config, key.pool, state.settings.peek_limit, state.settings.visibility_secs).await?;
    Ok(TriageData { dlq_key: key.to_string(), queue_name: key.queue_name(&config), triage })
}

/// A DLQ filter as given in a URL or form.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FilterParams {
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub since: Option<String>,
}

impl FilterParams {
    pub fn filter(&self, ids: Vec<String>) -> Result<Filter, ConsoleError> {
        let since = match given(&self.since) {
            Some(text) => Some(parse_since(&text, OffsetDateTime::now_utc()).map_err(|e| ConsoleError::bad_request(e, None))?),
            None => None,
        };
        Ok(Filter { job_type: given(&self.job_type), error_class: given(&self.error_class), since, ids })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BrowseData {
    pub pool: String,
    /// As in `/dlq/{dlq_key}`.
    pub dlq_key: String,
    #[serde(skip)]
    pub params: FilterParams,
    pub truncated: bool,
    pub messages: Vec<DlqMessage>,
}

pub async fn browse(state: &AppState, key: &str, params: FilterParams) -> Result<BrowseData, ConsoleError> {
    let (key, config) = dlq_scope(state, key).await?;
    let filter = params.filter(Vec::new())?;
    let peek = service::browse(&state.sqs, &config, key.pool, &filter, state.settings.peek_limit, state.settings.visibility_secs).await?;
    Ok(BrowseData { pool: key.pool.to_string(), dlq_key: key.to_string(), params, truncated: peek.truncated, messages: peek.messages })
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageDetail {
    pub pool: String,
    /// As in `/dlq/{dlq_key}`.
    pub dlq_key: String,
    pub message: DlqMessage,
    /// Pretty-printed with the configured fields redacted.
    pub body: String,
}

pub async fn message(state: &AppState, key: &str, message_id: &str) -> Result<MessageDetail, ConsoleError> {
    let (key, config) = dlq_scope(state, key).await?;
    let filter = Filter { ids: vec![message_id.to_owned()], ..Filter::default() };
    let peek = service::browse(&state.sqs, &config, key.pool, &filter, 1, state.settings.visibility_secs).await?;
    let message = peek
        .messages
        .into_iter()
        .next()
        .ok_or_else(|| ConsoleError::not_found(format!("message {message_id} is not in the {key} DLQ (replayed or purged?)")))?;
    let body = redact_body(&message.received.body, &state.settings.redact);
    Ok(MessageDetail { pool: key.pool.to_string(), dlq_key: key.to_string(), message, body })
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewData {
    pub preview_id: i64,
    pub pool: String,
    /// As in `/dlq/{dlq_key}`.
    pub dlq_key: String,
    pub dlq: String,
    pub filter_text: String,
    pub rate: Option<String>,
    pub needs_typed_confirmation: bool,
    pub summary: ReplaySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayStatus {
    pub record: Record,
    /// The replayed DLQ as in `/dlq/{dlq_key}`, when the configuration still names it.
    pub dlq_key: Option<String>,
    /// Running in this console process (else finished, stopped with its
    /// process, or running elsewhere).
    pub running_here: bool,
}

pub async fn replay_status(state: &AppState, id: i64) -> Result<ReplayStatus, ConsoleError> {
    let record =
        audit::get(&state.db, &state.config.env, id).await?.ok_or_else(|| ConsoleError::not_found(format!("no audit row #{id}")))?;
    let dlq_key = service::configured_pool(&state.config, &record.pool)
        .ok()
        .and_then(|pool| DlqKey::for_dlq_name(&state.config, pool, &record.queue))
        .map(|key| key.to_string());
    Ok(ReplayStatus { running_here: state.is_running(id), dlq_key, record })
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditParams {
    pub pool: Option<String>,
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub rows: Vec<Record>,
    pub next_before: Option<i64>,
}

pub async fn audit_page(state: &AppState, params: AuditParams) -> Result<AuditPage, ConsoleError> {
    const PAGE: u32 = 100;
    let rows = audit::list(&state.db, &state.config.env, given(&params.pool).as_deref(), params.before, PAGE).await?;
    let next_before = (rows.len() == PAGE as usize).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(AuditPage { rows, next_before })
}
