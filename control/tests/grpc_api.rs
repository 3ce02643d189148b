//! The fleet service's KEDA external scaler API, called by a real gRPC
//! client generated from KEDA's externalscaler.proto by grpcio-tools
//! (control/tests/keda/client.py, pinned venv from scripts/grpc-tools.sh),
//! against moto (SQS) and Postgres (the ledger): not our own Rust stubs.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_sqs::Client;
use jobfleet_contract::Pool;
use jobfleet_control::{ControlSettings, TlsFiles};
use jobfleet_runtime::Config;
use jobfleet_runtime::config::{PoolConfig, PriorityQueueConfig};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const STACK_HINT: &str = "is the local stack up? run `make stack-up`";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The pinned grpcio venv's python (installed on first use).
fn python() -> PathBuf {
    let out = Command::new("bash").arg(repo().join("scripts/grpc-tools.sh")).output().expect("run scripts/grpc-tools.sh");
    assert!(out.status.success(), "scripts/grpc-tools.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs KEDA's calls through the Python client; one answer per call.
fn keda(addr: SocketAddr, tls: Option<(&Path, Option<(&Path, &Path)>)>, calls: Value) -> Vec<Value> {
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("control/tests/keda/client.py"))
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--proto")
        .arg(repo().join("control/proto"));
    if let Some((ca, client)) = tls {
        cmd.arg("--ca").arg(ca);
        if let Some((cert, key)) = client {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn client.py");
    child.stdin.take().expect("stdin").write_all(calls.to_string().as_bytes()).expect("write calls");
    let out = child.wait_with_output().expect("client.py");
    assert!(out.status.success(), "client.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("client.py prints JSON")
}

async fn sqs() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Client::new(&config)
}

async fn create_queue(sqs: &Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}; {STACK_HINT}"))
        .queue_url
        .expect("queue url")
}

struct Fixture {
    config: Config,
    sqs: Client,
    db: PgPool,
    media: Pool,
    reports: Pool,
}

/// Two pools under a unique environment: `media` (concurrency 4) with 30 s
/// of ledger history, `reports` with none.
async fn fixture() -> Fixture {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = PgPool::connect(&url).await.unwrap_or_else(|e| panic!("Postgres at {url}: {e}; {STACK_HINT}"));
    jobfleet_runtime::store::migrate(&db).await.expect("migrations");
    let sqs = sqs().await;
    // Pool names are per environment in SQS but global in the ledger: unique names keep tests apart.
    let suffix = &Uuid::new_v4().simple().to_string()[..8];
    let media: Pool = format!("media{suffix}").parse().expect("pool name");
    let reports: Pool = format!("reports{suffix}").parse().expect("pool name");
    let env = format!("t-{suffix}");
    let mut pools = BTreeMap::new();
    for (pool, concurrency) in [(media, 4), (reports, 2)] {
        let queue_url = create_queue(&sqs, &pool.queue_name(&env)).await;
        let dlq_url = create_queue(&sqs, &pool.dlq_name(&env)).await;
        // media also consumes a priority queue, found by its name.
        let mut priority_queues = BTreeMap::new();
        if pool == media {
            create_queue(&sqs, &format!("{}-high", pool.queue_name(&env))).await;
            create_queue(&sqs, &format!("{}-high-dlq", pool.queue_name(&env))).await;
            priority_queues.insert(
                "high".to_owned(),
                PriorityQueueConfig { weight: std::num::NonZeroU32::new(4).expect("4"), queue_url: None, dlq_url: None },
            );
        }
        pools.insert(
            pool,
            PoolConfig {
                job_types: vec![format!("{pool}.*")],
                concurrency: Some(concurrency),
                queue_url: Some(queue_url),
                dlq_url: Some(dlq_url),
                priority_queues,
                ..PoolConfig::default()
            },
        );
    }
    let config = Config {
        env,
        pools,
        database_url: url,
        admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        migrate_on_start: false,
        ..Config::default()
    };
    // 10 finished media jobs of 30 s each (two types: 20 s and 40 s, 5 each).
    for i in 0..10 {
        let secs = if i % 2 == 0 { 20.0 } else { 40.0 };
        sqlx::query(
            "INSERT INTO jobs (id, job_type, pool, status, attempts, idempotency_key, started_at, finished_at)
             VALUES ($1, $2, $3, 'succeeded', 1, $1::text, now() - make_interval(secs => $4 + 60), now() - interval '60 seconds')",
        )
        .bind(Uuid::new_v4())
        .bind(if i % 2 == 0 { "media.thumbnail" } else { "media.transcode" })
        .bind(media.as_str())
        .bind(secs)
        .execute(&db)
        .await
        .expect("insert history");
    }
    Fixture { config, sqs, db, media, reports }
}

fn settings() -> ControlSettings {
    ControlSettings {
        grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        sample_interval: Duration::from_millis(200),
        cold_start_job_secs: 45.0,
        ..ControlSettings::default()
    }
}

async fn send(sqs: &Client, url: &str, n: usize) {
    for _ in 0..n {
        sqs.send_message().queue_url(url).message_body("{}").send().await.expect("send");
    }
}

fn so(pool: Pool, extra: &[(&str, &str)]) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("pool".into(), json!(pool.as_str()));
    for (k, v) in extra {
        metadata.insert((*k).into(), json!(v));
    }
    json!({ "name": format!("jobfleet-{pool}"), "namespace": "jobs", "metadata": metadata })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_sizes_pools_by_drain_time_and_sees_pools_at_zero() {
    let f = fixture().await;
    let media_url = f.config.pools[&f.media].queue_url.clone().expect("url");
    let high_name = format!("{}-high", f.media.queue_name(&f.config.env));
    let high_url = f.sqs.get_queue_url().queue_name(&high_name).send().await.expect("high queue").queue_url.expect("url");
    // 20 queued media messages, half of them in its priority queue (the
    // demand counts both); the reports pool is empty and has no history.
    send(&f.sqs, &media_url, 10).await;
    send(&f.sqs, &high_url, 10).await;
    let stop = CancellationToken::new();
    let running = jobfleet_control::start(&f.config, &settings(), stop.clone()).await.expect("fleet service starts");
    let addr = running.grpc_addr;
    let drain = [("targetDrainSeconds", "60"), ("concurrency", "4")];
    let calls = json!([
        { "call": "IsActive", "ref": so(f.media, &drain) },
        { "call": "IsActive", "ref": so(f.reports, &[]) },
        { "call": "GetMetricSpec", "ref": so(f.media, &drain) },
        { "call": "GetMetrics", "ref": so(f.media, &drain), "metricName": format!("s0-jobfleet-drain-{}", f.media) },
        { "call": "GetMetrics", "ref": so(f.reports, &[("targetDrainSeconds", "60")]) },
        { "call": "StreamIsActive", "ref": so(f.media, &drain) },
        { "call": "IsActive", "ref": so("ghost".parse().expect("pool"), &[]) },
        { "call": "GetMetrics", "ref": so(f.media, &[("targetDrainSeconds", "soon")]) },
    ]);
    let answers = keda(addr, None, calls);
    assert_eq!(answers[0]["ok"]["result"], json!(true), "20 queued messages make media active: {answers:?}");
    assert_eq!(answers[1]["ok"]["result"], json!(false), "an empty pool is not active: {answers:?}");
    let spec = &answers[2]["ok"]["metricSpecs"][0];
    assert_eq!(spec["metricName"], json!(format!("jobfleet-drain-{}", f.media)));
    assert_eq!(spec["targetSizeFloat"], json!(1.0), "the metric is replicas itself: {spec}");
    // 20 messages × 30 s mean ÷ (60 s × 4 slots) = 2.5 → 3 pods.
    let value = &answers[3]["ok"]["metricValues"][0];
    assert_eq!(value["metricValueFloat"], json!(3.0), "{answers:?}");
    assert_eq!(value["metricName"], json!(format!("s0-jobfleet-drain-{}", f.media)), "KEDA's metric name is echoed");
    assert_eq!(answers[4]["ok"]["metricValues"][0]["metricValueFloat"], json!(0.0), "nothing queued, nothing running: {answers:?}");
    assert_eq!(answers[5]["ok"]["result"], json!(true), "the stream starts with the current activity: {answers:?}");
    assert_eq!(answers[6]["error"], json!("INVALID_ARGUMENT"), "{answers:?}");
    assert!(answers[6]["details"].as_str().unwrap_or_default().contains("no pool \"ghost\""), "{answers:?}");
    assert_eq!(answers[7]["error"], json!("INVALID_ARGUMENT"), "{answers:?}");
    assert!(answers[7]["details"].as_str().unwrap_or_default().contains("targetDrainSeconds"), "{answers:?}");

    // A lone message at zero pods on the pool without history: the cold-start estimate
    // (45 s) sizes it, and one message is enough to wake it.
    let reports_url = f.config.pools[&f.reports].queue_url.clone().expect("url");
    send(&f.sqs, &reports_url, 1).await;
    let answers = keda(
        addr,
        None,
        json!([
            { "call": "IsActive", "ref": so(f.reports, &[]) },
            { "call": "GetMetrics", "ref": so(f.reports, &[("targetDrainSeconds", "10")]) },
        ]),
    );
    assert_eq!(answers[0]["ok"]["result"], json!(true), "{answers:?}");
    // 1 × 45 s ÷ (10 s × 2 slots) = 2.25 → 3 pods: the estimate, not a message count, decides.
    assert_eq!(answers[1]["ok"]["metricValues"][0]["metricValueFloat"], json!(3.0), "{answers:?}");

    // In-flight work is never sized away: take 12 media messages (invisible for a minute).
    let received = f
        .sqs
        .receive_message()
        .queue_url(&high_url)
        .max_number_of_messages(10)
        .visibility_timeout(120)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
        .len();
    let received2 = f
        .sqs
        .receive_message()
        .queue_url(&media_url)
        .max_number_of_messages(10)
        .visibility_timeout(120)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
        .len();
    assert_eq!(received + received2, 20);
    // With a long target drain the work alone asks for 1 pod; 20 in flight on 4 slots need 5.
    let answers =
        keda(addr, None, json!([{ "call": "GetMetrics", "ref": so(f.media, &[("targetDrainSeconds", "3600"), ("concurrency", "4")]) }]));
    assert_eq!(answers[0]["ok"]["metricValues"][0]["metricValueFloat"], json!(5.0), "{answers:?}");

    // The gauges cover every pool, also the one no worker runs.
    let metrics_url = format!("http://{}/metrics", running.admin_addr);
    let want = format!("jobfleet_queue_messages{{pool=\"{}\",queue=\"dlq\",state=\"visible\"}} 0", f.reports);
    let high = format!("jobfleet_queue_messages{{pool=\"{}\",queue=\"high\",state=\"in_flight\"}} 10", f.media);
    let high_dlq = format!("jobfleet_queue_messages{{pool=\"{}\",queue=\"high-dlq\",state=\"visible\"}} 0", f.media);
    let mut text = String::new();
    for _ in 0..100 {
        text = reqwest::get(&metrics_url).await.expect("GET /metrics").text().await.expect("body");
        if text.contains(&want) && text.contains(&high) && text.contains(&format!("jobfleet_pool_idle_seconds{{pool=\"{}\"}}", f.media)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains(&want), "{want} in\n{text}");
    assert!(text.contains(&high) && text.contains(&high_dlq), "the priority queue's gauges: {high}, {high_dlq} in\n{text}");
    for name in ["jobfleet_queue_visible_duration_seconds", "jobfleet_pool_idle_seconds", "jobfleet_pool_desired_replicas"] {
        for pool in [f.media, f.reports] {
            assert!(text.contains(&format!("{name}{{pool=\"{pool}\"}}")), "{name} for {pool} in\n{text}");
        }
    }
    // Ready once sampled. Awaited, not read once: readiness needs a sample
    // round younger than 3 intervals + 5 s, and on a loaded 2-core machine
    // (CI) one round against moto can take longer than that.
    let mut status = None;
    for _ in 0..100 {
        let ready = reqwest::get(format!("http://{}/readyz", running.admin_addr)).await.expect("readyz");
        status = Some(ready.status());
        if ready.status().is_success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.is_some_and(|s| s.is_success()), "ready once sampled: {status:?}");

    // A queue gone (renamed, deleted, another region) is not a passing
    // outage: KEDA logs NOT_FOUND with the queue's name, not UNAVAILABLE.
    f.sqs.delete_queue().queue_url(&reports_url).send().await.expect("delete the reports queue");
    let answers = keda(addr, None, json!([{ "call": "IsActive", "ref": so(f.reports, &[]) }]));
    assert_eq!(answers[0]["error"], json!("NOT_FOUND"), "{answers:?}");
    let details = answers[0]["details"].as_str().unwrap_or_default();
    assert!(details.contains(&f.reports.queue_name(&f.config.env)) && details.contains("does not exist"), "{answers:?}");
    stop.cancel();
    running.wait().await.expect("clean stop");
    drop(f.db);
}

/// Readiness stays while SQS and the ledger answer, also between the
/// ledger history refreshes (here 1 h apart): every sample round's ledger
/// answer counts. It once counted only the history query, and the fleet
/// service turned unready a max age after each refresh (3 sample intervals
/// + 5 s; 35 s by default, with a refresh every 30–40 s). Watched past that
/// age, since nothing else can show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_service_stays_ready_between_ledger_history_refreshes() {
    let f = fixture().await;
    let settings = ControlSettings { durations_refresh: Duration::from_secs(3600), ..settings() };
    let max_age = settings.sample_interval * 3 + Duration::from_secs(5);
    let stop = CancellationToken::new();
    let running = jobfleet_control::start(&f.config, &settings, stop.clone()).await.expect("fleet service starts");
    let started = std::time::Instant::now();
    let readyz = format!("http://{}/readyz", running.admin_addr);
    let mut ready_since = None;
    while started.elapsed() < max_age + Duration::from_secs(2) {
        let answer = reqwest::get(&readyz).await.expect("readyz");
        let (status, body) = (answer.status(), answer.text().await.unwrap_or_default());
        match ready_since {
            None if status.is_success() => ready_since = Some(started.elapsed()),
            None => {}
            Some(at) => {
                assert!(status.is_success(), "ready at {at:?}, then {status} at {:?} with SQS and the ledger up: {body}", started.elapsed())
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready_since.is_some(), "never ready");
    stop.cancel();
    running.wait().await.expect("clean stop");
    drop(f.db);
}

/// TLS as KEDA's TriggerAuthentication `tls: enable` sets it up: the client
/// checks our certificate against `ca` and presents `cert`/`key`; without a
/// client certificate signed by the configured client CA the call fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_as_keda_trigger_authentication_does_it() {
    let f = fixture().await;
    let dir = std::env::temp_dir().join(format!("jobfleet-tls-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tls dir");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // Distinct names: rcgen's default subject would make every leaf look self-signed.
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "jobfleet test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf = |name: &str| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write pem");
        path
    };
    let ca_pem = write("ca.pem", &ca.pem());
    let (server_cert, server_key) = leaf("localhost");
    let (client_cert, client_key) = leaf("keda-operator");
    let settings = ControlSettings {
        tls: Some(TlsFiles {
            cert: write("server.pem", &server_cert),
            key: write("server-key.pem", &server_key),
            client_ca: Some(ca_pem.clone()),
        }),
        ..settings()
    };
    let client = (write("client.pem", &client_cert), write("client-key.pem", &client_key));
    let stop = CancellationToken::new();
    let running = jobfleet_control::start(&f.config, &settings, stop.clone()).await.expect("fleet service starts with TLS");
    let call = json!([{ "call": "IsActive", "ref": so(f.media, &[]) }]);
    let with_cert = keda(running.grpc_addr, Some((&ca_pem, Some((&client.0, &client.1)))), call.clone());
    assert_eq!(with_cert[0]["ok"]["result"], json!(false), "mutual TLS works: {with_cert:?}");
    let without = keda(running.grpc_addr, Some((&ca_pem, None)), call.clone());
    assert_eq!(without[0]["error"], json!("UNAVAILABLE"), "no client certificate, no answer: {without:?}");
    let plaintext = keda(running.grpc_addr, None, call);
    assert_eq!(plaintext[0]["error"], json!("UNAVAILABLE"), "plaintext is refused: {plaintext:?}");
    stop.cancel();
    running.wait().await.expect("clean stop");
    let _ = std::fs::remove_dir_all(dir);
}
