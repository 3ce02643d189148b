//! The job contract end to end, against real moto (SQS, S3) and Postgres:
//! the producer SDK (single, batch, delayed, FIFO), the claim check through
//! S3, payload versions, the ledger's status reads and its retention.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use common::{Running, TestQueues, await_status, db, envelope, eventually, isolated_db};
use jobfleet_contract::producer::{Client, ClientConfig, EnqueueError, EnqueueOptions};
use jobfleet_contract::{Job, JobContext, JobError, Pool};
use jobfleet_runtime::dispatch::catalog::router_for;
use jobfleet_runtime::store::records;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// A job whose handler reports what payload it received.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Blob {
    data: String,
}

impl Job for Blob {
    const TYPE: &'static str = "test.blob";
    const POOL: Option<Pool> = None;
}

async fn blob(job: Blob, _ctx: JobContext) -> Result<Value, JobError> {
    Ok(json!({ "bytes": job.data.len(), "first": job.data.chars().next(), "last": job.data.chars().last() }))
}

async fn s3() -> aws_sdk_s3::Client {
    let sdk = jobfleet_contract::aws::load_sdk_config().await;
    jobfleet_contract::aws::s3_client(&sdk)
}

async fn bucket(s3: &aws_sdk_s3::Client, env: &str) -> String {
    let name = format!("{env}-claims");
    s3.create_bucket().bucket(&name).send().await.expect("create bucket");
    name
}

async fn producer(queues: &TestQueues, config: ClientConfig) -> Client {
    Client::new(queues.sqs.clone(), s3().await, config)
}

async fn object_exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mebibyte_payload_travels_through_s3_and_is_deleted_after_success() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let s3 = s3().await;
    let bucket = bucket(&s3, &queues.env).await;
    let client = producer(&queues, ClientConfig::new(&queues.env).with_claim_check_bucket(&bucket)).await;

    let data = format!("a{}z", "m".repeat(1024 * 1024 - 2));
    let options = EnqueueOptions { pool: Some(Pool::MEDIA), ..EnqueueOptions::default() };
    let sent = client.enqueue_with(&Blob { data }, options).await.expect("enqueue");
    assert!(sent.claim_checked, "a 1 MiB payload must go through S3");
    let key = format!("{}{}.json", jobfleet_contract::claim_check::DEFAULT_PREFIX, sent.id);
    assert!(object_exists(&s3, &bucket, &key).await, "payload stored at {key}");

    let config = queues.config();
    let mut router = router_for(&config, queues.pool).expect("router");
    router.register::<Blob, _>(blob).expect("register");
    let worker = Running::start(config, router).await;
    let row = await_status(&db, sent.id, "succeeded").await;
    assert_eq!(row.result, Some(json!({ "bytes": 1024 * 1024, "first": "a", "last": "z" })));
    eventually("the claim-checked object to be deleted", Duration::from_secs(20), || async {
        (!object_exists(&s3, &bucket, &key).await).then_some(())
    })
    .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_claim_check_object_and_an_unknown_version_are_dead_lettered_with_their_class() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let s3 = s3().await;
    let bucket = bucket(&s3, &queues.env).await;
    let mut dangling = envelope("diag.noop", 1, json!({}));
    dangling.payload = None;
    dangling.payload_ref = Some(format!("s3://{bucket}/claim-check/{}.json", dangling.id));
    let future = envelope("diag.noop", 7, json!({}));
    queues.send(&dangling).await;
    queues.send(&future).await;

    let worker = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    let dead = queues.dead_letters(2).await;
    let class_of = |id: Uuid| dead.iter().find(|d| d.body.contains(&id.to_string())).map(|d| d.attr("error_class").to_owned());
    assert_eq!(class_of(dangling.id).as_deref(), Some("payload_unavailable"));
    assert_eq!(class_of(future.id).as_deref(), Some("unknown_version"));
    let reason = dead.iter().find(|d| d.body.contains(&future.id.to_string())).map(|d| d.attr("error_message").to_owned());
    assert!(reason.as_deref().is_some_and(|r| r.contains("diag.noop") && r.contains("version 7")), "{reason:?}");
    assert_eq!(await_status(&db, future.id, "failed").await.last_error_class.as_deref(), Some("unknown_version"));
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_sends_batches_delays_and_refuses_what_sqs_would() {
    let queues = TestQueues::create(Pool::NOTIFICATIONS).await;
    let client = producer(&queues, ClientConfig::new(&queues.env)).await;
    let sms = |i: usize| jobfleet_handlers::notifications::Sms {
        phone_number: "+14155550100".into(),
        message: format!("code {i}"),
        kind: Default::default(),
        sender_id: None,
    };
    let jobs: Vec<_> = (0..23).map(sms).collect();
    let results = client.enqueue_batch(&jobs, EnqueueOptions::default()).await;
    let ids: Vec<Uuid> = results.into_iter().map(|r| r.expect("every entry sent").id).collect();
    assert_eq!(ids.len(), 23);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 23, "each job gets its own id");
    eventually("23 messages on the queue", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await.0 == 23).then_some(())
    })
    .await;

    let delayed = client.enqueue_delayed(&sms(99), Duration::from_secs(60)).await.expect("delayed");
    let attrs = queues
        .sqs
        .get_queue_attributes()
        .queue_url(&queues.queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    assert_eq!(attrs.get(&QueueAttributeName::ApproximateNumberOfMessagesDelayed).map(String::as_str), Some("1"), "{delayed:?}");

    let too_late = client.enqueue_delayed(&sms(1), Duration::from_secs(901)).await;
    assert!(matches!(too_late, Err(EnqueueError::DelayTooLong { .. })), "{too_late:?}");
    let huge = sms(2);
    let huge = jobfleet_handlers::notifications::Sms { message: "x".repeat(300 * 1024), ..huge };
    let refused = client.enqueue(&huge).await;
    assert!(matches!(refused, Err(EnqueueError::TooLarge { .. })), "without a bucket, oversize is refused: {refused:?}");
    let noop = client.enqueue(&jobfleet_handlers::diag::Noop {}).await;
    assert!(matches!(noop, Err(EnqueueError::NoPool { .. })), "{noop:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_queues_get_group_and_deduplication_ids() {
    let sqs = common::sqs().await;
    let env = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let url = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", Pool::AI.queue_name(&env)))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create FIFO queue")
        .queue_url
        .expect("url");
    let client = Client::new(sqs.clone(), s3().await, ClientConfig::new(&env));
    let job = jobfleet_handlers::inference::Inference::Embeddings(jobfleet_handlers::inference::EmbeddingsRequest {
        input: json!("hello"),
        model: None,
        params: Default::default(),
    });
    let options = EnqueueOptions { message_group_id: Some("tenant-7".into()), ..EnqueueOptions::default() };
    let first = client.enqueue_with(&job, options.clone()).await.expect("enqueue on FIFO");
    assert_eq!(first.queue_url, url, "the .fifo queue is found by pool");
    let delayed = client.enqueue_delayed(&job, Duration::from_secs(5)).await;
    assert!(matches!(delayed, Err(EnqueueError::DelayOnFifo { .. })), "{delayed:?}");

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    let attributes = received.first().and_then(|m| m.attributes.clone()).expect("one message");
    assert_eq!(attributes.get(&MessageSystemAttributeName::MessageGroupId).map(String::as_str), Some("tenant-7"));
    assert_eq!(
        attributes.get(&MessageSystemAttributeName::MessageDeduplicationId).map(String::as_str),
        Some(first.id.to_string().as_str())
    );
}

/// On a standard queue the group id is the job's tenant (fair pools): sent
/// as `MessageGroupId`, with no deduplication id; without one, no group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_goes_out_as_the_group_of_a_standard_queues_message() {
    let queues = TestQueues::create(Pool::AI).await;
    let client = Client::new(queues.sqs.clone(), s3().await, ClientConfig::new(&queues.env));
    let job = jobfleet_handlers::inference::Inference::Embeddings(jobfleet_handlers::inference::EmbeddingsRequest {
        input: json!("hello"),
        model: None,
        params: Default::default(),
    });
    let fair = client.enqueue_with(&job, EnqueueOptions::for_tenant("customer-42")).await.expect("enqueue with a tenant");
    let results = client.enqueue_batch(std::slice::from_ref(&job), EnqueueOptions::for_tenant("customer-7")).await;
    let batched = results.into_iter().next().expect("one result").expect("batch enqueue with a tenant");
    let plain = client.enqueue(&job).await.expect("enqueue without");
    assert_eq!(fair.queue_url, queues.queue_url, "the standard queue");

    let mut groups = std::collections::HashMap::new();
    for taken in queues.take_envelopes(3).await {
        assert_eq!(taken.dedup, None, "no dedup id on a standard queue");
        groups.insert(taken.id, taken.group);
    }
    assert_eq!(groups[&fair.id.to_string()].as_deref(), Some("customer-42"));
    assert_eq!(groups[&batched.id.to_string()].as_deref(), Some("customer-7"));
    assert_eq!(groups[&plain.id.to_string()], None);
}

/// `priority_queue` sends to the pool's priority queue by name; a name with
/// no queue is refused naming the queue looked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_to_the_priority_queue_it_names() {
    let queues = TestQueues::create(Pool::AI).await;
    let high = queues
        .sqs
        .create_queue()
        .queue_name(format!("{}-high", Pool::AI.queue_name(&queues.env)))
        .send()
        .await
        .expect("create the priority queue")
        .queue_url
        .expect("url");
    let client = Client::new(queues.sqs.clone(), s3().await, ClientConfig::new(&queues.env));
    let job = jobfleet_handlers::inference::Inference::Embeddings(jobfleet_handlers::inference::EmbeddingsRequest {
        input: json!("hello"),
        model: None,
        params: Default::default(),
    });
    let urgent = EnqueueOptions { priority_queue: Some("high".into()), ..EnqueueOptions::default() };
    let sent = client.enqueue_with(&job, urgent.clone()).await.expect("enqueue to the priority queue");
    assert_eq!(sent.queue_url, high);
    let batch = client.enqueue_batch(std::slice::from_ref(&job), urgent).await;
    assert_eq!(batch[0].as_ref().expect("batch enqueue").queue_url, high);
    assert_eq!(queues.counts(&high).await.0, 2);
    assert_eq!(queues.counts(&queues.queue_url).await.0, 0, "nothing in the pool's own queue");
    let missing = client.enqueue_with(&job, EnqueueOptions { priority_queue: Some("bulk".into()), ..EnqueueOptions::default() }).await;
    assert!(matches!(&missing, Err(EnqueueError::QueueNotFound { name }) if name.ends_with("-jobfleet-ai-bulk")), "{missing:?}");
}

async fn insert_job(db: &PgPool, status: &str, finished_days_ago: Option<i32>) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, enqueued_at, started_at, finished_at, updated_at,
                           last_error_class, last_error_message, result)
         VALUES ($1, 'diag.noop', 'media', $2, 1, $1::text, now() - interval '41 days', now() - interval '41 days',
                 now() - make_interval(days => $3), now() - make_interval(days => COALESCE($3, 0)),
                 CASE WHEN $2 = 'failed' THEN 'diag_permanent' END, CASE WHEN $2 = 'failed' THEN 'boom' END,
                 CASE WHEN $2 = 'succeeded' THEN '{\"ok\": true}'::jsonb END)",
    )
    .bind(id)
    .bind(status)
    .bind(finished_days_ago)
    .execute(db)
    .await
    .expect("insert job");
    id
}

async fn ids_left(db: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM jobs ORDER BY id").fetch_all(db).await.expect("select")
}

#[tokio::test]
async fn prune_removes_only_finished_jobs_and_sent_outbox_rows_past_the_cutoff() {
    let (db, _) = isolated_db().await;
    let old_success = insert_job(&db, "succeeded", Some(40)).await;
    let old_dead = insert_job(&db, "dead", Some(31)).await;
    let recent_success = insert_job(&db, "succeeded", Some(29)).await;
    let old_retrying = insert_job(&db, "retrying", None).await;
    let old_running = insert_job(&db, "running", None).await;
    for (sent_days_ago, id) in [(Some(40), Uuid::now_v7()), (Some(1), Uuid::now_v7()), (None, Uuid::now_v7())] {
        let body = json!({"id": id, "type": "diag.noop", "version": 1, "created_at": "2026-01-01T00:00:00Z", "payload": {}});
        sqlx::query(
            "INSERT INTO job_outbox (job_id, pool, job_type, body, sent_at) VALUES ($1, 'media', 'diag.noop', $2, now() - make_interval(days => $3))",
        )
        .bind(id)
        .bind(body)
        .bind(sent_days_ago)
        .execute(&db)
        .await
        .expect("insert outbox row");
    }
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&db).await.expect("count");
    assert_eq!(before, 8, "5 jobs plus 3 queued rows the outbox trigger made");

    let pruned = records::prune(&db, Duration::from_secs(30 * 86_400)).await.expect("prune");
    assert_eq!((pruned.jobs, pruned.outbox), (2, 1));
    let left = ids_left(&db).await;
    for gone in [old_success, old_dead] {
        assert!(!left.contains(&gone), "{gone} should be pruned");
    }
    for kept in [recent_success, old_retrying, old_running] {
        assert!(left.contains(&kept), "{kept} must be kept");
    }
    let outbox_left: i64 = sqlx::query_scalar("SELECT count(*) FROM job_outbox").fetch_one(&db).await.expect("count");
    assert_eq!(outbox_left, 2, "the recent sent row and the unsent row stay");
    let again = records::prune(&db, Duration::from_secs(30 * 86_400)).await.expect("prune again");
    assert_eq!((again.jobs, again.outbox), (0, 0), "prune is idempotent");
}

fn worker_cli(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(args)
        .env("JOBFLEET_DATABASE_URL", url)
        .env("JOBFLEET_LOG_FORMAT", "pretty")
        .output()
        .expect("worker runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn jobs_get_and_list_read_the_ledger_and_prune_refuses_a_short_retention() {
    let (db, url) = isolated_db().await;
    let done = insert_job(&db, "succeeded", Some(1)).await;
    let failed = insert_job(&db, "failed", Some(2)).await;
    let db = Arc::new(db);

    let (code, stdout, stderr) = worker_cli(&url, &["jobs", "get", &done.to_string(), "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let row: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!((row["status"].as_str(), row["result"].clone()), (Some("succeeded"), json!({"ok": true})));

    let (code, stdout, stderr) = worker_cli(&url, &["jobs", "list", "--status", "failed", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let rows: Vec<Value> = serde_json::from_str(&stdout).expect("JSON array");
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, vec![failed.to_string().as_str()]);
    assert_eq!(rows[0]["last_error_class"], json!("diag_permanent"));

    let (code, stdout, _) = worker_cli(&url, &["jobs", "list", "--type", "diag.*"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("ID") && stdout.contains(&done.to_string()) && stdout.contains(&failed.to_string()), "{stdout}");

    let (code, _, stderr) = worker_cli(&url, &["jobs", "get", &Uuid::now_v7().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no job"), "{stderr}");
    let (code, _, stderr) = worker_cli(&url, &["jobs", "list", "--status", "finished"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("succeeded"), "the hint lists the statuses: {stderr}");
    let (code, _, stderr) = worker_cli(&url, &["jobs", "prune", "--older-than", "3d"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("14 days"), "{stderr}");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs").fetch_one(&*db).await.expect("count");
    assert_eq!(kept, 2, "a refused prune deletes nothing");
}
