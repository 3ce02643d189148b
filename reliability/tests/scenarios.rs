//! Crash and fault scenarios against the real local stack (moto, Postgres),
//! with the worker as a separate process that is killed, signalled and cut
//! off from its dependencies. Each scenario writes its figures to
//! `target/reliability/<scenario>.json`; `reliability-report` renders them
//! into docs/RELIABILITY.md.

#[path = "../../worker/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{STACK_HINT, TestQueues, envelope, eventually, isolated_db};
use jobs::{Job, Pool};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reliability::effects::{Effect, Tally, install, tally};
use reliability::fault_proxy::{FaultProxy, Mode};
use reliability::report::ScenarioReport;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// One effect-worker process for `queues`, on the given database URL and
/// SQS endpoint.
fn spawn_worker(queues: &TestQueues, database_url: &str, endpoint: &str, extra: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_effect-worker"));
    cmd.env("JOBFLEET_ENV", &queues.env)
        .env("JOBFLEET_POOL", queues.pool.as_str())
        .env("DATABASE_URL", database_url)
        .env("JOBFLEET_DATABASE_URL", database_url)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("JOBFLEET_CONCURRENCY", "16")
        .env("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "1")
        .env("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "10")
        .env("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "3")
        // The lease after a kill is the job timeout plus the runtime's margin;
        // a short timeout keeps recovery quick.
        .env("JOBFLEET_JOB_TIMEOUT_SECS", "5")
        .env("JOBFLEET_RETRY_BASE_DELAY_SECS", "1")
        .env("JOBFLEET_RETRY_MAX_DELAY_SECS", "2")
        .env("JOBFLEET_READINESS_MAX_AGE_SECS", "5")
        .env("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0")
        .env("JOBFLEET_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn effect-worker")
}

fn moto_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL")
}

/// Sends `n` effect jobs (batches of 10, as a producer would); returns their ids.
async fn send_effects(queues: &TestQueues, n: usize, ms: impl Fn(usize) -> u64) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    let envelopes: Vec<_> = (0..n).map(|i| envelope(Effect::TYPE, 1, json!({ "ms": ms(i) }))).collect();
    for chunk in envelopes.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(e.to_json()).build().expect("entry"))
            .collect::<Vec<_>>();
        let out = queues.sqs.send_message_batch().queue_url(&queues.queue_url).set_entries(Some(entries)).send().await.expect("send batch");
        assert!(out.failed.is_empty(), "send failures: {:?}", out.failed);
        ids.extend(chunk.iter().map(|e| e.id));
    }
    ids
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(db).await.expect("count")
}

async fn succeeded(db: &PgPool) -> i64 {
    count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'").await
}

async fn await_all_succeeded(db: &PgPool, n: usize, limit: Duration) {
    eventually(&format!("all {n} jobs to succeed"), limit, || async { (succeeded(db).await as usize >= n).then_some(()) }).await;
}

async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    eventually("the worker to exit", limit, || {
        let status = child.try_wait().expect("try_wait");
        async move { status }
    })
    .await
}

fn assert_clean(t: &Tally, scenario: &str) {
    assert_eq!(t.lost, 0, "{scenario}: lost jobs: {t:?}");
    assert_eq!(t.duplicated, 0, "{scenario}: duplicated effects: {t:?}");
    assert_eq!(t.runs_after_success, 0, "{scenario}: a job ran after its success was recorded: {t:?}");
    assert_eq!(t.overlapping, 0, "{scenario}: two attempts of a job overlapped: {t:?}");
}

async fn schema() -> (PgPool, String) {
    let (db, url) = isolated_db().await;
    install(&db).await.unwrap_or_else(|e| panic!("effect tables: {e}; {STACK_HINT}"));
    (db, url)
}

/// kill -9 of a worker mid-batch, five times over 2,000 jobs: every job's
/// effect exactly once, none lost, nothing dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loop() {
    const JOBS: usize = 2_000;
    const KILLS: usize = 5;
    let (db, url) = schema().await;
    let queues = TestQueues::create(Pool::Media).await;
    let ids = send_effects(&queues, JOBS, |i| 10 + (i as u64 * 7) % 60).await;
    let started = Instant::now();

    let mut worker = spawn_worker(&queues, &url, &moto_endpoint(), &[]);
    let mut last_kill = Instant::now();
    for k in 1..=KILLS {
        // Kill once this process has done some work: mid-batch, not at start.
        let target = (k * JOBS / (KILLS + 2)) as i64;
        eventually(&format!("{target} effects before kill {k}"), Duration::from_secs(180), || async {
            (count(&db, "SELECT count(*) FROM rel_effects").await >= target).then_some(())
        })
        .await;
        worker.kill().expect("kill -9");
        worker.wait().expect("reap");
        last_kill = Instant::now();
        worker = spawn_worker(&queues, &url, &moto_endpoint(), &[]);
    }
    await_all_succeeded(&db, JOBS, Duration::from_secs(300)).await;
    let recovery = last_kill.elapsed();
    eventually("the queue to empty", Duration::from_secs(120), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    kill(Pid::from_raw(worker.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(wait_exit(&mut worker, Duration::from_secs(30)).await.code(), Some(0), "the last worker drains and exits 0");

    let t = tally(&db, &ids).await.expect("tally");
    assert_eq!(t.jobs, JOBS as u64);
    assert_clean(&t, "kill9_loop");
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0), "nothing dead-lettered");
    assert!(t.reexecuted > 0 || t.duplicate_deliveries > 0, "five kills mid-batch should have forced some redelivery: {t:?}");
    ScenarioReport {
        scenario: "kill9_loop".into(),
        what: format!("{JOBS} effect jobs (10–70 ms) through one worker process at concurrency 16, killed with SIGKILL {KILLS} times mid-run and restarted each time."),
        runs: 1,
        faults: format!("{KILLS} × kill -9"),
        tally: t,
        recovery_secs: recovery.as_secs_f64(),
        notes: vec![
            format!("whole run {:.1} s; recovery is bounded by the killed attempts' leases (job timeout 5 s + 30 s margin)", started.elapsed().as_secs_f64()),
            "DLQ empty and queue empty at the end; the last worker drained on SIGTERM with exit 0".into(),
        ],
    }
    .save()
    .expect("save report");
}

/// Postgres cut (every connection reset, new ones refused) for 10 s mid-run:
/// no message is deleted before its outcome is recorded, and processing
/// resumes with nothing lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut() {
    const JOBS: usize = 400;
    let (db, url) = schema().await;
    let queues = TestQueues::create(Pool::Notifications).await;
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await.expect("proxy");
    let proxied = url.replacen("127.0.0.1:5432", &proxy.addr().to_string(), 1);
    assert_ne!(proxied, url, "DATABASE_URL must point at 127.0.0.1:5432 for this scenario");
    let ids = send_effects(&queues, JOBS, |_| 30).await;
    let started = Instant::now();
    let mut worker = spawn_worker(&queues, &proxied, &moto_endpoint(), &[]);

    eventually("work under way", Duration::from_secs(60), || async { (succeeded(&db).await >= 60).then_some(()) }).await;
    proxy.set(Mode::Reset);
    let cut_at = Instant::now();
    // The fault lasts 10 s; that is the scenario, not a wait for a condition.
    // Messages must not be deleted before their outcome is recorded: any
    // that were would show up below as lost jobs (no `succeeded` row).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(worker.try_wait().expect("try_wait").is_none(), "the worker survives the outage");
    proxy.set(Mode::Pass);
    let healed = Instant::now();
    await_all_succeeded(&db, JOBS, Duration::from_secs(180)).await;
    let recovery = healed.elapsed();
    eventually("the queue to empty", Duration::from_secs(120), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
    kill(Pid::from_raw(worker.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(wait_exit(&mut worker, Duration::from_secs(30)).await.code(), Some(0));

    let t = tally(&db, &ids).await.expect("tally");
    assert_clean(&t, "postgres_cut");
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0), "nothing dead-lettered");
    assert!(proxy.stats().resets.load(std::sync::atomic::Ordering::Relaxed) > 0, "the cut reset connections");
    ScenarioReport {
        scenario: "postgres_cut".into(),
        what: format!("{JOBS} effect jobs (30 ms); the worker's database connections (ledger and effect store) go through a TCP fault proxy that resets every connection, open and new, for 10 s mid-run."),
        runs: 1,
        faults: "10 s Postgres cut (RST)".into(),
        tally: t,
        recovery_secs: recovery.as_secs_f64(),
        notes: vec![
            format!("cut at {:.1} s into the run; the worker process stayed up", cut_at.duration_since(started).as_secs_f64()),
            "the queue emptied and the DLQ stayed empty".into(),
        ],
    }
    .save()
    .expect("save report");
}
