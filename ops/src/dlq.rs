//! Reading a dead-letter queue without consuming it: decoding its messages
//! (`DlqMessage`) and the *sweep* every DLQ command is built on.
//!
//! SQS has no "peek": the only way to see a message is to receive it, which
//! bumps its ApproximateReceiveCount and hides it for a visibility timeout.
//! A sweep therefore receives with a visibility chosen by the operator
//! (`--visibility`), remembers every message id it has seen, and keeps what
//! it does not act on *held* (invisible) until the sweep ends, then releases
//! it all at once (ChangeMessageVisibility 0). Holding is what lets a sweep
//! make progress: SQS hands a just-released message straight back (moto does
//! so deterministically, AWS with some probability), so releasing each
//! non-matching message at once would re-read the same ones forever. A
//! message whose hold expires mid-sweep comes back, is recognised by its id
//! and simply held again; it is never counted or acted on twice.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::MessageAttributeValue;
use futures_util::StreamExt;
use jobfleet_contract::Envelope;
use jobfleet_contract::envelope::JOB_TYPE_ATTRIBUTE;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::filter::{Facts, Filter};
use jobfleet_runtime::sqs::client::{BatchFailures, Outgoing, SendBatchResult, is_fifo_queue};
use jobfleet_runtime::sqs::dead_letter::attr;
use jobfleet_runtime::sqs::{Received, Sqs, SqsError};

/// The attribute a replay increments on every message it moves.
pub const REPLAY_COUNT_ATTRIBUTE: &str = "replay_count";

/// Long-poll wait of a sweep's receives: long enough that an empty answer
/// means "nothing visible" (a long poll asks every SQS server), short enough
/// that the end of a sweep is quick.
const SWEEP_WAIT_SECS: i32 = 1;
/// Consecutive empty long polls after which a sweep is over.
const EMPTY_POLLS_TO_STOP: u32 = 2;
/// Receives in a row with nothing new after which a sweep gives up (see
/// [`SweepStats::stalled`]), at least.
const STALE_RECEIVES_MIN: u64 = 50;
/// Visibility-change calls in flight at once when releasing held messages.
const RELEASE_CONCURRENCY: usize = 4;

/// The SQS calls the DLQ tools make: `Sqs` in production, a fake in unit
/// tests (which is how partial batch failures are tested).
pub(crate) trait QueueApi {
    async fn receive(&self, url: &str, max: i32, wait_secs: i32, visibility_secs: i32) -> Result<Vec<Received>, SqsError>;
    async fn change_visibility_batch(&self, url: &str, entries: &[(String, i32)]) -> Result<BatchFailures, SqsError>;
    async fn send_batch(&self, url: &str, messages: &[Outgoing]) -> Result<SendBatchResult, SqsError>;
    async fn delete_batch(&self, url: &str, receipts: &[String]) -> Result<BatchFailures, SqsError>;
    async fn find_queue_url(&self, name: &str) -> Result<Option<String>, SqsError>;
}

impl QueueApi for Sqs {
    async fn receive(&self, url: &str, max: i32, wait_secs: i32, visibility_secs: i32) -> Result<Vec<Received>, SqsError> {
        Sqs::receive(self, url, max, wait_secs, visibility_secs).await
    }
    async fn change_visibility_batch(&self, url: &str, entries: &[(String, i32)]) -> Result<BatchFailures, SqsError> {
        Sqs::change_visibility_batch(self, url, entries).await
    }
    async fn send_batch(&self, url: &str, messages: &[Outgoing]) -> Result<SendBatchResult, SqsError> {
        Sqs::send_batch(self, url, messages).await
    }
    async fn delete_batch(&self, url: &str, receipts: &[String]) -> Result<BatchFailures, SqsError> {
        Sqs::delete_batch(self, url, receipts).await
    }
    async fn find_queue_url(&self, name: &str) -> Result<Option<String>, SqsError> {
        Sqs::find_queue_url(self, name).await
    }
}

/// A dead-lettered message, decoded for operators. The `--json` shape of
/// `worker dlq list` (documented in docs/operations.md).
#[derive(Debug, Clone, Serialize)]
pub struct DlqMessage {
    pub message_id: String,
    /// The envelope's `id` (the job id; the same after a replay).
    pub job_id: Option<Uuid>,
    /// The envelope's `type`, else the `job_type` attribute.
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    /// Deliveries before it was dead-lettered (`attempts` attribute).
    pub attempts: Option<u32>,
    /// Times it was replayed before (`replay_count` attribute, 0 if absent).
    pub replay_count: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failed_at: Option<OffsetDateTime>,
    /// `attribute` (the worker's `failed_at`) or `sent_timestamp` (a lower
    /// bound, for messages moved by the queue's maxReceiveCount redrive).
    pub failed_at_source: Option<&'static str>,
    pub age_secs: Option<u64>,
    pub source_queue: Option<String>,
    pub original_message_id: Option<String>,
    /// ApproximateReceiveCount in the DLQ (peeks count too).
    pub receive_count: u32,
    /// Why the body is not a valid envelope, when it is not.
    pub decode_error: Option<String>,
    /// MessageGroupId: the FIFO group (or fair-queue tenant) it came from;
    /// a replay puts it back into the same group.
    pub group_id: Option<String>,
    #[serde(skip)]
    pub received: Received,
}

fn string_attr<'a>(attributes: &'a HashMap<String, MessageAttributeValue>, name: &str) -> Option<&'a str> {
    attributes.get(name).and_then(|v| v.string_value())
}

impl DlqMessage {
    pub fn decode(received: Received, now: SystemTime) -> Self {
        let attrs = &received.attributes;
        let (envelope, decode_error) = match Envelope::decode(received.body.as_bytes()) {
            Ok(envelope) => (Some(envelope), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let from_attribute = string_attr(attrs, attr::FAILED_AT).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let (failed_at, failed_at_source) = match (from_attribute, received.sent_at) {
            (Some(at), _) => (Some(at), Some("attribute")),
            (None, Some(sent)) => (Some(OffsetDateTime::from(sent)), Some("sent_timestamp")),
            (None, None) => (None, None),
        };
        let age_secs = failed_at.map(|at| {
            let at: SystemTime = at.into();
            now.duration_since(at).unwrap_or(Duration::ZERO).as_secs()
        });
        Self {
            message_id: received.message_id.clone(),
            job_id: envelope.as_ref().map(|e| e.id),
            job_type: envelope.as_ref().map(|e| e.job_type.clone()).or_else(|| string_attr(attrs, JOB_TYPE_ATTRIBUTE).map(str::to_owned)),
            error_class: string_attr(attrs, attr::ERROR_CLASS).map(str::to_owned),
            error_message: string_attr(attrs, attr::ERROR_MESSAGE).map(str::to_owned),
            attempts: string_attr(attrs, attr::ATTEMPTS).and_then(|v| v.parse().ok()),
            replay_count: string_attr(attrs, REPLAY_COUNT_ATTRIBUTE).and_then(|v| v.parse().ok()).unwrap_or(0),
            failed_at,
            failed_at_source,
            age_secs,
            source_queue: string_attr(attrs, attr::SOURCE_QUEUE).map(str::to_owned),
            original_message_id: string_attr(attrs, attr::ORIGINAL_MESSAGE_ID).map(str::to_owned),
            receive_count: received.receive_count,
            decode_error,
            group_id: received.group_id.clone(),
            received,
        }
    }

    pub fn facts(&self) -> Facts<'_> {
        Facts {
            job_type: self.job_type.as_deref(),
            error_class: self.error_class.as_deref(),
            failed_at: self.failed_at,
            job_id: self.job_id,
            message_id: &self.message_id,
            original_message_id: self.original_message_id.as_deref(),
        }
    }

    /// The attributes a replayed copy carries: the producer's (job_type, …)
    /// without the dead-letter reason, and `replay_count` incremented.
    pub fn replay_attributes(&self) -> HashMap<String, MessageAttributeValue> {
        let mut out: HashMap<String, MessageAttributeValue> = self
            .received
            .attributes
            .iter()
            .filter(|(name, _)| !attr::ALL.contains(&name.as_str()) && name.as_str() != REPLAY_COUNT_ATTRIBUTE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert(REPLAY_COUNT_ATTRIBUTE.to_owned(), jobfleet_runtime::sqs::client::number_attribute(self.replay_count + 1));
        out
    }

    /// The copy a replay sends to `target_url`: the body unchanged, the
    /// replay attributes, the original group. A FIFO target also needs a
    /// deduplication id: this DLQ message's id, so a replay that is retried
    /// (sent, then not deleted) within SQS's 5 minutes is not sent twice,
    /// while a later replay of the same job (a new DLQ message) is not
    /// swallowed by the dedup id of its first send.
    pub fn replay_message(&self, target_url: &str) -> Outgoing {
        let fifo = is_fifo_queue(target_url);
        Outgoing {
            body: self.received.body.clone(),
            attributes: self.replay_attributes(),
            group_id: self.group_id.clone().or_else(|| fifo.then(|| self.message_id.clone())),
            dedup_id: fifo.then(|| format!("replay-{}", self.message_id)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Handed to the caller by the last `receive`.
    Taken,
    /// Not acted on: kept invisible until the sweep releases it.
    Held(String),
    /// Sent to its target; its delete from the DLQ has not succeeded (yet).
    Sent,
    Deleted,
    Released,
}

/// Counts of what a sweep saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepStats {
    pub receives: u64,
    /// Distinct messages seen.
    pub scanned: u64,
    /// Deliveries of messages already seen (hold expired mid-sweep).
    pub redeliveries: u64,
    /// The sweep stopped because receives kept returning only messages it
    /// had already seen: `--visibility` is shorter than the sweep.
    pub stalled: bool,
}

pub(crate) struct Sweep<'a, A> {
    api: &'a A,
    url: &'a str,
    visibility_secs: i32,
    states: HashMap<String, Seen>,
    /// Re-deliveries of messages already sent: (message id, newest receipt).
    redelivered_sent: Vec<(String, String)>,
    /// Consecutive receives that returned nothing new.
    stale_receives: u64,
    pub stats: SweepStats,
}

impl<'a, A: QueueApi> Sweep<'a, A> {
    pub fn new(api: &'a A, url: &'a str, visibility_secs: i32) -> Self {
        Self {
            api,
            url,
            visibility_secs,
            states: HashMap::new(),
            redelivered_sent: Vec::new(),
            stale_receives: 0,
            stats: SweepStats::default(),
        }
    }

    /// The next messages never seen before in this sweep (possibly none,
    /// when a receive returned only re-deliveries), or `None` once the
    /// queue has nothing visible left.
    pub async fn receive(&mut self, max: i32) -> Result<Option<Vec<Received>>, SqsError> {
        let mut empty = 0;
        loop {
            if self.stale_receives > STALE_RECEIVES_MIN.max(2 * self.held() as u64 / 10) {
                // Re-holding everything takes about held/10 receives; twice
                // that with nothing new means holds expire faster than the
                // sweep goes round: stop rather than circle forever.
                self.stats.stalled = true;
                return Ok(None);
            }
            let batch = self.api.receive(self.url, max.clamp(1, 10), SWEEP_WAIT_SECS, self.visibility_secs).await?;
            self.stats.receives += 1;
            if batch.is_empty() {
                empty += 1;
                if empty >= EMPTY_POLLS_TO_STOP {
                    return Ok(None);
                }
                continue;
            }
            let mut fresh = Vec::new();
            for message in batch {
                match self.states.get_mut(&message.message_id) {
                    None => {
                        self.states.insert(message.message_id.clone(), Seen::Taken);
                        self.stats.scanned += 1;
                        fresh.push(message);
                    }
                    Some(state) => {
                        self.stats.redeliveries += 1;
                        match state {
                            // Its hold expired; this receive holds it again.
                            Seen::Held(receipt) => *receipt = message.receipt_handle,
                            Seen::Released => *state = Seen::Held(message.receipt_handle),
                            Seen::Sent | Seen::Deleted => self.redelivered_sent.push((message.message_id, message.receipt_handle)),
                            Seen::Taken => {}
                        }
                    }
                }
            }
            self.stale_receives = if fresh.is_empty() { self.stale_receives + 1 } else { 0 };
            return Ok(Some(fresh));
        }
    }

    /// Keeps a taken message invisible until [`Sweep::release_held`].
    pub fn hold(&mut self, message: &Received) {
        self.states.insert(message.message_id.clone(), Seen::Held(message.receipt_handle.clone()));
    }

    pub fn mark_sent(&mut self, message_id: &str) {
        self.states.insert(message_id.to_owned(), Seen::Sent);
    }

    pub fn mark_deleted(&mut self, message_id: &str) {
        self.states.insert(message_id.to_owned(), Seen::Deleted);
    }

    /// Messages already sent that came back (their delete failed or had
    /// not yet taken effect): delete them, never send them again.
    pub fn take_redelivered_sent(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.redelivered_sent)
    }

    pub fn held(&self) -> usize {
        self.states.values().filter(|s| matches!(s, Seen::Held(_))).count()
    }

    /// Makes every held message visible again at once. Returns (released,
    /// failed); a failed release only means the message reappears when its
    /// visibility timeout runs out.
    pub async fn release_held(&mut self) -> (u64, u64) {
        let held: Vec<(String, String)> = self
            .states
            .iter()
            .filter_map(|(id, state)| match state {
                Seen::Held(receipt) => Some((id.clone(), receipt.clone())),
                _ => None,
            })
            .collect();
        let chunks: Vec<Vec<(String, i32)>> =
            held.chunks(10).map(|chunk| chunk.iter().map(|(_, receipt)| (receipt.clone(), 0)).collect()).collect();
        let (api, url) = (self.api, self.url);
        let results: Vec<(usize, Result<BatchFailures, SqsError>)> = futures_util::stream::iter(
            chunks.iter().map(|entries| async move { (entries.len(), api.change_visibility_batch(url, entries).await) }),
        )
        .buffer_unordered(RELEASE_CONCURRENCY)
        .collect()
        .await;
        let mut failed = 0u64;
        for (len, result) in results {
            failed += match result {
                Ok(failures) => failures.failed.len() as u64,
                Err(_) => len as u64,
            };
        }
        for (id, _) in &held {
            self.states.insert(id.clone(), Seen::Released);
        }
        (held.len() as u64 - failed, failed)
    }
}

/// What a peek found.
#[derive(Debug, Clone)]
pub struct Peek {
    /// Matching messages, oldest failure first.
    pub messages: Vec<DlqMessage>,
    pub stats: SweepStats,
    /// The limit was reached before the DLQ was exhausted.
    pub truncated: bool,
    pub released: u64,
    pub release_failed: u64,
}

/// Receives matching messages (up to `limit`) and releases everything it
/// received before returning, error or not.
pub(crate) async fn peek<A: QueueApi>(
    api: &A,
    dlq_url: &str,
    visibility_secs: i32,
    filter: &Filter,
    limit: usize,
) -> Result<Peek, SqsError> {
    let mut sweep = Sweep::new(api, dlq_url, visibility_secs);
    let mut messages = Vec::new();
    let mut truncated = false;
    let result: Result<(), SqsError> = async {
        while messages.len() < limit {
            let Some(fresh) = sweep.receive(10).await? else { return Ok(()) };
            let now = SystemTime::now();
            for received in fresh {
                sweep.hold(&received);
                let message = DlqMessage::decode(received, now);
                if messages.len() < limit && filter.matches(&message.facts()) {
                    messages.push(message);
                }
            }
        }
        truncated = true;
        Ok(())
    }
    .await;
    let (released, release_failed) = sweep.release_held().await;
    result?;
    messages.sort_by(|a, b| a.failed_at.cmp(&b.failed_at).then_with(|| a.message_id.cmp(&b.message_id)));
    Ok(Peek { messages, stats: sweep.stats, truncated, released, release_failed })
}

/// `worker dlq list` / `show`: peek through the real client.
pub async fn peek_dlq(sqs: &Sqs, dlq_url: &str, visibility_secs: i32, filter: &Filter, limit: usize) -> Result<Peek, SqsError> {
    peek(sqs, dlq_url, visibility_secs, filter, limit).await
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory SQS queue set that behaves like moto where it matters
    //! (receive order, visibility, receipt handles) and can be told to fail
    //! individual batch entries.

    use std::cell::RefCell;
    use std::collections::{HashMap, HashSet};

    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::QueueApi;
    use jobfleet_runtime::sqs::client::{BatchFailures, Outgoing, SendBatchResult};
    use jobfleet_runtime::sqs::{Received, SqsError, SqsErrorKind};

    #[derive(Debug, Clone)]
    pub struct Stored {
        pub id: String,
        pub body: String,
        pub attributes: HashMap<String, MessageAttributeValue>,
        pub invisible_until: u64,
        pub receipt: String,
        pub receives: u32,
        pub group_id: Option<String>,
    }

    #[derive(Debug, Default)]
    pub struct Fake {
        pub queues: RefCell<HashMap<String, Vec<Stored>>>,
        /// Logical clock: each receive advances it by one "second".
        pub clock: RefCell<u64>,
        next: RefCell<u64>,
        /// Bodies whose send fails (entry by entry).
        pub fail_send_bodies: RefCell<HashSet<String>>,
        /// Message ids whose delete fails (entry by entry).
        pub fail_delete_ids: RefCell<HashSet<String>>,
        pub calls: RefCell<Vec<String>>,
    }

    impl Fake {
        pub fn with_queues(names: &[&str]) -> Self {
            let fake = Fake::default();
            for name in names {
                fake.queues.borrow_mut().insert(format!("url://{name}"), Vec::new());
            }
            fake
        }

        pub fn put(&self, url: &str, body: &str, attributes: HashMap<String, MessageAttributeValue>) -> String {
            let id = self.fresh("m");
            self.queues.borrow_mut().get_mut(url).expect("queue exists").push(Stored {
                id: id.clone(),
                body: body.to_owned(),
                attributes,
                invisible_until: 0,
                receipt: String::new(),
                receives: 0,
                group_id: None,
            });
            id
        }

        pub fn messages(&self, url: &str) -> Vec<Stored> {
            self.queues.borrow().get(url).cloned().unwrap_or_default()
        }

        pub fn visible(&self, url: &str) -> usize {
            let now = *self.clock.borrow();
            self.messages(url).iter().filter(|m| m.invisible_until <= now).count()
        }

        fn fresh(&self, prefix: &str) -> String {
            let mut next = self.next.borrow_mut();
            *next += 1;
            format!("{prefix}-{next}")
        }
    }

    impl QueueApi for Fake {
        async fn receive(&self, url: &str, max: i32, _wait: i32, visibility: i32) -> Result<Vec<Received>, SqsError> {
            self.calls.borrow_mut().push(format!("receive {url}"));
            let now = *self.clock.borrow();
            let mut out = Vec::new();
            let mut queues = self.queues.borrow_mut();
            let queue = queues.get_mut(url).ok_or_else(|| SqsError::new("ReceiveMessage", SqsErrorKind::NotFound, url, "no queue"))?;
            for m in queue.iter_mut().filter(|m| m.invisible_until <= now).take(max as usize) {
                m.invisible_until = now + visibility as u64;
                m.receives += 1;
                let mut next = self.next.borrow_mut();
                *next += 1;
                m.receipt = format!("r-{}-{next}", m.id);
                out.push(Received {
                    message_id: m.id.clone(),
                    receipt_handle: m.receipt.clone(),
                    body: m.body.clone(),
                    receive_count: m.receives,
                    sent_at: None,
                    received_at: std::time::SystemTime::now(),
                    attributes: m.attributes.clone(),
                    group_id: m.group_id.clone(),
                });
            }
            drop(queues);
            *self.clock.borrow_mut() += 1;
            Ok(out)
        }

        async fn change_visibility_batch(&self, url: &str, entries: &[(String, i32)]) -> Result<BatchFailures, SqsError> {
            self.calls.borrow_mut().push(format!("visibility {url} {}", entries.len()));
            let now = *self.clock.borrow();
            let mut queues = self.queues.borrow_mut();
            let queue = queues
                .get_mut(url)
                .ok_or_else(|| SqsError::new("ChangeMessageVisibilityBatch", SqsErrorKind::NotFound, url, "no queue"))?;
            let mut failures = BatchFailures::default();
            for (i, (receipt, secs)) in entries.iter().enumerate() {
                match queue.iter_mut().find(|m| &m.receipt == receipt) {
                    Some(m) => m.invisible_until = now + *secs as u64,
                    None => failures.failed.push((i, true, "ReceiptHandleIsInvalid".into())),
                }
            }
            Ok(failures)
        }

        async fn send_batch(&self, url: &str, messages: &[Outgoing]) -> Result<SendBatchResult, SqsError> {
            self.calls.borrow_mut().push(format!("send {url} {}", messages.len()));
            let mut result = SendBatchResult::default();
            for (i, Outgoing { body, attributes, group_id, .. }) in messages.iter().enumerate() {
                if self.fail_send_bodies.borrow().contains(body) {
                    result.failed.push((i, false, "InternalError".into()));
                    continue;
                }
                let id = self.fresh("m");
                let mut queues = self.queues.borrow_mut();
                let queue =
                    queues.get_mut(url).ok_or_else(|| SqsError::new("SendMessageBatch", SqsErrorKind::NotFound, url, "no queue"))?;
                queue.push(Stored {
                    id: id.clone(),
                    body: body.clone(),
                    attributes: attributes.clone(),
                    invisible_until: 0,
                    receipt: String::new(),
                    receives: 0,
                    group_id: group_id.clone(),
                });
                result.sent.push((i, id));
            }
            Ok(result)
        }

        async fn delete_batch(&self, url: &str, receipts: &[String]) -> Result<BatchFailures, SqsError> {
            self.calls.borrow_mut().push(format!("delete {url} {}", receipts.len()));
            let mut queues = self.queues.borrow_mut();
            let queue = queues.get_mut(url).ok_or_else(|| SqsError::new("DeleteMessageBatch", SqsErrorKind::NotFound, url, "no queue"))?;
            let mut failures = BatchFailures::default();
            for (i, receipt) in receipts.iter().enumerate() {
                match queue.iter().position(|m| &m.receipt == receipt) {
                    Some(pos) if self.fail_delete_ids.borrow().contains(&queue[pos].id) => {
                        failures.failed.push((i, false, "InternalError".into()))
                    }
                    Some(pos) => {
                        queue.remove(pos);
                    }
                    None => failures.failed.push((i, true, "ReceiptHandleIsInvalid".into())),
                }
            }
            Ok(failures)
        }

        async fn find_queue_url(&self, name: &str) -> Result<Option<String>, SqsError> {
            let url = format!("url://{name}");
            Ok(self.queues.borrow().contains_key(&url).then_some(url))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Fake;
    use super::*;
    use jobfleet_runtime::sqs::client::string_attribute;

    const DLQ: &str = "url://t-jobfleet-media-dlq";

    fn dead(fake: &Fake, job_type: &str, class: &str) -> String {
        let body =
            format!(r#"{{"id":"{}","type":"{job_type}","version":1,"created_at":"2026-11-23T01:00:00Z","payload":{{}}}}"#, Uuid::now_v7());
        let attributes = HashMap::from([
            (attr::ERROR_CLASS.to_owned(), string_attribute(class)),
            (attr::FAILED_AT.to_owned(), string_attribute("2026-11-23T02:00:00Z")),
            (attr::SOURCE_QUEUE.to_owned(), string_attribute("t-jobfleet-media")),
            (attr::ATTEMPTS.to_owned(), jobfleet_runtime::sqs::client::number_attribute(3)),
            (JOB_TYPE_ATTRIBUTE.to_owned(), string_attribute(job_type)),
        ]);
        fake.put(DLQ, &body, attributes)
    }

    #[tokio::test]
    async fn a_peek_sees_each_message_once_and_leaves_the_queue_as_it_found_it() {
        let fake = Fake::with_queues(&["t-jobfleet-media-dlq"]);
        for i in 0..25 {
            dead(&fake, if i % 5 == 0 { "diag.fail" } else { "diag.noop" }, "diag_permanent");
        }
        let filter = Filter { job_type: Some("diag.fail".into()), ..Filter::default() };
        let peek = peek(&fake, DLQ, 30, &filter, 100).await.expect("peek");
        assert_eq!(peek.messages.len(), 5);
        assert_eq!(peek.stats.scanned, 25);
        assert!(!peek.truncated);
        assert_eq!((peek.released, peek.release_failed), (25, 0));
        assert_eq!(fake.visible(DLQ), 25, "everything is visible again");
        let m = &peek.messages[0];
        assert_eq!(m.job_type.as_deref(), Some("diag.fail"));
        assert_eq!(m.attempts, Some(3));
        assert_eq!(m.failed_at_source, Some("attribute"));
    }

    #[tokio::test]
    async fn a_sweep_whose_holds_expire_too_fast_stops_and_says_so() {
        let fake = Fake::with_queues(&["t-jobfleet-media-dlq"]);
        for _ in 0..30 {
            dead(&fake, "diag.noop", "x");
        }
        // A visibility of one tick: every hold expires before the next
        // receive and (as on moto) the same first ten come back each time.
        let peek = peek(&fake, DLQ, 1, &Filter::default(), 1000).await.expect("peek");
        assert!(peek.stats.stalled);
        assert!(peek.stats.redeliveries > 0);
        assert_eq!(peek.messages.len(), 10, "each message is listed once");
        let mut ids: Vec<&str> = peek.messages.iter().map(|m| m.message_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn replay_attributes_drop_the_reason_and_count_the_replay() {
        let fake = Fake::with_queues(&["t-jobfleet-media-dlq"]);
        dead(&fake, "diag.fail", "diag_permanent");
        let stored = &fake.messages(DLQ)[0];
        let mut attributes = stored.attributes.clone();
        attributes.insert(REPLAY_COUNT_ATTRIBUTE.into(), jobfleet_runtime::sqs::client::number_attribute(2));
        attributes.insert("tenant".into(), string_attribute("acme"));
        let received = Received {
            message_id: stored.id.clone(),
            receipt_handle: "r".into(),
            body: stored.body.clone(),
            receive_count: 1,
            sent_at: None,
            received_at: SystemTime::now(),
            attributes,
            group_id: None,
        };
        let message = DlqMessage::decode(received, SystemTime::now());
        assert_eq!(message.replay_count, 2);
        let out = message.replay_attributes();
        for gone in attr::ALL {
            assert!(!out.contains_key(gone), "{gone} must be removed");
        }
        assert_eq!(out.get(REPLAY_COUNT_ATTRIBUTE).and_then(|v| v.string_value()), Some("3"));
        assert_eq!(out.get(REPLAY_COUNT_ATTRIBUTE).map(|v| v.data_type()), Some("Number"));
        assert_eq!(out.get("tenant").and_then(|v| v.string_value()), Some("acme"));
        assert_eq!(out.get(JOB_TYPE_ATTRIBUTE).and_then(|v| v.string_value()), Some("diag.fail"));
    }

    #[test]
    fn a_replay_keeps_the_group_and_a_fifo_target_gets_a_dedup_id_per_dlq_message() {
        let received = |group_id: Option<&str>| Received {
            message_id: "dlq-m-1".into(),
            receipt_handle: "r".into(),
            body: "{}".into(),
            receive_count: 1,
            sent_at: None,
            received_at: SystemTime::now(),
            attributes: HashMap::new(),
            group_id: group_id.map(str::to_owned),
        };
        let grouped = DlqMessage::decode(received(Some("order-42")), SystemTime::now());
        assert_eq!(grouped.group_id.as_deref(), Some("order-42"));
        let fifo = grouped.replay_message("http://sqs/1/t-jobfleet-orders.fifo");
        assert_eq!((fifo.group_id.as_deref(), fifo.dedup_id.as_deref()), (Some("order-42"), Some("replay-dlq-m-1")));
        assert_eq!(fifo.body, "{}");
        // A standard queue (a fair queue's tenant) keeps the group, and refuses a dedup id.
        let standard = grouped.replay_message("http://sqs/1/t-jobfleet-media");
        assert_eq!((standard.group_id.as_deref(), standard.dedup_id.as_deref()), (Some("order-42"), None));
        // A FIFO target needs a group: a message that had none becomes its own.
        let orphan = DlqMessage::decode(received(None), SystemTime::now()).replay_message("http://sqs/1/t-jobfleet-orders.fifo");
        assert_eq!(orphan.group_id.as_deref(), Some("dlq-m-1"));
    }

    #[test]
    fn undecodable_bodies_fall_back_to_the_job_type_attribute_and_sent_timestamp() {
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let received = Received {
            message_id: "m".into(),
            receipt_handle: "r".into(),
            body: "not json".into(),
            receive_count: 2,
            sent_at: Some(sent),
            received_at: SystemTime::now(),
            attributes: HashMap::from([(JOB_TYPE_ATTRIBUTE.to_owned(), string_attribute("media.thumbnail"))]),
            group_id: None,
        };
        let message = DlqMessage::decode(received, sent + Duration::from_secs(90));
        assert_eq!(message.job_type.as_deref(), Some("media.thumbnail"));
        assert_eq!(message.job_id, None);
        assert!(message.decode_error.as_deref().is_some_and(|e| e.starts_with("malformed_json")));
        assert_eq!(message.failed_at_source, Some("sent_timestamp"));
        assert_eq!(message.age_secs, Some(90));
    }
}
