//! The `worker` binary as Kubernetes runs it: how fast SIGTERM ends it
//! (idle and busy), what a cut long poll costs, and readiness while every
//! slot is busy, while SQS does not answer, and while draining. Real moto
//! and Postgres; the times asserted are derived from the jobs' own ledger
//! timestamps and the process's exit, not from fixed sleeps.

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{Running, TestQueues, await_status, db, envelope, eventually, job_row};
use jobfleet_contract::Pool;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A `worker run` child process with its JSON log lines collected.
struct Worker {
    child: Option<Child>,
    admin: SocketAddr,
}

impl Worker {
    async fn spawn(queues: &TestQueues, settings: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker"));
        cmd.args(["run", "--pool", queues.pool.as_str()])
            .env("JOBFLEET_ENV", &queues.env)
            .env("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0")
            .env("JOBFLEET_DIAG_ENABLED", "true")
            .env("JOBFLEET_LOG_FORMAT", "json")
            .env("JOBFLEET_QUEUE_METRICS_INTERVAL_SECS", "60")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in settings {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().expect("spawn worker");
        let stdout = child.stdout.take().expect("piped stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("logs").push(value);
                }
            }
        });
        let admin = eventually("the worker to start", Duration::from_secs(30), || {
            let logs = logs.clone();
            async move {
                let logs = logs.lock().expect("logs");
                let started = logs.iter().find(|l| l["message"] == "worker started")?;
                started["admin_addr"].as_str()?.parse().ok()
            }
        })
        .await;
        Self { child: Some(child), admin }
    }

    fn sigterm(&self) -> (Instant, SystemTime) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        (Instant::now(), SystemTime::now())
    }

    /// Waits for the exit; the instant is taken as soon as `wait` returns.
    async fn exit(mut self, limit: Duration) -> (ExitStatus, Instant, SystemTime) {
        let mut child = self.child.take().expect("running");
        let waiting = tokio::task::spawn_blocking(move || {
            let status = child.wait().expect("wait");
            (status, Instant::now(), SystemTime::now())
        });
        tokio::time::timeout(limit, waiting).await.unwrap_or_else(|_| panic!("the worker did not exit within {limit:?}")).expect("joined")
    }

    async fn readyz(&self, http: &reqwest::Client) -> (u16, String) {
        match http.get(format!("http://{}/readyz", self.admin)).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn timestamps(db: &PgPool, id: Uuid) -> (SystemTime, Option<SystemTime>) {
    let (started, finished): (Option<OffsetDateTime>, Option<OffsetDateTime>) =
        sqlx::query_as("SELECT started_at, finished_at FROM jobs WHERE id = $1").bind(id).fetch_one(db).await.expect("job row");
    (started.expect("started").into(), finished.map(Into::into))
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn since(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => secs(d),
        Err(e) => -secs(e.duration()),
    }
}

/// Runs the messages `ids` (sent at `sent`) with a second worker and
/// returns, per message, how long after `sent` its job started. Messages a
/// cut long poll took stay invisible for one visibility timeout first.
async fn second_worker_runs(queues: &TestQueues, db: &PgPool, ids: &[Uuid], sent: SystemTime, visibility_secs: u64) -> Vec<f64> {
    let config = jobfleet_runtime::Config {
        visibility_timeout_secs: visibility_secs,
        heartbeat_interval_secs: 1.max(visibility_secs / 3),
        ..queues.config()
    };
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;
    let mut delays = Vec::new();
    for id in ids {
        await_status(db, *id, "succeeded").await;
        delays.push(since(timestamps(db, *id).await.0, sent));
    }
    worker.stop().await;
    delays
}

/// Idle: SIGTERM while the worker's 20 s long poll is in flight. The exit
/// must not wait for it (≤ 1 s). The receive SQS still holds open for the
/// gone worker may take what is sent next: those messages are hidden for
/// one visibility timeout, at most as many as that poll asked for, and then
/// a second worker runs them — nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_exits_within_a_second_of_sigterm_and_loses_nothing() {
    const VISIBILITY_SECS: u64 = 6;
    const CONCURRENCY: usize = 4;
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let worker = Worker::spawn(
        &queues,
        &[
            ("JOBFLEET_CONCURRENCY", "4"),
            ("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "20"),
            ("JOBFLEET_READINESS_MAX_AGE_SECS", "30"),
            ("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "6"),
            ("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "2"),
        ],
    )
    .await;
    // One job through, so the next long poll (issued as the job was handed
    // over, before its ledger row says succeeded) is in flight.
    let warm = queues.send(&envelope("diag.noop", 1, json!({}))).await;
    await_status(&db, warm, "succeeded").await;

    let (term_at, _) = worker.sigterm();
    let (status, exit_at, _) = worker.exit(Duration::from_secs(25)).await;
    let took = exit_at - term_at;
    assert_eq!(status.code(), Some(0), "a drain exits 0");
    assert!(took <= Duration::from_secs(1), "an idle worker took {took:?} to exit after SIGTERM");

    // Within the cut poll's remaining wait: five messages, one at a time.
    let sent = SystemTime::now();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(queues.send(&envelope("diag.noop", 1, json!({}))).await);
    }
    let (visible, hidden) = eventually("moto to count all five", Duration::from_secs(5), || async {
        let (visible, hidden) = queues.counts(&queues.queue_url).await;
        (visible + hidden == 5).then_some((visible, hidden))
    })
    .await;
    let delays = second_worker_runs(&queues, &db, &ids, sent, VISIBILITY_SECS).await;
    let late: Vec<f64> = delays.iter().copied().filter(|d| *d >= VISIBILITY_SECS as f64 - 1.0).collect();
    println!(
        "A1 idle: exit {:.3} s after SIGTERM; after the exit {hidden} of 5 messages were in flight ({visible} visible); \
         a second worker started them after {delays:?} s (visibility timeout {VISIBILITY_SECS} s)",
        secs(took)
    );
    assert!(late.len() <= CONCURRENCY, "at most one poll's worth ({CONCURRENCY}) can be hidden: {delays:?}");
    assert!(delays.iter().all(|d| *d <= VISIBILITY_SECS as f64 + 4.0), "none hidden for longer than one visibility timeout: {delays:?}");
}

/// Busy: 4 jobs of 3 s at concurrency 8 (so a long poll for the free slots
/// is in flight), SIGTERM 1.5 s after they started — issue 14's scenario,
/// which exited 18.5 s after SIGTERM. The jobs finish, and the exit follows
/// within 1 s of the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_worker_exits_right_after_its_last_job() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let worker = Worker::spawn(&queues, &busy_settings()).await;
    let jobs = sleepers(&queues, 4, 3_000).await;
    let last_start = all_running(&db, &jobs).await;
    // The scenario of issue 14: SIGTERM 1.5 s into the jobs.
    let term_due = last_start + Duration::from_millis(1_500);
    if let Ok(wait) = term_due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let (_, term_wall) = worker.sigterm();
    let (status, _, exit_wall) = worker.exit(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "a drain exits 0");

    let last_finish = all_succeeded_once(&db, &jobs).await;
    let after_last_job = since(exit_wall, last_finish);
    println!(
        "A1 loaded: SIGTERM {:.3} s after the last job started; jobs done {:.3} s after SIGTERM; exit {:.3} s after SIGTERM, {after_last_job:.3} s after the last job",
        since(term_wall, last_start),
        since(last_finish, term_wall),
        since(exit_wall, term_wall),
    );
    assert!(after_last_job >= 0.0, "the process exited before its last job finished");
    assert!(after_last_job <= 1.0, "exit {after_last_job} s after the last job (must be ≤ 1 s)");
}

/// While jobs drain, the long poll is kept: messages that reach it are
/// released at once, so a second worker runs them without waiting out a
/// visibility timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_draining_worker_receives_are_released_at_once() {
    const VISIBILITY_SECS: u64 = 20;
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let worker = Worker::spawn(&queues, &busy_settings()).await;
    let jobs = sleepers(&queues, 2, 3_000).await;
    all_running(&db, &jobs).await;
    worker.sigterm();
    let sent = SystemTime::now();
    let mut late = Vec::new();
    for _ in 0..3 {
        late.push(queues.send(&envelope("diag.noop", 1, json!({}))).await);
    }
    let (status, _, _) = worker.exit(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "a drain exits 0");
    all_succeeded_once(&db, &jobs).await;
    for id in &late {
        assert_eq!(job_row(&db, *id).await, None, "the draining worker started no new job");
    }
    let delays = second_worker_runs(&queues, &db, &late, sent, VISIBILITY_SECS).await;
    println!("A1 loaded: messages sent during the drain were started by a second worker after {delays:?} s");
    assert!(
        delays.iter().all(|d| *d < VISIBILITY_SECS as f64 - 5.0),
        "messages the draining worker received must be released, not left for the visibility timeout: {delays:?}"
    );
}

fn busy_settings() -> [(&'static str, &'static str); 6] {
    [
        ("JOBFLEET_CONCURRENCY", "8"),
        ("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "20"),
        ("JOBFLEET_READINESS_MAX_AGE_SECS", "30"),
        ("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "20"),
        ("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "5"),
        ("JOBFLEET_DRAIN_TIMEOUT_SECS", "20"),
    ]
}

async fn sleepers(queues: &TestQueues, count: usize, ms: u64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(queues.send(&envelope("diag.sleep", 1, json!({ "ms": ms }))).await);
    }
    ids
}

/// Waits until every job runs; returns when the last one started.
async fn all_running(db: &PgPool, jobs: &[Uuid]) -> SystemTime {
    let mut starts = Vec::new();
    for id in jobs {
        await_status(db, *id, "running").await;
        starts.push(timestamps(db, *id).await.0);
    }
    starts.into_iter().max().expect("jobs")
}

/// Every job succeeded on its first attempt; returns when the last finished.
async fn all_succeeded_once(db: &PgPool, jobs: &[Uuid]) -> SystemTime {
    let mut last_finish = SystemTime::UNIX_EPOCH;
    for id in jobs {
        let row = job_row(db, *id).await.expect("row");
        assert_eq!((row.status.as_str(), row.attempts), ("succeeded", 1), "job {id} finished once, not cut");
        last_finish = last_finish.max(timestamps(db, *id).await.1.expect("finished"));
    }
    last_finish
}

/// A TCP proxy to moto that can stop answering: new connections are
/// accepted and never served, existing ones are cut.
struct BlackHole {
    addr: SocketAddr,
    dark: Arc<AtomicBool>,
    generation: Arc<Mutex<CancellationToken>>,
}

impl BlackHole {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let dark = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let (d, g) = (dark.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let cut = g.lock().expect("generation").clone();
                if d.load(Ordering::SeqCst) {
                    // Hold the socket, answer nothing, until the lights come back.
                    tokio::spawn(async move {
                        cut.cancelled().await;
                        drop(client);
                    });
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = cut.cancelled() => {}
                    }
                });
            }
        });
        Self { addr, dark, generation }
    }

    fn switch(&self, dark: bool) {
        self.dark.store(dark, Ordering::SeqCst);
        let mut generation = self.generation.lock().expect("generation");
        generation.cancel();
        *generation = CancellationToken::new();
    }
}

/// Readiness means "can make progress". Concurrency 2, two jobs longer
/// than `readiness_max_age_secs`: no poll is due while both slots are
/// busy, yet `/readyz` stays 200. SQS stops answering: 503 within the max
/// age. Draining: 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_means_able_to_make_progress_not_idle() {
    const MAX_AGE: Duration = Duration::from_secs(3);
    let (queues, db) = (TestQueues::create(Pool::AI).await, db().await);
    let moto: SocketAddr = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("moto's address");
    let proxy = BlackHole::start(moto).await;
    let endpoint = format!("http://{}", proxy.addr);
    let worker = Worker::spawn(
        &queues,
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("JOBFLEET_CONCURRENCY", "2"),
            ("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "1"),
            ("JOBFLEET_READINESS_MAX_AGE_SECS", "3"),
            ("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "30"),
            ("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "10"),
            ("JOBFLEET_DRAIN_TIMEOUT_SECS", "30"),
        ],
    )
    .await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    eventually("ready at start", Duration::from_secs(10), || async { (worker.readyz(&http).await.0 == 200).then_some(()) }).await;
    let t0 = Instant::now();
    // (seconds since first ready, /readyz status), one entry per change.
    let trace: Mutex<Vec<(f64, u16)>> = Mutex::new(Vec::new());
    let note = |status: u16| {
        let mut trace = trace.lock().expect("trace");
        if trace.last().is_none_or(|(_, last)| *last != status) {
            trace.push((secs(t0.elapsed()), status));
        }
    };

    // Busy: two 8 s jobs, both slots taken, for more than twice the max age.
    let long: Vec<Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..2 {
            ids.push(queues.send(&envelope("diag.sleep", 1, json!({ "ms": 8_000 }))).await);
        }
        ids
    };
    for id in &long {
        await_status(&db, *id, "running").await;
    }
    let busy_from = t0.elapsed();
    loop {
        let (status, body) = worker.readyz(&http).await;
        note(status);
        assert_eq!(status, 200, "busy is not unready ({:.1} s into the jobs): {body}", (t0.elapsed() - busy_from).as_secs_f64());
        let mut done = 0;
        for id in &long {
            done += usize::from(job_row(&db, *id).await.is_some_and(|r| r.status == "succeeded"));
        }
        if done == long.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let busy_for = t0.elapsed() - busy_from;
    assert!(busy_for > MAX_AGE * 2, "the jobs must outlast the max age for this to mean anything ({busy_for:?})");

    // SQS stops answering.
    proxy.switch(true);
    let dark_at = Instant::now();
    let body = eventually("/readyz to turn 503 with SQS gone", MAX_AGE * 3, || async {
        let (status, body) = worker.readyz(&http).await;
        note(status);
        (status == 503).then_some(body)
    })
    .await;
    let unready_after = dark_at.elapsed();
    assert!(body.contains("SQS"), "{body}");
    assert!(unready_after <= MAX_AGE + Duration::from_millis(500), "unready {unready_after:?} after SQS went dark (max age {MAX_AGE:?})");

    proxy.switch(false);
    eventually("ready again once SQS answers", Duration::from_secs(45), || async {
        let (status, _) = worker.readyz(&http).await;
        note(status);
        (status == 200).then_some(())
    })
    .await;

    // Draining: 503 while the last job still runs.
    let last = queues.send(&envelope("diag.sleep", 1, json!({ "ms": 3_000 }))).await;
    await_status(&db, last, "running").await;
    worker.sigterm();
    let body = eventually("/readyz to turn 503 while draining", Duration::from_secs(2), || async {
        let (status, body) = worker.readyz(&http).await;
        note(status);
        (status == 503).then_some(body)
    })
    .await;
    assert!(body.contains("draining"), "{body}");
    assert_eq!(job_row(&db, last).await.map(|r| r.status), Some("running".into()), "503 came while the job ran");
    let (status, _, _) = worker.exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0));
    let trace = trace.into_inner().expect("trace");
    println!(
        "A2 trace (s since first ready, /readyz status on change): {trace:?}; busy {:.1} s with max age {} s; 503 {:.3} s after SQS went dark",
        busy_for.as_secs_f64(),
        MAX_AGE.as_secs(),
        unready_after.as_secs_f64()
    );
    let statuses: Vec<u16> = trace.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [200, 503, 200, 503], "ready while busy, unready without SQS, ready again, unready draining");
}
