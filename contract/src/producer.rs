//! Producer SDK: enqueue typed jobs from Rust services.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jobfleet_contract::producer::EnqueueError> {
//! use jobfleet_contract::producer::{Client, ClientConfig};
//! use jobfleet_contract::{Job, Pool};
//!
//! /// `reports.render`, version 1, run by the `reports` pool.
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! struct RenderReport {
//!     report_id: u64,
//! }
//!
//! impl Job for RenderReport {
//!     const TYPE: &'static str = "reports.render";
//!     const POOL: Option<Pool> = Some(Pool::from_static("reports"));
//! }
//!
//! let client = Client::from_env(ClientConfig::new("prod").with_claim_check_bucket("prod-jobfleet-media")).await;
//! let sent = client.enqueue(&RenderReport { report_id: 7 }).await?;
//! println!("job {} queued", sent.id);
//! # Ok(()) }
//! ```
//!
//! The queue comes from the job type's pool (`<env>-jobfleet-<pool>`, or
//! `<env>-jobfleet-<pool>.fifo`), so producers never name queues. Envelopes
//! over the claim-check threshold go through S3 ([`crate::claim_check`]).
//! Producers that write to the jobs database should prefer the transactional
//! outbox (`docs/producers.md`): a job then exists exactly when the
//! producer's transaction commits.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::claim_check::{self, ClaimCheck, ClaimCheckError};
use crate::envelope::JOB_TYPE_ATTRIBUTE;
use crate::{Envelope, Job, Pool};

/// SQS's longest per-message delay.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// SendMessageBatch's entry limit.
const BATCH_ENTRIES: usize = 10;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Environment name: queues are `<env>-jobfleet-<pool>`.
    pub env: String,
    /// Explicit queue URLs, overriding the name lookup per pool.
    pub queue_urls: BTreeMap<Pool, String>,
    /// Bucket for claim-checked payloads; without one, an oversized envelope
    /// is an error instead of a trip through S3.
    pub claim_check_bucket: Option<String>,
    pub claim_check_prefix: String,
    /// Envelopes (body plus attributes) larger than this go through S3.
    pub claim_check_threshold_bytes: usize,
}

impl ClientConfig {
    pub fn new(env: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            queue_urls: BTreeMap::new(),
            claim_check_bucket: None,
            claim_check_prefix: claim_check::DEFAULT_PREFIX.to_owned(),
            claim_check_threshold_bytes: claim_check::DEFAULT_THRESHOLD_BYTES,
        }
    }

    pub fn with_claim_check_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.claim_check_bucket = Some(bucket.into());
        self
    }

    pub fn with_queue_url(mut self, pool: Pool, url: impl Into<String>) -> Self {
        self.queue_urls.insert(pool, url.into());
        self
    }
}

/// Per-job options; the defaults suit most jobs.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    /// Hidden from consumers this long (≤ 15 min; standard queues only).
    /// For later starts use the outbox's `not_before`.
    pub delay: Option<Duration>,
    /// Key handlers use for external side effects; defaults to the job id.
    /// Set it to make two enqueues of the same business event one effect.
    pub idempotency_key: Option<String>,
    /// W3C `traceparent` of the caller, continued by the handler's span.
    pub traceparent: Option<String>,
    /// The pool, for types every pool accepts (`diag.*`).
    pub pool: Option<Pool>,
    /// `MessageGroupId`. FIFO queues: jobs with the same group run in
    /// order, one at a time; defaults to the job id (no ordering, full
    /// parallelism). Standard queues: the job's tenant, which SQS fair
    /// queues and a fair pool's per-tenant share go by
    /// (docs/topologies.md); unset, the job is a tenant of its own.
    pub message_group_id: Option<String>,
    /// FIFO queues: SQS drops a second send with the same id within 5
    /// minutes. Defaults to the job id.
    pub deduplication_id: Option<String>,
    /// One of the pool's priority queues (`high` sends to
    /// `<env>-jobfleet-<pool>-high`); unset, the pool's own queue.
    pub priority_queue: Option<String>,
}

impl EnqueueOptions {
    /// Options for a job of `tenant` (its `MessageGroupId`): a fair pool
    /// shares its slots between tenants, and SQS fair queues serve a quiet
    /// tenant ahead of a noisy one's backlog.
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        Self { message_group_id: Some(tenant.into()), ..Self::default() }
    }
}

/// A job accepted by SQS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub id: Uuid,
    pub message_id: String,
    pub queue_url: String,
    /// The payload went through S3 (`payload_ref`).
    pub claim_checked: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{job_type} is accepted by every pool: set EnqueueOptions::pool")]
    NoPool { job_type: &'static str },
    #[error("could not serialize the {job_type} payload: {reason}")]
    Serialize { job_type: &'static str, reason: String },
    #[error("delay {delay:?} exceeds SQS's 15 minute maximum; use the outbox's not_before for later starts")]
    DelayTooLong { delay: Duration },
    #[error("per-message delays are not supported on FIFO queue {queue_url}")]
    DelayOnFifo { queue_url: String },
    #[error("the envelope is {bytes} bytes, over the {threshold} byte claim-check threshold, and no claim-check bucket is configured")]
    TooLarge { bytes: usize, threshold: usize },
    #[error("no queue {name} (nor {name}.fifo): is `env` right, and does the pool's queue exist?")]
    QueueNotFound { name: String },
    #[error(transparent)]
    ClaimCheck(#[from] ClaimCheckError),
    #[error("SQS refused the job: {0}")]
    Sqs(String),
}

/// Enqueues jobs onto their pools' queues. Cheap to clone? No: share it
/// behind an `Arc`; it caches queue URLs.
#[derive(Debug)]
pub struct Client {
    sqs: aws_sdk_sqs::Client,
    claim_check: ClaimCheck,
    config: ClientConfig,
    queue_urls: Mutex<HashMap<Pool, String>>,
    /// Priority queues' URLs, by queue name.
    priority_urls: Mutex<HashMap<String, String>>,
}

impl Client {
    pub fn new(sqs: aws_sdk_sqs::Client, s3: aws_sdk_s3::Client, config: ClientConfig) -> Self {
        let queue_urls = Mutex::new(config.queue_urls.clone().into_iter().collect());
        Self { sqs, claim_check: ClaimCheck::new(s3), config, queue_urls, priority_urls: Mutex::default() }
    }

    /// Clients from the SDK's standard environment (region, endpoint, IRSA).
    pub async fn from_env(config: ClientConfig) -> Self {
        let sdk = crate::aws::load_sdk_config().await;
        Self::new(aws_sdk_sqs::Client::new(&sdk), crate::aws::s3_client(&sdk), config)
    }

    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<Enqueued, EnqueueError> {
        self.enqueue_with(job, EnqueueOptions::default()).await
    }

    /// Visible to workers after `delay` (at most 15 minutes).
    pub async fn enqueue_delayed<J: Job>(&self, job: &J, delay: Duration) -> Result<Enqueued, EnqueueError> {
        self.enqueue_with(job, EnqueueOptions { delay: Some(delay), ..EnqueueOptions::default() }).await
    }

    pub async fn enqueue_with<J: Job>(&self, job: &J, options: EnqueueOptions) -> Result<Enqueued, EnqueueError> {
        let prepared = self.prepare(job, &options).await?;
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&prepared.queue_url)
            .message_body(&prepared.body)
            .message_attributes(JOB_TYPE_ATTRIBUTE, prepared.type_attribute.clone());
        if let Some(delay) = prepared.delay_secs {
            request = request.delay_seconds(delay);
        }
        if let Some(group) = &prepared.group {
            request = request.message_group_id(group);
        }
        if let Some(dedup) = &prepared.dedup {
            request = request.message_deduplication_id(dedup);
        }
        let output = request.send().await.map_err(sqs_error)?;
        Ok(prepared.into_enqueued(output.message_id.unwrap_or_default()))
    }

    /// Sends many jobs with SendMessageBatch (10 per request). The result
    /// has one entry per job, in order: a batch can partly fail, and the
    /// caller decides what to do with the failures (they were not sent).
    pub async fn enqueue_batch<J: Job>(&self, jobs: &[J], options: EnqueueOptions) -> Vec<Result<Enqueued, EnqueueError>> {
        let mut results: Vec<Option<Result<Enqueued, EnqueueError>>> = Vec::with_capacity(jobs.len());
        let mut ready = Vec::new();
        for job in jobs {
            // Shared options would give every job the same idempotency or
            // dedup key; those stay per job (the job id).
            let per_job = EnqueueOptions { idempotency_key: None, deduplication_id: None, ..options.clone() };
            match self.prepare(job, &per_job).await {
                Ok(prepared) => {
                    ready.push((results.len(), prepared));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // One request per queue per 10 entries, and under SQS's batch size
        // limit (the sum of bodies, the same limit as one message).
        let mut by_queue: BTreeMap<String, Vec<(usize, Prepared)>> = BTreeMap::new();
        for (index, prepared) in ready {
            by_queue.entry(prepared.queue_url.clone()).or_default().push((index, prepared));
        }
        for (queue_url, entries) in by_queue {
            for chunk in chunks_within(entries, self.config.claim_check_threshold_bytes) {
                for (index, outcome) in self.send_batch(&queue_url, chunk).await {
                    results[index] = Some(outcome);
                }
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(EnqueueError::Sqs("entry not sent".into())))).collect()
    }

    async fn send_batch(&self, queue_url: &str, chunk: Vec<(usize, Prepared)>) -> Vec<(usize, Result<Enqueued, EnqueueError>)> {
        let mut request = self.sqs.send_message_batch().queue_url(queue_url);
        for (position, (_, prepared)) in chunk.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(position.to_string())
                .message_body(&prepared.body)
                .message_attributes(JOB_TYPE_ATTRIBUTE, prepared.type_attribute.clone());
            if let Some(delay) = prepared.delay_secs {
                entry = entry.delay_seconds(delay);
            }
            if let Some(group) = &prepared.group {
                entry = entry.message_group_id(group);
            }
            if let Some(dedup) = &prepared.dedup {
                entry = entry.message_deduplication_id(dedup);
            }
            match entry.build() {
                Ok(entry) => request = request.entries(entry),
                Err(e) => return chunk.into_iter().map(|(i, _)| (i, Err(EnqueueError::Sqs(e.to_string())))).collect(),
            }
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) => {
                let reason = DisplayErrorContext(&e).to_string();
                return chunk.into_iter().map(|(i, _)| (i, Err(EnqueueError::Sqs(reason.clone())))).collect();
            }
        };
        let mut sent: HashMap<String, String> = output.successful.into_iter().map(|entry| (entry.id, entry.message_id)).collect();
        let failed: HashMap<String, String> =
            output.failed.into_iter().map(|entry| (entry.id, format!("{}: {}", entry.code, entry.message.unwrap_or_default()))).collect();
        chunk
            .into_iter()
            .enumerate()
            .map(|(position, (index, prepared))| {
                let id = position.to_string();
                let outcome = match sent.remove(&id) {
                    Some(message_id) => Ok(prepared.into_enqueued(message_id)),
                    None => Err(EnqueueError::Sqs(failed.get(&id).cloned().unwrap_or_else(|| "no result for entry".into()))),
                };
                (index, outcome)
            })
            .collect()
    }

    async fn prepare<J: Job>(&self, job: &J, options: &EnqueueOptions) -> Result<Prepared, EnqueueError> {
        let pool = J::POOL.or(options.pool).ok_or(EnqueueError::NoPool { job_type: J::TYPE })?;
        if let Some(delay) = options.delay.filter(|d| *d > MAX_DELAY) {
            return Err(EnqueueError::DelayTooLong { delay });
        }
        let queue_url = match &options.priority_queue {
            Some(name) => self.priority_queue_url(pool, name).await?,
            None => self.queue_url(pool).await?,
        };
        let fifo = queue_url.ends_with(".fifo");
        if fifo && options.delay.is_some() {
            return Err(EnqueueError::DelayOnFifo { queue_url });
        }
        let mut envelope = Envelope::new(job).map_err(|e| EnqueueError::Serialize { job_type: J::TYPE, reason: e.to_string() })?;
        envelope.idempotency_key = options.idempotency_key.clone();
        envelope.traceparent = options.traceparent.clone();
        let type_attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(J::TYPE)
            .build()
            .map_err(|e| EnqueueError::Sqs(e.to_string()))?;
        let mut body = envelope.to_json();
        let size = body.len() + JOB_TYPE_ATTRIBUTE.len() + "String".len() + J::TYPE.len();
        let threshold = self.config.claim_check_threshold_bytes;
        let claim_checked = size > threshold;
        if claim_checked {
            let Some(bucket) = &self.config.claim_check_bucket else {
                return Err(EnqueueError::TooLarge { bytes: size, threshold });
            };
            self.claim_check.store(&mut envelope, bucket, &self.config.claim_check_prefix).await?;
            body = envelope.to_json();
        }
        let id = envelope.id.to_string();
        // A FIFO queue needs both; a standard queue takes the group as the
        // tenant and has no deduplication.
        let (group, dedup) = if fifo {
            (Some(options.message_group_id.clone().unwrap_or_else(|| id.clone())), Some(options.deduplication_id.clone().unwrap_or(id)))
        } else {
            (options.message_group_id.clone(), None)
        };
        Ok(Prepared {
            id: envelope.id,
            queue_url,
            body,
            type_attribute,
            delay_secs: options.delay.map(|d| d.as_secs() as i32),
            group,
            dedup,
            claim_checked,
        })
    }

    /// A priority queue's URL, `<env>-jobfleet-<pool>-<name>`, looked up once.
    async fn priority_queue_url(&self, pool: Pool, name: &str) -> Result<String, EnqueueError> {
        let queue = format!("{}-{name}", pool.queue_name(&self.config.env));
        let mut cache = self.priority_urls.lock().await;
        if let Some(url) = cache.get(&queue) {
            return Ok(url.clone());
        }
        match self.sqs.get_queue_url().queue_name(&queue).send().await {
            Ok(output) => {
                let url = output.queue_url.unwrap_or_default();
                cache.insert(queue, url.clone());
                Ok(url)
            }
            Err(e) if is_missing_queue(&e) => Err(EnqueueError::QueueNotFound { name: queue }),
            Err(e) => Err(sqs_error(e)),
        }
    }

    /// The pool's queue URL: configured, cached, or looked up by name
    /// (standard first, then FIFO).
    async fn queue_url(&self, pool: Pool) -> Result<String, EnqueueError> {
        let mut cache = self.queue_urls.lock().await;
        if let Some(url) = cache.get(&pool) {
            return Ok(url.clone());
        }
        let name = pool.queue_name(&self.config.env);
        for candidate in [name.clone(), format!("{name}.fifo")] {
            match self.sqs.get_queue_url().queue_name(&candidate).send().await {
                Ok(output) => {
                    let url = output.queue_url.unwrap_or_default();
                    cache.insert(pool, url.clone());
                    return Ok(url);
                }
                Err(e) if is_missing_queue(&e) => continue,
                Err(e) => return Err(sqs_error(e)),
            }
        }
        Err(EnqueueError::QueueNotFound { name })
    }
}

/// A job ready to send.
#[derive(Debug)]
struct Prepared {
    id: Uuid,
    queue_url: String,
    body: String,
    type_attribute: MessageAttributeValue,
    delay_secs: Option<i32>,
    /// MessageGroupId: the ordering group (FIFO, always set) or the tenant.
    group: Option<String>,
    /// MessageDeduplicationId, FIFO queues only.
    dedup: Option<String>,
    claim_checked: bool,
}

impl Prepared {
    fn into_enqueued(self, message_id: String) -> Enqueued {
        Enqueued { id: self.id, message_id, queue_url: self.queue_url, claim_checked: self.claim_checked }
    }
}

/// Splits entries into batches of at most 10 whose bodies sum to at most
/// `max_bytes` (every body is at most `max_bytes` after the claim check).
fn chunks_within(entries: Vec<(usize, Prepared)>, max_bytes: usize) -> Vec<Vec<(usize, Prepared)>> {
    let mut chunks = Vec::new();
    let mut current: Vec<(usize, Prepared)> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry.1.body.len();
        if !current.is_empty() && (current.len() == BATCH_ENTRIES || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(entry);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn is_missing_queue<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error.as_service_error().and_then(ProvideErrorMetadata::code),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(error: SdkError<E, R>) -> EnqueueError {
    EnqueueError::Sqs(DisplayErrorContext(&error).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(bytes: usize) -> Prepared {
        Prepared {
            id: Uuid::nil(),
            queue_url: "q".into(),
            body: "x".repeat(bytes),
            type_attribute: MessageAttributeValue::builder().data_type("String").string_value("t").build().expect("valid"),
            delay_secs: None,
            group: None,
            dedup: None,
            claim_checked: false,
        }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_stay_under_the_size_limit() {
        let sizes = |chunks: &[Vec<(usize, Prepared)>]| chunks.iter().map(Vec::len).collect::<Vec<_>>();
        let many: Vec<_> = (0..23).map(|i| (i, prepared(10))).collect();
        assert_eq!(sizes(&chunks_within(many, 1000)), vec![10, 10, 3]);
        let big: Vec<_> = (0..5).map(|i| (i, prepared(400))).collect();
        assert_eq!(sizes(&chunks_within(big, 1000)), vec![2, 2, 1]);
        let order: Vec<usize> =
            chunks_within((0..12).map(|i| (i, prepared(1))).collect(), 1000).into_iter().flatten().map(|(i, _)| i).collect();
        assert_eq!(order, (0..12).collect::<Vec<_>>());
    }
}
