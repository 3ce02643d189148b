//! A FIFO pool end to end against moto's FIFO queues (run through
//! scripts/moto_sqs.py by the local stack): groups in order with a retry
//! in place, a permanent failure dead-lettered with its group, and the
//! operator commands showing and replaying it into its group. The ordering
//! under kills and at scale is the reliability suite's `fifo_groups`.

mod common;

use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{Running, TestQueues, await_status, db, envelope, eventually};
use jobfleet_contract::{Job, JobContext, JobError, Pool};
use jobfleet_runtime::dispatch::catalog::router_for;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Step {
    group: String,
    seq: u32,
    /// Fails retryably on its first attempt.
    #[serde(default)]
    flaky: bool,
    /// Fails permanently while the handler is `broken`.
    #[serde(default)]
    fragile: bool,
}

impl Job for Step {
    const TYPE: &'static str = "test.step";
    const POOL: Option<Pool> = None;
}

#[derive(Debug, Clone)]
struct StepHandler {
    /// (group, seq) of each success, in the order they happened.
    done: Arc<Mutex<Vec<(String, u32)>>>,
    broken: Arc<AtomicBool>,
}

impl jobfleet_contract::Handler<Step> for StepHandler {
    type Output = Value;

    async fn handle(&self, job: Step, ctx: JobContext) -> Result<Value, JobError> {
        if job.flaky && ctx.attempt == 1 {
            return Err(JobError::retryable(format!("{} #{}: first attempt fails", job.group, job.seq)));
        }
        if job.fragile && self.broken.load(Ordering::SeqCst) {
            return Err(JobError::permanent("fragile", format!("{} #{} fails for good", job.group, job.seq)));
        }
        // Long enough for the next message of the group to be waiting here.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.done.lock().expect("lock").push((job.group.clone(), job.seq));
        Ok(json!({ "seq": job.seq }))
    }
}

/// Sends one group's steps in one batch, so one receive brings several
/// messages of the group to the pod.
async fn send_group(queues: &TestQueues, group: &str, steps: &[Value]) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let entries = steps
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let job = envelope(Step::TYPE, 1, payload.clone());
            ids.push(job.id);
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(job.to_json())
                .message_group_id(group)
                .message_deduplication_id(job.id.to_string())
                .build()
                .expect("entry")
        })
        .collect::<Vec<_>>();
    let out = queues.sqs.send_message_batch().queue_url(&queues.queue_url).set_entries(Some(entries)).send().await.expect("send");
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    ids
}

/// `worker <args>` with the test's FIFO pool configured.
async fn worker(queues: &TestQueues, args: &[&str]) -> Output {
    common::worker_command(env!("CARGO_BIN_EXE_worker"), queues, &[("JOBFLEET_POOLS__MEDIA__FIFO", "true")], args).await
}

async fn worker_json(queues: &TestQueues, args: &[&str]) -> Value {
    common::worker_command_json(env!("CARGO_BIN_EXE_worker"), queues, &[("JOBFLEET_POOLS__MEDIA__FIFO", "true")], args).await
}

fn of_group(done: &[(String, u32)], group: &str) -> Vec<u32> {
    done.iter().filter(|(g, _)| g == group).map(|(_, s)| *s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_pool_keeps_each_group_in_order_and_its_dead_letter_in_its_group() {
    let (queues, db) = (TestQueues::create_fifo(Pool::MEDIA).await, db().await);
    let mut config = queues.config();
    config.pools.get_mut(&Pool::MEDIA).expect("media pool").fifo = Some(true);
    let done = Arc::new(Mutex::new(Vec::new()));
    let broken = Arc::new(AtomicBool::new(true));
    let mut router = router_for(&config, queues.pool).expect("router");
    router.register::<Step, _>(StepHandler { done: done.clone(), broken: broken.clone() }).expect("register");

    // Group a: its third step fails once and is retried in place; group b:
    // its fourth step fails for good.
    let a: Vec<Value> = (0..6).map(|seq| json!({ "group": "a", "seq": seq, "flaky": seq == 2 })).collect();
    let b: Vec<Value> = (0..6).map(|seq| json!({ "group": "b", "seq": seq, "fragile": seq == 3 })).collect();
    let a_ids = send_group(&queues, "a", &a).await;
    let b_ids = send_group(&queues, "b", &b).await;
    let running = Running::start(config, router).await;

    for id in a_ids.iter().chain(b_ids.iter().filter(|id| **id != b_ids[3])) {
        await_status(&db, *id, "succeeded").await;
    }
    await_status(&db, b_ids[3], "failed").await;
    let flaky = await_status(&db, a_ids[2], "succeeded").await;
    assert_eq!(flaky.attempts, 2, "the flaky step ran twice");
    {
        let done = done.lock().expect("lock");
        assert_eq!(of_group(&done, "a"), vec![0, 1, 2, 3, 4, 5], "group a in order, its retry in place: {done:?}");
        assert_eq!(of_group(&done, "b"), vec![0, 1, 2, 4, 5], "group b goes on after its dead letter: {done:?}");
    }
    for (i, id) in a_ids.iter().enumerate().filter(|(i, _)| *i != 2) {
        let row = await_status(&db, *id, "succeeded").await;
        assert_eq!(row.attempts, 1, "a{i} was released behind a2 and delivered again, but ran once");
    }

    // The operator sees the group, and a replay puts the job back into it.
    let listed = eventually("the dead letter to be listed", Duration::from_secs(20), || async {
        let listed = worker_json(&queues, &["dlq", "list", "--pool", "media", "--json"]).await;
        (listed["count"] == 1).then_some(listed)
    })
    .await;
    let message = &listed["messages"][0];
    assert_eq!((message["job_id"].as_str(), message["group_id"].as_str()), (Some(b_ids[3].to_string().as_str()), Some("b")), "{listed}");
    let shown = worker(&queues, &["dlq", "show", "--pool", "media", &b_ids[3].to_string()]).await;
    assert!(String::from_utf8_lossy(&shown.stdout).contains("message group:   b"), "{}", String::from_utf8_lossy(&shown.stdout));

    broken.store(false, Ordering::SeqCst);
    let replayed = worker_json(&queues, &["dlq", "replay", "--pool", "media", "--id", &b_ids[3].to_string(), "--yes", "--json"]).await;
    assert_eq!(replayed["moved"], 1, "{replayed}");
    await_status(&db, b_ids[3], "succeeded").await;
    assert_eq!(of_group(&done.lock().expect("lock"), "b"), vec![0, 1, 2, 4, 5, 3], "the replay joined the end of group b");
    eventually("the FIFO DLQ to be empty", Duration::from_secs(20), || async {
        (queues.counts(&queues.dlq_url).await == (0, 0)).then_some(())
    })
    .await;
    running.stop().await;
}
