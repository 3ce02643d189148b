//! Coalesces concurrent requests into batches.
//!
//! SQS bills per request and takes up to 10 entries per batch call; Postgres
//! takes thousands of rows per statement for the cost of one. Every job task
//! submits its own item and awaits its own result, and a background task
//! groups items that arrive within `max_delay` into one call. Because each
//! caller awaits its result, a drain that waits for the job tasks has also
//! waited for their acknowledgements: nothing is left in a buffer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// The batch task is gone (the runtime is shutting down hard or the flush
/// function panicked): the item's fate is unknown, so callers must treat it
/// as not done.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the {0} batcher stopped before the item was flushed")]
pub struct BatcherClosed(pub &'static str);

type Entry<I, O> = (I, oneshot::Sender<O>);

#[derive(Debug)]
pub struct Batcher<I, O> {
    name: &'static str,
    tx: mpsc::Sender<Entry<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self { name: self.name, tx: self.tx.clone() }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    pub max_items: usize,
    pub max_delay: Duration,
    /// Flushes allowed in flight at once; more than one keeps a slow call
    /// from stalling the next batch.
    pub max_concurrent_flushes: usize,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batch task. `flush` receives 1..=max_items items and must
    /// return exactly one output per item, in order.
    pub fn spawn<F, Fut>(name: &'static str, settings: BatchSettings, flush: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(settings.max_items.max(1) * 64);
        tokio::spawn(run(rx, settings, Arc::new(flush)));
        Self { name, tx }
    }

    pub async fn submit(&self, item: I) -> Result<O, BatcherClosed> {
        let (reply, result) = oneshot::channel();
        self.tx.send((item, reply)).await.map_err(|_| BatcherClosed(self.name))?;
        result.await.map_err(|_| BatcherClosed(self.name))
    }
}

async fn run<I, O, F, Fut>(mut rx: mpsc::Receiver<Entry<I, O>>, settings: BatchSettings, flush: Arc<F>)
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<O>> + Send + 'static,
{
    let max_items = settings.max_items.max(1);
    let permits = Arc::new(Semaphore::new(settings.max_concurrent_flushes.max(1)));
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(max_items);
        batch.push(first);
        let deadline = Instant::now() + settings.max_delay;
        while batch.len() < max_items {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(entry)) => batch.push(entry),
                    Ok(None) | Err(_) => break,
                },
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let flush = flush.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<I>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
            let outputs = flush(items).await;
            debug_assert_eq!(outputs.len(), replies.len());
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(output);
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn concurrent_submissions_share_batches_and_each_gets_its_own_result() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::spawn(
            "test",
            BatchSettings { max_items: 10, max_delay: Duration::from_millis(50), max_concurrent_flushes: 1 },
            move |items: Vec<u32>| {
                seen.lock().expect("lock").push(items.len());
                async move { items.into_iter().map(|i| i * 2).collect::<Vec<_>>() }
            },
        );
        let handles: Vec<_> = (0..25u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { (i, b.submit(i).await) })
            })
            .collect();
        for handle in handles {
            let (i, result) = handle.await.expect("task");
            assert_eq!(result.expect("flushed"), i * 2);
        }
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 25);
        assert!(sizes.iter().all(|&n| n <= 10), "{sizes:?}");
        assert!(sizes.len() < 25, "expected batching, got {sizes:?}");
    }

    #[tokio::test]
    async fn a_panicking_flush_is_reported_as_closed_not_as_success() {
        let batcher: Batcher<u32, u32> = Batcher::spawn(
            "panicky",
            BatchSettings { max_items: 10, max_delay: Duration::from_millis(1), max_concurrent_flushes: 1 },
            |_items: Vec<u32>| async move { panic!("flush failed") },
        );
        assert!(batcher.submit(1).await.is_err());
    }
}
