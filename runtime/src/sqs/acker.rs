//! Batched acknowledgements: DeleteMessageBatch and
//! ChangeMessageVisibilityBatch, up to 10 entries per call.
//!
//! A whole-call failure retries the whole batch; a partial failure retries
//! only the failed entries, unless SQS says the entry itself is wrong
//! (sender fault, e.g. an expired receipt handle), which no retry can fix.
//! Only transient kinds of whole-call failure are retried (throttling, no
//! response, 5xx): a missing queue or a missing IAM permission fails at once
//! with an error naming the queue and the action, instead of retrying
//! forever. Whatever still fails is reported to the caller: an
//! unacknowledged message is redelivered after its visibility timeout, never
//! silently dropped.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};

use crate::batch::{BatchSettings, Batcher, BatcherClosed, Linger};
use crate::sqs::client::{BatchFailures, Sqs, SqsError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Sqs(#[from] SqsError),
    #[error("SQS rejected the entry: {0}")]
    Rejected(String),
    #[error(transparent)]
    Closed(#[from] BatcherClosed),
}

type AckResult = Result<(), AckError>;

#[derive(Debug, Clone)]
pub struct Acker {
    deletes: Batcher<String, AckResult>,
    visibility: Batcher<(String, i32), AckResult>,
}

/// Attempts per entry before giving up (the message then reappears).
const MAX_ENTRY_ATTEMPTS: usize = 5;

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(MAX_ENTRY_ATTEMPTS - 1)
        .with_jitter()
}

impl Acker {
    pub fn new(sqs: Sqs, queue_url: String, flush_interval: Duration) -> Self {
        // A fixed window, not group commit: SQS bills per request, and a job
        // waiting for its delete or visibility change no longer holds a
        // handler slot, so the wait costs nothing while partial batches would
        // cost requests.
        let settings = BatchSettings { max_items: 10, max_delay: flush_interval, max_concurrent_flushes: 8, linger: Linger::Window };
        let (sqs2, url2) = (sqs.clone(), queue_url.clone());
        let deletes = Batcher::spawn("delete", settings, move |receipts: Vec<String>| {
            let (sqs, url) = (sqs.clone(), queue_url.clone());
            async move {
                let items: Vec<(String, i32)> = receipts.into_iter().map(|r| (r, 0)).collect();
                flush(&items, |batch| {
                    let (sqs, url) = (sqs.clone(), url.clone());
                    async move {
                        let receipts: Vec<String> = batch.into_iter().map(|(r, _)| r).collect();
                        sqs.delete_batch(&url, &receipts).await
                    }
                })
                .await
            }
        });
        let visibility = Batcher::spawn("change_visibility", settings, move |entries: Vec<(String, i32)>| {
            let (sqs, url) = (sqs2.clone(), url2.clone());
            async move {
                flush(&entries, |batch| {
                    let (sqs, url) = (sqs.clone(), url.clone());
                    async move { sqs.change_visibility_batch(&url, &batch).await }
                })
                .await
            }
        });
        Self { deletes, visibility }
    }

    /// Deletes the message: its outcome must already be durably recorded.
    pub async fn delete(&self, receipt_handle: &str) -> AckResult {
        self.deletes.submit(receipt_handle.to_owned()).await?
    }

    /// Sets the message's visibility timeout; 0 releases it at once.
    pub async fn change_visibility(&self, receipt_handle: &str, secs: i32) -> AckResult {
        self.visibility.submit((receipt_handle.to_owned(), secs)).await?
    }
}

/// Sends `items` in one batch call, then retries what failed retryably.
/// Returns one result per item, in order.
async fn flush<F, Fut>(items: &[(String, i32)], call: F) -> Vec<AckResult>
where
    F: Fn(Vec<(String, i32)>) -> Fut,
    Fut: std::future::Future<Output = Result<BatchFailures, SqsError>>,
{
    let mut results: Vec<Option<AckResult>> = vec![None; items.len()];
    let mut pending: Vec<usize> = (0..items.len()).collect();
    let mut delays = backoff().build();
    for attempt in 1..=MAX_ENTRY_ATTEMPTS {
        let batch: Vec<(String, i32)> = pending.iter().map(|&i| items[i].clone()).collect();
        let outcome = (|| call(batch.clone())).retry(backoff()).when(SqsError::is_transient).await;
        let failures = match outcome {
            Ok(failures) => failures,
            Err(e) => {
                for &i in &pending {
                    results[i] = Some(Err(AckError::Sqs(e.clone())));
                }
                break;
            }
        };
        let mut retry = Vec::new();
        for (position, sender_fault, message) in failures.failed {
            let Some(&index) = pending.get(position) else { continue };
            if sender_fault || attempt == MAX_ENTRY_ATTEMPTS {
                results[index] = Some(Err(AckError::Rejected(message)));
            } else {
                retry.push(index);
            }
        }
        for &i in &pending {
            if results[i].is_none() && !retry.contains(&i) {
                results[i] = Some(Ok(()));
            }
        }
        if retry.is_empty() {
            break;
        }
        tracing::warn!(entries = retry.len(), attempt, "SQS batch call failed for some entries; retrying those");
        pending = retry;
        if let Some(delay) = delays.next() {
            tokio::time::sleep(delay).await;
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(AckError::Rejected("gave up after retries".into())))).collect()
}

#[cfg(test)]
/// On tokio's paused clock: the retries' backoff sleeps take no real time
/// and cannot race a loaded machine.
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sqs::client::SqsErrorKind;

    fn items(n: usize) -> Vec<(String, i32)> {
        (0..n).map(|i| (format!("r{i}"), 0)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn partial_failures_are_retried_entry_by_entry_and_sender_faults_are_not() {
        let calls = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let seen = calls.clone();
        let results = flush(&items(4), move |batch| {
            let seen = seen.clone();
            async move {
                let names: Vec<String> = batch.iter().map(|(r, _)| r.clone()).collect();
                let first_call = seen.lock().expect("lock").is_empty();
                seen.lock().expect("lock").push(names.clone());
                let mut failures = BatchFailures::default();
                if first_call {
                    // r1 fails transiently, r3 is rejected for good.
                    failures.failed.push((1, false, "InternalError".into()));
                    failures.failed.push((3, true, "ReceiptHandleIsInvalid".into()));
                }
                Ok(failures)
            }
        })
        .await;
        let calls = calls.lock().expect("lock").clone();
        assert_eq!(calls, vec![vec!["r0", "r1", "r2", "r3"], vec!["r1"]]);
        assert!(results[0].is_ok() && results[1].is_ok() && results[2].is_ok());
        assert!(matches!(&results[3], Err(AckError::Rejected(m)) if m.contains("ReceiptHandleIsInvalid")));
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_that_keeps_failing_is_reported_not_dropped() {
        let results =
            flush(&items(2), |_batch| async move { Ok(BatchFailures { failed: vec![(0, false, "ServiceUnavailable".into())] }) }).await;
        assert!(results[0].is_err(), "a persistently failing entry must surface as an error");
    }

    #[tokio::test(start_paused = true)]
    async fn denied_and_missing_queues_fail_fast_and_transient_kinds_are_retried() {
        for (kind, expected_calls) in [
            (SqsErrorKind::Denied, 1),
            (SqsErrorKind::NotFound, 1),
            (SqsErrorKind::Invalid, 1),
            (SqsErrorKind::Throttled, MAX_ENTRY_ATTEMPTS),
            (SqsErrorKind::Unreachable, MAX_ENTRY_ATTEMPTS),
        ] {
            let calls = Arc::new(Mutex::new(0));
            let seen = calls.clone();
            let results = flush(&items(1), move |_batch| {
                *seen.lock().expect("lock") += 1;
                async move { Err::<BatchFailures, _>(SqsError::new("DeleteMessageBatch", kind, "local-jobfleet-media", "no")) }
            })
            .await;
            assert_eq!(*calls.lock().expect("lock"), expected_calls, "{kind:?}");
            assert!(matches!(&results[0], Err(AckError::Sqs(e)) if e.kind == kind), "{kind:?}");
        }
    }
}
