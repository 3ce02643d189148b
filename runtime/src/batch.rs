//! Coalesces concurrent requests into batches.
//!
//! SQS bills per request and takes up to 10 entries per batch call; Postgres
//! takes thousands of rows per statement for the cost of one. Every job task
//! submits its own item and awaits its own result, and a background task
//! groups items into one call. How long a partial batch is held open for
//! more items is the batcher's [`Linger`]. Because each caller awaits its
//! result, a drain that waits for the job tasks has also waited for their
//! acknowledgements: nothing is left in a buffer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, Sleep};

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

/// When a batch that is not full yet is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger {
    /// Held open for up to `max_delay` after its first item. For calls
    /// billed per request whose callers hold nothing while they wait (SQS
    /// deletes): at low load a lone item waits, and batches stay full.
    Window,
    /// Group commit: sent at once when no flush is running; while one runs,
    /// what arrives meanwhile is held until it completes, the batch is full
    /// or `max_delay` has passed. For calls on a job's latency path (the
    /// ledger's start write): a lone item pays one round trip and no timer,
    /// and under load batches still fill while the previous flush runs.
    WhileFlushing,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    pub max_items: usize,
    pub max_delay: Duration,
    /// Flushes allowed in flight at once; more than one keeps a slow call
    /// from stalling the next batch.
    pub max_concurrent_flushes: usize,
    pub linger: Linger,
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

/// A running flush. Dropped when it ends, even by a panic, so a batch held
/// open for it does not wait out its whole `max_delay`.
struct FlushSlot {
    permit: Option<OwnedSemaphorePermit>,
    flushed: Arc<Notify>,
}

impl Drop for FlushSlot {
    fn drop(&mut self) {
        // The permit first: the woken batcher checks for running flushes.
        drop(self.permit.take());
        self.flushed.notify_one();
    }
}

/// Moves what is already queued into `batch`, up to `max_items`; false once
/// every sender is gone and the queue is empty.
fn take_queued<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max_items: usize) -> bool {
    while batch.len() < max_items {
        match rx.try_recv() {
            Ok(entry) => batch.push(entry),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

async fn run<I, O, F, Fut>(mut rx: mpsc::Receiver<Entry<I, O>>, settings: BatchSettings, flush: Arc<F>)
where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<O>> + Send + 'static,
{
    let max_items = settings.max_items.max(1);
    let max_flushes = settings.max_concurrent_flushes.max(1);
    let permits = Arc::new(Semaphore::new(max_flushes));
    // Signalled when a flush ends, so a batch held open for it can go.
    let flushed = Arc::new(Notify::new());
    while let Some(first) = rx.recv().await {
        // Small at first: with group commit most batches are a few items,
        // and max_items can be hundreds of rows.
        let mut batch = Vec::with_capacity(max_items.min(16));
        batch.push(first);
        let deadline = Instant::now() + settings.max_delay;
        // Created only when the batch actually waits: a lone item under
        // group commit never touches the timer wheel.
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        loop {
            if !take_queued(&mut rx, &mut batch, max_items) || batch.len() >= max_items {
                break;
            }
            let flushing = permits.available_permits() < max_flushes;
            if settings.linger == Linger::WhileFlushing && !flushing {
                break;
            }
            let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            tokio::select! {
                biased;
                entry = rx.recv() => match entry {
                    Some(entry) => batch.push(entry),
                    None => break,
                },
                () = flushed.notified(), if settings.linger == Linger::WhileFlushing => {}
                () = timer.as_mut() => break,
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        // Whatever arrived while every flush slot was busy rides along.
        take_queued(&mut rx, &mut batch, max_items);
        let flush = flush.clone();
        let slot = FlushSlot { permit: Some(permit), flushed: flushed.clone() };
        // Boxed so the task cell holds a pointer, not the flush future.
        tokio::spawn(Box::pin(async move {
            let (items, replies): (Vec<I>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
            let outputs = flush(items).await;
            debug_assert_eq!(outputs.len(), replies.len());
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(output);
            }
            drop(slot);
        }));
    }
}

#[cfg(test)]
/// Every test runs on tokio's paused clock: time moves only when all tasks
/// wait on timers, straight to the next deadline, so "held for max_delay"
/// and "sent at once, not after max_delay" are exact, not races with a
/// loaded machine.
mod tests {
    use std::sync::Mutex;
    use std::task::Poll;

    use super::*;

    fn settings(linger: Linger, max_items: usize, max_delay: Duration, max_concurrent_flushes: usize) -> BatchSettings {
        BatchSettings { max_items, max_delay, max_concurrent_flushes, linger }
    }

    /// A batcher whose flushes report their items on `started` and then
    /// wait for a permit on `gate` before answering.
    fn gated(settings: BatchSettings) -> (Batcher<u32, u32>, mpsc::UnboundedReceiver<Vec<u32>>, Arc<Semaphore>) {
        let (tx, started) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let g = gate.clone();
        let batcher = Batcher::spawn("gated", settings, move |items: Vec<u32>| {
            let (tx, gate) = (tx.clone(), g.clone());
            async move {
                let _ = tx.send(items.clone());
                gate.acquire().await.expect("gate open").forget();
                items
            }
        });
        (batcher, started, gate)
    }

    /// Polls a submission once: its item is then in the batcher's queue.
    async fn enqueue<F: Future + Unpin>(submission: &mut F) {
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *submission).poll(cx).is_pending())).await;
        assert!(polled, "a submission cannot complete before its batch is flushed");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_submissions_share_batches_and_each_gets_its_own_result() {
        for linger in [Linger::Window, Linger::WhileFlushing] {
            let sizes = Arc::new(Mutex::new(Vec::new()));
            let seen = sizes.clone();
            let batcher = Batcher::spawn("test", settings(linger, 10, Duration::from_millis(50), 1), move |items: Vec<u32>| {
                seen.lock().expect("lock").push(items.len());
                async move { items.into_iter().map(|i| i * 2).collect::<Vec<_>>() }
            });
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
            assert!(sizes.iter().all(|&n| n <= 10), "{linger:?}: {sizes:?}");
            assert!(sizes.len() < 25, "{linger:?}: expected batching, got {sizes:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn group_commit_sends_a_lone_item_without_waiting_for_max_delay() {
        let batcher = Batcher::spawn(
            "lone",
            settings(Linger::WhileFlushing, 10, Duration::from_secs(600), 1),
            |items: Vec<u32>| async move { items },
        );
        let result = tokio::time::timeout(Duration::from_secs(60), batcher.submit(7)).await;
        assert_eq!(result.expect("flushed at once, not after max_delay").expect("flushed"), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn group_commit_holds_what_arrives_during_a_flush_up_to_max_delay() {
        let max_delay = Duration::from_millis(300);
        // Two flush slots: the second batch could go at once, so only the
        // policy holds it back.
        let (batcher, mut started, gate) = gated(settings(Linger::WhileFlushing, 10, max_delay, 2));
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.submit(1).await }
        });
        assert_eq!(started.recv().await, Some(vec![1]));
        let queued_at = Instant::now();
        let (mut second, mut third) = (Box::pin(batcher.submit(2)), Box::pin(batcher.submit(3)));
        enqueue(&mut second).await;
        enqueue(&mut third).await;
        // The first flush never ends here, so the batch goes at max_delay.
        assert_eq!(started.recv().await, Some(vec![2, 3]));
        // Paused time: the clock only moves to the batcher's own timer (at
        // the timer wheel's 1 ms resolution).
        let waited = queued_at.elapsed();
        assert!((max_delay..max_delay + Duration::from_millis(2)).contains(&waited), "sent after {waited:?}, not at max_delay");
        gate.add_permits(2);
        assert_eq!(first.await.expect("task").expect("flushed"), 1);
        assert_eq!(second.await.expect("flushed"), 2);
        assert_eq!(third.await.expect("flushed"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn group_commit_sends_the_held_batch_when_the_running_flush_ends() {
        let (batcher, mut started, gate) = gated(settings(Linger::WhileFlushing, 10, Duration::from_secs(600), 2));
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.submit(1).await }
        });
        assert_eq!(started.recv().await, Some(vec![1]));
        let mut second = Box::pin(batcher.submit(2));
        enqueue(&mut second).await;
        gate.add_permits(1);
        assert_eq!(first.await.expect("task").expect("flushed"), 1);
        let next = tokio::time::timeout(Duration::from_secs(60), started.recv()).await;
        assert_eq!(next.expect("sent when the first flush ended, not at max_delay"), Some(vec![2]));
        gate.add_permits(1);
        assert_eq!(second.await.expect("flushed"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn window_holds_a_lone_item_for_max_delay_but_sends_a_full_batch_at_once() {
        let max_delay = Duration::from_millis(200);
        let batcher = Batcher::spawn("window", settings(Linger::Window, 3, max_delay, 1), |items: Vec<u32>| async move { items });
        let submitted = Instant::now();
        assert_eq!(batcher.submit(1).await.expect("flushed"), 1);
        let waited = submitted.elapsed();
        assert!((max_delay..max_delay + Duration::from_millis(2)).contains(&waited), "a lone item went after {waited:?}, not at max_delay");

        let batcher =
            Batcher::spawn("window", settings(Linger::Window, 3, Duration::from_secs(600), 1), |items: Vec<u32>| async move { items });
        let full = futures_util::future::join_all((0..3u32).map(|i| batcher.submit(i)));
        let results = tokio::time::timeout(Duration::from_secs(60), full).await.expect("a full batch is not held");
        assert_eq!(results.into_iter().map(|r| r.expect("flushed")).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_flush_is_reported_as_closed_not_as_success() {
        for linger in [Linger::Window, Linger::WhileFlushing] {
            let batcher: Batcher<u32, u32> =
                Batcher::spawn("panicky", settings(linger, 10, Duration::from_millis(1), 1), |_items: Vec<u32>| async move {
                    panic!("flush failed")
                });
            assert!(batcher.submit(1).await.is_err());
        }
    }
}
