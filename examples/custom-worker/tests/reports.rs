//! The example worker as a user runs it, against the local stack
//! (`make stack-up`): a config file adds the `reports` pool, the stack
//! script creates its queues from that file, the `custom-worker` binary (a
//! real process) consumes them through the real runtime, jobs are enqueued
//! with the contract crate's producer, and outcomes are read from the
//! ledger. The DLQ replay goes through the `worker` binary's CLI.
//!
//! Each test uses its own environment name (`t-<random>`), so its queues
//! are its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use custom_worker::{Digest, REPORTS, RenderReport};
use jobfleet_contract::producer::{Client, ClientConfig};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const STACK_HINT: &str = "is the local stack up? run `make stack-up` (or `make test`)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A fresh environment name and a config file adding `[pools.reports]`.
struct Fleet {
    env: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Fleet {
    fn new() -> Self {
        let env = format!("t-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let dir = std::env::temp_dir().join(format!("jobfleet-{env}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("reports.toml");
        // What a team writes, plus quick polls and an ephemeral admin port
        // for the test.
        let text = format!(
            "env = \"{env}\"\nreceive_wait_time_secs = 1\nadmin_addr = \"127.0.0.1:0\"\nlog_format = \"pretty\"\n\
             drain_timeout_secs = 10\n\n[pools.reports]\njob_types = [\"reports.*\"]\nconcurrency = 2\n"
        );
        std::fs::write(&config, text).expect("write config");
        Self { env, dir, config }
    }

    /// `make stack-up`'s resource step for this config: what a user runs
    /// after adding a pool.
    fn stack_up(&self) -> String {
        let python = repo_root().join(".tools/stack-venv/bin/python");
        assert!(python.exists(), "{} is missing; {STACK_HINT}", python.display());
        let output = Command::new(python)
            .arg(repo_root().join("scripts/stack_resources.py"))
            .env("JOBFLEET_CONFIG", &self.config)
            .env_remove("JOBFLEET_ENV")
            .output()
            .expect("stack_resources.py runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "stack_resources.py failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    }

    /// Starts the example worker binary on the `reports` pool.
    fn start_worker(&self) -> Process {
        let log = self.dir.join("custom-worker.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_custom-worker"));
        command.args(["--config".as_ref(), self.config.as_os_str(), "--pool".as_ref(), "reports".as_ref()]);
        Process::spawn(command, log)
    }

    /// `worker <args> --config <this config>`, the operator CLI of the bundled binary.
    fn worker_cli(&self, args: &[&str]) -> std::process::Output {
        let output = worker_command()
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .env_remove("JOBFLEET_ENV")
            .env_remove("JOBFLEET_POOL")
            .env_remove("JOBFLEET_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("the worker binary runs");
        assert!(
            output.status.success(),
            "worker {args:?} failed ({:?}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `worker` binary of this workspace. It is another package's binary,
/// which cargo builds for `cargo test --workspace` (and so `make test`)
/// next to this test's own; alone, build it first: `cargo build -p worker`.
fn worker_command() -> Command {
    let exe = std::env::current_exe().expect("test executable");
    let worker = exe.parent().and_then(Path::parent).map(|debug| debug.join("worker")).expect("target directory");
    assert!(worker.exists(), "{} is missing: run `cargo build -p worker` (or `cargo test --workspace`) first", worker.display());
    Command::new(worker)
}

/// A child process that is stopped (SIGKILL) if the test ends without
/// stopping it itself.
struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .env_remove("JOBFLEET_ENV")
            .env_remove("JOBFLEET_POOL")
            .env_remove("JOBFLEET_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the custom-worker binary starts");
        Self { child: Some(child), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the drain to end the process.
    async fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal the worker");
        eventually("the worker to exit after SIGTERM", Duration::from_secs(30), || {
            let status = child.try_wait().expect("wait");
            async move { status }
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("custom-worker log:\n{}", self.log());
        }
    }
}

/// Polls `check` until it yields `Some`, or panics naming `what`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ledger() -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (set by .cargo/config.toml or the Makefile)");
    let db = PgPool::connect(&url).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {url}: {e}; {STACK_HINT}"));
    // The worker migrates on start too; the test reads the table before that.
    jobfleet_runtime::store::migrate(&db).await.expect("migrations apply");
    db
}

/// (pool, status, last error class, result) of a job once its status is `status`.
async fn job_when(db: &PgPool, id: Uuid, status: &str) -> (String, String, Option<String>, Option<Value>) {
    eventually(&format!("job {id} to be {status}"), Duration::from_secs(60), || async {
        sqlx::query_as::<_, (String, String, Option<String>, Option<Value>)>(
            "SELECT pool, status, last_error_class, result FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await
        .expect("query the ledger")
        .filter(|row| row.1 == status)
    })
    .await
}

async fn producer(env: &str) -> Client {
    Client::from_env(ClientConfig::new(env)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_with_the_contract_producer_is_run_by_the_example_worker() {
    let fleet = Fleet::new();
    fleet.stack_up();
    let db = ledger().await;
    let worker = fleet.start_worker();

    let sent = producer(&fleet.env).await.enqueue(&Digest { values: vec![12.5, 7.5, 10.0] }).await.expect("enqueued");
    assert!(sent.queue_url.ends_with(&REPORTS.queue_name(&fleet.env)), "the producer picks the pool's queue: {}", sent.queue_url);

    let (pool, _, error, result) = job_when(&db, sent.id, "succeeded").await;
    assert_eq!((pool.as_str(), error), ("reports", None));
    assert_eq!(result, Some(serde_json::json!({ "count": 3, "total": 30.0, "mean": 10.0 })));

    assert!(worker.terminate().await.success(), "SIGTERM drains and exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_pool_from_config_gets_queues_runs_dead_letters_and_replays() {
    let fleet = Fleet::new();
    let said = fleet.stack_up();
    assert!(said.contains("reports"), "the stack script names the configured pool: {said}");

    // Queue and DLQ by the naming convention, wired by a RedrivePolicy.
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url_of = |name: String| {
        let sqs = sqs.clone();
        async move { sqs.get_queue_url().queue_name(&name).send().await.unwrap_or_else(|e| panic!("queue {name}: {e:?}")).queue_url }
    };
    let queue_url = url_of(REPORTS.queue_name(&fleet.env)).await.expect("queue url");
    let dlq_url = url_of(REPORTS.dlq_name(&fleet.env)).await.expect("DLQ url");
    let attribute = |url: String, name: QueueAttributeName| {
        let sqs = sqs.clone();
        async move {
            let out = sqs.get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await.expect("attributes");
            out.attributes.and_then(|a| a.get(&name).cloned()).unwrap_or_default()
        }
    };
    let dlq_arn = attribute(dlq_url.clone(), QueueAttributeName::QueueArn).await;
    let redrive: Value =
        serde_json::from_str(&attribute(queue_url.clone(), QueueAttributeName::RedrivePolicy).await).expect("redrive JSON");
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn);
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "10");

    let db = ledger().await;
    let worker = fleet.start_worker();
    let s3 = jobfleet_contract::aws::s3_client(&sdk);
    let bucket = format!("{}-jobfleet-media", fleet.env);
    let job = RenderReport { bucket: bucket.clone(), key: "sales/2026-11.csv".into(), title: Some("November".into()) };

    // The source is not uploaded yet: a permanent failure, dead-lettered at once.
    let sent = producer(&fleet.env).await.enqueue(&job).await.expect("enqueued");
    let (pool, _, error, _) = job_when(&db, sent.id, "failed").await;
    assert_eq!((pool.as_str(), error.as_deref()), ("reports", Some("source_missing")));
    let dlq_depth = || async { attribute(dlq_url.clone(), QueueAttributeName::ApproximateNumberOfMessages).await };
    eventually("the job in the reports DLQ", Duration::from_secs(30), || async { (dlq_depth().await == "1").then_some(()) }).await;

    // The operator fixes the cause and replays with the bundled CLI.
    s3.put_object()
        .bucket(&bucket)
        .key(&job.key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"north,120.5\nsouth,79.5\n"))
        .send()
        .await
        .expect("upload the source");
    let output = fleet.worker_cli(&["dlq", "replay", "--pool", "reports", "--yes", "--json"]);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("replay prints JSON");
    assert_eq!(summary["moved"], 1, "{summary}");
    assert_eq!(summary["groups"][0]["target"], REPORTS.queue_name(&fleet.env), "{summary}");

    let (_, _, error, result) = job_when(&db, sent.id, "succeeded").await;
    assert_eq!(error, None);
    let result = result.expect("a result");
    assert_eq!((result["rows"].as_u64(), result["total"].as_f64()), (Some(2), Some(200.0)), "{result}");
    assert_eq!(dlq_depth().await, "0");

    assert!(worker.terminate().await.success(), "SIGTERM drains and exits 0");
}
