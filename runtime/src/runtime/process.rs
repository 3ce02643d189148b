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
use jobfleet_contract::{Envelope, JobContext, Pool};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use tracing::field::Empty;

use crate::admin::Health;
use crate::dispatch::{Invocation, Router, Verdict};
use crate::sqs::dead_letter::DeadLetter;
use crate::sqs::poller::Dispatch;
use crate::sqs::queue_stats::Activity;
use crate::sqs::visibility::{Heartbeat, Lazy};
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
}

impl Dispatch for Processor {
    fn dispatch(&self, message: Received, slot: OwnedSemaphorePermit) {
        let this = self.clone();
        // Boxed: a job's future (the whole middleware stack's state) is
        // several KiB, and tokio moves an unboxed future into the task cell
        // and rewrites its stage by value; a box makes those moves a pointer
        // copy (loadtest/FINDINGS.md #1: memcpy was the top CPU entry).
        self.tracker.spawn(Box::pin(async move {
            this.handle(message, Some(slot)).await;
        }));
    }
}

/// Where a message stands once the processor is done with it. The FIFO
/// ordering stage (`dispatch::ordering`) lets the next message of a group
/// run only after `Gone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Its outcome is final and the message has left the queue: deleted
    /// (success, duplicate) or dead-lettered.
    Gone,
    /// It is still in the queue and will be delivered again: a retry's
    /// backoff, a put-back (lease busy, ledger down, shutdown), or an
    /// acknowledgement that did not happen (outcome not recorded, DLQ send
    /// failed).
    Back,
}

/// What became of one delivery: what to count, and where the message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Processed {
    /// The job type and outcome to count; `None` when the message was only
    /// put back (it is counted when it comes back).
    counted: Option<(&'static str, Outcome)>,
    settled: Settled,
}

impl Processed {
    fn put_back() -> Self {
        Self { counted: None, settled: Settled::Back }
    }

    fn counted(job_type: &'static str, outcome: Outcome, settled: Settled) -> Self {
        Self { counted: Some((job_type, outcome)), settled }
    }
}

/// The attempt the retry budget and the backoff count: real runs of this
/// message's job, from the ledger (`start` bumps it only when the handler is
/// about to run, so busy put-backs, ledger outages and releases at shutdown
/// do not consume the budget), capped by the message's receive count (which
/// restarts at 1 when an operator replays a dead job, so a replay gets a
/// fresh budget although the ledger keeps counting). SQS's own
/// `maxReceiveCount` stays the backstop for messages that never get this far.
fn budget_attempt(ledger_attempt: i32, receive_count: u32) -> u32 {
    u32::try_from(ledger_attempt).unwrap_or(1).clamp(1, receive_count.max(1))
}

async fn stop_heartbeat<S>(heartbeat: Lazy<S, Heartbeat>) {
    if let Some(heartbeat) = heartbeat.into_started() {
        heartbeat.stop().await;
    }
}

/// What to do on SQS once the outcome is recorded: the verdict's action.
#[derive(Debug, PartialEq)]
enum Ack {
    Delete,
    Retry { after_secs: i32 },
    DeadLetter { class: &'static str, message: String },
}

impl Ack {
    fn of(verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Succeeded(_) => Ack::Delete,
            Verdict::Retry { after_secs, .. } => Ack::Retry { after_secs: i32::try_from(*after_secs).unwrap_or(i32::MAX) },
            Verdict::Failed(_) | Verdict::Exhausted { .. } => {
                Ack::DeadLetter { class: verdict.error_class().unwrap_or_default(), message: verdict.error_message().unwrap_or_default() }
            }
        }
    }
}

/// The ledger row a verdict ends a run with.
fn finish_item(job: StartItem, fence: i32, verdict: Verdict) -> FinishItem {
    let (status, error_class, error_message) = (verdict.status(), verdict.error_class().map(str::to_owned), verdict.error_message());
    let result = match verdict {
        Verdict::Succeeded(value) => Some(value),
        _ => None,
    };
    FinishItem { job, fence: Some(fence), status, error_class, error_message, result }
}

impl Processor {
    /// One message, start to end, on the caller's task: the standard
    /// dispatch spawns one task per message, the FIFO ordering stage runs a
    /// group's messages one after another on one. The slot is let go as
    /// soon as the handler is done; a caller that passes `None` keeps the
    /// slot itself (the FIFO stage hands it to the group's next message).
    pub(crate) async fn handle(&self, message: Received, slot: Option<OwnedSemaphorePermit>) -> Settled {
        // The message's whole life — ledger, handler, ack, dead-lettering —
        // logs inside this span; the job's fields are filled in as they are
        // learnt (a malformed message never has a job id).
        let span = tracing::info_span!(
            "job",
            message_id = %message.message_id,
            pool = self.pool.as_str(),
            job_id = Empty,
            job_type = Empty,
            attempt = Empty,
            traceparent = Empty,
        );
        async move {
            self.activity.received(message.queue_wait());
            let processed = self.process(message, slot).await;
            // The one place a delivery is counted, whatever became of it.
            if let Some((job_type, outcome)) = processed.counted {
                telemetry::count_job(self.pool.as_str(), job_type, outcome);
            }
            self.activity.completed();
            processed.settled
        }
        .instrument(span)
        .await
    }

    /// Changes a held message's visibility (0 releases it), for the stages
    /// in front of the processor.
    pub(crate) fn acker(&self) -> &Acker {
        &self.acker
    }

    /// Takes one message to its end: what to count, where it stands.
    async fn process(&self, message: Received, slot: Option<OwnedSemaphorePermit>) -> Processed {
        let received = Instant::now();
        let span = tracing::Span::current();
        let envelope = match Envelope::decode(message.body.as_bytes()) {
            Ok(envelope) => envelope,
            Err(e) => {
                drop(slot);
                self.observe_wait(&message, UNKNOWN_JOB_TYPE);
                let settled = self.reject(&message, None, e.class.as_str(), &e.message).await;
                return Processed::counted(UNKNOWN_JOB_TYPE, Outcome::Dead, settled);
            }
        };
        span.record("job_id", tracing::field::display(envelope.id));
        if let Some(traceparent) = &envelope.traceparent {
            span.record("traceparent", traceparent.as_str());
        }
        let Some(route) = self.router.route(&envelope.job_type) else {
            drop(slot);
            self.observe_wait(&message, UNKNOWN_JOB_TYPE);
            let reason = format!("no handler for job type {:?} in pool {}", envelope.job_type, self.pool);
            let settled = self.reject(&message, Some(&envelope), "unknown_type", &reason).await;
            return Processed::counted(UNKNOWN_JOB_TYPE, Outcome::Dead, settled);
        };
        let job_type = route.job_type;
        span.record("job_type", job_type);
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
        let fence = match self.ledger.start(job.clone()).await {
            Ok(BeginOutcome::Run { attempt }) => {
                self.health.db_ok();
                attempt
            }
            Ok(BeginOutcome::Busy) => {
                drop(slot);
                tracing::info!("another attempt of this job is running; putting the message back");
                self.set_visibility(&message, self.visibility_timeout.as_secs() as i32).await;
                return Processed::put_back();
            }
            Ok(BeginOutcome::AlreadySucceeded) => {
                drop(slot);
                tracing::info!("duplicate delivery of a succeeded job; deleting without running");
                self.delete(&message).await;
                return Processed::counted(job_type, Outcome::Duplicate, Settled::Gone);
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(error = %e, "ledger unavailable; releasing the message for later");
                self.set_visibility(&message, LEDGER_DOWN_RETRY_SECS).await;
                return Processed::put_back();
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
        let attempt = budget_attempt(fence, message.receive_count);
        span.record("attempt", attempt);
        let ctx = JobContext {
            id: envelope.id,
            pool: self.pool,
            attempt,
            idempotency_key: job.idempotency_key.clone(),
            created_at: envelope.created_at,
            cancel: self.abort.child_token(),
        };
        let payload_ref = envelope.payload_ref.clone();
        let invocation = Invocation { envelope, ctx, message_id: message.message_id.clone(), job_type, received };
        let verdict = tokio::select! {
            verdict = heartbeat.during(route.call(invocation)) => Some(verdict),
            () = self.abort.cancelled() => None,
        };
        drop(slot);
        let Some(verdict) = verdict else {
            stop_heartbeat(heartbeat).await;
            tracing::warn!("worker stopping: job abandoned and its message released");
            self.set_visibility(&message, 0).await;
            return Processed::put_back();
        };

        let outcome = verdict.outcome();
        let ack = Ack::of(&verdict);
        let recorded = heartbeat.during(self.record(finish_item(job, fence, verdict))).await;
        // Before any final visibility change, so an extension cannot land after it.
        stop_heartbeat(heartbeat).await;
        match recorded {
            Ok(FinishOutcome::Recorded) => {}
            Ok(FinishOutcome::Stale) => {
                tracing::warn!("a newer attempt owns this job; leaving its message alone");
                return Processed::counted(job_type, outcome, Settled::Back);
            }
            Err(e) => {
                tracing::error!(error = %e, "outcome not recorded; leaving the message to be redelivered");
                return Processed::counted(job_type, outcome, Settled::Back);
            }
        }
        let settled = match ack {
            Ack::Delete => {
                self.delete(&message).await;
                if let Some(payload_ref) = payload_ref {
                    self.router.claims().release(&payload_ref).await;
                }
                Settled::Gone
            }
            Ack::Retry { after_secs } => {
                self.set_visibility(&message, after_secs).await;
                Settled::Back
            }
            Ack::DeadLetter { class, message: reason } => self.send_to_dlq(&message, class, &reason).await,
        };
        Processed::counted(job_type, outcome, settled)
    }

    /// Writes the outcome, retrying while the database is briefly away (the
    /// heartbeat keeps the message invisible meanwhile); a write that cannot
    /// succeed (a constraint, a bad statement) is not retried.
    async fn record(&self, finish: FinishItem) -> Result<FinishOutcome, LedgerError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(10)
            .with_jitter();
        let write = (|| self.ledger.finish(finish.clone())).retry(backoff).when(LedgerError::is_transient).notify(|e, after| {
            tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "ledger write failed; retrying");
        });
        tokio::select! {
            result = write => {
                if result.is_ok() {
                    self.health.db_ok();
                }
                result
            }
            () = self.abort.cancelled() => Err(LedgerError::Cancelled),
        }
    }

    /// A message that never reached a handler: record it if it has an id,
    /// then dead-letter it.
    async fn reject(&self, message: &Received, envelope: Option<&Envelope>, class: &'static str, reason: &str) -> Settled {
        tracing::warn!(error_class = class, error = reason, "rejecting message");
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
        self.send_to_dlq(message, class, reason).await
    }

    async fn send_to_dlq(&self, message: &Received, class: &str, reason: &str) -> Settled {
        match self.dead_letter.send(message, class, reason).await {
            Ok(()) => {
                self.delete(message).await;
                Settled::Gone
            }
            Err(e) => {
                tracing::error!(error = %e, "could not dead-letter; the message will be redelivered");
                Settled::Back
            }
        }
    }

    async fn delete(&self, message: &Received) {
        if let Err(e) = self.acker.delete(&message.receipt_handle).await {
            tracing::warn!(error = %e, "delete failed; the message will be redelivered and deduplicated");
        }
    }

    async fn set_visibility(&self, message: &Received, secs: i32) {
        if let Err(e) = self.acker.change_visibility(&message.receipt_handle, secs).await {
            tracing::warn!(error = %e, "visibility change failed; the message reappears after its timeout");
        }
    }

    fn observe_wait(&self, message: &Received, job_type: &'static str) {
        if let Some(wait) = message.queue_wait() {
            metrics::histogram!(JOB_QUEUE_WAIT_SECONDS, "pool" => self.pool.as_str(), "job_type" => job_type).record(wait.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::budget_attempt;

    #[test]
    fn releases_do_not_count_and_a_replay_starts_a_fresh_budget() {
        // Three put-backs (busy, ledger down) before the first real run.
        assert_eq!(budget_attempt(1, 4), 1);
        assert_eq!(budget_attempt(2, 6), 2);
        // A replayed dead job: the ledger has counted 5 runs, the new message 1.
        assert_eq!(budget_attempt(6, 1), 1);
        assert_eq!(budget_attempt(3, 3), 3);
    }
}
