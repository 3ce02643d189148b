//! The `worker` binary as an operator runs it: signals, exit codes and
//! start-up errors.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestQueues, db, envelope, eventually, job_row};
use jobfleet_contract::Pool;
use serde_json::json;

fn worker_command(queues: &TestQueues) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker"));
    cmd.env("JOBFLEET_ENV", &queues.env)
        .env("JOBFLEET_RECEIVE_WAIT_TIME_SECS", "1")
        .env("JOBFLEET_READINESS_MAX_AGE_SECS", "10")
        .env("JOBFLEET_ADMIN_ADDR", "127.0.0.1:0")
        .env("JOBFLEET_DIAG_ENABLED", "true")
        .env("JOBFLEET_LOG_FORMAT", "json")
        .stdin(Stdio::null());
    cmd
}

fn output_of(cmd: &mut Command) -> (Option<i32>, String) {
    let Output { status, stderr, .. } = cmd.output().expect("worker binary runs");
    (status.code(), String::from_utf8_lossy(&stderr).into_owned())
}

/// Waits for the child to exit without blocking the runtime's threads.
async fn wait_exit(mut child: Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    eventually("the worker to exit", limit, || {
        let status = child.try_wait().expect("try_wait");
        async move { status }
    })
    .await;
    (child.wait().expect("wait"), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_jobs_and_leaves_unstarted_ones_visible() {
    let (queues, db) = (TestQueues::create(Pool::MEDIA).await, db().await);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(queues.send(&envelope("diag.sleep", 1, json!({ "ms": 3_000 }))).await);
    }
    let child = worker_command(&queues)
        .args(["run", "--pool", "media"])
        .env("JOBFLEET_CONCURRENCY", "2")
        .env("JOBFLEET_DRAIN_TIMEOUT_SECS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    let pid = child.id().to_string();

    let running = eventually("two jobs to be running", Duration::from_secs(30), || {
        let (db, ids) = (db.clone(), ids.clone());
        async move {
            let mut running = Vec::new();
            for id in ids {
                if job_row(&db, id).await.is_some_and(|r| r.status == "running") {
                    running.push(id);
                }
            }
            (running.len() == 2).then_some(running)
        }
    })
    .await;
    let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(kill.success());

    let (status, took) = wait_exit(child, Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "a drain exits 0");
    assert!(took < Duration::from_secs(20), "drain took {took:?}, beyond its timeout");
    for id in &running {
        let row = job_row(&db, *id).await.expect("row");
        assert_eq!((row.status.as_str(), row.attempts), ("succeeded", 1), "in-flight job {id} finished once");
    }
    let unstarted: Vec<_> = ids.iter().filter(|id| !running.contains(id)).collect();
    for id in &unstarted {
        assert_eq!(job_row(&db, **id).await, None, "job {id} should not have started");
    }
    assert_eq!(queues.counts(&queues.queue_url).await, (3, 0), "unstarted messages are visible at once, completed ones gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_at_start_naming_the_setting() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    let (code, stderr) = output_of(
        worker_command(&queues)
            .args(["run", "--pool", "media"])
            .env("JOBFLEET_VISIBILITY_TIMEOUT_SECS", "30")
            .env("JOBFLEET_HEARTBEAT_INTERVAL_SECS", "45"),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("heartbeat_interval_secs") && stderr.contains("JOBFLEET_HEARTBEAT_INTERVAL_SECS"), "{stderr}");

    let (code, stderr) = output_of(worker_command(&queues).args(["run", "--pool", "media"]).env("JOBFLEET_CONCURRENCY", "lots"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("JOBFLEET_CONCURRENCY"), "{stderr}");

    let (code, stderr) = output_of(worker_command(&queues).args(["run"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--pool"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_reported_with_the_name_tried_and_a_hint() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    let (code, stderr) = output_of(worker_command(&queues).args(["run", "--pool", "ai"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&Pool::AI.queue_name(&queues.env)), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_the_configuration_does_not_declare_is_refused_with_the_list() {
    let queues = TestQueues::create(Pool::MEDIA).await;
    for args in [&["dlq", "list", "--pool", "reprots"][..], &["dlq", "history", "--pool", "reprots"], &["queues", "--pool", "reprots"]] {
        let (code, stderr) = output_of(worker_command(&queues).args(args));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("pool reprots is not configured"), "{args:?}: {stderr}");
        assert!(stderr.contains("ai|media|notifications"), "{args:?} lists the configured pools: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_validates_the_payload_and_sends_envelopes_a_worker_accepts() {
    let queues = TestQueues::create(Pool::NOTIFICATIONS).await;
    let (code, stderr) =
        output_of(worker_command(&queues).args(["enqueue", "diag.sleep", "--pool", "notifications", "--payload", r#"{"ms":"x"}"#]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid payload for diag.sleep") && stderr.contains("at `ms`"), "{stderr}");

    let (code, stderr) = output_of(worker_command(&queues).args(["enqueue", "diag.noop"]));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--pool"), "{stderr}");

    let output = worker_command(&queues)
        .args(["enqueue", "diag.sleep", "--pool", "notifications", "--payload", r#"{"ms":1}"#, "--count", "3"])
        .output()
        .expect("enqueue runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let ids: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(queues.counts(&queues.queue_url).await.0, 3);
    let sent = queues
        .sqs
        .receive_message()
        .queue_url(&queues.queue_url)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    let first = sent.first().expect("a message");
    let envelope = jobfleet_contract::Envelope::decode(first.body().unwrap_or_default().as_bytes()).expect("a valid envelope");
    assert!(ids.contains(&envelope.id.to_string()));
    assert_eq!(envelope.id.get_version_num(), 7, "ids are uuid v7");
    let attr = first.message_attributes().and_then(|a| a.get("job_type")).and_then(|v| v.string_value());
    assert_eq!(attr, Some("diag.sleep"));
}

/// The charts mount the worker's TOML and point `JOBFLEET_CONFIG` at it
/// (charts/worker `poolConfig`, charts/fleet): the variable names the file,
/// it is not a setting, and the file's pools are loaded.
#[test]
fn jobfleet_config_names_the_file_and_is_not_a_setting() {
    let dir = std::env::temp_dir().join(format!("jobfleet-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("config.toml");
    std::fs::write(&file, "[pools.reports]\njob_types = [\"diag.*\"]\nconcurrency = 3\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_worker")).arg("config").env("JOBFLEET_CONFIG", &file).output().expect("worker config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "JOBFLEET_CONFIG must be accepted: {stderr}");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(config["pools"]["reports"]["concurrency"], json!(3), "{config}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The example `make demo` runs its notifications worker with loads and
/// keeps the pool's routing (the file adds to the defaults).
#[test]
fn the_priority_queue_example_loads() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/priority-queues.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_worker")).arg("config").env("JOBFLEET_CONFIG", &file).output().expect("worker config");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let notifications = &config["pools"]["notifications"];
    assert_eq!(
        (&notifications["priority_queues"]["high"]["weight"], &notifications["job_types"]),
        (&json!(8), &json!(["notify.*"])),
        "{config}"
    );
}

/// `worker control` and `worker console` take their own flags from
/// `JOBFLEET_CONTROL_*` / `JOBFLEET_CONSOLE_*` (charts/fleet sets them in
/// its ConfigMap), and every subcommand first loads the settings from
/// `JOBFLEET_*`: those flags must not be refused as unknown settings.
#[test]
fn the_control_and_console_flags_are_not_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("config")
        .env("JOBFLEET_CONTROL_GRPC_ADDR", "0.0.0.0:6000")
        .env("JOBFLEET_CONTROL_TLS_CLIENT_CA", "/etc/jobfleet/tls/ca.crt")
        .env("JOBFLEET_CONSOLE_ADDR", "0.0.0.0:8080")
        .output()
        .expect("worker config");
    assert!(out.status.success(), "flags refused as settings: {}", String::from_utf8_lossy(&out.stderr));
    // A misspelt setting is still refused.
    let out = Command::new(env!("CARGO_BIN_EXE_worker")).arg("config").env("JOBFLEET_CONCURENCY", "4").output().expect("worker config");
    assert!(!out.status.success(), "an unknown setting must be refused");
}
