//! Queue topologies under faults, against the real local stack (FIFO queues
//! in moto run through scripts/moto_sqs.py, Postgres) with the worker as
//! separate processes. Writes `target/reliability/fifo_groups.json` for
//! docs/RELIABILITY.md, like the scenarios in `scenarios.rs`.

#[path = "../../worker/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{TestQueues, envelope, eventually};
use jobfleet_contract::{Job, Pool};
use reliability::effects::{Ordered, install_ordered, tally};
use reliability::report::{Run, ScenarioReport, runs};
use serde_json::json;
use support::*;
use uuid::Uuid;

/// Held by each scenario for its whole run: they run one at a time, even
/// under `cargo test`'s parallel test threads. Two of them measure waits
/// and shares, and on a 2-core CI machine three worker fleets on one moto
/// measure each other: a clean-clone run once saw moto starve the fair
/// pool (64 slots, at most 43 of A's jobs running) and B's p99 wait
/// pushed to 3.16 s, over its bound, by fifo_groups and priority_queues
/// running alongside.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The scenario's turn on the machine (a tokio lock: each test has its own
/// runtime, and a scenario that panicked still hands the turn on).
async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    ALONE.lock().await
}

/// Groups × messages per group: the issue's 50 × 100.
const GROUPS: usize = 50;
const PER_GROUP: usize = 100;
/// The one message that fails for good: group 3, message 40.
const DEAD: (usize, usize) = (3, 40);
const KILLS: usize = 1;

/// About one message in 13 fails retryably on its first execution.
fn fails_first(group: usize, seq: usize) -> bool {
    (group * 7 + seq) % 13 == 5
}

fn group_name(group: usize) -> String {
    format!("g{group}")
}

/// Sends every group's messages in order (batches of 10, the groups
/// interleaved as independent producers would); returns the job ids.
async fn send_groups(queues: &TestQueues) -> BTreeMap<(usize, usize), Uuid> {
    let mut senders = tokio::task::JoinSet::new();
    for group in 0..GROUPS {
        let queues = queues.clone();
        senders.spawn(async move {
            let mut ids = Vec::new();
            for chunk in (0..PER_GROUP).collect::<Vec<_>>().chunks(10) {
                let entries = chunk
                    .iter()
                    .map(|&seq| {
                        let payload = json!({
                            "group": group_name(group),
                            "seq": seq,
                            "ms": 5 + (seq as u64 * 7) % 20,
                            "fail_attempts": u32::from(fails_first(group, seq)),
                            "permanent": (group, seq) == DEAD,
                        });
                        let job = envelope(Ordered::TYPE, 1, payload);
                        ids.push(((group, seq), job.id));
                        SendMessageBatchRequestEntry::builder()
                            .id(seq.to_string())
                            .message_body(job.to_json())
                            .message_group_id(group_name(group))
                            // The job id, as the SDK and the relay send it.
                            .message_deduplication_id(job.id.to_string())
                            .build()
                            .expect("entry")
                    })
                    .collect::<Vec<_>>();
                let out = queues
                    .sqs
                    .send_message_batch()
                    .queue_url(&queues.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("send batch");
                assert!(out.failed.is_empty(), "send failures: {:?}", out.failed);
            }
            ids
        });
    }
    senders.join_all().await.into_iter().flatten().collect()
}

/// A FIFO pool: 50 groups × 100 messages, about 8 % failing retryably once,
/// one failing permanently, through two worker processes at once (so SQS's
/// group lock between pods is exercised too), one of them killed with -9
/// mid-run while it runs a job and replaced. Asserts: each group's effects
/// strictly in order and no message started before the one ahead of it in
/// its group had its effect; none lost, none duplicated; the permanent
/// failure is in the FIFO DLQ with its group, and the rest of its group ran
/// after it, in order (a dead-lettered message does not stall its group).
/// `max_attempts` is 3 and a message is released (visibility 0) each time
/// one ahead of it in its group fails, so a retry budget counted in
/// deliveries rather than runs would dead-letter messages here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_groups() {
    let _alone = alone().await;
    let total = GROUPS * PER_GROUP;
    let injected = (0..GROUPS).flat_map(|g| (0..PER_GROUP).map(move |s| (g, s))).filter(|&(g, s)| fails_first(g, s)).count();
    let what = format!(
        "A FIFO pool: {GROUPS} message groups × {PER_GROUP} messages (5–24 ms each), {injected} failing retryably on their first run and one (group {}, message {}) permanently, through two worker processes at concurrency 16 and max_attempts 3; one worker killed with SIGKILL while running a job after a third of the effects, and replaced.",
        DEAD.0, DEAD.1
    );
    let mut results = Vec::new();
    for n in 1..=runs() {
        results.push(fifo_groups_run(n, total).await);
    }
    ScenarioReport::from_runs("fifo_groups", what, format!("{KILLS} × kill -9, {injected} retryable failures, 1 permanent"), &results)
        .save()
        .expect("save report");
}

async fn fifo_groups_run(n: u32, total: usize) -> Run {
    let (db, url) = schema().await;
    install_ordered(&db).await.expect("ordered effect table");
    let queues = TestQueues::create_fifo(Pool::MEDIA).await;
    let sending = Instant::now();
    let ids = send_groups(&queues).await;
    let sent_in = sending.elapsed();
    assert_eq!(ids.len(), total);

    let started = Instant::now();
    // The pool is FIFO by configuration, so it resolves the `.fifo` queues.
    let fifo_env = [("JOBFLEET_POOLS__MEDIA__FIFO", "true"), ("JOBFLEET_MAX_ATTEMPTS", "3")];
    let spawn = |name: String| WorkerProcess::spawn(&name, &queues, &url, &moto_endpoint(), &fifo_env);
    let other = spawn(format!("fifo-{n}-b"));
    let aim = KillAim {
        progress: "effects",
        progress_sql: "SELECT count(*) FROM rel_ordered",
        busy_sql: Some("SELECT count(*) FROM rel_executions WHERE finished_at IS NULL AND pid = $1"),
    };
    let Killed { process: replacement, last_kill, interrupted } =
        kill_repeatedly(&db, spawn(format!("fifo-{n}-a0")), KILLS, total, aim, Duration::from_secs(600), |k| {
            spawn(format!("fifo-{n}-a{k}"))
        })
        .await;
    let killed_at = last_kill.duration_since(started);

    let live = total - 1;
    eventually(&format!("{live} effects"), Duration::from_secs(900), || async {
        (count(&db, "SELECT count(*) FROM rel_ordered").await >= live as i64).then_some(())
    })
    .await;
    let elapsed = started.elapsed();
    let recovery = last_kill.elapsed();
    let dead = queues.dead_letters(1).await;
    await_queue_empty(&queues).await;
    other.stop().await;
    replacement.stop().await;

    // The permanent failure: in the FIFO DLQ, with its group.
    assert_eq!(dead.len(), 1, "exactly one message dead-lettered: {dead:?}");
    let dead_id = ids[&DEAD];
    assert!(dead[0].body.contains(&dead_id.to_string()), "the permanent failure is the one dead-lettered: {dead:?}");
    assert_eq!(dead[0].group_id.as_deref(), Some(group_name(DEAD.0).as_str()), "the DLQ copy keeps its group");
    assert_eq!(dead[0].attr("error_class"), "ordered_permanent");

    // Each group's effects, in the order they were applied: every message
    // but the dead one, once, in sequence.
    let rows: Vec<(String, i32)> =
        sqlx::query_as("SELECT grp, seq FROM rel_ordered ORDER BY n").fetch_all(&db).await.expect("ordered effects");
    let mut by_group: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (group, seq) in rows {
        by_group.entry(group).or_default().push(seq);
    }
    assert_eq!(by_group.len(), GROUPS);
    let mut out_of_order = 0;
    for group in 0..GROUPS {
        let seqs = &by_group[&group_name(group)];
        out_of_order += seqs.windows(2).filter(|w| w[1] <= w[0]).count();
        let expected: Vec<i32> = (0..PER_GROUP).filter(|&s| (group, s) != DEAD).map(|s| s as i32).collect();
        assert_eq!(seqs, &expected, "group g{group}: effects out of order, missing or doubled");
    }
    // Strictly one after another: no execution of a message started before
    // the message ahead of it in its group had its effect (or, for the dead
    // one, had finished failing).
    let overtaking: i64 = sqlx::query_scalar(
        "WITH done AS (
             SELECT grp, seq, applied_at AS at FROM rel_ordered
             UNION ALL
             SELECT $1, $2, max(e.finished_at) FROM rel_executions e WHERE e.job_id = $3)
         SELECT count(*) FROM done prev
           JOIN rel_ordered next ON next.grp = prev.grp AND next.seq = prev.seq + 1
           JOIN rel_executions e ON e.job_id = next.job_id
          WHERE e.started_at < prev.at",
    )
    .bind(group_name(DEAD.0))
    .bind(DEAD.1 as i32)
    .bind(dead_id)
    .fetch_one(&db)
    .await
    .expect("overtaking");
    assert_eq!(overtaking, 0, "a message started before the one ahead of it in its group was done");

    let live_ids: Vec<Uuid> = ids.iter().filter(|&(key, _)| *key != DEAD).map(|(_, id)| *id).collect();
    let t = tally(&db, &live_ids).await.expect("tally");
    assert_eq!(t.jobs, live as u64);
    assert_clean(&t, "fifo_groups");
    assert!(interrupted >= KILLS as i64, "the kill interrupted a running job: {interrupted}");
    assert!(t.reexecuted >= interrupted as u64, "{interrupted} interrupted jobs, but only {} re-executions: {t:?}", t.reexecuted);
    let figures = format!(
        "{GROUPS} groups × {PER_GROUP} messages: sent in {:.1} s; kill -9 at {:.1} s (interrupting {interrupted} running job(s)); all {live} effects after {:.1} s; {out_of_order} order violations, {overtaking} overtakings; the permanent failure in the FIFO DLQ with its group, the rest of its group after it, in order; queue empty, both workers drained on SIGTERM with exit 0",
        sent_in.as_secs_f64(),
        killed_at.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!("fifo_groups run {n}: {figures}; {t:?}");
    Run { tally: t, recovery_secs: Some(recovery.as_secs_f64()), notes: vec![figures] }
}

/// Tenant A's burst and tenant B's handful, for `fair_tenants`.
struct FairCase {
    name: &'static str,
    a_jobs: usize,
    b_jobs: usize,
    /// `pools.media.tenant_max_concurrency`; `None`: the default fair share.
    cap: Option<u32>,
}

/// SQS flags a noisy tenant from 30 messages in flight: the pod must hold
/// well over that many of A's (at 32, A's in-flight count hovered around
/// the threshold on a loaded machine and B waited 13 s for it).
const FAIR_CONCURRENCY: u32 = 64;
/// Every job's work time: long enough that A's burst keeps every slot busy
/// for a while, short enough for the test's time.
const FAIR_JOB_MS: u64 = 50;
/// The stated bound on tenant B's p99 queue wait while A drains (from its
/// send to its first execution). Measured well under 1 s on the
/// development machine; the bound leaves room for a CI machine three times
/// slower. Without fairness B waits for A's whole backlog (a one-off run
/// without group ids: docs/topologies.md).
const B_P99_WAIT_BOUND_SECS: f64 = 3.0;

/// Sends `n` effect jobs to `url` from 4 senders at once, in batches of
/// 10, each envelope made just before its send (the ledger's `enqueued_at`
/// is its `created_at`, the start of the queue wait), with `group` as the
/// MessageGroupId (a fair pool's tenant) when given; returns their ids.
async fn send_effects_to(queues: &TestQueues, url: &str, n: usize, group: Option<&'static str>) -> Vec<Uuid> {
    let mut senders = tokio::task::JoinSet::new();
    for part in 0..4 {
        let (sqs, url) = (queues.sqs.clone(), url.to_owned());
        let count = n / 4 + usize::from(part < n % 4);
        senders.spawn(async move {
            let mut ids = Vec::with_capacity(count);
            for start in (0..count).step_by(10) {
                let batch = effects((count - start).min(10), |_| FAIR_JOB_MS);
                ids.extend(batch.iter().map(|e| e.id));
                let entries = batch
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(e.to_json())
                            .set_message_group_id(group.map(str::to_owned))
                            .build()
                            .expect("entry")
                    })
                    .collect::<Vec<_>>();
                let out = sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("send batch");
                assert!(out.failed.is_empty(), "send failures: {:?}", out.failed);
            }
            ids
        });
    }
    senders.join_all().await.into_iter().flatten().collect()
}

/// Queue waits of `ids` as (p50, p99, max) seconds: from the envelope's
/// creation just before its send (the ledger's `enqueued_at`) to its first
/// execution.
async fn queue_waits(db: &sqlx::PgPool, ids: &[Uuid]) -> (f64, f64, f64) {
    sqlx::query_as(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY w), percentile_disc(0.99) WITHIN GROUP (ORDER BY w), max(w)
           FROM (SELECT extract(epoch FROM min(e.started_at) - j.enqueued_at)::float8 AS w
                   FROM jobs j JOIN rel_executions e ON e.job_id = j.id
                  WHERE j.id = ANY($1) GROUP BY j.id, j.enqueued_at) s",
    )
    .bind(ids)
    .fetch_one(db)
    .await
    .expect("queue waits")
}

/// The most executions of `ids` running at once (a sweep over their start
/// and finish times).
async fn peak_concurrency(db: &sqlx::PgPool, ids: &[Uuid]) -> i64 {
    sqlx::query_scalar(
        "WITH edges AS (
             SELECT started_at AS at, 1 AS d FROM rel_executions WHERE job_id = ANY($1)
             UNION ALL
             SELECT finished_at, -1 FROM rel_executions WHERE job_id = ANY($1) AND finished_at IS NOT NULL)
         SELECT COALESCE(max(running), 0)::bigint FROM (
             SELECT sum(d) OVER (ORDER BY at, d) AS running FROM edges) s",
    )
    .bind(ids)
    .fetch_one(db)
    .await
    .expect("peak concurrency")
}

/// A fair pool (`pools.media.fair`): tenant A enqueues a burst, then tenant
/// B a few jobs while A's backlog is still deep. SQS fair queues (emulated
/// by the local stack's moto, scripts/moto_sqs.py) serve B's messages ahead
/// of A's backlog once A holds ≥ 30 messages in flight, and the pod's
/// per-tenant share gives them slots. Asserts: B's p99 queue wait within
/// [`B_P99_WAIT_BOUND_SECS`]; B finished while A still had most of its
/// backlog to go (B overtook it, rather than A draining first); with a
/// configured cap, A never ran more than the cap at once and did reach it;
/// none lost or duplicated; the queue empty and the worker drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_tenants() {
    let _alone = alone().await;
    let cases = [
        FairCase { name: "fair share", a_jobs: 10_000, b_jobs: 100, cap: None },
        FairCase { name: "tenant_max_concurrency 8", a_jobs: 2_000, b_jobs: 100, cap: Some(8) },
    ];
    let what = format!(
        "A fair pool at concurrency {FAIR_CONCURRENCY} (one worker): tenant A enqueues a burst of {FAIR_JOB_MS} ms jobs, then tenant B 100 while A drains; once with the default fair share (A 10,000 jobs), once with tenant_max_concurrency 8 (A 2,000). SQS fair queues emulated by the local moto."
    );
    let mut results = Vec::new();
    for n in 1..=runs() {
        let mut notes = Vec::new();
        let mut sum = reliability::effects::Tally::default();
        for case in &cases {
            let (t, note) = fair_run(n, case).await;
            notes.push(note);
            sum += t;
        }
        results.push(Run { tally: sum, recovery_secs: None, notes });
    }
    ScenarioReport::from_runs("fair_tenants", what, "none (no faults: a fairness figure)".to_owned(), &results)
        .save()
        .expect("save report");
}

async fn fair_run(n: u32, case: &FairCase) -> (reliability::effects::Tally, String) {
    let (db, url) = schema().await;
    let queues = TestQueues::create(Pool::MEDIA).await;
    let concurrency = FAIR_CONCURRENCY.to_string();
    let cap = case.cap.map(|c| c.to_string());
    let mut env = vec![("JOBFLEET_POOLS__MEDIA__FAIR", "true"), ("JOBFLEET_CONCURRENCY", concurrency.as_str())];
    if let Some(cap) = &cap {
        env.push(("JOBFLEET_POOLS__MEDIA__TENANT_MAX_CONCURRENCY", cap.as_str()));
    }
    let worker = WorkerProcess::spawn(&format!("fair-{n}-{}", case.cap.unwrap_or(0)), &queues, &url, &moto_endpoint(), &env);

    let started = Instant::now();
    let a = send_effects_to(&queues, &queues.queue_url, case.a_jobs, Some("tenant-a")).await;
    let a_sent_in = started.elapsed();
    let backlog_at_b = queues.counts(&queues.queue_url).await.0;
    let b = send_effects_to(&queues, &queues.queue_url, case.b_jobs, Some("tenant-b")).await;
    let b_sent = Instant::now();

    eventually(&format!("tenant B's {} jobs to succeed", case.b_jobs), Duration::from_secs(300), || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE id = ANY($1) AND status = 'succeeded'")
            .bind(&b)
            .fetch_one(&db)
            .await
            .expect("B done");
        (done as usize == case.b_jobs).then_some(())
    })
    .await;
    let b_done_in = b_sent.elapsed();
    // A's effects still to come once B's last one was in.
    let a_after_b: i64 = sqlx::query_scalar(
        "SELECT $3::bigint - count(*) FROM rel_effects WHERE job_id = ANY($1)
             AND applied_at <= (SELECT max(applied_at) FROM rel_effects WHERE job_id = ANY($2))",
    )
    .bind(&a)
    .bind(&b)
    .bind(case.a_jobs as i64)
    .fetch_one(&db)
    .await
    .expect("A after B");
    let all: Vec<Uuid> = a.iter().chain(&b).copied().collect();
    await_all_succeeded(&db, all.len(), Duration::from_secs(900)).await;
    let drained_in = started.elapsed();
    drain_and_stop(&queues, worker).await;

    let (b50, b99, bmax) = queue_waits(&db, &b).await;
    let (a50, a99, _) = queue_waits(&db, &a).await;
    let a_peak = peak_concurrency(&db, &a).await;
    let t = tally(&db, &all).await.expect("tally");
    assert_eq!(t.jobs, all.len() as u64);
    assert_clean(&t, "fair_tenants");

    let figures = format!(
        "{}: A {} jobs sent in {:.1} s, {backlog_at_b} still queued when B sent {}; B's waits p50 {b50:.2} s, p99 {b99:.2} s, max {bmax:.2} s (bound {B_P99_WAIT_BOUND_SECS} s); B done {:.1} s after its send with {a_after_b} of A's effects still to come; A's waits p50 {a50:.1} s, p99 {a99:.1} s; A's peak running {a_peak}; all done after {:.1} s",
        case.name,
        case.a_jobs,
        a_sent_in.as_secs_f64(),
        case.b_jobs,
        b_done_in.as_secs_f64(),
        drained_in.as_secs_f64(),
    );
    println!("fair_tenants run {n}: {figures}; {t:?}");
    assert!(b99 <= B_P99_WAIT_BOUND_SECS, "tenant B's p99 queue wait {b99:.2} s is over the bound: {figures}");
    // B overtook A's backlog: at least half of what was queued when B was
    // sent ran after B's last job.
    assert!(a_after_b * 2 >= backlog_at_b as i64, "B did not overtake A's backlog: {figures}");
    if let Some(cap) = case.cap {
        assert!(a_peak <= i64::from(cap), "tenant A ran {a_peak} jobs at once, over its cap {cap}: {figures}");
        assert_eq!(a_peak, i64::from(cap), "tenant A never reached its cap: something else limited it: {figures}");
    }
    (t, figures)
}

/// The high queue's weight against the pool's own queue's 1.
const HIGH_WEIGHT: u32 = 4;
const PRIORITY_CONCURRENCY: u32 = 8;
const LOW_JOBS: usize = 3_000;
const HIGH_JOBS: usize = 200;
/// How long the idle polling is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

/// Creates the pool's priority queue `name` and its DLQ, as the Terraform
/// sqs module and the local stack name them; returns the queue's URL.
async fn create_priority_queue(queues: &TestQueues, name: &str) -> String {
    let base = format!("{}-{name}", queues.pool.queue_name(&queues.env));
    queues.sqs.create_queue().queue_name(format!("{base}-dlq")).send().await.expect("create the priority DLQ");
    queues.sqs.create_queue().queue_name(&base).send().await.expect("create the priority queue").queue_url.expect("url")
}

/// A pool consuming two queues under saturation: its own (weight 1) with a
/// backlog of 3,000 jobs, and `high` (weight 4) receiving a burst of 400
/// once the pool is busy. Weighted: the high queue's p99 wait stays far
/// below the low queue's, and the low queue still gets about 1/5 of the
/// job starts while the high burst runs. Strict: the low queue gets
/// (almost) none while the high queue has a backlog. Both: none lost or
/// duplicated, both queues empty, the worker drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queues() {
    let _alone = alone().await;
    let what = format!(
        "A pool at concurrency {PRIORITY_CONCURRENCY} consuming its own queue (weight 1, {LOW_JOBS} jobs of {FAIR_JOB_MS} ms) and a priority queue `high` (weight {HIGH_WEIGHT}, a burst of {HIGH_JOBS} sent once the pool is busy): three runs, one queue (the burst to the pool's own queue: the baseline), weighted, strict."
    );
    let mut results = Vec::new();
    for n in 1..=runs() {
        let mut notes = Vec::new();
        let mut sum = reliability::effects::Tally::default();
        // The same jobs through a pool with one queue: the baseline of
        // receives per job that a second queue must not multiply.
        let (t, note, baseline) = priority_run(n, "one queue", None).await;
        notes.push(note);
        sum += t;
        for mode in ["weighted", "strict"] {
            let (t, note, _) = priority_run(n, mode, Some(baseline)).await;
            notes.push(note);
            sum += t;
        }
        results.push(Run { tally: sum, recovery_secs: None, notes });
    }
    ScenarioReport::from_runs("priority_queues", what, "none (no faults: a priority figure)".to_owned(), &results)
        .save()
        .expect("save report");
}

/// `mode`: `weighted`, `strict`, or `one queue` (no priority queue; the
/// burst goes to the pool's own queue). Returns the receives per job under
/// load too, the baseline for the other modes' `baseline`.
async fn priority_run(n: u32, mode: &str, baseline: Option<f64>) -> (reliability::effects::Tally, String, f64) {
    let two_queues = baseline.is_some();
    let (db, url) = schema().await;
    let queues = TestQueues::create(Pool::MEDIA).await;
    let high_url = if two_queues { create_priority_queue(&queues, "high").await } else { queues.queue_url.clone() };
    let (concurrency, weight) = (PRIORITY_CONCURRENCY.to_string(), HIGH_WEIGHT.to_string());
    let port = free_port();
    let admin = format!("127.0.0.1:{port}");
    let mut env = vec![("JOBFLEET_ADMIN_ADDR", admin.as_str()), ("JOBFLEET_CONCURRENCY", concurrency.as_str())];
    if two_queues {
        env.extend([("JOBFLEET_POOLS__MEDIA__PRIORITY_QUEUES__HIGH__WEIGHT", weight.as_str()), ("JOBFLEET_POOLS__MEDIA__PRIORITY", mode)]);
    }
    let low = send_effects_to(&queues, &queues.queue_url, LOW_JOBS, None).await;
    let worker = WorkerProcess::spawn(&format!("priority-{n}-{}", mode.replace(' ', "-")), &queues, &url, &moto_endpoint(), &env);
    // The pool is saturated by the low queue before the burst.
    eventually("the low queue's first 200 effects", Duration::from_secs(120), || async {
        (count(&db, "SELECT count(*) FROM rel_effects").await >= 200).then_some(())
    })
    .await;
    let high = send_effects_to(&queues, &high_url, HIGH_JOBS, None).await;
    let all: Vec<Uuid> = low.iter().chain(&high).copied().collect();
    await_all_succeeded(&db, all.len(), Duration::from_secs(600)).await;
    eventually("the high queue to empty", Duration::from_secs(60), || async { (queues.counts(&high_url).await == (0, 0)).then_some(()) })
        .await;
    // Receives per job under saturation, then per second once both queues
    // are idle (each lane long-polls with one slot; the suite's wait is 1 s).
    let receives = || async {
        let (_, page) = admin_get(port, "/metrics").await.expect("the worker's metrics");
        page.lines()
            .filter(|l| l.starts_with("jobfleet_sqs_requests_total{") && l.contains(r#"operation="ReceiveMessage""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let busy_receives = receives().await;
    let idle_from = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_per_sec = (receives().await - busy_receives) / idle_from.elapsed().as_secs_f64();
    drain_and_stop(&queues, worker).await;

    let (h50, h99, _) = queue_waits(&db, &high).await;
    let (l50, l99, _) = queue_waits(&db, &low).await;
    // The high burst's window: from its first job's start to its last
    // job's start; the low queue's job starts inside it.
    let (in_window_low, in_window_high): (i64, i64) = sqlx::query_as(
        "WITH first AS (SELECT job_id, min(started_at) AS at FROM rel_executions GROUP BY job_id),
              w AS (SELECT min(at) AS lo, max(at) AS hi FROM first WHERE job_id = ANY($2))
         SELECT count(*) FILTER (WHERE job_id = ANY($1)), count(*) FILTER (WHERE job_id = ANY($2))
           FROM first, w WHERE first.at > w.lo AND first.at < w.hi",
    )
    .bind(&low)
    .bind(&high)
    .fetch_one(&db)
    .await
    .expect("window");
    let t = tally(&db, &all).await.expect("tally");
    assert_eq!(t.jobs, all.len() as u64);
    assert_clean(&t, "priority_queues");
    let low_share = in_window_low as f64 / (in_window_low + in_window_high).max(1) as f64;
    let per_job = busy_receives / all.len() as f64;
    let figures = format!(
        "{mode}: high queue waits p50 {h50:.2} s, p99 {h99:.2} s; low queue waits p50 {l50:.1} s, p99 {l99:.1} s; while the high burst ran, {in_window_high} high and {in_window_low} low job starts (low share {:.0} %); {per_job:.3} ReceiveMessage calls per job under load, {idle_per_sec:.2} per second idle ({} queue(s), 1 s long polls)",
        low_share * 100.0,
        1 + usize::from(two_queues),
    );
    println!("priority_queues run {n}: {figures}; {t:?}");
    let lanes = 1.0 + f64::from(u8::from(two_queues));
    assert!(idle_per_sec <= lanes * 1.5, "idle receives: more than one long poll per queue per wait: {figures}");
    let Some(baseline) = baseline else { return (t, figures, per_job) };
    assert!(h99 * 3.0 < l50, "the high queue's p99 wait is not well below the low queue's median: {figures}");
    // The second queue costs its probes (one long poll per wait while it is
    // drained), not a multiple of the receives per job.
    assert!(per_job <= baseline * 1.5, "receives per job under load against {baseline:.3} with one queue: {figures}");
    match mode {
        // 1 / (4 + 1) of the slots, give or take the batching.
        "weighted" => {
            assert!((0.10..=0.40).contains(&low_share), "weighted 4:1: the low queue's share while both had a backlog: {figures}")
        }
        // At most what was granted before the burst was seen: one batch.
        _ => assert!(in_window_low <= 10, "strict: the low queue ran while the high queue had a backlog: {figures}"),
    }
    (t, figures, per_job)
}
