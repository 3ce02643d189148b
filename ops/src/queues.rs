//! Finding a pool's queues, and `worker queues`: their depths at a glance.
//!
//! `worker queues` is read-only: it calls GetQueueUrl and GetQueueAttributes
//! and never receives, so it is safe to run in a loop, from scripts and
//! during a replay. Two things operators ask for are not in SQS's API:
//!
//! - **oldest-message age**: SQS has no such attribute (CloudWatch's
//!   ApproximateAgeOfOldestMessage is a separate service; the fleet exports
//!   `jobfleet_queue_oldest_message_age_seconds`). For the main queue it is
//!   always `n/a`: receiving from it would steal messages from the workers.
//!   For the DLQ, `--peek-dlq` derives it from the messages' `failed_at`
//!   (else SentTimestamp) by peeking, exactly when the DLQ holds at most
//!   [`PEEK_MAX`] messages and as a lower bound (`≥`) from a sample of that
//!   many otherwise.
//! - **consumers**: SQS does not know who polls a queue; the column is
//!   omitted (see `kubectl get pods -l jobfleet.io/pool=P`).

use std::time::SystemTime;

use aws_sdk_sqs::types::QueueAttributeName;
use jobfleet_contract::Pool;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dlq::peek_dlq;
use crate::errors::OpsError;
use crate::filter::Filter;
use crate::table::{human_age, render};
use jobfleet_runtime::config::{Config, QueueLane};
use jobfleet_runtime::sqs::Sqs;

/// Messages a `--peek-dlq` receives at most (10 receive calls).
pub const PEEK_MAX: usize = 100;
/// The schema version of `worker queues --json`.
pub const QUEUES_JSON_VERSION: u32 = 1;

/// The configured URL overrides (JOBFLEET_QUEUE_URL / JOBFLEET_DLQ_URL)
/// belong to the configured pool; with no pool configured they apply to
/// the one pool a command names, never to a listing of all pools.
fn overrides(config: &Config, pool: Pool, single_pool: bool) -> (Option<&str>, Option<&str>) {
    let applies = match config.pool {
        Some(configured) => configured == pool,
        None => single_pool,
    };
    if applies { (config.queue_url.as_deref(), config.dlq_url.as_deref()) } else { (None, None) }
}

/// The pool's main queue name (`.fifo` for a FIFO pool).
pub fn queue_name(config: &Config, pool: Pool) -> String {
    config.queue_names(pool).map(|(main, _)| main).unwrap_or_else(|_| pool.queue_name(&config.env))
}

/// The pool's dead-letter queue name (`.fifo` for a FIFO pool).
pub fn dlq_name(config: &Config, pool: Pool) -> String {
    config.queue_names(pool).map(|(_, dlq)| dlq).unwrap_or_else(|_| pool.dlq_name(&config.env))
}

/// The queue name a URL ends in. Operators are told the names of the
/// queues a command really uses: with an override (`JOBFLEET_DLQ_URL`, a
/// priority queue's URLs) that is not the pool's own queue.
pub fn name_in_url(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

/// The pool's main queue URL, or `None` when it does not exist.
pub async fn main_queue_url(sqs: &Sqs, config: &Config, pool: Pool, single_pool: bool) -> Result<Option<String>, OpsError> {
    match overrides(config, pool, single_pool).0 {
        Some(url) => Ok(Some(url.to_owned())),
        None => Ok(sqs.find_queue_url(&queue_name(config, pool)).await?),
    }
}

/// The pool's DLQ URL, or `None` when it does not exist.
pub async fn dlq_url(sqs: &Sqs, config: &Config, pool: Pool, single_pool: bool) -> Result<Option<String>, OpsError> {
    match overrides(config, pool, single_pool).1 {
        Some(url) => Ok(Some(url.to_owned())),
        None => Ok(sqs.find_queue_url(&dlq_name(config, pool)).await?),
    }
}

/// A priority queue's queue and DLQ URLs: configured, else looked up by
/// name (`None` when missing).
pub async fn lane_urls(sqs: &Sqs, lane: &QueueLane) -> Result<(Option<String>, Option<String>), OpsError> {
    let find = |given: &Option<String>, name: &str| {
        let (given, name) = (given.clone(), name.to_owned());
        async move {
            match given {
                Some(url) => Ok(Some(url)),
                None => sqs.find_queue_url(&name).await,
            }
        }
    };
    Ok((find(&lane.queue_url, &lane.queue_name).await?, find(&lane.dlq_url, &lane.dlq_name).await?))
}

/// Priority queue `name` of `pool`, or a hint naming the pool's priority
/// queues (for the error of whoever asked: a usage error, a 404).
pub fn priority_lane(config: &Config, pool: Pool, name: &str) -> Result<QueueLane, String> {
    let lanes: Vec<QueueLane> = config.queue_lanes(pool).map_err(|e| e.to_string())?.into_iter().filter(|l| !l.is_own()).collect();
    if let Some(lane) = lanes.iter().find(|l| l.label == name) {
        return Ok(lane.clone());
    }
    let names: Vec<&str> = lanes.iter().map(|l| l.label.as_str()).collect();
    Err(if names.is_empty() {
        format!("pool {pool} has no priority queues ([pools.{pool}.priority_queues.<name>] in the file JOBFLEET_CONFIG names)")
    } else {
        format!("pool {pool}'s priority queues: {}", names.join(", "))
    })
}

/// The DLQ URL of a command's `--pool`, or the operator error naming what was tried.
pub async fn require_dlq(sqs: &Sqs, config: &Config, pool: Pool) -> Result<String, OpsError> {
    dlq_url(sqs, config, pool, true).await?.ok_or_else(|| OpsError::queue_missing(&dlq_name(config, pool), pool, &config.env))
}

/// Depth of one queue. Counts are `null` when the queue is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueState {
    pub name: String,
    pub url: Option<String>,
    /// `ok` or `missing`.
    pub status: &'static str,
    pub visible: Option<u64>,
    pub in_flight: Option<u64>,
    pub delayed: Option<u64>,
}

/// One of a pool's priority queues (`[pools.<pool>.priority_queues.<name>]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorityQueueState {
    pub name: String,
    pub weight: u32,
    pub queue: QueueState,
    pub dlq: QueueState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolState {
    pub pool: Pool,
    pub queue: QueueState,
    pub dlq: QueueState,
    /// The pool's priority queues, highest weight first (empty for most pools).
    pub priority_queues: Vec<PriorityQueueState>,
    /// Always `null`: not knowable from SQS without disturbing consumers.
    pub oldest_message_age_secs: Option<u64>,
    /// Age of the oldest DLQ failure, when peeked (`--peek-dlq`).
    pub dlq_oldest_message_age_secs: Option<u64>,
    /// `not_peeked`, `empty`, `exact` (every DLQ message seen) or
    /// `lower_bound` (a sample of [`PEEK_MAX`]).
    pub dlq_oldest_age_basis: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuesReport {
    pub version: u32,
    pub env: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub pools: Vec<PoolState>,
}

async fn queue_state(sqs: &Sqs, name: String, url: Option<String>) -> Result<QueueState, OpsError> {
    let missing = |name: String| QueueState { name, url: None, status: "missing", visible: None, in_flight: None, delayed: None };
    let Some(url) = url else { return Ok(missing(name)) };
    let names = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    let Some(attrs) = sqs.queue_attributes(&url, &names).await? else { return Ok(missing(name)) };
    let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse::<u64>().ok());
    Ok(QueueState {
        name,
        url: Some(url),
        status: "ok",
        visible: get(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

/// Gathers the report for `pools` (all pools when empty).
pub async fn report(
    sqs: &Sqs,
    config: &Config,
    only: Option<Pool>,
    peek: bool,
    peek_visibility_secs: i32,
) -> Result<QueuesReport, OpsError> {
    let pools: Vec<Pool> = match only {
        Some(pool) => vec![pool],
        None => config.pools.keys().copied().collect(),
    };
    let mut states = Vec::new();
    for pool in pools {
        let single = only.is_some();
        let queue = queue_state(sqs, queue_name(config, pool), main_queue_url(sqs, config, pool, single).await?).await?;
        let dlq = queue_state(sqs, dlq_name(config, pool), dlq_url(sqs, config, pool, single).await?).await?;
        let (mut age, mut basis) = (None, "not_peeked");
        if let (true, Some(url), Some(visible)) = (peek, dlq.url.as_deref(), dlq.visible) {
            if visible == 0 {
                basis = "empty";
            } else {
                let peeked = peek_dlq(sqs, url, peek_visibility_secs, &Filter::default(), PEEK_MAX).await?;
                let now = SystemTime::now();
                age = peeked
                    .messages
                    .iter()
                    .filter_map(|m| m.failed_at)
                    .min()
                    .map(|oldest| now.duration_since(oldest.into()).map(|d| d.as_secs()).unwrap_or(0));
                basis = if peeked.truncated { "lower_bound" } else { "exact" };
            }
        }
        let mut priority_queues = Vec::new();
        for lane in config.queue_lanes(pool).unwrap_or_default().into_iter().filter(|lane| !lane.is_own()) {
            let (url, dlq_url) = lane_urls(sqs, &lane).await?;
            priority_queues.push(PriorityQueueState {
                name: lane.label,
                weight: lane.weight,
                queue: queue_state(sqs, lane.queue_name, url).await?,
                dlq: queue_state(sqs, lane.dlq_name, dlq_url).await?,
            });
        }
        states.push(PoolState {
            pool,
            queue,
            dlq,
            priority_queues,
            oldest_message_age_secs: None,
            dlq_oldest_message_age_secs: age,
            dlq_oldest_age_basis: basis,
        });
    }
    Ok(QueuesReport { version: QUEUES_JSON_VERSION, env: config.env.clone(), generated_at: OffsetDateTime::now_utc(), pools: states })
}

fn count(state: &QueueState, value: Option<u64>) -> String {
    match (state.status, value) {
        ("missing", _) => "missing".to_owned(),
        (_, Some(n)) => n.to_string(),
        _ => "?".to_owned(),
    }
}

/// The aligned table of `worker queues`.
pub fn render_table(report: &QueuesReport) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for p in &report.pools {
        let oldest = match (p.dlq_oldest_age_basis, p.dlq_oldest_message_age_secs) {
            ("exact", Some(secs)) => human_age(secs),
            ("lower_bound", Some(secs)) => format!("≥{}", human_age(secs)),
            ("empty", _) => "-".to_owned(),
            _ => "n/a".to_owned(),
        };
        let row = |pool: String, queue: &QueueState, dlq: &QueueState, oldest: String| {
            vec![
                pool,
                queue.name.clone(),
                count(queue, queue.visible),
                count(queue, queue.in_flight),
                count(queue, queue.delayed),
                count(dlq, dlq.visible),
                count(dlq, dlq.in_flight),
                oldest,
            ]
        };
        rows.push(row(p.pool.to_string(), &p.queue, &p.dlq, oldest));
        // A pool's priority queues under it, named with their weight.
        for q in &p.priority_queues {
            rows.push(row(format!("{} ({}, weight {})", p.pool, q.name, q.weight), &q.queue, &q.dlq, "n/a".to_owned()));
        }
    }
    render(
        &["POOL", "QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "DLQ", "DLQ IN FLIGHT", "OLDEST DLQ AGE"],
        &rows,
        &[false, false, true, true, true, true, true, true],
    )
}

/// RFC 3339 or empty.
pub fn rfc3339(at: Option<OffsetDateTime>) -> String {
    at.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, visible: Option<u64>) -> QueueState {
        QueueState {
            name: name.into(),
            url: visible.map(|_| format!("http://q/{name}")),
            status: if visible.is_some() { "ok" } else { "missing" },
            visible,
            in_flight: visible.map(|_| 2),
            delayed: visible.map(|_| 0),
        }
    }

    #[test]
    fn a_missing_queue_is_shown_as_missing() {
        let report = QueuesReport {
            version: 1,
            env: "local".into(),
            generated_at: OffsetDateTime::UNIX_EPOCH,
            pools: vec![
                PoolState {
                    pool: Pool::MEDIA,
                    queue: state("local-jobfleet-media", Some(1200)),
                    dlq: state("local-jobfleet-media-dlq", Some(40_000)),
                    priority_queues: vec![PriorityQueueState {
                        name: "high".into(),
                        weight: 4,
                        queue: state("local-jobfleet-media-high", Some(7)),
                        dlq: state("local-jobfleet-media-high-dlq", Some(0)),
                    }],
                    oldest_message_age_secs: None,
                    dlq_oldest_message_age_secs: Some(7_500),
                    dlq_oldest_age_basis: "lower_bound",
                },
                PoolState {
                    pool: Pool::AI,
                    queue: state("local-jobfleet-ai", None),
                    dlq: state("local-jobfleet-ai-dlq", None),
                    priority_queues: Vec::new(),
                    oldest_message_age_secs: None,
                    dlq_oldest_message_age_secs: None,
                    dlq_oldest_age_basis: "not_peeked",
                },
            ],
        };
        let table = render_table(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("POOL ") && lines[0].contains(" QUEUE "), "{table}");
        assert!(lines[1].contains("1200") && lines[1].contains("40000") && lines[1].ends_with("≥2h05m"), "{table}");
        assert!(lines[2].starts_with("media (high, weight 4)") && lines[2].contains("local-jobfleet-media-high "), "{table}");
        assert!(lines[3].contains("missing") && lines[3].ends_with("n/a"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["pools"][1]["queue"]["status"], "missing");
        assert_eq!(json["pools"][1]["queue"]["visible"], serde_json::Value::Null);
        assert_eq!(json["pools"][0]["dlq"]["visible"], 40_000);
        assert_eq!(json["pools"][0]["priority_queues"][0]["queue"]["visible"], 7);
    }

    #[test]
    fn url_overrides_belong_to_the_configured_pool() {
        let config = Config { queue_url: Some("http://q/main".into()), ..Config::default() };
        assert_eq!(overrides(&config, Pool::MEDIA, true).0, Some("http://q/main"));
        assert_eq!(overrides(&config, Pool::MEDIA, false).0, None, "not for a listing of every pool");
        let config = Config { pool: Some(Pool::AI), ..config };
        assert_eq!(overrides(&config, Pool::AI, false).0, Some("http://q/main"));
        assert_eq!(overrides(&config, Pool::MEDIA, true).0, None);
    }
}
