//! The operator commands (`worker queues`, `worker dlq …`) as an operator
//! runs them: the real binary against real moto and Postgres. DLQs are
//! seeded by sending messages with the dead-letter attributes directly
//! (fast), and one scenario dead-letters through a real worker.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry};
use common::{Running, TestQueues, await_status, db, envelope, eventually, job_row};
use jobfleet_contract::{Job, JobContext, JobError, Pool};
use jobfleet_runtime::dispatch::catalog::router_for;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::process::Command;
use uuid::Uuid;

fn worker_command(queues: &TestQueues) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker"));
    cmd.env("JOBFLEET_ENV", &queues.env)
        .env("JOBFLEET_LOG_FORMAT", "pretty")
        .env("RUST_LOG", "warn")
        .env_remove("JOBFLEET_POOL")
        .env_remove("JOBFLEET_QUEUE_URL")
        .env_remove("JOBFLEET_DLQ_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `worker <args>` to completion.
async fn run(queues: &TestQueues, args: &[&str]) -> Output {
    worker_command(queues).args(args).output().await.expect("the worker binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and expects success; returns stdout parsed as JSON.
async fn run_json(queues: &TestQueues, args: &[&str]) -> Value {
    let output = run(queues, args).await;
    assert!(output.status.success(), "worker {args:?} failed: {:?}\n{}", output.status, stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("worker {args:?} printed no JSON ({e}):\n{}", stdout(&output)))
}

fn string(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("attribute")
}

fn number(value: u32) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("Number").string_value(value.to_string()).build().expect("attribute")
}

/// A dead-lettered job as the worker would have left it.
#[derive(Debug, Clone)]
struct Seeded {
    id: Uuid,
    body: String,
}

/// Sends `n` messages of `job_type` to the DLQ with the worker's
/// dead-letter attributes, 10 per call.
async fn seed(queues: &TestQueues, job_type: &str, error_class: &str, n: usize) -> Vec<Seeded> {
    let failed_at = OffsetDateTime::now_utc().format(&Rfc3339).expect("format");
    let mut seeded = Vec::with_capacity(n);
    for start in (0..n).step_by(10) {
        let mut entries = Vec::new();
        for i in start..(start + 10).min(n) {
            let job = envelope(job_type, 1, json!({ "n": i }));
            let body = job.to_json();
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&body)
                    .message_attributes("error_class", string(error_class))
                    .message_attributes("error_message", string(&format!("{job_type} failed in a test")))
                    .message_attributes("failed_at", string(&failed_at))
                    .message_attributes("source_queue", string(&queues.pool.queue_name(&queues.env)))
                    .message_attributes("attempts", number(1))
                    .message_attributes("original_message_id", string(&format!("orig-{i}")))
                    .message_attributes("job_type", string(job_type))
                    .build()
                    .expect("entry"),
            );
            seeded.push(Seeded { id: job.id, body });
        }
        let out = queues.sqs.send_message_batch().queue_url(&queues.dlq_url).set_entries(Some(entries)).send().await.expect("seed the DLQ");
        assert!(out.failed.is_empty(), "seeding failed: {:?}", out.failed);
    }
    seeded
}

#[derive(Debug, Clone)]
struct Moved {
    body: String,
    attributes: HashMap<String, String>,
}

/// Receives (and deletes) everything in `url`, until `expected` are in hand.
async fn drain(queues: &TestQueues, url: &str, expected: usize) -> Vec<Moved> {
    let mut out: Vec<Moved> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < expected {
        assert!(Instant::now() < deadline, "timed out: {} of {expected} messages in {url}", out.len());
        let received = queues
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        for m in received.messages.unwrap_or_default() {
            queues.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap_or_default()).send().await.expect("delete");
            let attributes = m.message_attributes.unwrap_or_default().into_iter().filter_map(|(k, v)| Some((k, v.string_value?))).collect();
            out.push(Moved { body: m.body.unwrap_or_default(), attributes });
        }
    }
    out
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    action: String,
    actor: String,
    pool: String,
    filters: Value,
    dry_run: bool,
    matched: i64,
    moved: i64,
    skipped: i64,
    failed: i64,
    finished: bool,
    outcome: Option<String>,
}

async fn audit_row(db: &PgPool, id: i64) -> AuditRow {
    sqlx::query_as(
        "SELECT action, actor, pool, filters, dry_run, matched, moved, skipped, failed, finished, outcome FROM dlq_audit WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .expect("audit row")
}

async fn audit_rows(db: &PgPool, env: &str) -> Vec<AuditRow> {
    sqlx::query_as(
        "SELECT action, actor, pool, filters, dry_run, matched, moved, skipped, failed, finished, outcome FROM dlq_audit WHERE env = $1 ORDER BY id",
    )
    .bind(env)
    .fetch_all(db)
    .await
    .expect("audit rows")
}

fn n(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_a_type_filter_moves_only_matches_and_preserves_each_body() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let fails = seed(&queues, "diag.fail", "diag_permanent", 15).await;
    seed(&queues, "diag.noop", "diag_permanent", 7).await;

    let summary =
        run_json(&queues, &["dlq", "replay", "--pool", "media", "--type", "diag.fail", "--yes", "--json", "--actor", "oncall"]).await;
    assert_eq!(
        (n(&summary, "scanned"), n(&summary, "matched"), n(&summary, "moved"), n(&summary, "skipped"), n(&summary, "failed")),
        (22, 15, 15, 7, 0),
        "{summary}"
    );
    assert_eq!(summary["stopped"], "exhausted");
    assert_eq!(summary["groups"][0]["target"], queues.pool.queue_name(&queues.env));

    assert_eq!(queues.counts(&queues.dlq_url).await, (7, 0), "non-matching messages stay, visible again at once");
    let moved = drain(&queues, &queues.queue_url, 15).await;
    let sent: BTreeSet<&str> = fails.iter().map(|s| s.body.as_str()).collect();
    let got: BTreeSet<&str> = moved.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(got, sent, "bodies are moved byte for byte (same job ids)");
    for m in &moved {
        assert_eq!(m.attributes.get("replay_count").map(String::as_str), Some("1"), "{:?}", m.attributes);
        assert_eq!(m.attributes.get("job_type").map(String::as_str), Some("diag.fail"));
        for gone in ["error_class", "error_message", "failed_at", "source_queue", "attempts", "original_message_id"] {
            assert!(!m.attributes.contains_key(gone), "{gone} should be removed: {:?}", m.attributes);
        }
    }

    let audit = audit_row(&db, summary["audit_id"].as_i64().expect("audit id")).await;
    assert_eq!((audit.action.as_str(), audit.actor.as_str(), audit.pool.as_str()), ("replay", "oncall", "media"));
    assert_eq!((audit.matched, audit.moved, audit.skipped, audit.failed), (15, 15, 7, 0));
    assert!(audit.finished && !audit.dry_run);
    assert_eq!(audit.outcome.as_deref(), Some("exhausted"));
    assert_eq!(audit.filters["type"], "diag.fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_moves_nothing_prints_what_would_move_and_is_audited() {
    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    let fails = seed(&queues, "diag.fail", "diag_permanent", 12).await;
    seed(&queues, "diag.noop", "invalid_payload", 3).await;

    // No --yes and no TTY: a dry run needs no confirmation.
    let output = run(&queues, &["dlq", "replay", "--pool", "notifications", "--type", "diag.fail", "--dry-run"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for seeded in &fails {
        assert!(text.contains(&seeded.id.to_string()), "the dry run lists {}:\n{text}", seeded.id);
    }
    assert!(text.contains("dry run: 12 of 15 scanned would move, 3 skipped, nothing was moved"), "{text}");
    assert_eq!(queues.counts(&queues.dlq_url).await, (15, 0));
    assert_eq!(queues.counts(&queues.queue_url).await, (0, 0));

    let summary =
        run_json(&queues, &["dlq", "replay", "--pool", "notifications", "--error-class", "invalid_payload", "--dry-run", "--json"]).await;
    assert_eq!((n(&summary, "matched"), n(&summary, "moved"), n(&summary, "skipped")), (3, 0, 12));
    assert_eq!(summary["planned"].as_array().map(Vec::len), Some(3));
    assert_eq!(summary["planned"][0]["job_type"], "diag.noop");
    assert_eq!(queues.counts(&queues.dlq_url).await, (15, 0), "still nothing moved");

    let rows = audit_rows(&db, &queues.env).await;
    assert_eq!(rows.len(), 2, "both dry runs are audited");
    assert!(rows.iter().all(|r| r.dry_run && r.finished && r.moved == 0));
    assert_eq!((rows[0].matched, rows[0].skipped), (12, 3));
    assert_eq!(rows[1].filters["error_class"], "invalid_payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_and_rate_are_respected() {
    let queues = TestQueues::create(Pool::AI).await;
    seed(&queues, "diag.fail", "diag_permanent", 30).await;

    let started = Instant::now();
    let summary = run_json(&queues, &["dlq", "replay", "--pool", "ai", "--limit", "20", "--rate", "10/s", "--yes", "--json"]).await;
    let took = started.elapsed();
    assert_eq!((n(&summary, "matched"), n(&summary, "moved")), (20, 20), "{summary}");
    assert_eq!(summary["stopped"], "limit");
    // 20 messages at 10/s: the 20th may leave no earlier than 1.9 s after the first.
    assert!(took >= Duration::from_millis(1_500), "20 messages at 10/s took only {took:?}");
    assert!(summary["elapsed_secs"].as_f64().is_some_and(|s| s >= 1.5), "{summary}");
    assert_eq!(queues.counts(&queues.dlq_url).await, (10, 0));
    assert_eq!(queues.counts(&queues.queue_url).await, (20, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_send_and_delete_leaves_only_a_duplicate_the_worker_drops() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let seeded = seed(&queues, "diag.noop", "diag_permanent", 1).await;
    let id = seeded[0].id;

    // The replay "crashes" after sending, before deleting from the DLQ.
    let output = worker_command(&queues)
        .args(["dlq", "replay", "--pool", "media", "--yes", "--visibility", "2", "--json"])
        .env(jobfleet_ops::replay::CRASH_AFTER_SEND_ENV, "1")
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(86), "the simulated crash: {}", stderr(&output));
    let crashed = audit_rows(&db, &queues.env).await;
    assert_eq!(crashed.len(), 1);
    assert!(!crashed[0].finished, "a crashed run stays visible as unfinished");

    // The job runs from the main queue and succeeds…
    let running = Running::start(queues.config(), router_for(&queues.config(), queues.pool).expect("router")).await;
    let row = await_status(&db, id, "succeeded").await;
    assert_eq!((row.attempts, row.duplicate_deliveries), (1, 0));
    // …while its copy is still in the DLQ (visible once the crashed sweep's hold runs out).
    eventually("the DLQ copy to be visible again", Duration::from_secs(15), || async {
        (queues.counts(&queues.dlq_url).await == (1, 0)).then_some(())
    })
    .await;

    // Replaying again sends the duplicate; the worker drops it without running.
    let summary = run_json(&queues, &["dlq", "replay", "--pool", "media", "--yes", "--json"]).await;
    assert_eq!(n(&summary, "moved"), 1);
    let row = eventually("the duplicate to be counted", Duration::from_secs(30), || {
        let db = db.clone();
        async move { job_row(&db, id).await.filter(|r| r.duplicate_deliveries == 1) }
    })
    .await;
    assert_eq!((row.status.as_str(), row.attempts), ("succeeded", 1), "the job ran once");
    eventually("the main queue to be empty", Duration::from_secs(10), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0));
    running.stop().await;
}

/// A handler that is "broken" (fails permanently) until the fix is deployed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Render {
    page: u32,
}

impl Job for Render {
    const TYPE: &'static str = "test.render";
    const POOL: Option<Pool> = None;
}

#[derive(Debug, Clone)]
struct RenderHandler {
    broken: Arc<AtomicBool>,
}

impl jobfleet_contract::Handler<Render> for RenderHandler {
    type Output = Value;

    async fn handle(&self, job: Render, _ctx: JobContext) -> Result<Value, JobError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(JobError::permanent("bad_deploy", format!("page {} cannot render", job.page)));
        }
        Ok(json!({ "rendered": job.page }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_3am_scenario_a_bad_deploy_is_fixed_and_only_its_jobs_are_replayed() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let broken = Arc::new(AtomicBool::new(true));
    let config = queues.config();
    let mut router = router_for(&config, queues.pool).expect("router");
    router.register::<Render, _>(RenderHandler { broken: broken.clone() }).expect("register");
    let running = Running::start(config, router).await;

    // A bad deploy: every render fails permanently; an unrelated diag.fail fails too.
    let mut renders = Vec::new();
    for page in 0..5 {
        renders.push(queues.send(&envelope(Render::TYPE, 1, json!({ "page": page }))).await);
    }
    let other = queues.send(&envelope("diag.fail", 1, json!({ "mode": "permanent" }))).await;
    for id in &renders {
        await_status(&db, *id, "failed").await;
    }
    await_status(&db, other, "failed").await;
    eventually("six dead letters", Duration::from_secs(20), || async { (queues.counts(&queues.dlq_url).await == (6, 0)).then_some(()) })
        .await;

    // Why did they fail?
    let listed = run_json(&queues, &["dlq", "list", "--pool", "media", "--json"]).await;
    assert_eq!(n(&listed, "count"), 6);
    let classes: BTreeSet<&str> =
        listed["messages"].as_array().expect("messages").iter().filter_map(|m| m["error_class"].as_str()).collect();
    assert_eq!(classes, BTreeSet::from(["bad_deploy", "diag_permanent"]));
    let show = run(&queues, &["dlq", "show", "--pool", "media", &other.to_string()]).await;
    assert!(show.status.success(), "{}", stderr(&show));
    let shown = stdout(&show);
    assert!(shown.contains("error class:     diag_permanent") && shown.contains("\"mode\": \"permanent\""), "{shown}");
    assert_eq!(queues.counts(&queues.dlq_url).await, (6, 0), "looking does not move anything");

    // The fix is out. Dry run, then replay only the renders.
    broken.store(false, Ordering::SeqCst);
    let dry = run_json(&queues, &["dlq", "replay", "--pool", "media", "--type", "test.render", "--dry-run", "--json"]).await;
    assert_eq!((n(&dry, "matched"), n(&dry, "moved")), (5, 0));
    let real = run_json(&queues, &["dlq", "replay", "--pool", "media", "--type", "test.render", "--yes", "--json"]).await;
    assert_eq!((n(&real, "matched"), n(&real, "moved"), n(&real, "skipped")), (5, 5, 1));
    for (page, id) in renders.iter().enumerate() {
        let row = await_status(&db, *id, "succeeded").await;
        assert_eq!(row.attempts, 2, "failed once, then succeeded after the replay");
        assert_eq!(row.result, Some(json!({ "rendered": page })));
    }
    assert_eq!(queues.counts(&queues.dlq_url).await, (1, 0), "the unrelated failure is left alone");

    // Replaying the diag.fail by id sends it back to fail again: it returns
    // to the DLQ remembering that it was replayed once.
    let again = run_json(&queues, &["dlq", "replay", "--pool", "media", "--id", &other.to_string(), "--yes", "--json"]).await;
    assert_eq!(n(&again, "moved"), 1);
    eventually("the diag.fail to be dead-lettered again", Duration::from_secs(30), || {
        let db = db.clone();
        async move { job_row(&db, other).await.filter(|r| r.attempts == 2 && r.status == "failed") }
    })
    .await;
    let listed = eventually("it to be back in the DLQ", Duration::from_secs(20), || async {
        let listed = run_json(&queues, &["dlq", "list", "--pool", "media", "--json"]).await;
        (n(&listed, "count") == 1).then_some(listed)
    })
    .await;
    assert_eq!(listed["messages"][0]["replay_count"], 1);
    assert_eq!(listed["messages"][0]["job_id"], other.to_string());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_json_matches_the_table_and_peeking_leaves_the_queue_alone() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    let fails = seed(&queues, "diag.fail", "diag_permanent", 4).await;
    seed(&queues, "media.thumbnail", "unknown_type", 3).await;

    let output = run(&queues, &["dlq", "list", "--pool", "media"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("note: SQS has no peek"), "peeking says so on stderr: {}", stderr(&output));
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("AGE") && lines[0].contains("ERROR CLASS"), "{table}");

    let json = run_json(&queues, &["dlq", "list", "--pool", "media", "--json"]).await;
    assert_eq!(n(&json, "count"), 7);
    assert_eq!(lines.len() - 1, 7, "one table row per message:\n{table}");
    for message in json["messages"].as_array().expect("messages") {
        let id = message["job_id"].as_str().expect("job id");
        let line = lines.iter().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} not in the table:\n{table}"));
        assert!(line.contains(message["error_class"].as_str().expect("class")));
        assert!(line.contains(message["job_type"].as_str().expect("type")));
        assert_eq!(message["attempts"], 1);
        assert_eq!(message["failed_at_source"], "attribute");
    }

    let filtered = run_json(&queues, &["dlq", "list", "--pool", "media", "--type", "diag.fail", "--since", "10m", "--json"]).await;
    let ids: BTreeSet<String> =
        filtered["messages"].as_array().expect("messages").iter().map(|m| m["job_id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(ids, fails.iter().map(|s| s.id.to_string()).collect());
    let limited = run_json(&queues, &["dlq", "list", "--pool", "media", "--limit", "2", "--json"]).await;
    assert_eq!((n(&limited, "count"), limited["truncated"].as_bool()), (2, Some(true)));
    let future = run_json(&queues, &["dlq", "list", "--pool", "media", "--since", "2099-01-01T00:00:00Z", "--json"]).await;
    assert_eq!(n(&future, "count"), 0);

    assert_eq!(queues.counts(&queues.dlq_url).await, (7, 0), "every peeked message is visible again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_needs_confirmation_and_reports_the_count() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    seed(&queues, "diag.fail", "diag_permanent", 5).await;

    let refused = run(&queues, &["dlq", "purge", "--pool", "media"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("refusing to purge without confirmation"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("hint:"));
    assert_eq!(queues.counts(&queues.dlq_url).await, (5, 0), "the DLQ is untouched");
    assert!(audit_rows(&db, &queues.env).await.is_empty(), "a refused purge did nothing to audit");

    let purged = run_json(&queues, &["dlq", "purge", "--pool", "media", "--yes", "--json"]).await;
    assert_eq!(n(&purged, "approximate_count"), 5);
    eventually("the DLQ to be empty", Duration::from_secs(10), || async { (queues.counts(&queues.dlq_url).await == (0, 0)).then_some(()) })
        .await;
    let audit = audit_row(&db, purged["audit_id"].as_i64().expect("audit id")).await;
    assert_eq!((audit.action.as_str(), audit.matched, audit.finished), ("purge", 5, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_without_yes_or_a_terminal_refuses_and_moves_nothing() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    seed(&queues, "diag.fail", "diag_permanent", 3).await;
    let output = run(&queues, &["dlq", "replay", "--pool", "media"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("refusing to replay without confirmation"), "{}", stderr(&output));
    assert_eq!(queues.counts(&queues.dlq_url).await, (3, 0));
    assert_eq!(queues.counts(&queues.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_falls_back_to_the_filtered_path_where_move_tasks_are_not_implemented() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    seed(&queues, "diag.fail", "diag_permanent", 4).await;
    let output = run(&queues, &["dlq", "redrive", "--pool", "media", "--yes", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("does not implement StartMessageMoveTask"), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(summary["mode"], "filtered_fallback");
    assert_eq!(n(&summary, "moved"), 4);
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0));
    assert_eq!(queues.counts(&queues.queue_url).await, (4, 0));
    let audit = audit_row(&db, summary["audit_id"].as_i64().expect("audit id")).await;
    assert_eq!((audit.action.as_str(), audit.moved), ("redrive", 4));
    assert!(audit.outcome.as_deref().is_some_and(|o| o.starts_with("fallback replay")), "{:?}", audit.outcome);

    let status = run(&queues, &["dlq", "redrive", "--pool", "media", "--status"]).await;
    assert_eq!(status.status.code(), Some(1));
    assert!(stderr(&status).contains("does not implement ListMessageMoveTasks"), "{}", stderr(&status));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_json_reports_depths_and_missing_queues() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    for _ in 0..3 {
        queues.send(&envelope("diag.noop", 1, json!({}))).await;
    }
    seed(&queues, "diag.fail", "diag_permanent", 2).await;

    let report = run_json(&queues, &["queues", "--json"]).await;
    assert_eq!(report["version"], 1);
    assert_eq!(report["env"], queues.env);
    let pools = report["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 3);
    let media = pools.iter().find(|p| p["pool"] == "media").expect("media");
    assert_eq!((media["queue"]["status"].as_str(), media["queue"]["visible"].as_u64()), (Some("ok"), Some(3)));
    assert_eq!((media["dlq"]["status"].as_str(), media["dlq"]["visible"].as_u64()), (Some("ok"), Some(2)));
    assert_eq!(media["oldest_message_age_secs"], Value::Null);
    assert_eq!(media["dlq_oldest_age_basis"], "not_peeked");
    let ai = pools.iter().find(|p| p["pool"] == "ai").expect("ai");
    assert_eq!((ai["queue"]["status"].as_str(), ai["queue"]["visible"].as_u64()), (Some("missing"), None));

    let table = run(&queues, &["queues"]).await;
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    let media_line = text.lines().find(|l| l.starts_with("media")).unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = media_line.split_whitespace().collect();
    assert_eq!(&cells[..8], &["media", &queues.pool.queue_name(&queues.env), "3", "0", "0", "2", "0", "n/a"], "{text}");
    assert!(text.lines().any(|l| l.starts_with("ai") && l.contains("missing")), "{text}");

    let peeked = run_json(&queues, &["queues", "--pool", "media", "--peek-dlq", "--json"]).await;
    assert_eq!(peeked["pools"].as_array().map(Vec::len), Some(1));
    assert_eq!(peeked["pools"][0]["dlq_oldest_age_basis"], "exact");
    assert!(peeked["pools"][0]["dlq_oldest_message_age_secs"].as_u64().is_some_and(|age| age < 600));
    assert_eq!(queues.counts(&queues.dlq_url).await, (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_the_audit_trail_as_json_and_as_a_table() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    seed(&queues, "diag.fail", "diag_permanent", 3).await;
    run_json(&queues, &["dlq", "replay", "--pool", "media", "--dry-run", "--json", "--actor", "alice"]).await;
    run_json(&queues, &["dlq", "replay", "--pool", "media", "--limit", "1", "--yes", "--json", "--actor", "bob"]).await;

    let history = run_json(&queues, &["dlq", "history", "--pool", "media", "--json"]).await;
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["moved"].as_i64(), entries[0]["dry_run"].as_bool()),
        (Some("bob"), Some(1), Some(false))
    );
    assert_eq!(
        (entries[1]["actor"].as_str(), entries[1]["matched"].as_i64(), entries[1]["dry_run"].as_bool()),
        (Some("alice"), Some(3), Some(true))
    );
    assert_eq!(entries[0]["filters"]["limit"], 1);

    let table = run(&queues, &["dlq", "history", "--pool", "media"]).await;
    let text = stdout(&table);
    for entry in entries {
        let id = entry["id"].as_i64().expect("id").to_string();
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(id.as_str())).unwrap_or_else(|| panic!("{id}:\n{text}"));
        assert!(line.contains(entry["actor"].as_str().expect("actor")), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_what_was_tried_and_give_a_hint() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    let output = run(&queues, &["dlq", "list", "--pool", "ai"]).await;
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains(&Pool::AI.dlq_name(&queues.env)) && text.contains("\n  hint: ") && text.contains("<env>-jobfleet-<pool>"),
        "{text}"
    );

    let output = run(&queues, &["dlq", "replay", "--pool", "media", "--since", "yesterday", "--dry-run"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--since \"yesterday\""), "{}", stderr(&output));

    let output = worker_command(&queues).args(["queues"]).env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").output().await.expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("hint:") && text.contains("AWS_ENDPOINT_URL=http://127.0.0.1:9"), "{text}");
}

async fn wait_exit(child: &mut tokio::process::Child, limit: Duration) -> ExitStatus {
    tokio::time::timeout(limit, child.wait()).await.expect("the replay to exit in time").expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_replay_stops_after_the_current_batch_and_reports_exactly_what_moved() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    seed(&queues, "diag.fail", "diag_permanent", 60).await;
    let child =
        worker_command(&queues).args(["dlq", "replay", "--pool", "media", "--rate", "10/s", "--yes", "--json"]).spawn().expect("spawn");
    let pid = child.id().expect("pid").to_string();
    eventually("some messages to move", Duration::from_secs(20), || async {
        (queues.counts(&queues.queue_url).await.0 >= 10).then_some(())
    })
    .await;
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    let mut child = child;
    let status = wait_exit(&mut child, Duration::from_secs(20)).await;
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(child.stdout.as_mut().expect("stdout"), &mut out).await.expect("read");
    assert_eq!(status.code(), Some(130));
    let summary: Value = serde_json::from_slice(&out).expect("a JSON summary even when interrupted");
    assert_eq!(summary["stopped"], "interrupted");
    let moved = n(&summary, "moved");
    assert!((10..60).contains(&moved), "{summary}");
    assert_eq!(queues.counts(&queues.queue_url).await, (moved, 0), "the summary says exactly what moved");
    assert_eq!(queues.counts(&queues.dlq_url).await, (60 - moved, 0), "nothing lost, nothing doubled, nothing left hidden");
    let audit = audit_row(&db, summary["audit_id"].as_i64().expect("audit id")).await;
    assert_eq!((audit.moved as u64, audit.finished, audit.outcome.as_deref()), (moved, true, Some("interrupted")));
}
