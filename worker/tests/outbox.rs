//! The transactional outbox and its relay, against real Postgres and moto.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Running, TestQueues, envelope, eventually, isolated_db, job_row};
use jobfleet_contract::Pool;
use jobfleet_contract::outbox::{enqueue_tx, enqueue_tx_in_group};
use jobfleet_runtime::Config;
use jobfleet_runtime::dispatch::catalog::router_for;
use jobfleet_runtime::outbox::Relay;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn relay_for(db: &PgPool, queues: &TestQueues) -> Relay {
    let urls = HashMap::from([(queues.pool, queues.queue_url.clone())]);
    Relay::with_queue_urls(db.clone(), jobfleet_runtime::sqs::Sqs::from_env().await, urls, 50)
}

async fn outbox_jobs(db: &PgPool, pool: Pool, n: usize) -> Vec<Uuid> {
    let mut tx = db.begin().await.expect("begin");
    let mut ids = Vec::new();
    for _ in 0..n {
        let job = envelope("diag.noop", 1, json!({}));
        enqueue_tx(&mut tx, pool, &job, None).await.expect("enqueue in the transaction");
        ids.push(job.id);
    }
    tx.commit().await.expect("commit");
    ids
}

async fn pending(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_outbox WHERE sent_at IS NULL").fetch_one(db).await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_tx_commits_and_rolls_back_with_the_producers_transaction() {
    let (db, _) = isolated_db().await;
    let kept = envelope("diag.noop", 1, json!({}));
    let dropped = envelope("diag.noop", 1, json!({}));

    let mut tx = db.begin().await.expect("begin");
    enqueue_tx(&mut tx, Pool::MEDIA, &dropped, None).await.expect("insert");
    tx.rollback().await.expect("rollback");
    let mut tx = db.begin().await.expect("begin");
    enqueue_tx(&mut tx, Pool::MEDIA, &kept, None).await.expect("insert");
    tx.commit().await.expect("commit");

    assert_eq!(pending(&db).await, 1);
    let row = job_row(&db, kept.id).await.expect("the ledger shows the job at once");
    assert_eq!((row.status.as_str(), row.attempts), ("queued", 0));
    assert_eq!(job_row(&db, dropped.id).await, None, "a rolled-back enqueue leaves no trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_crash_between_send_and_mark_only_duplicates_and_each_job_runs_once() {
    let (db, url) = isolated_db().await;
    let queues = TestQueues::create(Pool::MEDIA).await;
    let ids = outbox_jobs(&db, Pool::MEDIA, 20).await;
    let relay = relay_for(&db, &queues).await;

    // The "crash": everything is sent, but the transaction that marks the
    // rows never commits (as when the process is killed).
    let claimed = relay.claim_and_send().await.expect("send");
    assert_eq!(claimed.sent(), 20);
    claimed.abandon().await.expect("rollback");
    assert_eq!(pending(&db).await, 20, "unmarked rows are pending again");
    // A restarted relay sends them again.
    assert_eq!(relay.relay_once().await.expect("relay"), 20);
    assert_eq!(pending(&db).await, 0);
    assert_eq!(queues.counts(&queues.queue_url).await.0, 40, "every job is in the queue twice");

    let config = Config { database_url: url, visibility_timeout_secs: 3, heartbeat_interval_secs: 1, ..queues.config() };
    let worker = Running::start(config.clone(), router_for(&config, Pool::MEDIA).expect("router")).await;
    for id in &ids {
        let row = eventually(&format!("job {id}: succeeded, copy seen as duplicate"), Duration::from_secs(60), || async {
            job_row(&db, *id).await.filter(|r| r.status == "succeeded" && r.duplicate_deliveries == 1)
        })
        .await;
        assert_eq!(row.attempts, 1, "job {id} ran more than once");
    }
    eventually("the queue to drain", Duration::from_secs(20), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_in_parallel_never_send_a_row_twice() {
    let (db, _) = isolated_db().await;
    let queues = TestQueues::create(Pool::NOTIFICATIONS).await;
    outbox_jobs(&db, Pool::NOTIFICATIONS, 120).await;
    let (a, b) = (relay_for(&db, &queues).await, relay_for(&db, &queues).await);

    let drain = |relay: Relay| async move {
        let mut total = 0;
        loop {
            match relay.relay_once().await.expect("relay") {
                0 => return total,
                n => total += n,
            }
        }
    };
    let (sent_a, sent_b) = tokio::join!(drain(a), drain(b));
    assert_eq!(sent_a + sent_b, 120, "a: {sent_a}, b: {sent_b}");
    assert_eq!(pending(&db).await, 0);
    assert_eq!(queues.counts(&queues.queue_url).await.0, 120, "each row sent exactly once");
}

/// A FIFO pool's rows go out with their `message_group_id` (a row without
/// one is its own group) and the job id as deduplication id, so a relay
/// that sends a batch again after a crash within SQS's 5 minutes does not
/// put a second copy in the group's line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_pools_rows_go_out_in_their_group_and_a_resend_is_deduplicated() {
    let (db, _) = isolated_db().await;
    let queues = TestQueues::create_fifo(Pool::MEDIA).await;
    let mut tx = db.begin().await.expect("begin");
    let mut sent = Vec::new();
    for group in [Some("order-42"), Some("order-42"), None, Some("order-42")] {
        let job = envelope("diag.noop", 1, json!({}));
        enqueue_tx_in_group(&mut tx, Pool::MEDIA, &job, None, group).await.expect("enqueue");
        sent.push((job.id, group));
    }
    tx.commit().await.expect("commit");
    let relay = relay_for(&db, &queues).await;

    // Sent, then the "crash" before the rows are marked; the restarted relay sends them again.
    let claimed = relay.claim_and_send().await.expect("send");
    assert_eq!(claimed.sent(), 4);
    claimed.abandon().await.expect("rollback");
    assert_eq!(relay.relay_once().await.expect("relay"), 4);
    assert_eq!(queues.counts(&queues.queue_url).await, (4, 0), "SQS dropped the resent copies");

    let received: Vec<(String, Option<String>, Option<String>)> =
        queues.take_envelopes(4).await.into_iter().map(|t| (t.id, t.group, t.dedup)).collect();
    for (id, group) in &sent {
        let (_, got_group, dedup) = received.iter().find(|(got, _, _)| *got == id.to_string()).expect("every job arrived");
        let expected = group.map_or_else(|| id.to_string(), str::to_owned);
        assert_eq!((got_group.as_deref(), dedup.as_deref()), (Some(expected.as_str()), Some(id.to_string().as_str())), "job {id}");
    }
    let in_group: Vec<&str> = received.iter().filter(|(_, g, _)| g.as_deref() == Some("order-42")).map(|(id, _, _)| id.as_str()).collect();
    let sent_in_group: Vec<String> = sent.iter().filter(|(_, g)| g.is_some()).map(|(id, _)| id.to_string()).collect();
    assert_eq!(in_group, sent_in_group, "the group's rows in the order they were written");
}

/// On a standard queue a row's `message_group_id` is its tenant (a fair
/// pool's share, SQS fair queues): the relay sends it as the
/// `MessageGroupId`, without a deduplication id (standard queues have none),
/// and a row without one goes out without a group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_pools_rows_go_out_with_their_tenant() {
    let (db, _) = isolated_db().await;
    let queues = TestQueues::create(Pool::MEDIA).await;
    let mut tx = db.begin().await.expect("begin");
    let mut sent = Vec::new();
    for tenant in [Some("customer-42"), None] {
        let job = envelope("diag.noop", 1, json!({}));
        enqueue_tx_in_group(&mut tx, Pool::MEDIA, &job, None, tenant).await.expect("enqueue");
        sent.push((job.id.to_string(), tenant));
    }
    tx.commit().await.expect("commit");
    assert_eq!(relay_for(&db, &queues).await.relay_once().await.expect("relay"), 2);

    let received: Vec<(String, Option<String>, Option<String>)> =
        queues.take_envelopes(2).await.into_iter().map(|t| (t.id, t.group, t.dedup)).collect();
    for (id, tenant) in &sent {
        let (_, group, dedup) = received.iter().find(|(got, _, _)| got == id).expect("every job arrived");
        assert_eq!(group.as_deref(), *tenant, "job {id}: its tenant as MessageGroupId");
        assert_eq!(dedup.as_deref(), None, "job {id}: no deduplication id on a standard queue");
    }
}
