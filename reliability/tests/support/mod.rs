//! What the scenarios share: worker processes they start, kill and signal,
//! the effect jobs they send, and the checks every scenario ends with.
#![allow(dead_code)] // each scenario uses its own subset

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jobfleet_contract::Job;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reliability::effects::{Effect, Tally, install};
use reliability::sqs_faults::SqsFaults;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::{STACK_HINT, TestQueues, envelope, eventually, isolated_db};

/// The settings every scenario's worker starts from; a scenario overrides
/// some with `extra`.
const BASE_ENV: [(&str, &str); 11] = [
    ("JOBFLEET_CONCURRENCY", "16"),
    ("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "1"),
    ("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "10"),
    ("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "3"),
    // The lease after a kill is the job timeout plus the runtime's margin;
    // a short timeout keeps recovery quick.
    ("JOBFLEET_JOB_TIMEOUT_SECS", "5"),
    ("JOBFLEET_RETRY_BASE_DELAY_SECS", "1"),
    ("JOBFLEET_RETRY_MAX_DELAY_SECS", "2"),
    ("JOBFLEET_READINESS_MAX_AGE_SECS", "5"),
    ("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0"),
    ("JOBFLEET_LOG_FORMAT", "json"),
    ("RUST_LOG", "info"),
];

/// An effect-worker process (the worker daemon plus the effect handler),
/// or its outbox relay mode. Killed on drop, so a failed scenario leaves no
/// process behind.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    pub log: PathBuf,
}

/// What the worker printed when its drain ended.
#[derive(Debug, serde::Deserialize)]
pub struct DrainLine {
    pub drain_ms: u64,
    pub aborted: bool,
}

impl WorkerProcess {
    /// A worker for `queues` on the given database URL and SQS endpoint;
    /// its output goes to `<target>/tmp/reliability/<name>.log`.
    pub fn spawn(name: &str, queues: &TestQueues, database_url: &str, endpoint: &str, extra: &[(&str, &str)]) -> Self {
        Self::start(name, &[], queues, database_url, endpoint, extra)
    }

    /// `effect-worker relay`: `worker relay`'s loop over the outbox.
    pub fn relay(name: &str, queues: &TestQueues, database_url: &str, endpoint: &str) -> Self {
        Self::start(name, &["relay"], queues, database_url, endpoint, &[])
    }

    fn start(name: &str, args: &[&str], queues: &TestQueues, database_url: &str, endpoint: &str, extra: &[(&str, &str)]) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability");
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_effect-worker"));
        cmd.args(args)
            .env("JOBFLEET_ENV", &queues.env)
            .env("JOBFLEET_POOL", queues.pool.as_str())
            .env("DATABASE_URL", database_url)
            .env("JOBFLEET_DATABASE_URL", database_url)
            .env("AWS_ENDPOINT_URL", endpoint)
            .envs(BASE_ENV)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            // The worker logs to stdout; its drain line goes there too.
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        Self { child: cmd.spawn().expect("spawn effect-worker"), log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGKILL and reap: no drain, no goodbye.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    pub fn sigterm(&self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    }

    /// Waits for the process to exit; returns its status and, for a worker
    /// that drained, the drain line it printed.
    pub async fn exited(&mut self, limit: Duration) -> (ExitStatus, Option<DrainLine>) {
        let status = eventually("the worker to exit", limit, || {
            let status = self.child.try_wait().expect("try_wait");
            async move { status }
        })
        .await;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        (status, log.lines().find_map(|l| serde_json::from_str(l).ok()))
    }

    /// SIGTERM, then the drain must finish with exit 0 and nothing abandoned.
    pub async fn stop(mut self) -> DrainLine {
        self.sigterm();
        let (status, drain) = self.exited(Duration::from_secs(40)).await;
        assert_eq!(status.code(), Some(0), "the worker drains and exits 0 on SIGTERM (log: {})", self.log.display());
        let drain = drain.expect("the worker prints its drain line");
        assert!(!drain.aborted, "the drain finished every running job: {drain:?}");
        drain
    }

    /// Log lines containing `needle` (the worker logs JSON lines).
    pub fn log_lines(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log).map(|text| text.lines().filter(|l| l.contains(needle)).count()).unwrap_or(0)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The local stack's SQS endpoint (moto).
pub fn moto_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL")
}

/// moto's address, for a TCP proxy in front of it.
pub fn moto_addr() -> SocketAddr {
    let endpoint = moto_endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let host = host.replacen("localhost", "127.0.0.1", 1);
    host.parse().unwrap_or_else(|e| panic!("AWS_ENDPOINT_URL {endpoint} is not http://<ip>:<port>: {e}"))
}

/// A port nothing listens on now, for a worker's admin address that the
/// test must know in advance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The effect jobs as SQS message bodies, with their ids.
pub fn effects(n: usize, ms: impl Fn(usize) -> u64) -> Vec<jobfleet_contract::Envelope> {
    (0..n).map(|i| envelope(Effect::TYPE, 1, json!({ "ms": ms(i) }))).collect()
}

/// Sends `n` effect jobs (batches of 10, as a producer would); returns their ids.
pub async fn send_effects(queues: &TestQueues, n: usize, ms: impl Fn(usize) -> u64) -> Vec<Uuid> {
    let envelopes = effects(n, ms);
    for chunk in envelopes.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(e.to_json()).build().expect("entry"))
            .collect::<Vec<_>>();
        let out = queues.sqs.send_message_batch().queue_url(&queues.queue_url).set_entries(Some(entries)).send().await.expect("send batch");
        assert!(out.failed.is_empty(), "send failures: {:?}", out.failed);
    }
    envelopes.iter().map(|e| e.id).collect()
}

pub async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(db).await.expect("count")
}

pub async fn succeeded(db: &PgPool) -> i64 {
    count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'").await
}

pub async fn await_all_succeeded(db: &PgPool, n: usize, limit: Duration) {
    eventually(&format!("all {n} jobs to succeed"), limit, || async { (succeeded(db).await as usize >= n).then_some(()) }).await;
}

pub async fn await_queue_empty(queues: &TestQueues) {
    eventually("the queue to empty", Duration::from_secs(120), || async {
        (queues.counts(&queues.queue_url).await == (0, 0)).then_some(())
    })
    .await;
}

/// The end every scenario shares: the queue empties, the last worker drains
/// on SIGTERM with exit 0, nothing was dead-lettered.
pub async fn drain_and_stop(queues: &TestQueues, worker: WorkerProcess) -> DrainLine {
    await_queue_empty(queues).await;
    let drain = worker.stop().await;
    assert_eq!(queues.counts(&queues.dlq_url).await, (0, 0), "nothing dead-lettered");
    drain
}

pub fn assert_clean(t: &Tally, scenario: &str) {
    assert_eq!(t.lost, 0, "{scenario}: lost jobs: {t:?}");
    assert_eq!(t.duplicated, 0, "{scenario}: duplicated effects: {t:?}");
    assert_eq!(t.runs_after_success, 0, "{scenario}: a job ran after its success was recorded: {t:?}");
    assert_eq!(t.overlapping, 0, "{scenario}: two attempts of a job overlapped: {t:?}");
}

/// A schema of its own with the ledger and the effect tables.
pub async fn schema() -> (PgPool, String) {
    let (db, url) = isolated_db().await;
    install(&db).await.unwrap_or_else(|e| panic!("effect tables: {e}; {STACK_HINT}"));
    (db, url)
}

/// The sum of a counter's series in a Prometheus text page.
pub fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET on the worker's admin port: (status, body), or None while it does
/// not answer.
pub async fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Where `kill_repeatedly` aims: `progress_sql` counts the work done, and
/// `busy_sql` (if any) counts the process's jobs that are running right now,
/// with the process id as `$1`.
pub struct KillAim<'a> {
    pub progress: &'a str,
    pub progress_sql: &'a str,
    pub busy_sql: Option<&'a str>,
}

/// What `kill_repeatedly` left: the live process, when the last kill
/// happened, and how many running jobs the kills interrupted (0 without
/// `busy_sql`).
pub struct Killed {
    pub process: WorkerProcess,
    pub last_kill: Instant,
    pub interrupted: i64,
}

/// Kills `process` with SIGKILL `kills` times and restarts it with
/// `respawn(k)`. Kill k waits until `progress_sql` counts k·total/(kills+2),
/// so every kill lands mid-run, never at the start or after the end.
///
/// With `busy_sql`, a kill also waits until the process is running a job,
/// and counts only if, read after the process is dead, a job of it was left
/// unfinished; a kill that fell between jobs is repeated. Without this the
/// scenario's "kills force redeliveries" depended on luck: jobs of 10–70 ms
/// leave the worker between handlers much of the time (CI once had five
/// kills and not one interrupted job).
pub async fn kill_repeatedly(
    db: &PgPool,
    mut process: WorkerProcess,
    kills: usize,
    total: usize,
    aim: KillAim<'_>,
    limit: Duration,
    mut respawn: impl FnMut(usize) -> WorkerProcess,
) -> Killed {
    let busy = |pid: u32| async move {
        match aim.busy_sql {
            Some(sql) => {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).bind(pid as i32).fetch_one(db).await.expect("busy count")
            }
            None => 0,
        }
    };
    let mut last_kill = Instant::now();
    let mut interrupted = 0;
    let mut spawned = 0;
    for k in 1..=kills {
        let target = (k * total / (kills + 2)) as i64;
        // A kill between jobs is retried; 20 misses in a row means the
        // process never runs a job when asked, which is a failure itself.
        for attempt in 1..=20 {
            let pid = process.pid();
            eventually(&format!("{target} {} and a running job before kill {k}", aim.progress), limit, || async {
                let progressed = count(db, aim.progress_sql).await >= target;
                (progressed && (aim.busy_sql.is_none() || busy(pid).await > 0)).then_some(())
            })
            .await;
            process.kill9();
            last_kill = Instant::now();
            spawned += 1;
            process = respawn(spawned);
            let hit = busy(pid).await;
            interrupted += hit;
            if aim.busy_sql.is_none() || hit > 0 {
                break;
            }
            assert!(attempt < 20, "kill {k}: 20 kills in a row found no job running");
        }
    }
    Killed { process, last_kill, interrupted }
}

/// Nothing is deleted before its outcome is recorded: every job whose
/// message SQS has confirmed deleted (read first) has its `succeeded` row
/// (read after, and final). Returns the rows recorded.
pub async fn assert_no_early_delete(sqs: &SqsFaults, db: &PgPool) -> i64 {
    let deleted = sqs.deleted_jobs();
    let early: Vec<String> = sqlx::query_scalar(
        "SELECT d.id FROM unnest($1::text[]) AS d(id) \
         WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id::text = d.id AND j.status = 'succeeded')",
    )
    .bind(&deleted)
    .fetch_all(db)
    .await
    .expect("early-delete check");
    assert!(early.is_empty(), "SQS deleted the messages of {} jobs before their outcome was recorded: {early:?}", early.len());
    succeeded(db).await
}
