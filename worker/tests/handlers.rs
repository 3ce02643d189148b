//! The built-in handlers through a real worker: SQS (moto) → router →
//! handler → a receiver started by the test → ledger (Postgres); and the
//! handlers' nested settings as the `worker` binary reads them.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Running, TestQueues, await_status, db, envelope};
use jobfleet_contract::Pool;
use jobfleet_contract::settings::Secret;
use jobfleet_handlers::notifications::{NotificationsConfig, signature_header};
use jobfleet_runtime::Config;
use jobfleet_runtime::dispatch::catalog::router_for;
use serde_json::{Value, json};

const SECRET: &str = "whsec_e2e_0123456789abcdef";

type Log = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// Answers 204 when the signature verifies, 401 otherwise.
async fn receive(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers.get("jobfleet-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let timestamp = header.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap_or(0);
    let valid = header == signature_header(SECRET.as_bytes(), timestamp, &body);
    log.lock().expect("lock").push((headers, body));
    if valid { StatusCode::NO_CONTENT } else { StatusCode::UNAUTHORIZED }
}

async fn start_receiver() -> (SocketAddr, Log) {
    let log = Log::default();
    let app = axum::Router::new().route("/hooks/orders", axum::routing::post(receive)).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_job_is_delivered_signed_and_recorded_and_an_internal_url_is_dead_lettered() {
    let (queues, db) = (TestQueues::create(Pool::NOTIFICATIONS).await, db().await);
    let (addr, log) = start_receiver().await;
    let config = Config {
        notifications: NotificationsConfig {
            webhook_signing_secret: Some(Secret::new(SECRET)),
            webhook_allow_hosts: vec!["127.0.0.1".into()],
            webhook_require_https: false,
            ..NotificationsConfig::default()
        },
        ..queues.config()
    };
    config.validate().expect("valid config");
    let worker = Running::start(config.clone(), router_for(&config, queues.pool).expect("router")).await;

    let job = envelope(
        "notify.webhook",
        1,
        json!({ "url": format!("http://{addr}/hooks/orders"), "body": { "order": 7 }, "event": "order.paid" }),
    );
    let id = queues.send(&job).await;
    let internal =
        queues.send(&envelope("notify.webhook", 1, json!({ "url": "http://169.254.169.254/latest/meta-data/", "body": {} }))).await;

    let row = await_status(&db, id, "succeeded").await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.result.as_ref().map(|r| r["status"].clone()), Some(json!(204)));
    let received = log.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "delivered once");
    let (headers, body) = &received[0];
    assert_eq!(serde_json::from_slice::<Value>(body).ok(), Some(json!({ "order": 7 })));
    assert_eq!(headers.get("idempotency-key").and_then(|v| v.to_str().ok()), Some(id.to_string().as_str()), "defaults to the job id");
    assert_eq!(headers.get("jobfleet-event").and_then(|v| v.to_str().ok()), Some("order.paid"));

    let row = await_status(&db, internal, "failed").await;
    assert_eq!(row.last_error_class.as_deref(), Some("ssrf_blocked"));
    let dead = queues.dead_letters(1).await;
    assert_eq!(dead[0].attr("error_class"), "ssrf_blocked");
    assert!(dead[0].attr("error_message").contains("169.254.169.254"), "{:?}", dead[0].attributes);
    worker.stop().await;
}

#[test]
fn nested_settings_come_from_double_underscore_variables_and_secrets_stay_hidden() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("config")
        .env("JOBFLEET_CONCURRENCY", "7")
        .env("JOBFLEET_JOB_TIMEOUT_SECS", "30")
        .env("JOBFLEET_INFERENCE__BASE_URL", "http://vllm.ai.svc.cluster.local:8000")
        .env("JOBFLEET_INFERENCE__MAX_IN_FLIGHT", "3")
        .env("JOBFLEET_INFERENCE__API_KEY", "0123e10")
        .env("JOBFLEET_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS", "[10.20.0.0/16, \"*.internal.example\"]")
        .env("JOBFLEET_NOTIFICATIONS__WEBHOOK_SIGNING_SECRET", "00001234567890123456")
        .output()
        .expect("worker config runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let config: Value = serde_json::from_str(&stdout).expect("JSON config");
    assert_eq!((config["concurrency"].clone(), config["job_timeout_secs"].clone()), (json!(7), json!(30)), "flat variables still work");
    assert_eq!(config["inference"]["base_url"], "http://vllm.ai.svc.cluster.local:8000");
    assert_eq!(config["inference"]["max_in_flight"], 3);
    assert_eq!(config["notifications"]["webhook_allow_hosts"], json!(["10.20.0.0/16", "*.internal.example"]));
    assert_eq!(config["inference"]["api_key"], "[redacted]");
    assert_eq!(config["notifications"]["webhook_signing_secret"], "[redacted]");
    // Both secrets look like numbers to figment's env parsing ("0123e10" a
    // float, "0000…" an integer); read verbatim, they load as strings.
    assert!(!stdout.contains("0123e10") && !stdout.contains("00001234567890123456"), "secrets are never printed");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("config")
        .env("JOBFLEET_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS", "[\"10.0.0.0/99\"]")
        .output()
        .expect("worker config runs");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("notifications.webhook_allow_hosts") && stderr.contains("JOBFLEET_NOTIFICATIONS__WEBHOOK_ALLOW_HOSTS"),
        "{stderr}"
    );
}
