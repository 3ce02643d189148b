//! `worker enqueue`: send jobs by hand, validated before they leave.

use std::collections::HashMap;

use jobfleet_contract::envelope::JOB_TYPE_ATTRIBUTE;
use jobfleet_contract::{Envelope, Pool};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use jobfleet_runtime::config::Config;
use jobfleet_runtime::dispatch::catalog::{pools_handling, router_for};
use jobfleet_runtime::sqs::Sqs;
use jobfleet_runtime::sqs::client::{Outgoing, is_fifo_queue, string_attribute};

#[derive(Debug, Clone)]
pub struct EnqueueRequest {
    pub job_type: String,
    pub payload: Value,
    pub version: Option<u32>,
    pub pool: Option<Pool>,
    pub delay_secs: Option<u32>,
    pub count: u32,
    /// MessageGroupId: the ordering group on a FIFO pool (default there:
    /// each job its own group), a tenant on a standard queue.
    pub group: Option<String>,
    /// One of the pool's priority queues instead of its own queue.
    pub priority_queue: Option<String>,
}

/// What [`enqueue`] sent, and where.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub pool: Pool,
    /// The queue's name.
    pub queue: String,
    pub ids: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("unknown job type {job_type:?}.\n  hint: known types are {known}")]
    UnknownType { job_type: String, known: String },
    #[error("{job_type} is accepted by every pool.\n  hint: pass --pool media|notifications|ai")]
    AmbiguousPool { job_type: String },
    #[error("{job_type} is not handled by pool {pool}.\n  hint: it is handled by {handled_by}")]
    WrongPool { job_type: String, pool: Pool, handled_by: String },
    #[error("invalid payload for {job_type}: {reason}")]
    InvalidPayload { job_type: String, reason: String },
    #[error("--delay {0} exceeds SQS's 900 s maximum")]
    Delay(u32),
    #[error("--delay: pool {0}'s queue is FIFO, and SQS has no per-message delay on FIFO queues")]
    FifoDelay(Pool),
    #[error("--queue {queue}: not a priority queue of pool {pool}.\n  hint: {known}")]
    UnknownQueue { pool: Pool, queue: String, known: String },
    #[error(
        "--queue {queue}: queue {name} does not exist.\n  hint: create it with the pool's Terraform (`priority_queues`), or locally `make stack-up` with JOBFLEET_CONFIG naming the file that declares it"
    )]
    QueueMissing { queue: String, name: String },
    #[error("{0}")]
    Router(#[from] jobfleet_runtime::dispatch::router::RouterError),
    #[error("{0}")]
    Sqs(#[from] jobfleet_runtime::sqs::SqsError),
}

/// Validates and sends; returns the job ids and the queue they went to.
pub async fn enqueue(config: &Config, request: EnqueueRequest) -> Result<Enqueued, EnqueueError> {
    if let Some(delay) = request.delay_secs.filter(|d| *d > 900) {
        return Err(EnqueueError::Delay(delay));
    }
    let handled_by = pools_handling(config, &request.job_type);
    let pool = match (request.pool, handled_by.as_slice()) {
        (_, []) => {
            let diag = Config { diag_enabled: Some(true), ..config.clone() };
            let mut known: Vec<&str> = diag.pools.keys().filter_map(|&p| router_for(&diag, p).ok()).flat_map(|r| r.job_types()).collect();
            known.sort_unstable();
            known.dedup();
            return Err(EnqueueError::UnknownType { job_type: request.job_type, known: known.join(", ") });
        }
        (Some(pool), pools) if pools.contains(&pool) => pool,
        (Some(pool), pools) => {
            let handled_by = pools.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
            return Err(EnqueueError::WrongPool { job_type: request.job_type, pool, handled_by });
        }
        (None, [only]) => *only,
        (None, _) => return Err(EnqueueError::AmbiguousPool { job_type: request.job_type }),
    };
    let router = router_for(&Config { diag_enabled: Some(true), ..config.clone() }, pool)?;
    let route = router
        .route(&request.job_type)
        .ok_or_else(|| EnqueueError::UnknownType { job_type: request.job_type.clone(), known: router.job_types().join(", ") })?;
    let version = request.version.unwrap_or(route.version);
    route
        .validate(version, request.payload.clone())
        .map_err(|e| EnqueueError::InvalidPayload { job_type: request.job_type.clone(), reason: e.message().to_owned() })?;

    let sqs = Sqs::from_env().await;
    let (queue, queue_url) = match &request.priority_queue {
        None => {
            let name = crate::queues::queue_name(config, pool);
            let url = match &config.queue_url {
                Some(url) => url.clone(),
                None => sqs.queue_url(&name).await?,
            };
            (name, url)
        }
        Some(queue) => priority_queue_url(&sqs, config, pool, queue).await?,
    };
    let fifo = is_fifo_queue(&queue_url);
    if fifo && request.delay_secs.is_some_and(|d| d > 0) {
        return Err(EnqueueError::FifoDelay(pool));
    }
    let mut ids = Vec::with_capacity(request.count as usize);
    for _ in 0..request.count {
        let envelope = Envelope {
            id: Uuid::now_v7(),
            job_type: route.job_type.to_owned(),
            version,
            created_at: OffsetDateTime::now_utc(),
            payload: Some(request.payload.clone()),
            payload_ref: None,
            traceparent: None,
            idempotency_key: None,
        };
        let message = Outgoing {
            body: envelope.to_json(),
            attributes: HashMap::from([(JOB_TYPE_ATTRIBUTE.to_owned(), string_attribute(route.job_type))]),
            group_id: request.group.clone().or_else(|| fifo.then(|| envelope.id.to_string())),
            // The job id, as the SDK and the relay do: a retried send within
            // SQS's 5 minutes is dropped (docs/topologies.md).
            dedup_id: fifo.then(|| envelope.id.to_string()),
        };
        let delay = if fifo { None } else { request.delay_secs.map(|d| d as i32) };
        sqs.send(&queue_url, &message, delay).await?;
        ids.push(envelope.id);
    }
    Ok(Enqueued { pool, queue, ids })
}

/// The name and URL of priority queue `queue` of `pool`.
async fn priority_queue_url(sqs: &Sqs, config: &Config, pool: Pool, queue: &str) -> Result<(String, String), EnqueueError> {
    let lane = crate::queues::priority_lane(config, pool, queue).map_err(|known| EnqueueError::UnknownQueue {
        pool,
        queue: queue.to_owned(),
        known,
    })?;
    let url = match &lane.queue_url {
        Some(url) => url.clone(),
        None => sqs
            .find_queue_url(&lane.queue_name)
            .await?
            .ok_or_else(|| EnqueueError::QueueMissing { queue: queue.to_owned(), name: lane.queue_name.clone() })?,
    };
    Ok((lane.queue_name.clone(), url))
}
