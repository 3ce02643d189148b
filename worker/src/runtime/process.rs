//! The life of one message, from receive to acknowledgement.
//!
//! ```text
//! decode envelope ──bad──▶ dead-letter (malformed_json / invalid_envelope)
//!   │ find route ──none──▶ dead-letter (unknown_type)
//!   │ ledger start ──already succeeded──▶ delete (duplicate)
//!   │             ──database down──▶ release after a short delay
//!   ▼ run stack (a heartbeat keeps the message invisible if it runs long)
//! record outcome in the ledger (committed) ──▶ then act on SQS:
//!   success → delete · retry → change visibility (backoff / Retry-After)
//!   failed / dead → send to DLQ with reason → delete
//! ```
//! The SQS action always comes after the ledger write has committed, so a
//! crash at any point leaves the message to be redelivered, never lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use jobs::{Envelope, JobContext, JobError, Pool};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Health;
use crate::config::MAX_VISIBILITY_SECS;
use crate::dispatch::{Failure, Invocation, JobResult, Router};
use crate::sqs::dead_letter::DeadLetter;
use crate::sqs::poller::Dispatch;
use crate::sqs::queue_stats::Activity;
use crate::sqs::visibility::{Heartbeat, Lazy, retry_delay_secs};
use crate::sqs::{Acker, Received};
use crate::store::{BeginOutcome, FinishItem, FinishOutcome, JobStatus, Ledger, LedgerError, StartItem};
use crate::telemetry::{self, JOB_QUEUE_WAIT_SECONDS, Outcome, UNKNOWN_JOB_TYPE};

/// How long a message waits before retrying when the ledger is unreachable.
const LEDGER_DOWN_RETRY_SECS: i32 = 5;
/// A job's lease outlasts its timeout by this much, so a slow outcome write
/// does not let a second attempt start.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Processor {
    pub pool: Pool,
    pub router: Arc<Router>,
    pub ledger: Ledger,
    pub acker: Acker,
    pub dead_letter: DeadLetter,
    pub activity: Arc<Activity>,
    pub health: Arc<Health>,
    pub tracker: TaskTracker,
    pub abort: CancellationToken,
    pub heartbeat_interval: Duration,
    pub visibility_timeout: Duration,
    pub retry_base_delay_secs: u64,
    pub retry_max_delay_secs: u64,
}

impl Dispatch for Processor {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit) {
        let this = self.clone();
        // Boxed: a job's future (the whole middleware stack's state) is
        // several KiB, and tokio moves an unboxed future into the task cell
        // and rewrites its stage by value; a box makes those moves a pointer
        // copy (loadtest/FINDINGS.md #1: memcpy was the top CPU entry).
        self.tracker.spawn(Box::pin(async move {
            this.activity.received(message.queue_wait());
            this.process(message, slot).await;
            this.activity.completed();
        }));
    }
}

async fn stop_heartbeat<S>(heartbeat: Lazy<S, Heartbeat>) {
    if let Some(heartbeat) = heartbeat.into_started() {
        heartbeat.stop().await;
    }
}

/// What to do on SQS once the outcome is recorded.
#[derive(Debug, PartialEq)]
enum Ack {
    Delete,
    Retry { after_secs: i32 },
    DeadLetter { class: &'static str, message: String },
}

impl Processor {
    async fn process(&self, message: Received, slot: OwnedSemaphorePermit) {
        let received = Instant::now();
        let envelope = match Envelope::decode(message.body.as_bytes()) {
            Ok(envelope) => envelope,
            Err(e) => {
                drop(slot);
                self.observe_wait(&message, UNKNOWN_JOB_TYPE);
                return self.reject(&message, None, UNKNOWN_JOB_TYPE, e.class.as_str(), &e.message).await;
            }
        };
        let Some(route) = self.router.route(&envelope.job_type) else {
            drop(slot);
            self.observe_wait(&message, UNKNOWN_JOB_TYPE);
            let reason = format!("no handler for job type {:?} in pool {}", envelope.job_type, self.pool);
            return self.reject(&message, Some(&envelope), UNKNOWN_JOB_TYPE, "unknown_type", &reason).await;
        };
        let job_type = route.job_type;
        self.observe_wait(&message, job_type);

        let job = StartItem {
            id: envelope.id,
            lease: route.timeout + LEASE_MARGIN,
            job_type: job_type.to_owned(),
            pool: self.pool,
            idempotency_key: envelope.idempotency_key(),
            enqueued_at: envelope.created_at,
            message_id: message.message_id.clone(),
        };
        let attempt = match self.ledger.start(job.clone()).await {
            Ok(BeginOutcome::Run { attempt }) => {
                self.health.db_ok();
                attempt
            }
            Ok(BeginOutcome::Busy) => {
                drop(slot);
                tracing::info!(job_id = %envelope.id, job_type, "another attempt of this job is running; putting the message back");
                return self.set_visibility(&message, self.visibility_timeout.as_secs() as i32).await;
            }
            Ok(BeginOutcome::AlreadySucceeded) => {
                drop(slot);
                telemetry::count_job(self.pool.as_str(), job_type, Outcome::Duplicate);
                tracing::info!(job_id = %envelope.id, job_type, "duplicate delivery of a succeeded job; deleting without running");
                return self.delete(&message).await;
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(error = %e, job_id = %envelope.id, "ledger unavailable; releasing the message for later");
                return self.set_visibility(&message, LEDGER_DOWN_RETRY_SECS).await;
            }
        };

        // The heartbeat starts only if the job (or its outcome write) is
        // still running when the first extension is due.
        let receipt_handle = &message.receipt_handle;
        let mut heartbeat = Lazy::new(tokio::time::Instant::now() + self.heartbeat_interval, || {
            Heartbeat::start(
                self.acker.clone(),
                receipt_handle.clone(),
                self.heartbeat_interval,
                self.visibility_timeout,
                received,
                received + route.timeout,
            )
        });
        let ctx = JobContext {
            id: envelope.id,
            pool: self.pool,
            attempt: message.receive_count,
            idempotency_key: job.idempotency_key.clone(),
            created_at: envelope.created_at,
            cancel: self.abort.child_token(),
        };
        let payload_ref = envelope.payload_ref.clone();
        let invocation = Invocation { envelope, ctx, message_id: message.message_id.clone(), job_type };
        let result = tokio::select! {
            result = heartbeat.during(route.call(invocation)) => Some(result),
            () = self.abort.cancelled() => None,
        };
        drop(slot);
        let Some(result) = result else {
            stop_heartbeat(heartbeat).await;
            tracing::warn!(job_id = %job.id, "worker stopping: job abandoned and its message released");
            return self.set_visibility(&message, 0).await;
        };

        let (finish, ack) = self.decide(job, Some(attempt), result, message.receive_count, received);
        let recorded = heartbeat.during(self.record(finish)).await;
        // Before any final visibility change, so an extension cannot land after it.
        stop_heartbeat(heartbeat).await;
        match recorded {
            Ok(FinishOutcome::Recorded) => {}
            Ok(FinishOutcome::Stale) => {
                tracing::warn!(message_id = %message.message_id, "a newer attempt owns this job; leaving its message alone");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, message_id = %message.message_id, "outcome not recorded; leaving the message to be redelivered");
                return;
            }
        }
        match ack {
            Ack::Delete => {
                self.delete(&message).await;
                if let Some(payload_ref) = payload_ref {
                    self.router.claims().release(&payload_ref).await;
                }
            }
            Ack::Retry { after_secs } => self.set_visibility(&message, after_secs).await,
            Ack::DeadLetter { class, message: reason } => self.send_to_dlq(&message, class, &reason).await,
        }
    }

    fn decide(&self, job: StartItem, fence: Option<i32>, result: JobResult, attempt: u32, received: Instant) -> (FinishItem, Ack) {
        let finish = |status, error: Option<&Failure>, result: Option<Value>| FinishItem {
            job: job.clone(),
            fence,
            status,
            error_class: error.map(|f| f.class().to_owned()),
            error_message: error.map(Failure::message),
            result,
        };
        match result {
            Ok(value) => (finish(JobStatus::Succeeded, None, Some(value)), Ack::Delete),
            Err(failure) => {
                let ack = match &failure {
                    Failure::Job(JobError::RetryAfter { after, .. }) => {
                        // SQS refuses a visibility beyond 12 h after receive.
                        let remaining = MAX_VISIBILITY_SECS.saturating_sub(received.elapsed().as_secs());
                        Ack::Retry { after_secs: after.as_secs().min(remaining) as i32 }
                    }
                    f if f.is_retryable() => Ack::Retry {
                        after_secs: retry_delay_secs(attempt, self.retry_base_delay_secs, self.retry_max_delay_secs, fastrand::f64())
                            as i32,
                    },
                    f => Ack::DeadLetter { class: f.class(), message: f.message() },
                };
                let status = match (&ack, &failure) {
                    (Ack::Retry { .. }, _) => JobStatus::Retrying,
                    (_, Failure::Exhausted { .. }) => JobStatus::Dead,
                    _ => JobStatus::Failed,
                };
                (finish(status, Some(&failure), None), ack)
            }
        }
    }

    /// Writes the outcome, retrying while the database is briefly away (the
    /// heartbeat keeps the message invisible meanwhile).
    async fn record(&self, finish: FinishItem) -> Result<FinishOutcome, LedgerError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(10)
            .with_jitter();
        let write = (|| self.ledger.finish(finish.clone())).retry(backoff).notify(|e, after| {
            tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "ledger write failed; retrying");
        });
        tokio::select! {
            result = write => {
                if result.is_ok() {
                    self.health.db_ok();
                }
                result
            }
            () = self.abort.cancelled() => Err(LedgerError::Database("worker stopping".into())),
        }
    }

    /// A message that never reached a handler: record it if it has an id,
    /// then dead-letter it.
    async fn reject(&self, message: &Received, envelope: Option<&Envelope>, job_type: &'static str, class: &'static str, reason: &str) {
        telemetry::count_job(self.pool.as_str(), job_type, Outcome::Dead);
        tracing::warn!(message_id = %message.message_id, error_class = class, error = reason, "rejecting message");
        if let Some(envelope) = envelope {
            let finish = FinishItem {
                job: StartItem {
                    id: envelope.id,
                    lease: Duration::ZERO,
                    job_type: envelope.job_type.clone(),
                    pool: self.pool,
                    idempotency_key: envelope.idempotency_key(),
                    enqueued_at: envelope.created_at,
                    message_id: message.message_id.clone(),
                },
                fence: None,
                status: JobStatus::Dead,
                error_class: Some(class.to_owned()),
                error_message: Some(reason.to_owned()),
                result: None,
            };
            // The DLQ copy is the durable record if the ledger is away.
            if let Err(e) = self.record(finish).await {
                tracing::warn!(error = %e, "could not record a rejected message in the ledger");
            }
        }
        self.send_to_dlq(message, class, reason).await;
    }

    async fn send_to_dlq(&self, message: &Received, class: &str, reason: &str) {
        match self.dead_letter.send(message, class, reason).await {
            Ok(()) => self.delete(message).await,
            Err(e) => {
                tracing::error!(error = %e, message_id = %message.message_id, "could not dead-letter; the message will be redelivered")
            }
        }
    }

    async fn delete(&self, message: &Received) {
        if let Err(e) = self.acker.delete(&message.receipt_handle).await {
            tracing::warn!(error = %e, message_id = %message.message_id, "delete failed; the message will be redelivered and deduplicated");
        }
    }

    async fn set_visibility(&self, message: &Received, secs: i32) {
        if let Err(e) = self.acker.change_visibility(&message.receipt_handle, secs).await {
            tracing::warn!(error = %e, message_id = %message.message_id, "visibility change failed; the message reappears after its timeout");
        }
    }

    fn observe_wait(&self, message: &Received, job_type: &'static str) {
        if let Some(wait) = message.queue_wait() {
            metrics::histogram!(JOB_QUEUE_WAIT_SECONDS, "pool" => self.pool.as_str(), "job_type" => job_type).record(wait.as_secs_f64());
        }
    }
}
