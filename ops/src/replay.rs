//! `worker dlq replay`: move matching dead-lettered messages back to work.
//!
//! The order of operations is what makes a replay safe:
//!
//! 1. receive a batch from the DLQ (a `Sweep`: held invisible, ids tracked);
//! 2. **send** the matching messages to their target (SendMessageBatch), the
//!    body byte for byte (same job id), the producer's attributes kept, the
//!    dead-letter reason removed and `replay_count` incremented;
//! 3. **delete** from the DLQ exactly the entries SQS confirmed as sent.
//!
//! A failed send is never followed by a delete of that entry, so a message
//! cannot be lost. A crash between 2 and 3 leaves the message in both
//! queues: a duplicate, which the ledger makes harmless (a job id that has
//! succeeded is deleted as a duplicate by the worker, not run again).
//! Non-matching messages are held until the sweep ends and then released
//! all at once (see `dlq.rs` for why not one by one).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::dlq::{DlqMessage, QueueApi, Sweep, SweepStats};
use crate::filter::Filter;
use jobfleet_runtime::sqs::SqsError;
use jobfleet_runtime::sqs::client::Outgoing;

/// Environment variable (tests only): exit the process right after the
/// first batch has been sent and before it is deleted from the DLQ, to
/// prove a crash there only duplicates. Compiled only with the
/// `fault-injection` feature, which only the worker's tests enable: a
/// release build never reads it.
#[cfg(feature = "fault-injection")]
pub const CRASH_AFTER_SEND_ENV: &str = "JF_TEST_CRASH_AFTER_SEND";

/// Whether the test fault hook asks for a crash after the first send;
/// always `false` without the `fault-injection` feature.
pub fn crash_after_send_requested() -> bool {
    #[cfg(feature = "fault-injection")]
    {
        std::env::var(CRASH_AFTER_SEND_ENV).is_ok_and(|v| v == "1")
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        false
    }
}
/// The exit code of that simulated crash.
pub const CRASH_EXIT_CODE: i32 = 86;

/// Failures kept for the summary (the counts are always complete).
const MAX_FAILURE_NOTES: usize = 20;

/// A queue a replay sends to: its name (for people and the audit) and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReplayPlan {
    pub dlq_url: String,
    pub filter: Filter,
    pub limit: Option<u64>,
    pub rate_per_sec: Option<f64>,
    pub dry_run: bool,
    /// `--to-queue`: every matching message goes there.
    pub to_queue: Option<Target>,
    /// Where a message without a `source_queue` attribute goes: the pool's queue.
    pub default_target: Target,
    /// Queue names whose URL is already known (configured overrides).
    pub known_urls: HashMap<String, String>,
    /// Visibility of received messages while the sweep holds them.
    pub visibility_secs: i32,
    /// Test fault hook (see [`crash_after_send_requested`]); ignored
    /// without the `fault-injection` feature.
    pub crash_after_first_send: bool,
}

impl ReplayPlan {
    /// Messages per receive/send: 10 (SQS's batch maximum), fewer when a
    /// slow `--rate` would otherwise send bursts of 10.
    fn batch_size(&self) -> i32 {
        match self.rate_per_sec {
            Some(rate) => (rate.floor() as i32).clamp(1, 10),
            None => 10,
        }
    }
}

/// Running counts, reported after every batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Distinct DLQ messages looked at.
    pub scanned: u64,
    /// Matched the filter and were acted on (in a dry run: would move).
    pub matched: u64,
    /// Sent to the target and deleted from the DLQ.
    pub moved: u64,
    /// Did not match (or was already moved by this run and came back);
    /// left in the DLQ.
    pub skipped: u64,
    /// Matched but not sent (target missing, send refused): still only in the DLQ.
    pub send_failed: u64,
    /// Sent, but the delete from the DLQ failed: the message is in both
    /// queues, and replaying it again would only make a harmless duplicate.
    pub delete_failed: u64,
}

impl Counts {
    pub fn failed(&self) -> u64 {
        self.send_failed + self.delete_failed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// Every visible DLQ message was looked at.
    Exhausted,
    /// `--limit` messages matched.
    Limit,
    /// SIGINT/SIGTERM: stopped after the current batch.
    Interrupted,
    /// Holds expired faster than the sweep went round (`--visibility` too short).
    Stalled,
    /// An SQS call failed as a whole; see `error`.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Ord, PartialOrd, Serialize)]
pub struct Group {
    pub job_type: Option<String>,
    pub error_class: Option<String>,
    pub target: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureNote {
    pub message_id: String,
    pub job_id: Option<uuid::Uuid>,
    /// `send` or `delete`.
    pub stage: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedMove {
    #[serde(flatten)]
    pub message: DlqMessage,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplaySummary {
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: Counts,
    pub failed: u64,
    pub stopped: Stopped,
    pub error: Option<String>,
    /// Held messages made visible again at the end.
    pub released: u64,
    /// Releases that failed: those messages reappear after `--visibility`.
    pub release_failed: u64,
    pub sweep: SweepStats,
    pub elapsed_secs: f64,
    /// Moved per second (in a dry run: matched per second).
    pub rate_per_sec: f64,
    /// What matched, by job type, error class and target.
    pub groups: Vec<Group>,
    pub failures: Vec<FailureNote>,
    /// Dry run only: every message that would move.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedMove>,
}

/// Told about progress after every batch (progress bar, audit row).
pub(crate) trait Observer {
    async fn progress(&mut self, counts: &Counts, sweep: &SweepStats);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    async fn progress(&mut self, _: &Counts, _: &SweepStats) {}
}

/// Sends no faster than `per_sec`: message n (from 0) goes no earlier
/// than n / per_sec after the start.
#[derive(Debug)]
struct Pacer {
    start: Instant,
    per_sec: f64,
    sent: u64,
}

impl Pacer {
    fn ready_at(&self, n: u64) -> Instant {
        let last = (self.sent + n).saturating_sub(1);
        self.start + Duration::from_secs_f64(last as f64 / self.per_sec)
    }
}

/// Where each message goes, with URLs looked up once per name.
struct Resolver<'p> {
    plan: &'p ReplayPlan,
    cache: HashMap<String, Result<String, String>>,
}

impl<'p> Resolver<'p> {
    fn target_name(&self, message: &DlqMessage) -> String {
        if let Some(to) = &self.plan.to_queue {
            return to.name.clone();
        }
        match message.source_queue.as_deref().map(str::trim) {
            Some(source) if !source.is_empty() => source.to_owned(),
            _ => self.plan.default_target.name.clone(),
        }
    }

    async fn url<A: QueueApi>(&mut self, api: &A, name: &str) -> Result<String, String> {
        if let Some(known) = self.cache.get(name) {
            return known.clone();
        }
        let given = [&self.plan.to_queue, &Some(self.plan.default_target.clone())]
            .into_iter()
            .flatten()
            .find(|t| t.name == name)
            .and_then(|t| t.url.clone());
        let resolved = if name.starts_with("https://") || name.starts_with("http://") {
            Ok(name.to_owned())
        } else if let Some(url) = given.or_else(|| self.plan.known_urls.get(name).cloned()) {
            Ok(url)
        } else {
            match api.find_queue_url(name).await {
                Ok(Some(url)) => Ok(url),
                Ok(None) => Err(format!("target queue {name} does not exist")),
                Err(e) => Err(format!("cannot look up target queue {name}: {e}")),
            }
        };
        let resolved = resolved
            .and_then(|url| if url == self.plan.dlq_url { Err(format!("target {name} is the dead-letter queue itself")) } else { Ok(url) });
        self.cache.insert(name.to_owned(), resolved.clone());
        resolved
    }
}

struct Candidate {
    message: DlqMessage,
    url: String,
}

struct Run<'a, 'p, A> {
    api: &'a A,
    plan: &'p ReplayPlan,
    sweep: Sweep<'a, A>,
    resolver: Resolver<'p>,
    counts: Counts,
    groups: BTreeMap<(Option<String>, Option<String>, String), u64>,
    failures: Vec<FailureNote>,
    planned: Vec<PlannedMove>,
    delete_failed_ids: HashSet<String>,
    /// Jobs this run has sent. A job that fails again lands back in the DLQ
    /// while the sweep is still going; moving it a second time would chase
    /// it around the worker forever, so it is left for the operator.
    moved_jobs: HashSet<Uuid>,
    sent_any: bool,
}

impl<'a, 'p, A: QueueApi> Run<'a, 'p, A> {
    fn note(&mut self, message: &DlqMessage, stage: &'static str, reason: impl Into<String>) {
        if self.failures.len() < MAX_FAILURE_NOTES {
            self.failures.push(FailureNote {
                message_id: message.message_id.clone(),
                job_id: message.job_id,
                stage,
                reason: reason.into(),
            });
        }
    }

    /// Messages already sent that the DLQ handed back: delete, never resend.
    async fn delete_redelivered(&mut self) -> Result<(), SqsError> {
        let again = self.sweep.take_redelivered_sent();
        for chunk in again.chunks(10) {
            let receipts: Vec<String> = chunk.iter().map(|(_, receipt)| receipt.clone()).collect();
            let failures = self.api.delete_batch(&self.plan.dlq_url, &receipts).await?;
            let failed: HashSet<usize> = failures.failed.iter().map(|(i, _, _)| *i).collect();
            for (i, (id, _)) in chunk.iter().enumerate() {
                if failed.contains(&i) {
                    continue;
                }
                self.sweep.mark_deleted(id);
                if self.delete_failed_ids.remove(id) {
                    self.counts.delete_failed -= 1;
                    self.counts.moved += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends a batch of candidates, then deletes exactly the confirmed ones.
    async fn move_batch(&mut self, candidates: Vec<Candidate>) -> Result<(), SqsError> {
        let mut by_target: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
        for candidate in candidates {
            by_target.entry(candidate.url.clone()).or_default().push(candidate);
        }
        let mut confirmed: Vec<Candidate> = Vec::new();
        let mut call_error = None;
        for (url, group) in by_target {
            if call_error.is_some() {
                // An earlier send call failed as a whole: send nothing more.
                for c in &group {
                    self.counts.send_failed += 1;
                    self.note(&c.message, "send", "not sent: an earlier send of this batch failed");
                    self.sweep.hold(&c.message.received);
                }
                continue;
            }
            let outgoing: Vec<Outgoing> = group.iter().map(|c| c.message.replay_message(&url)).collect();
            match self.api.send_batch(&url, &outgoing).await {
                Ok(result) => {
                    let sent: HashSet<usize> = result.sent.iter().map(|(i, _)| *i).collect();
                    let reasons: HashMap<usize, String> = result.failed.into_iter().map(|(i, _, reason)| (i, reason)).collect();
                    for (i, candidate) in group.into_iter().enumerate() {
                        if sent.contains(&i) {
                            self.sweep.mark_sent(&candidate.message.message_id);
                            confirmed.push(candidate);
                        } else {
                            // Not confirmed: it stays in the DLQ (no delete), released at the end.
                            let reason = reasons.get(&i).cloned().unwrap_or_else(|| "send not confirmed by SQS".to_owned());
                            self.counts.send_failed += 1;
                            self.note(&candidate.message, "send", reason);
                            self.sweep.hold(&candidate.message.received);
                        }
                    }
                }
                Err(e) => {
                    for c in &group {
                        self.counts.send_failed += 1;
                        self.note(&c.message, "send", e.to_string());
                        self.sweep.hold(&c.message.received);
                    }
                    call_error = Some(e);
                }
            }
        }
        if !confirmed.is_empty() {
            self.sent_any = true;
            #[cfg(feature = "fault-injection")]
            if self.plan.crash_after_first_send {
                eprintln!("{CRASH_AFTER_SEND_ENV}: exiting after the send, before the delete");
                std::process::exit(CRASH_EXIT_CODE);
            }
        }
        for chunk in confirmed.chunks(10) {
            let receipts: Vec<String> = chunk.iter().map(|c| c.message.received.receipt_handle.clone()).collect();
            match self.api.delete_batch(&self.plan.dlq_url, &receipts).await {
                Ok(failures) => {
                    let reasons: HashMap<usize, String> = failures.failed.into_iter().map(|(i, _, reason)| (i, reason)).collect();
                    for (i, candidate) in chunk.iter().enumerate() {
                        match reasons.get(&i) {
                            None => {
                                self.sweep.mark_deleted(&candidate.message.message_id);
                                self.counts.moved += 1;
                            }
                            Some(reason) => {
                                self.counts.delete_failed += 1;
                                self.delete_failed_ids.insert(candidate.message.message_id.clone());
                                self.note(&candidate.message, "delete", reason.clone());
                            }
                        }
                    }
                }
                Err(e) => {
                    for candidate in chunk {
                        self.counts.delete_failed += 1;
                        self.delete_failed_ids.insert(candidate.message.message_id.clone());
                        self.note(&candidate.message, "delete", e.to_string());
                    }
                    call_error.get_or_insert(e);
                }
            }
        }
        match call_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs a replay (or its dry run) to the end, an interrupt, the limit or
/// an error, and always releases what it held. Never panics on SQS errors:
/// they end the sweep and are reported in the summary.
pub(crate) async fn replay<A: QueueApi, O: Observer>(
    api: &A,
    plan: &ReplayPlan,
    stop: &CancellationToken,
    observer: &mut O,
) -> ReplaySummary {
    let started = Instant::now();
    let mut run = Run {
        api,
        plan,
        sweep: Sweep::new(api, &plan.dlq_url, plan.visibility_secs),
        resolver: Resolver { plan, cache: HashMap::new() },
        counts: Counts::default(),
        groups: BTreeMap::new(),
        failures: Vec::new(),
        planned: Vec::new(),
        delete_failed_ids: HashSet::new(),
        moved_jobs: HashSet::new(),
        sent_any: false,
    };
    let mut pacer = plan.rate_per_sec.map(|per_sec| Pacer { start: Instant::now(), per_sec, sent: 0 });
    let batch_size = plan.batch_size();

    let outcome: Result<Stopped, SqsError> = async {
        loop {
            if stop.is_cancelled() {
                return Ok(Stopped::Interrupted);
            }
            let remaining = plan.limit.map(|limit| limit.saturating_sub(run.counts.matched));
            if remaining == Some(0) {
                return Ok(Stopped::Limit);
            }
            let max = remaining.map_or(batch_size, |r| r.min(batch_size as u64) as i32);
            let Some(fresh) = run.sweep.receive(max).await? else {
                return Ok(if run.sweep.stats.stalled { Stopped::Stalled } else { Stopped::Exhausted });
            };
            run.delete_redelivered().await?;
            let now = SystemTime::now();
            let mut candidates = Vec::new();
            for received in fresh {
                let message = DlqMessage::decode(received, now);
                let came_back = message.job_id.is_some_and(|id| run.moved_jobs.contains(&id));
                if plan.filter.matches(&message.facts()) && !came_back {
                    candidates.push(message);
                } else {
                    run.counts.skipped += 1;
                    run.sweep.hold(&message.received);
                }
            }
            if !plan.dry_run
                && !candidates.is_empty()
                && let Some(pacer) = &pacer
            {
                let ready = pacer.ready_at(candidates.len() as u64);
                tokio::select! {
                    () = tokio::time::sleep_until(ready.into()) => {}
                    () = stop.cancelled() => {
                        // Nothing of this batch was sent: leave it in the DLQ.
                        for message in &candidates {
                            run.sweep.hold(&message.received);
                        }
                        return Ok(Stopped::Interrupted);
                    }
                }
            }
            let mut movable = Vec::new();
            for message in candidates {
                run.counts.matched += 1;
                let target = run.resolver.target_name(&message);
                *run.groups.entry((message.job_type.clone(), message.error_class.clone(), target.clone())).or_default() += 1;
                match run.resolver.url(api, &target).await {
                    Ok(_) if plan.dry_run => {
                        run.sweep.hold(&message.received);
                        run.planned.push(PlannedMove { message, target });
                    }
                    Ok(url) => {
                        if let Some(id) = message.job_id {
                            run.moved_jobs.insert(id);
                        }
                        movable.push(Candidate { message, url })
                    }
                    Err(reason) => {
                        run.counts.send_failed += 1;
                        run.note(&message, "send", reason);
                        run.sweep.hold(&message.received);
                    }
                }
            }
            if let Some(pacer) = &mut pacer {
                pacer.sent += movable.len() as u64;
            }
            if !movable.is_empty() {
                run.move_batch(movable).await?;
            }
            run.counts.scanned = run.sweep.stats.scanned;
            observer.progress(&run.counts, &run.sweep.stats).await;
        }
    }
    .await;

    let (stopped, error) = match outcome {
        Ok(stopped) => (stopped, None),
        Err(e) => (Stopped::Error, Some(e.to_string())),
    };
    let (released, release_failed) = run.sweep.release_held().await;
    run.counts.scanned = run.sweep.stats.scanned;
    observer.progress(&run.counts, &run.sweep.stats).await;
    let elapsed = started.elapsed().as_secs_f64();
    let done = if plan.dry_run { run.counts.matched } else { run.counts.moved };
    ReplaySummary {
        dry_run: plan.dry_run,
        counts: run.counts,
        failed: run.counts.failed(),
        stopped,
        error,
        released,
        release_failed,
        sweep: run.sweep.stats,
        elapsed_secs: elapsed,
        rate_per_sec: if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 },
        groups: run
            .groups
            .into_iter()
            .map(|((job_type, error_class, target), count)| Group { job_type, error_class, target, count })
            .collect(),
        failures: run.failures,
        planned: run.planned,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jobfleet_contract::envelope::JOB_TYPE_ATTRIBUTE;
    use uuid::Uuid;

    use super::*;
    use crate::dlq::REPLAY_COUNT_ATTRIBUTE;
    use crate::dlq::fake::Fake;
    use jobfleet_runtime::sqs::client::{number_attribute, string_attribute};
    use jobfleet_runtime::sqs::dead_letter::attr;

    const MAIN: &str = "url://t-jobfleet-media";
    const DLQ: &str = "url://t-jobfleet-media-dlq";

    fn setup() -> Fake {
        Fake::with_queues(&["t-jobfleet-media", "t-jobfleet-media-dlq", "other"])
    }

    fn body(job_type: &str) -> String {
        format!(r#"{{"id":"{}","type":"{job_type}","version":1,"created_at":"2026-11-23T01:00:00Z","payload":{{"n":1}}}}"#, Uuid::now_v7())
    }

    fn dead(fake: &Fake, job_type: &str) -> String {
        let body = body(job_type);
        let attributes = HashMap::from([
            (attr::ERROR_CLASS.to_owned(), string_attribute("diag_permanent")),
            (attr::ERROR_MESSAGE.to_owned(), string_attribute("boom")),
            (attr::FAILED_AT.to_owned(), string_attribute("2026-11-23T02:00:00Z")),
            (attr::SOURCE_QUEUE.to_owned(), string_attribute("t-jobfleet-media")),
            (attr::ATTEMPTS.to_owned(), number_attribute(1)),
            (attr::ORIGINAL_MESSAGE_ID.to_owned(), string_attribute("orig")),
            (JOB_TYPE_ATTRIBUTE.to_owned(), string_attribute(job_type)),
        ]);
        fake.put(DLQ, &body, attributes);
        body
    }

    fn plan(filter: Filter) -> ReplayPlan {
        ReplayPlan {
            dlq_url: DLQ.into(),
            filter,
            limit: None,
            rate_per_sec: None,
            dry_run: false,
            to_queue: None,
            default_target: Target { name: "t-jobfleet-media".into(), url: Some(MAIN.into()) },
            known_urls: HashMap::new(),
            visibility_secs: 1_000,
            crash_after_first_send: false,
        }
    }

    fn of_type(t: &str) -> Filter {
        Filter { job_type: Some(t.into()), ..Filter::default() }
    }

    async fn run(fake: &Fake, plan: &ReplayPlan) -> ReplaySummary {
        replay(fake, plan, &CancellationToken::new(), &mut Quiet).await
    }

    #[tokio::test]
    async fn moves_only_matches_byte_for_byte_and_leaves_the_rest_visible() {
        let fake = setup();
        let mut fails = Vec::new();
        for i in 0..35 {
            if i % 3 == 0 {
                fails.push(dead(&fake, "diag.fail"));
            } else {
                dead(&fake, "diag.noop");
            }
        }
        let summary = run(&fake, &plan(of_type("diag.fail"))).await;
        assert_eq!(summary.stopped, Stopped::Exhausted);
        assert_eq!((summary.counts.matched, summary.counts.moved, summary.counts.skipped, summary.failed), (12, 12, 23, 0));
        assert_eq!(summary.released, 23);
        assert_eq!(fake.visible(DLQ), 23, "non-matching messages are visible again");
        assert!(fake.messages(DLQ).iter().all(|m| !m.body.contains("diag.fail")));
        let moved = fake.messages(MAIN);
        let mut bodies: Vec<&str> = moved.iter().map(|m| m.body.as_str()).collect();
        bodies.sort_unstable();
        fails.sort_unstable();
        assert_eq!(bodies, fails.iter().map(String::as_str).collect::<Vec<_>>(), "bodies are unchanged");
        for m in &moved {
            assert_eq!(m.attributes.get(REPLAY_COUNT_ATTRIBUTE).and_then(|v| v.string_value()), Some("1"));
            assert!(!m.attributes.contains_key(attr::ERROR_CLASS));
            assert_eq!(m.attributes.get(JOB_TYPE_ATTRIBUTE).and_then(|v| v.string_value()), Some("diag.fail"));
        }
        assert_eq!(summary.groups.len(), 1);
        assert_eq!(summary.groups[0].count, 12);
    }

    #[tokio::test]
    async fn a_failed_send_is_never_followed_by_a_delete() {
        let fake = setup();
        let doomed = dead(&fake, "diag.fail");
        for _ in 0..4 {
            dead(&fake, "diag.fail");
        }
        fake.fail_send_bodies.borrow_mut().insert(doomed.clone());
        let summary = run(&fake, &plan(Filter::default())).await;
        assert_eq!((summary.counts.matched, summary.counts.moved, summary.counts.send_failed), (5, 4, 1));
        assert_eq!(summary.failures.len(), 1);
        assert_eq!(summary.failures[0].stage, "send");
        let left = fake.messages(DLQ);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].body, doomed, "the unsent message is still in the DLQ");
        assert_eq!(fake.visible(DLQ), 1, "and visible again");
        assert_eq!(fake.messages(MAIN).len(), 4);
    }

    #[tokio::test]
    async fn a_failed_delete_leaves_a_duplicate_never_a_second_send() {
        let fake = setup();
        for _ in 0..3 {
            dead(&fake, "diag.fail");
        }
        let sticky = fake.messages(DLQ)[1].id.clone();
        fake.fail_delete_ids.borrow_mut().insert(sticky.clone());
        let summary = run(&fake, &plan(Filter::default())).await;
        assert_eq!((summary.counts.moved, summary.counts.delete_failed, summary.counts.send_failed), (2, 1, 0));
        assert_eq!(fake.messages(MAIN).len(), 3, "sent once each");
        assert_eq!(fake.messages(DLQ).len(), 1, "the copy that could not be deleted stays");
        assert_eq!(summary.released, 0, "a sent message is not released for another replay to resend at once");
    }

    #[tokio::test]
    async fn a_redelivered_sent_message_is_deleted_not_resent() {
        let fake = setup();
        for _ in 0..3 {
            dead(&fake, "diag.fail");
        }
        let sticky = fake.messages(DLQ)[0].id.clone();
        fake.fail_delete_ids.borrow_mut().insert(sticky.clone());
        // The first delete fails; let the hold expire so the DLQ hands it
        // back, and let the second delete succeed.
        let mut p = plan(Filter::default());
        p.visibility_secs = 1;
        struct Heal<'f>(&'f Fake, String);
        impl Observer for Heal<'_> {
            async fn progress(&mut self, _: &Counts, _: &SweepStats) {
                self.0.fail_delete_ids.borrow_mut().remove(&self.1);
            }
        }
        let summary = replay(&fake, &p, &CancellationToken::new(), &mut Heal(&fake, sticky)).await;
        assert_eq!((summary.counts.moved, summary.counts.delete_failed), (3, 0), "{summary:?}");
        assert_eq!(fake.messages(MAIN).len(), 3, "never sent twice");
        assert!(fake.messages(DLQ).is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_moves_nothing_and_lists_what_would_move() {
        let fake = setup();
        for _ in 0..12 {
            dead(&fake, "diag.fail");
        }
        dead(&fake, "diag.noop");
        let mut p = plan(of_type("diag.fail"));
        p.dry_run = true;
        let summary = run(&fake, &p).await;
        assert_eq!((summary.counts.matched, summary.counts.moved, summary.counts.skipped), (12, 0, 1));
        assert_eq!(summary.planned.len(), 12);
        assert!(summary.planned.iter().all(|m| m.target == "t-jobfleet-media"));
        assert_eq!(fake.messages(DLQ).len(), 13);
        assert_eq!(fake.visible(DLQ), 13);
        assert!(fake.messages(MAIN).is_empty());
        assert!(!fake.calls.borrow().iter().any(|c| c.starts_with("send") || c.starts_with("delete")));
    }

    #[tokio::test]
    async fn the_limit_is_exact() {
        let fake = setup();
        for _ in 0..25 {
            dead(&fake, "diag.fail");
        }
        let mut p = plan(Filter::default());
        p.limit = Some(13);
        let summary = run(&fake, &p).await;
        assert_eq!(summary.stopped, Stopped::Limit);
        assert_eq!((summary.counts.matched, summary.counts.moved), (13, 13));
        assert_eq!(fake.messages(DLQ).len(), 12);
        assert_eq!(fake.visible(DLQ), 12);
    }

    #[tokio::test]
    async fn an_interrupt_stops_before_the_next_batch() {
        let fake = setup();
        for _ in 0..30 {
            dead(&fake, "diag.fail");
        }
        struct StopAfterFirst(CancellationToken);
        impl Observer for StopAfterFirst {
            async fn progress(&mut self, _: &Counts, _: &SweepStats) {
                self.0.cancel();
            }
        }
        let stop = CancellationToken::new();
        let summary = replay(&fake, &plan(Filter::default()), &stop, &mut StopAfterFirst(stop.clone())).await;
        assert_eq!(summary.stopped, Stopped::Interrupted);
        assert_eq!(summary.counts.moved, 10, "exactly the first batch");
        assert_eq!(fake.messages(MAIN).len(), 10);
        assert_eq!(fake.visible(DLQ), 20);
    }

    #[tokio::test]
    async fn missing_targets_and_the_dlq_itself_are_refused_per_message() {
        let fake = setup();
        dead(&fake, "diag.fail");
        let mut p = plan(Filter::default());
        p.to_queue = Some(Target { name: "t-jobfleet-media-dlq".into(), url: None });
        let summary = run(&fake, &p).await;
        assert_eq!((summary.counts.moved, summary.counts.send_failed), (0, 1));
        assert!(summary.failures[0].reason.contains("dead-letter queue itself"), "{:?}", summary.failures);
        assert_eq!(fake.visible(DLQ), 1);

        p.to_queue = Some(Target { name: "nope".into(), url: None });
        let summary = run(&fake, &p).await;
        assert!(summary.failures[0].reason.contains("nope does not exist"));
        assert_eq!(fake.visible(DLQ), 1);

        p.to_queue = Some(Target { name: "other".into(), url: None });
        let summary = run(&fake, &p).await;
        assert_eq!(summary.counts.moved, 1);
        assert_eq!(fake.messages("url://other").len(), 1);
    }

    #[test]
    fn batches_shrink_for_slow_rates_and_pacing_spaces_messages() {
        let mut p = plan(Filter::default());
        assert_eq!(p.batch_size(), 10);
        p.rate_per_sec = Some(3.5);
        assert_eq!(p.batch_size(), 3);
        p.rate_per_sec = Some(0.2);
        assert_eq!(p.batch_size(), 1);
        let start = Instant::now();
        let pacer = Pacer { start, per_sec: 10.0, sent: 10 };
        assert_eq!(pacer.ready_at(10), start + Duration::from_millis(1_900), "messages 10..19 at 10/s: the last at 1.9 s");
    }
}
