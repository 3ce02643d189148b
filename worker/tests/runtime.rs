//! The runtime against real moto and Postgres: every row of DESIGN.md's
//! outcome table, heartbeats, concurrency, metrics and health.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Running, TestQueues, await_status, db, envelope, eventually, job_row};
use jobfleet_contract::{Job, JobContext, JobError, Pool};
use jobfleet_runtime::Config;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A test job whose handler records what happened to it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Probe {
    key: String,
    #[serde(default)]
    ms: u64,
    /// On the first attempt, ask to be retried after this many seconds.
    #[serde(default)]
    retry_after_first_secs: Option<u64>,
}

impl Job for Probe {
    const TYPE: &'static str = "test.probe";
    const POOL: Option<Pool> = None;
}

#[derive(Debug, Default)]
struct ProbeLog {
    /// Start and end instants of every run, per key.
    runs: Mutex<HashMap<String, Vec<(Instant, Instant)>>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl ProbeLog {
    fn runs(&self, key: &str) -> Vec<(Instant, Instant)> {
        self.runs.lock().expect("lock").get(key).cloned().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct ProbeHandler(Arc<ProbeLog>);

impl jobfleet_contract::Handler<Probe> for ProbeHandler {
    type Output = serde_json::Value;

    async fn handle(&self, job: Probe, ctx: JobContext) -> Result<serde_json::Value, JobError> {
        let log = &self.0;
        let now = log.running.fetch_add(1, Ordering::SeqCst) + 1;
        log.max_running.fetch_max(now, Ordering::SeqCst);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        log.running.fetch_sub(1, Ordering::SeqCst);
        log.runs.lock().expect("lock").entry(job.key.clone()).or_default().push((started, Instant::now()));
        match job.retry_after_first_secs {
            Some(secs) if ctx.attempt == 1 => Err(JobError::retry_after(Duration::from_secs(secs), "come back later")),
            _ => Ok(json!({ "key": job.key, "attempt": ctx.attempt })),
        }
    }
}

async fn start_with_probe(queues: &TestQueues, config: Config) -> (Running, Arc<ProbeLog>) {
    let log = Arc::new(ProbeLog::default());
    let mut router = router_for(&config, queues.pool).expect("router");
    router.register::<Probe, _>(ProbeHandler(log.clone())).expect("register probe");
    (Running::start(config, router).await, log)
}

fn probe(key: &str, ms: u64) -> jobfleet_contract::Envelope {
    envelope(Probe::TYPE, 1, json!({ "key": key, "ms": ms }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_is_recorded_then_deleted() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let (worker, log) = start_with_probe(&queues, queues.config()).await;
    let id = queues.send(&probe("ok", 0)).await;

    let row = await_status(&db, id, "succeeded").await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.result, Some(json!({ "key": "ok", "attempt": 1 })));
    eventually("the message to be deleted", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(log.runs("ok").len(), 1);
    assert!(!worker.stop().await.aborted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failure_and_panic_are_retried_then_succeed() {
    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    let worker = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    let retryable = queues.send(&envelope("diag.fail", 1, json!({ "mode": "retryable", "times": 1 }))).await;
    let panicking = queues.send(&envelope("diag.fail", 1, json!({ "mode": "panic", "times": 1 }))).await;

    for id in [retryable, panicking] {
        let row = await_status(&db, id, "succeeded").await;
        assert_eq!(row.attempts, 2, "one failure, then success");
        assert_eq!(row.result, Some(json!({ "succeeded_on_attempt": 2 })));
    }
    assert_eq!(queues.counts(&queues.dlq_url).await.0, 0, "nothing dead-lettered");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_delay_is_honoured() {
    let (queues, db) = (TestQueues::create(Pool::AI).await, db().await);
    let (worker, log) = start_with_probe(&queues, queues.config()).await;
    let id = queues.send(&envelope(Probe::TYPE, 1, json!({ "key": "later", "retry_after_first_secs": 3 }))).await;

    await_status(&db, id, "succeeded").await;
    let runs = log.runs("later");
    assert_eq!(runs.len(), 2);
    let gap = runs[1].0.duration_since(runs[0].1);
    // SQS visibility has whole-second granularity and the poll waits up to 1 s.
    assert!(gap >= Duration::from_millis(2_900), "retried after {gap:?}, before the 3 s asked for");
    assert!(gap <= Duration::from_secs(8), "retried after {gap:?}, far later than asked");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_goes_to_the_dlq_with_its_reason_and_leaves_the_queue() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let worker = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    let job = envelope("diag.fail", 1, json!({ "mode": "permanent" }));
    let id = queues.send(&job).await;

    let row = await_status(&db, id, "failed").await;
    assert_eq!(row.last_error_class.as_deref(), Some("diag_permanent"));
    let dead = queues.dead_letters(1).await;
    assert_eq!(dead[0].attr("error_class"), "diag_permanent");
    assert!(dead[0].attr("error_message").contains("asked to fail"), "{:?}", dead[0].attributes);
    assert_eq!(dead[0].attr("source_queue"), Pool::MEDIA.queue_name(&queues.env));
    assert_eq!(dead[0].attr("attempts"), "1");
    assert!(!dead[0].attr("failed_at").is_empty());
    assert_eq!(jobfleet_contract::Envelope::decode(dead[0].body.as_bytes()).map(|e| e.id).ok(), Some(id), "body kept as sent");
    eventually("the source message to be deleted", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dead_lettered_each_with_its_class_and_the_worker_keeps_going() {
    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    let worker = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    queues.send_raw("this is not json").await;
    queues.send_raw(r#"{"type": "diag.noop", "payload": {}}"#).await;
    queues.send(&envelope("media.teleport", 1, json!({}))).await;
    let unknown_version = queues.send(&envelope("diag.noop", 9, json!({}))).await;
    queues.send(&envelope("diag.sleep", 1, json!({ "ms": "soon" }))).await;
    let after = queues.send(&envelope("diag.noop", 1, json!({}))).await;

    await_status(&db, after, "succeeded").await;
    let dead = queues.dead_letters(5).await;
    let mut classes: Vec<&str> = dead.iter().map(|d| d.attr("error_class")).collect();
    classes.sort_unstable();
    assert_eq!(classes, ["invalid_envelope", "invalid_payload", "malformed_json", "unknown_type", "unknown_version"]);
    let missing = dead.iter().find(|d| d.attr("error_class") == "invalid_envelope").expect("invalid envelope");
    assert!(missing.attr("error_message").contains("missing field"), "{:?}", missing.attributes);
    let row = job_row(&db, unknown_version).await.expect("recorded");
    assert_eq!((row.status.as_str(), row.last_error_class.as_deref()), ("failed", Some("unknown_version")));
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_and_timeouts_are_dead_lettered_as_max_attempts_exceeded() {
    let (queues, db) = (TestQueues::create(Pool::AI).await, db().await);
    let config = Config { max_attempts: 2, job_timeouts_secs: [("diag.sleep".to_owned(), 1)].into(), ..queues.config() };
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;
    let failing = queues.send(&envelope("diag.fail", 1, json!({ "mode": "retryable" }))).await;
    let slow = queues.send(&envelope("diag.sleep", 1, json!({ "ms": 30_000 }))).await;

    for id in [failing, slow] {
        let row = await_status(&db, id, "dead").await;
        assert_eq!(row.attempts, 2);
        assert_eq!(row.last_error_class.as_deref(), Some("max_attempts_exceeded"));
    }
    let dead = queues.dead_letters(2).await;
    let timed_out = dead.iter().find(|d| d.attr("error_message").contains("timeout")).expect("timeout reason kept");
    assert_eq!(timed_out.attr("attempts"), "2");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_do_not_consume_the_retry_budget() {
    let (queues, db) = (TestQueues::create(Pool::AI).await, db().await);
    let config = Config { max_attempts: 3, ..queues.config() };
    let id = queues.send(&envelope("diag.fail", 1, json!({ "mode": "retryable" }))).await;
    // Three deliveries that never ran the handler, exactly what a busy
    // put-back, a ledger outage or a shutdown release leave behind: the
    // message was received and made visible again at once.
    for _ in 0..3 {
        let received = eventually("the message to be receivable", Duration::from_secs(10), || async {
            let out = queues.sqs.receive_message().queue_url(&queues.queue_url).visibility_timeout(0).send().await.ok()?;
            out.messages.filter(|m| !m.is_empty())
        })
        .await;
        assert_eq!(received.len(), 1);
    }
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;

    let row = await_status(&db, id, "dead").await;
    assert_eq!(row.attempts, 3, "all three runs of the budget, none spent by the releases");
    assert_eq!(row.last_error_class.as_deref(), Some("max_attempts_exceeded"));
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_three_visibility_timeouts_is_not_redelivered() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let config = Config { visibility_timeout_secs: 2, heartbeat_interval_secs: 1, ..queues.config() };
    let (worker, log) = start_with_probe(&queues, config).await;
    let id = queues.send(&probe("long", 6_000)).await;

    let row = await_status(&db, id, "succeeded").await;
    assert_eq!(row.attempts, 1, "redelivered while running");
    assert_eq!(log.runs("long").len(), 1);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_is_never_exceeded() {
    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    let config = Config { concurrency: 3, pollers: 2, ..queues.config() };
    let (worker, log) = start_with_probe(&queues, config).await;
    let mut ids = Vec::new();
    for i in 0..15 {
        ids.push(queues.send(&probe(&format!("c{i}"), 300)).await);
    }
    for id in ids {
        await_status(&db, id, "succeeded").await;
    }
    assert_eq!(log.max_running.load(Ordering::SeqCst), 3, "the limit is 3 and 15 jobs should reach it");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_of_a_succeeded_job_is_deleted_without_running() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let (worker, log) = start_with_probe(&queues, queues.config()).await;
    let job = probe("once", 0);
    queues.send(&job).await;
    await_status(&db, job.id, "succeeded").await;
    queues.send(&job).await;

    let row = eventually("the duplicate to be counted", Duration::from_secs(20), || async {
        job_row(&db, job.id).await.filter(|r| r.duplicate_deliveries == 1)
    })
    .await;
    assert_eq!((row.status.as_str(), row.attempts), ("succeeded", 1));
    eventually("the duplicate to be deleted", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(log.runs("once").len(), 1, "the handler ran again for a duplicate");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_are_served_on_the_admin_port() {
    let (queues, db) = (TestQueues::create(Pool::AI).await, db().await);
    let worker = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    let base = format!("http://{}", worker.handle.admin_addr);
    let id = queues.send(&envelope("diag.noop", 1, json!({}))).await;
    await_status(&db, id, "succeeded").await;

    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let response = http.get(format!("{base}{path}")).send().await.expect("admin answers");
            (response.status().as_u16(), response.text().await.expect("body"))
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    eventually("/readyz to be ready", Duration::from_secs(10), || async { (get("/readyz").await.0 == 200).then_some(()) }).await;
    let metrics = eventually("queue gauges to appear", Duration::from_secs(10), || async {
        let (_, body) = get("/metrics").await;
        body.contains("jobfleet_queue_backlog_seconds{pool=\"ai\"}").then_some(body)
    })
    .await;
    for line in [
        r#"jobfleet_jobs_total{pool="ai",job_type="diag.noop",outcome="success"}"#,
        r#"jobfleet_job_duration_seconds_bucket{pool="ai",job_type="diag.noop",outcome="success""#,
        r#"jobfleet_job_queue_wait_seconds_bucket{pool="ai",job_type="diag.noop""#,
        r#"jobfleet_jobs_in_flight{pool="ai"}"#,
        r#"jobfleet_pool_concurrency{pool="ai"} 4"#,
        r#"jobfleet_queue_messages{pool="ai",queue="main",state="visible"}"#,
        r#"jobfleet_queue_messages{pool="ai",queue="dlq",state="in_flight"}"#,
        r#"jobfleet_queue_oldest_message_age_seconds{pool="ai"}"#,
        r#"jobfleet_sqs_requests_total{operation="ReceiveMessage",result="ok"}"#,
        r#"jobfleet_sqs_requests_total{operation="DeleteMessageBatch",result="ok"}"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in /metrics:\n{metrics}");
    }

    let stopping = tokio::spawn(worker.stop());
    stopping.await.expect("drained");
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "admin port closes after the drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_copies_in_flight_at_once_run_the_handler_once() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    // A short visibility so the copy put back as "busy" returns quickly.
    let config = Config { visibility_timeout_secs: 3, heartbeat_interval_secs: 1, ..queues.config() };
    let job = probe("twice", 2_000);
    queues.send(&job).await;
    queues.send(&job).await;
    let (worker, log) = start_with_probe(&queues, config).await;

    let row = eventually("the second copy to be seen as a duplicate", Duration::from_secs(30), || async {
        job_row(&db, job.id).await.filter(|r| r.status == "succeeded" && r.duplicate_deliveries == 1)
    })
    .await;
    assert_eq!(row.attempts, 1, "the second copy must not start a second attempt while the first runs");
    assert_eq!(log.runs("twice").len(), 1);
    eventually("both copies to be deleted", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    worker.stop().await;
}

/// Counts the requests the SDK puts on the wire, its own retries included.
#[derive(Debug, Default, Clone)]
struct Transmits(Arc<AtomicUsize>);

impl aws_sdk_sqs::config::Intercept for Transmits {
    fn name(&self) -> &'static str {
        "transmits"
    }

    fn read_before_transmit(
        &self,
        _: &aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_sqs::config::RuntimeComponents,
        _: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_not_found_and_fails_fast_instead_of_being_retried() {
    use jobfleet_runtime::sqs::acker::AckError;
    use jobfleet_runtime::sqs::dead_letter::DeadLetter;
    use jobfleet_runtime::sqs::{Acker, Received, Sqs, SqsErrorKind};

    let queues = TestQueues::create(Pool::MEDIA).await;
    let gone = format!("{}-gone", queues.dlq_url);
    let transmits = Transmits::default();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let sqs =
        Sqs::from_client(aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&sdk).interceptor(transmits.clone()).build()));
    let sent = || transmits.0.load(Ordering::SeqCst);

    let message = Received {
        message_id: "m-1".into(),
        receipt_handle: "r-1".into(),
        body: "{}".into(),
        receive_count: 1,
        sent_at: None,
        received_at: std::time::SystemTime::now(),
        attributes: HashMap::new(),
        group_id: None,
    };
    let error = DeadLetter::new(sqs.clone(), gone.clone(), queues.queue_url.clone())
        .send(&message, "permanent", "boom")
        .await
        .expect_err("the DLQ does not exist");
    assert_eq!(error.kind, SqsErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains(&gone), "the error names the queue: {error}");
    assert_eq!(sent(), 1, "a missing DLQ must not be retried");

    let acker = Acker::new(sqs.clone(), gone.clone(), Duration::from_millis(5));
    match acker.delete("r-1").await {
        Err(AckError::Sqs(error)) => assert_eq!(error.kind, SqsErrorKind::NotFound, "{error}"),
        other => panic!("expected a NotFound SQS error, got {other:?}"),
    }
    assert_eq!(sent(), 2, "a delete on a missing queue must not be retried");

    let error = sqs.queue_url(&format!("{}-gone", Pool::MEDIA.queue_name(&queues.env))).await.expect_err("no such queue");
    assert_eq!(error.kind, SqsErrorKind::NotFound, "{error}");
    assert_eq!(sqs.find_queue_url("local-jobfleet-no-such-pool-xyz").await.expect("a missing queue is not an error"), None);
}
