//! Shared harness for integration tests: real moto (SQS) and real Postgres,
//! as brought up by `make stack-up`. Each test creates its own queues under
//! a unique environment name, so tests never share state.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use jobfleet_contract::{Envelope, Pool};
use jobfleet_runtime::runtime::{self, WorkerHandle};
use jobfleet_runtime::{Config, Router, Shutdown};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

pub const STACK_HINT: &str = "is the local stack up? run `make stack-up` (or `make test`)";

pub async fn sqs() -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    Client::new(&config)
}

pub async fn db() -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by .cargo/config.toml or the Makefile");
    let pool = PgPool::connect(&url).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {url}: {e}; {STACK_HINT}"));
    jobfleet_runtime::store::migrate(&pool).await.expect("migrations apply");
    pool
}

/// A pool's queue and DLQ under a unique environment name.
#[derive(Debug, Clone)]
pub struct TestQueues {
    pub env: String,
    pub pool: Pool,
    pub queue_url: String,
    pub dlq_url: String,
    pub sqs: Client,
}

impl TestQueues {
    pub async fn create(pool: Pool) -> Self {
        let sqs = sqs().await;
        let env = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let dlq_url = sqs
            .create_queue()
            .queue_name(pool.dlq_name(&env))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create DLQ: {e:?}; {STACK_HINT}"))
            .queue_url
            .expect("queue url");
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("DLQ attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("DLQ arn");
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10" }).to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(pool.queue_name(&env))
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        Self { env, pool, queue_url, dlq_url, sqs }
    }

    /// A FIFO pool's queues (`<env>-jobfleet-<pool>.fifo` and its FIFO DLQ,
    /// no content-based deduplication: senders give a deduplication id).
    pub async fn create_fifo(pool: Pool) -> Self {
        let sqs = sqs().await;
        let env = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let create = |name: String, redrive: Option<String>| {
            let sqs = sqs.clone();
            async move {
                let mut attributes = HashMap::from([(QueueAttributeName::FifoQueue, "true".to_owned())]);
                if let Some(redrive) = redrive {
                    attributes.insert(QueueAttributeName::RedrivePolicy, redrive);
                }
                sqs.create_queue()
                    .queue_name(name)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("create FIFO queue: {e:?}; {STACK_HINT}"))
                    .queue_url
                    .expect("queue url")
            }
        };
        let dlq_url = create(format!("{}.fifo", pool.dlq_name(&env)), None).await;
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("DLQ attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("DLQ arn");
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10" }).to_string();
        let queue_url = create(format!("{}.fifo", pool.queue_name(&env)), Some(redrive)).await;
        Self { env, pool, queue_url, dlq_url, sqs }
    }

    /// The other pools' queues under the same environment name, for what
    /// resolves every pool's queue at start (`worker relay`).
    pub async fn create_sibling_queues(&self) {
        for pool in Pool::BUNDLED.into_iter().filter(|p| *p != self.pool) {
            for name in [pool.queue_name(&self.env), pool.dlq_name(&self.env)] {
                self.sqs.create_queue().queue_name(name).send().await.expect("create sibling queue");
            }
        }
    }

    /// A config for fast tests: short polls, quick retries, ephemeral admin port.
    pub fn config(&self) -> Config {
        Config {
            env: self.env.clone(),
            pool: Some(self.pool),
            concurrency: 4,
            receive_wait_time_secs: 1,
            readiness_max_age_secs: 10,
            queue_metrics_interval_secs: 1,
            retry_base_delay_secs: 1,
            retry_max_delay_secs: 2,
            drain_timeout_secs: 15,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            diag_enabled: Some(true),
            log_format: jobfleet_runtime::config::LogFormat::Pretty,
            database_url: std::env::var("DATABASE_URL").expect("DATABASE_URL"),
            ..Config::default()
        }
    }

    pub async fn send_raw(&self, body: &str) -> String {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.expect("send").message_id.expect("message id")
    }

    pub async fn send(&self, envelope: &Envelope) -> Uuid {
        self.send_raw(&envelope.to_json()).await;
        envelope.id
    }

    /// (visible, in flight) as SQS reports them.
    pub async fn counts(&self, url: &str) -> (u64, u64) {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes")
            .attributes
            .unwrap_or_default();
        let get = |n: QueueAttributeName| attrs.get(&n).and_then(|v| v.parse().ok()).unwrap_or(0);
        (get(QueueAttributeName::ApproximateNumberOfMessages), get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// Receives and deletes `expected` messages of the main queue (deleting
    /// lets a FIFO group hand out its next one); returns each one's job id,
    /// MessageGroupId and MessageDeduplicationId, in receive order.
    pub async fn take_envelopes(&self, expected: usize) -> Vec<Taken> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut taken = Vec::new();
        while taken.len() < expected {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {expected} messages, got {taken:?}");
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            for m in out.messages.unwrap_or_default() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                let body: Value = serde_json::from_str(m.body().unwrap_or_default()).expect("envelope");
                let attributes = m.attributes.unwrap_or_default();
                taken.push(Taken {
                    id: body["id"].as_str().unwrap_or_default().to_owned(),
                    group: attributes.get(&MessageSystemAttributeName::MessageGroupId).cloned(),
                    dedup: attributes.get(&MessageSystemAttributeName::MessageDeduplicationId).cloned(),
                });
            }
        }
        taken
    }

    /// Reads `expected` messages from the DLQ (leaving them invisible).
    pub async fn dead_letters(&self, expected: usize) -> Vec<DeadLettered> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut found: Vec<DeadLettered> = Vec::new();
        while found.len() < expected {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {expected} DLQ messages, got {found:?}");
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(300)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive DLQ");
            for m in out.messages.unwrap_or_default() {
                let attributes =
                    m.message_attributes.unwrap_or_default().into_iter().filter_map(|(k, v)| Some((k, v.string_value?))).collect();
                let group_id = m.attributes.and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId).cloned());
                found.push(DeadLettered { body: m.body.unwrap_or_default(), attributes, group_id });
            }
        }
        found
    }
}

/// A message [`TestQueues::take_envelopes`] took off the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The envelope's id.
    pub id: String,
    pub group: Option<String>,
    pub dedup: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeadLettered {
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub group_id: Option<String>,
}

impl DeadLettered {
    pub fn attr(&self, name: &str) -> &str {
        self.attributes.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Polls `check` until it yields `Some`, or panics naming `what` after `timeout`.
/// This awaits a condition; it is not a sleep standing in for one.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A job's ledger row, as the tests look at it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRow {
    pub status: String,
    pub attempts: i32,
    pub duplicate_deliveries: i32,
    pub last_error_class: Option<String>,
    pub result: Option<Value>,
}

pub async fn job_row(db: &PgPool, id: Uuid) -> Option<JobRow> {
    sqlx::query_as("SELECT status, attempts, duplicate_deliveries, last_error_class, result FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .expect("query ledger")
}

/// Waits until the job reaches `status`, then returns its row.
pub async fn await_status(db: &PgPool, id: Uuid, status: &str) -> JobRow {
    eventually(&format!("job {id} to be {status}"), Duration::from_secs(45), || async {
        job_row(db, id).await.filter(|row| row.status == status)
    })
    .await
}

pub fn envelope(job_type: &str, version: u32, payload: Value) -> Envelope {
    Envelope {
        id: Uuid::now_v7(),
        job_type: job_type.to_owned(),
        version,
        created_at: OffsetDateTime::now_utc(),
        payload: Some(payload),
        payload_ref: None,
        traceparent: None,
        idempotency_key: None,
    }
}

/// A worker running in this process; `stop` drains it.
#[derive(Debug)]
pub struct Running {
    pub handle: WorkerHandle,
    pub shutdown: Shutdown,
}

impl Running {
    pub async fn start(config: Config, router: Router) -> Self {
        jobfleet_runtime::telemetry::init_logging(jobfleet_runtime::config::LogFormat::Pretty);
        let shutdown = Shutdown::new();
        let handle = runtime::start(config, router, shutdown.clone()).await.expect("worker starts");
        Self { handle, shutdown }
    }

    pub async fn stop(self) -> jobfleet_runtime::runtime::DrainReport {
        self.shutdown.stop.cancel();
        self.handle.wait().await
    }
}

/// A fresh schema with the migrations applied, for tests that must not see
/// other tests' rows (the outbox relay claims every pending row). Returns
/// the pool and a URL whose connections use that schema.
pub async fn isolated_db() -> (PgPool, String) {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let admin = PgPool::connect(&base).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {base}: {e}; {STACK_HINT}"));
    let schema = format!("t_{}", Uuid::new_v4().simple());
    // The name is our own UUID, never input: safe to interpolate.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let pool = PgPool::connect(&url).await.expect("connect to the schema");
    jobfleet_runtime::store::migrate(&pool).await.expect("migrations apply in the schema");
    (pool, url)
}

/// `worker <args>` (the binary at `bin`, `env!("CARGO_BIN_EXE_worker")`) as
/// an operator runs it against the test's queues: their environment, the
/// `JOBFLEET_*` settings in `settings`, no config file and no URL overrides.
pub async fn worker_command(bin: &str, queues: &TestQueues, settings: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(bin)
        .args(args)
        .env("JOBFLEET_ENV", &queues.env)
        .envs(settings.iter().copied())
        .env("JOBFLEET_LOG_FORMAT", "pretty")
        .env("RUST_LOG", "warn")
        .env_remove("JOBFLEET_CONFIG")
        .env_remove("JOBFLEET_POOL")
        .env_remove("JOBFLEET_QUEUE_URL")
        .env_remove("JOBFLEET_DLQ_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the worker binary runs")
}

/// [`worker_command`] that must succeed, its stdout parsed as JSON.
pub async fn worker_command_json(bin: &str, queues: &TestQueues, settings: &[(&str, &str)], args: &[&str]) -> Value {
    let output = worker_command(bin, queues, settings, args).await;
    assert!(output.status.success(), "worker {args:?}: {:?}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}
