//! A pool with a priority queue end to end against moto: a job sent to the
//! priority queue runs, one that fails for good is dead-lettered to that
//! queue's own DLQ, and the operator commands list it (`worker queues`,
//! `worker dlq list --queue`), replay it back to its queue and send jobs
//! there by hand (`worker enqueue --queue`). The sharing
//! of slots under saturation is the reliability suite's `priority_queues`.

mod common;

use std::num::NonZeroU32;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Running, TestQueues, await_status, db, envelope, eventually};
use jobfleet_contract::{Job, JobContext, JobError, Pool};
use jobfleet_runtime::config::PriorityQueueConfig;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Urgent {
    n: u32,
}

impl Job for Urgent {
    const TYPE: &'static str = "test.urgent";
    const POOL: Option<Pool> = None;
}

/// Fails for good while `broken`.
#[derive(Debug, Clone)]
struct UrgentHandler {
    broken: Arc<AtomicBool>,
}

impl jobfleet_contract::Handler<Urgent> for UrgentHandler {
    type Output = Value;

    async fn handle(&self, job: Urgent, _ctx: JobContext) -> Result<Value, JobError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(JobError::permanent("urgent_broken", format!("job {} cannot run yet", job.n)));
        }
        Ok(json!({ "n": job.n }))
    }
}

/// `worker <args>` with the test's priority queue configured.
async fn worker(queues: &TestQueues, args: &[&str]) -> Output {
    common::worker_command(env!("CARGO_BIN_EXE_worker"), queues, &[("JOBFLEET_POOLS__MEDIA__PRIORITY_QUEUES__HIGH__WEIGHT", "4")], args)
        .await
}

async fn worker_json(queues: &TestQueues, args: &[&str]) -> Value {
    common::worker_command_json(
        env!("CARGO_BIN_EXE_worker"),
        queues,
        &[("JOBFLEET_POOLS__MEDIA__PRIORITY_QUEUES__HIGH__WEIGHT", "4")],
        args,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_queue_has_its_own_dead_letters_which_the_operator_lists_and_replays() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let base = format!("{}-high", Pool::MEDIA.queue_name(&queues.env));
    let high_dlq = queues.sqs.create_queue().queue_name(format!("{base}-dlq")).send().await.expect("DLQ").queue_url.expect("url");
    let high = queues.sqs.create_queue().queue_name(&base).send().await.expect("queue").queue_url.expect("url");

    let mut config = queues.config();
    config
        .pools
        .get_mut(&Pool::MEDIA)
        .expect("media pool")
        .priority_queues
        .insert("high".to_owned(), PriorityQueueConfig { weight: NonZeroU32::new(4).expect("4"), queue_url: None, dlq_url: None });
    let broken = Arc::new(AtomicBool::new(true));
    let mut router = router_for(&config, queues.pool).expect("router");
    router.register::<Urgent, _>(UrgentHandler { broken: broken.clone() }).expect("register");
    let running = Running::start(config, router).await;

    let job = envelope(Urgent::TYPE, 1, json!({ "n": 7 }));
    queues.sqs.send_message().queue_url(&high).message_body(job.to_json()).send().await.expect("send to high");
    await_status(&db, job.id, "failed").await;
    eventually("the dead letter in the high queue's DLQ", Duration::from_secs(20), || async {
        (queues.counts(&high_dlq).await.0 == 1).then_some(())
    })
    .await;
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0), "not in the pool's own DLQ");

    let listed = worker_json(&queues, &["queues", "--pool", "media", "--json"]).await;
    let priority = &listed["pools"][0]["priority_queues"][0];
    assert_eq!((priority["name"].as_str(), priority["weight"].as_u64()), (Some("high"), Some(4)), "{listed}");
    assert_eq!(priority["dlq"]["visible"], 1, "{listed}");

    let own = worker_json(&queues, &["dlq", "list", "--pool", "media", "--json"]).await;
    assert_eq!(own["count"], 0, "the pool's own DLQ is empty: {own}");
    let dead = worker_json(&queues, &["dlq", "list", "--pool", "media", "--queue", "high", "--json"]).await;
    assert_eq!((dead["count"].as_u64(), dead["messages"][0]["job_id"].as_str()), (Some(1), Some(job.id.to_string().as_str())), "{dead}");
    assert_eq!(dead["queue"].as_str(), Some(format!("{base}-dlq").as_str()), "the listing names the DLQ it read: {dead}");

    let wrong = worker(&queues, &["dlq", "list", "--pool", "media", "--queue", "bulk"]).await;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        wrong.status.code() == Some(2) && stderr.contains("--queue bulk") && stderr.contains("high"),
        "a usage error naming the queues there are: {stderr}"
    );

    // Fixed: the replay sends it back to its own (priority) queue, where it runs.
    broken.store(false, Ordering::SeqCst);
    let replayed = worker_json(&queues, &["dlq", "replay", "--pool", "media", "--queue", "high", "--yes", "--json"]).await;
    assert_eq!((replayed["moved"].as_u64(), replayed["queue"].as_str()), (Some(1), Some(format!("{base}-dlq").as_str())), "{replayed}");
    await_status(&db, job.id, "succeeded").await;
    assert_eq!(queues.counts(&high_dlq).await, (0, 0));
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0));
    running.stop().await;

    // By hand: `worker enqueue --queue high` sends to the priority queue.
    let sent = worker(&queues, &["enqueue", "diag.noop", "--pool", "media", "--queue", "high", "--count", "2"]).await;
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert!(String::from_utf8_lossy(&sent.stderr).contains(&format!("to {base}")), "names the queue");
    // Visible or in flight: a long poll of the stopped worker that SQS had not ended yet may take one.
    let total = |(visible, in_flight): (u64, u64)| visible + in_flight;
    assert_eq!(
        (total(queues.counts(&high).await), total(queues.counts(&queues.queue_url).await)),
        (2, 0),
        "both in high, none in the pool's own"
    );
    let wrong = worker(&queues, &["enqueue", "diag.noop", "--pool", "media", "--queue", "bulk"]).await;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(wrong.status.code() == Some(2) && stderr.contains("--queue bulk") && stderr.contains("high"), "{stderr}");
}
