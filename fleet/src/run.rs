//! One run: a scenario under one policy. Renders the pools, creates their
//! queues (unique environment) and a database of its own, starts the fleet
//! service when a pool scales on it, drives the workload and the control
//! loops, then reads every job's fate from the ledger.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use jobfleet_contract::Envelope;
use jobfleet_control::proto::external_scaler_client::ExternalScalerClient;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::nodes::NodePoolModel;
use crate::sim::{Clock, Deployment, External, PodStats, Sample, World, depth};
use crate::spec::{Autoscaler, PoolSpec, Trigger};

/// Where the harness finds the repository, the tools and the stack.
#[derive(Debug, Clone)]
pub struct Env {
    pub repo: PathBuf,
    pub python: PathBuf,
    pub worker: PathBuf,
    pub database_url: String,
    pub aws_endpoint: String,
    pub environment: String,
    pub scale: f64,
    pub log_root: PathBuf,
}

/// How job durations are drawn (simulated seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Durations {
    Fixed(f64),
    Uniform(f64, f64),
}

/// A wave of jobs sent to a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    pub pool: String,
    pub at: f64,
    pub count: u32,
    /// Sent evenly over this many seconds (0: at once).
    pub over: f64,
    pub durations: Durations,
}

/// When the run may stop before `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopWhen {
    /// Every job finished.
    AllDone,
    /// Every job finished and every pool is back at its minimum with no pod terminating.
    AllDoneAndSettled,
    /// Only at `until`.
    Never,
}

#[derive(Debug, Clone)]
pub struct RunSpec {
    pub scenario: String,
    pub policy: String,
    pub pools: Vec<String>,
    /// Extra `--set` values per pool (e.g. a node model is not a chart value).
    pub sets: Vec<String>,
    pub waves: Vec<Wave>,
    pub until: f64,
    pub stop: StopWhen,
    /// Start a rolling update at this time.
    pub rollout_at: Option<f64>,
    pub seed: u64,
}

/// A pool's outcome.
#[derive(Debug, Clone)]
pub struct PoolResult {
    pub pool: String,
    pub jobs: u32,
    pub succeeded: u32,
    pub dead_lettered: u32,
    /// Not finished and no longer anywhere: neither in the ledger as final
    /// nor waiting in the queue at the end.
    pub lost: u32,
    /// Not finished at the horizon but still in the queue (visible, in
    /// flight or delayed): late, not lost. A policy that leaves work here
    /// drains slower than the run lasted.
    pub unfinished: u32,
    /// Extra attempts: a job SIGKILLed or abandoned mid-run runs again.
    pub cut: u32,
    pub waits: Vec<f64>,
    pub slo_secs: f64,
    pub slo_misses: u32,
    pub first_job_secs: Option<f64>,
    pub stats: PodStats,
    pub timeline: Vec<Sample>,
    pub final_replicas: u32,
    pub min_replicas: u32,
    pub drained_at: Option<f64>,
    pub rollout_waits: Vec<f64>,
    /// The ScaledObject's polling interval (0 without KEDA).
    pub polling_secs: f64,
    /// Node provisioning the pool's first pod waits for when it idles at zero.
    pub cold_node_secs: f64,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub spec: RunSpec,
    pub pools: Vec<PoolResult>,
    pub ended_at: f64,
    pub wall_secs: f64,
}

impl PoolResult {
    pub fn quantile(&self, q: f64) -> f64 {
        quantile(&self.waits, q)
    }
}

pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// `fleet/render.py` through the charts venv: the rendered objects of a pool.
/// `policy` `chart` keeps the values file's own `autoscaling.mode`.
pub fn render(env: &Env, pool: &str, policy: &str, sets: &[String]) -> Result<Vec<Value>> {
    let values = env.repo.join(format!("deploy/environments/{}/{pool}.yaml", env.environment));
    let mut cmd = std::process::Command::new(&env.python);
    cmd.arg(env.repo.join("fleet/render.py")).arg(env.repo.join("charts/worker")).arg("-f").arg(&values);
    if policy != "chart" {
        cmd.arg("--set").arg(format!("autoscaling.mode={policy}"));
    }
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    let out = cmd.output().context("run fleet/render.py")?;
    if !out.status.success() {
        bail!("rendering {pool} ({policy}) failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("render.py output")
}

/// The per-pool objectives from charts/observability's recording rules.
pub fn slos(env: &Env) -> Result<BTreeMap<String, BTreeMap<String, f64>>> {
    let out = std::process::Command::new(&env.python)
        .arg(env.repo.join("fleet/render.py"))
        .arg("--slos")
        .arg(env.repo.join("charts/observability/rules/jobfleet.rules.yaml"))
        .output()
        .context("read SLOs")?;
    if !out.status.success() {
        bail!("reading the SLOs failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("SLO JSON")
}

fn node_model(spec: &PoolSpec) -> NodePoolModel {
    if spec.deployment.gpus > 0 { NodePoolModel::gpu() } else { NodePoolModel::general() }
}

/// Divides a worker setting in seconds by the time scale, rounding up
/// (the worker takes whole seconds), at least 1.
fn scaled_secs(value: u64, scale: f64) -> u64 {
    ((value as f64 / scale).ceil() as u64).max(1)
}

/// The pod's environment as the harness runs it: the rendered one, with
/// the stack's endpoints, the run's queues and database, diag jobs on, and
/// every `*_secs` setting divided by the time scale.
async fn pod_env(
    env: &Env,
    spec: &PoolSpec,
    run_env: &str,
    queue_url: &str,
    dlq_url: &str,
    db_url: &str,
    dir: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut vars = spec.deployment.env.clone();
    // Mounted ConfigMap files (the pool's TOML): written under the pod's dir, paths rewritten.
    for (path, content) in &spec.config_files {
        let local = dir.join(path.trim_start_matches('/'));
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&local, content)?;
        for v in vars.values_mut() {
            if v == path {
                *v = local.display().to_string();
            }
        }
    }
    // Secret-backed settings (e.g. the model server's API key): a placeholder, since diag jobs
    // never use them but start-up may insist they are set.
    for name in &spec.deployment.secret_env {
        vars.insert(name.clone(), "fleet-harness-placeholder".into());
    }
    vars.insert("JOBFLEET_ENV".into(), run_env.into());
    vars.insert("JOBFLEET_QUEUE_URL".into(), queue_url.into());
    vars.insert("JOBFLEET_DLQ_URL".into(), dlq_url.into());
    vars.insert("JOBFLEET_DATABASE_URL".into(), db_url.into());
    vars.insert("JOBFLEET_MIGRATE_ON_START".into(), "false".into());
    vars.insert("JOBFLEET_DIAG_ENABLED".into(), "true".into());
    vars.insert("JOBFLEET_DB_MAX_CONNECTIONS".into(), "2".into());
    vars.insert("AWS_ENDPOINT_URL".into(), env.aws_endpoint.clone());
    vars.insert("AWS_REGION".into(), "us-east-1".into());
    vars.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    vars.insert("RUST_LOG".into(), "warn,jobfleet_runtime=info".into());
    // The effective configuration, to scale what the chart left at defaults too.
    let out = Command::new(&env.worker).arg("config").env_clear().envs(&vars).output().await.context("worker config")?;
    if !out.status.success() {
        bail!("pool {}: the pod's configuration is rejected: {}", spec.pool, String::from_utf8_lossy(&out.stderr));
    }
    let config: Value = serde_json::from_slice(&out.stdout).context("worker config JSON")?;
    let mut scaled = BTreeMap::new();
    for (key, value) in config.as_object().into_iter().flatten() {
        if key.ends_with("_secs")
            && key != "prune_interval_secs"
            && let Some(v) = value.as_u64()
        {
            scaled.insert(key.clone(), scaled_secs(v, env.scale));
        }
    }
    // Keep the worker's own invariants after rounding.
    if let (Some(&hb), Some(&vis)) = (scaled.get("heartbeat_interval_secs"), scaled.get("visibility_timeout_secs"))
        && hb >= vis
    {
        scaled.insert("heartbeat_interval_secs".into(), vis.saturating_sub(1).max(1));
    }
    if let (Some(&ready), Some(&wait)) = (scaled.get("readiness_max_age_secs"), scaled.get("receive_wait_time_secs"))
        && ready <= wait
    {
        scaled.insert("readiness_max_age_secs".into(), wait + 1);
    }
    // Sections' own `*_secs` (inference.request_timeout_secs, inference.cold_start_budget_secs):
    // the worker checks that the ai.inference job timeout, scaled above, still covers them.
    let mut nested = BTreeMap::new();
    for (section, value) in config.as_object().into_iter().flatten() {
        for (key, v) in value.as_object().into_iter().flatten() {
            if key.ends_with("_secs")
                && let Some(v) = v.as_u64()
            {
                nested.insert((section.clone(), key.clone()), scaled_secs(v, env.scale));
            }
        }
    }
    let inference = |key: &str| nested.get(&("inference".to_owned(), key.to_owned())).copied();
    if let (Some(budget), Some(call), Some(&job)) =
        (inference("cold_start_budget_secs"), inference("request_timeout_secs"), scaled.get("job_timeout_secs"))
        && budget + call >= job
    {
        nested.insert(("inference".into(), "cold_start_budget_secs".into()), job.saturating_sub(call + 1));
    }
    for (key, v) in scaled {
        vars.insert(format!("JOBFLEET_{}", key.to_uppercase()), v.to_string());
    }
    for ((section, key), v) in nested {
        vars.insert(format!("JOBFLEET_{}__{}", section.to_uppercase(), key.to_uppercase()), v.to_string());
    }
    Ok(vars)
}

async fn create_queues(sqs: &Client, queue: &str, dlq: &str) -> Result<(String, String)> {
    let dlq_url = sqs.create_queue().queue_name(dlq).send().await.context("create DLQ")?.queue_url.ok_or_else(|| anyhow!("no DLQ url"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| anyhow!("no DLQ arn"))?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": "10" }).to_string();
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .context("create queue")?
        .queue_url
        .ok_or_else(|| anyhow!("no queue url"))?;
    Ok((url, dlq_url))
}

/// A database of the run's own (dropped at the end): the ledger's pools are
/// global, so runs must not see each other's history.
async fn run_database(env: &Env) -> Result<(String, String)> {
    let (base, _) = env.database_url.rsplit_once('/').ok_or_else(|| anyhow!("DATABASE_URL has no database name"))?;
    let name = format!("jobfleet_sim_{}", &Uuid::new_v4().simple().to_string()[..10]);
    let admin = PgPool::connect(&format!("{base}/postgres")).await.context("connect to the postgres database")?;
    // The name is ours (hex digits), not input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.context("create the run's database")?;
    admin.close().await;
    Ok((format!("{base}/{name}"), name))
}

async fn drop_database(env: &Env, name: &str) {
    if let Some((base, _)) = env.database_url.rsplit_once('/')
        && let Ok(admin) = PgPool::connect(&format!("{base}/postgres")).await
    {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
    }
}

/// The fleet service as a real `worker control` process.
struct ControlProcess {
    child: Child,
    grpc: String,
}

async fn start_control(
    env: &Env,
    run_env: &str,
    db_url: &str,
    pools: &[(String, String, String, u32)],
    dir: &Path,
) -> Result<ControlProcess> {
    let mut toml = format!("env = \"{run_env}\"\n");
    for (pool, url, dlq, concurrency) in pools {
        toml.push_str(&format!("[pools.{pool}]\nqueue_url = \"{url}\"\ndlq_url = \"{dlq}\"\nconcurrency = {concurrency}\n"));
    }
    let config = dir.join("control.toml");
    std::fs::write(&config, toml)?;
    let grpc_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let scale = env.scale;
    let log = std::fs::File::create(dir.join("control.log"))?;
    let child = Command::new(&env.worker)
        .arg("control")
        .arg("--grpc-addr")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .arg("--sample-interval-secs")
        .arg(format!("{}", 10.0 / scale))
        .arg("--durations-refresh-secs")
        .arg(format!("{}", 30.0 / scale))
        .arg("--cold-start-job-secs")
        .arg(format!("{}", 30.0 / scale))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JOBFLEET_CONFIG", &config)
        .env("JOBFLEET_DATABASE_URL", db_url)
        .env("JOBFLEET_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env("JOBFLEET_MIGRATE_ON_START", "false")
        .env("AWS_ENDPOINT_URL", &env.aws_endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("spawn worker control")?;
    Ok(ControlProcess { child, grpc: format!("http://127.0.0.1:{grpc_port}") })
}

async fn connect_scaler(addr: &str) -> Result<ExternalScalerClient<tonic::transport::Channel>> {
    let mut last = None;
    for _ in 0..200 {
        match ExternalScalerClient::connect(addr.to_owned()).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(anyhow!("the fleet service never answered on {addr}: {last:?}"))
}

/// The jobs of a run, planned up front (seeded, so every policy sees the same).
#[derive(Debug, Clone)]
struct Planned {
    pool: String,
    at: f64,
    duration: f64,
}

fn plan(waves: &[Wave], seed: u64) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut jobs = Vec::new();
    for w in waves {
        for i in 0..w.count {
            let at = w.at + if w.count > 1 { w.over * f64::from(i) / f64::from(w.count) } else { 0.0 };
            let duration = match w.durations {
                Durations::Fixed(d) => d,
                Durations::Uniform(a, b) => a + rng.f64() * (b - a),
            };
            jobs.push(Planned { pool: w.pool.clone(), at, duration });
        }
    }
    jobs.sort_by(|a, b| a.at.total_cmp(&b.at));
    jobs
}

/// A job's fate: id, status, attempts, enqueued, started.
type LedgerRow = (Uuid, String, i32, Option<OffsetDateTime>, Option<OffsetDateTime>);

/// Runs one scenario under one policy.
pub async fn run(env: &Env, spec: RunSpec) -> Result<RunResult> {
    let wall0 = std::time::Instant::now();
    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let run_env = format!("f{run_id}");
    let dir = env.log_root.join(format!("{}-{}-{run_id}", spec.scenario, spec.policy));
    std::fs::create_dir_all(&dir)?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&env.aws_endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let sqs = Client::new(&aws);
    let (db_url, db_name) = run_database(env).await?;
    let result = run_in(env, &spec, &run_env, &dir, &sqs, &db_url, wall0).await;
    drop_database(env, &db_name).await;
    result
}

async fn run_in(
    env: &Env,
    spec: &RunSpec,
    run_env: &str,
    dir: &Path,
    sqs: &Client,
    db_url: &str,
    wall0: std::time::Instant,
) -> Result<RunResult> {
    let db = PgPool::connect(db_url).await.context("connect to the run's database")?;
    jobfleet_runtime::store::migrate(&db).await.context("migrate the run's database")?;
    let slos = slos(env)?;
    // Every default pool gets queues (the fleet service resolves them all).
    let mut queue_of = BTreeMap::new();
    for pool in ["media", "notifications", "ai"].iter().map(|p| p.to_string()).chain(spec.pools.iter().cloned()) {
        if queue_of.contains_key(&pool) {
            continue;
        }
        let urls = create_queues(sqs, &format!("{run_env}-jobfleet-{pool}"), &format!("{run_env}-jobfleet-{pool}-dlq")).await?;
        queue_of.insert(pool, urls);
    }
    let mut specs = Vec::new();
    for pool in &spec.pools {
        let objects = render(env, pool, &spec.policy, &spec.sets)?;
        let pool_spec = PoolSpec::from_rendered(&objects).with_context(|| format!("pool {pool}"))?;
        specs.push(pool_spec);
    }
    let needs_control =
        specs.iter().any(|s| matches!(&s.autoscaler, Autoscaler::Keda(so) if matches!(so.trigger, Trigger::External { .. })));
    let mut control = None;
    if needs_control {
        let pools: Vec<(String, String, String, u32)> = queue_of
            .iter()
            .map(|(p, (u, d))| {
                let c = specs
                    .iter()
                    .find(|s| &s.pool == p)
                    .and_then(|s| s.deployment.env.get("JOBFLEET_CONCURRENCY"))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(8);
                (p.clone(), u.clone(), d.clone(), c)
            })
            .collect();
        control = Some(start_control(env, run_env, db_url, &pools, dir).await?);
    }
    let clock = Clock::new(env.scale);
    let world = World {
        clock: clock.clone(),
        sqs: sqs.clone(),
        http: reqwest::Client::new(),
        binary: env.worker.clone(),
        log_dir: dir.to_path_buf(),
    };
    let mut deployments = Vec::new();
    for pool_spec in specs {
        let (url, dlq) = queue_of.get(&pool_spec.pool).cloned().ok_or_else(|| anyhow!("no queue for {}", pool_spec.pool))?;
        let pod_dir = dir.join(format!("{}-files", pool_spec.pool));
        let vars = pod_env(env, &pool_spec, run_env, &url, &dlq, db_url, &pod_dir).await?;
        let external = match (&pool_spec.autoscaler, &control) {
            (Autoscaler::Keda(so), Some(c)) => match &so.trigger {
                Trigger::External { metadata } => {
                    let mut metadata = metadata.clone();
                    // The fleet service measures job seconds on the wall clock: the
                    // simulated target drain time becomes wall seconds.
                    for key in ["targetDrainSeconds", "coldStartJobSeconds"] {
                        if let Some(v) = metadata.get(key).and_then(|v| v.parse::<f64>().ok()) {
                            metadata.insert(key.into(), format!("{}", v / env.scale));
                        }
                    }
                    Some(External { client: connect_scaler(&c.grpc).await?, metadata })
                }
                _ => None,
            },
            _ => None,
        };
        let model = node_model(&pool_spec);
        deployments.push(Deployment::new(pool_spec, url, vars, model, external)?);
    }

    let planned = plan(&spec.waves, spec.seed);
    let mut sent: Vec<(Uuid, String, f64)> = Vec::with_capacity(planned.len());
    let mut next = 0usize;
    let mut rolled = false;
    let mut rollout_window: Option<(f64, f64)> = None;
    let total = planned.len();
    let mut last_check = -10.0;
    crate::sim::run_until(&world, &mut deployments, spec.until, async |now, deps: &mut [Deployment]| {
        // Workload.
        let mut batch: BTreeMap<String, Vec<(Uuid, String)>> = BTreeMap::new();
        while next < planned.len() && planned[next].at <= now {
            let p = &planned[next];
            let ms = (p.duration * 1000.0 / env.scale).round().max(1.0) as u64;
            let envelope = Envelope {
                id: Uuid::now_v7(),
                job_type: "diag.sleep".into(),
                version: 1,
                created_at: OffsetDateTime::now_utc(),
                payload: Some(serde_json::json!({ "ms": ms })),
                payload_ref: None,
                traceparent: None,
                idempotency_key: None,
            };
            batch.entry(p.pool.clone()).or_default().push((envelope.id, envelope.to_json()));
            sent.push((envelope.id, p.pool.clone(), now));
            next += 1;
        }
        for (pool, messages) in batch {
            let url = &queue_of[&pool].0;
            for chunk in messages.chunks(10) {
                let entries: Vec<SendMessageBatchRequestEntry> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, (_, body))| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build())
                    .collect::<Result<_, _>>()?;
                world.sqs.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await.context("SendMessageBatch")?;
            }
        }
        if let Some(at) = spec.rollout_at
            && !rolled
            && now >= at
        {
            rolled = true;
            for d in deps.iter_mut() {
                d.roll();
            }
            rollout_window = Some((now, f64::INFINITY));
        }
        if let Some((start, end)) = rollout_window
            && end.is_infinite()
            && deps.iter().all(|d| {
                d.pods.iter().all(|p| !p.is_active() || p.revision == d.revision)
                    && d.pods.iter().filter(|p| p.is_active()).all(|p| p.ready)
            })
            && now > start + 1.0
        {
            rollout_window = Some((start, now));
        }
        if next < total || spec.stop == StopWhen::Never || now - last_check < 5.0 {
            return Ok(false);
        }
        last_check = now;
        let ids: Vec<Uuid> = sent.iter().map(|(id, _, _)| *id).collect();
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE id = ANY($1) AND status IN ('succeeded', 'failed', 'dead')")
            .bind(&ids)
            .fetch_one(&db)
            .await?;
        if done < total as i64 {
            return Ok(false);
        }
        Ok(match spec.stop {
            StopWhen::AllDone => true,
            StopWhen::AllDoneAndSettled => deps.iter().all(|d| {
                let min = match &d.spec.autoscaler {
                    Autoscaler::Keda(so) => so.min_replicas,
                    Autoscaler::None => d.replicas,
                };
                d.replicas <= min && d.pods.iter().all(|p| !matches!(p.phase, crate::pod::Phase::Terminating))
            }),
            StopWhen::Never => false,
        })
    })
    .await?;
    let ended_at = clock.now();

    // Every job's fate.
    let ids: Vec<Uuid> = sent.iter().map(|(id, _, _)| *id).collect();
    let rows: Vec<LedgerRow> = sqlx::query_as("SELECT id, status, attempts, enqueued_at, started_at FROM jobs WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&db)
        .await?;
    let by_id: BTreeMap<Uuid, _> = rows.into_iter().map(|r| (r.0, r)).collect();
    let mut pools = Vec::new();
    for d in &mut deployments {
        let pool = d.pool().to_owned();
        let dlq = &queue_of[&pool].1;
        let dlq_depth = depth(sqs, dlq).await.unwrap_or_default();
        let mut waits = Vec::new();
        let mut rollout_waits = Vec::new();
        let (mut jobs, mut succeeded, mut not_final, mut cut) = (0, 0, 0, 0);
        let mut first: Option<f64> = None;
        let mut first_sent: Option<f64> = None;
        for (id, job_pool, sent_at) in sent.iter().filter(|(_, p, _)| *p == pool) {
            jobs += 1;
            first_sent = Some(first_sent.map_or(*sent_at, |f: f64| f.min(*sent_at)));
            match by_id.get(id) {
                Some((_, status, attempts, enqueued, started)) => {
                    if status == "succeeded" {
                        succeeded += 1;
                    } else if status != "failed" && status != "dead" {
                        not_final += 1;
                    }
                    cut += (*attempts - 1).max(0) as u32;
                    if let (Some(e), Some(s)) = (enqueued, started) {
                        let wait = (*s - *e).as_seconds_f64().max(0.0) * env.scale;
                        waits.push(wait);
                        let started_sim = sent_at + wait;
                        first = Some(first.map_or(started_sim, |f: f64| f.min(started_sim)));
                        if let Some((a, b)) = rollout_window
                            && *sent_at >= a
                            && *sent_at <= b
                        {
                            rollout_waits.push(wait);
                        }
                    }
                }
                None => not_final += 1,
            }
            let _ = job_pool;
        }
        // What is still queued at the end is late, not lost; only the rest is.
        let queued = depth(sqs, &queue_of[&pool].0).await.map(|d| d.visible + d.in_flight + d.delayed).unwrap_or_default();
        let unfinished = not_final.min(u32::try_from(queued).unwrap_or(u32::MAX));
        let lost = not_final - unfinished;
        let slo_secs = slos.get(&pool).and_then(|s| s.get("queue_oldest_age_slo_seconds")).copied().unwrap_or(f64::INFINITY);
        let slo_misses = waits.iter().filter(|w| **w > slo_secs).count() as u32;
        let (min_replicas, polling_secs) = match &d.spec.autoscaler {
            Autoscaler::Keda(so) => (so.min_replicas, so.polling_secs),
            Autoscaler::None => (d.replicas, 0.0),
        };
        let cold_node_secs = if min_replicas == 0 { node_model(&d.spec).provision_secs } else { 0.0 };
        // Drained: the first sample after the last job was sent with an empty queue.
        let last_sent = sent.iter().filter(|(_, p, _)| *p == pool).map(|(_, _, t)| *t).fold(0.0, f64::max);
        let drained_at = d
            .timeline
            .iter()
            .find(|s| s.t >= last_sent && s.visible == 0 && s.in_flight == 0)
            .map(|s| s.t)
            .or((succeeded == jobs).then_some(ended_at));
        pools.push(PoolResult {
            pool: pool.clone(),
            jobs,
            succeeded,
            dead_lettered: dlq_depth.visible as u32,
            lost,
            unfinished,
            cut,
            waits,
            slo_secs,
            slo_misses,
            first_job_secs: match (first, first_sent) {
                (Some(f), Some(s)) => Some(f - s),
                _ => None,
            },
            stats: d.pod_stats(ended_at),
            timeline: d.timeline.clone(),
            final_replicas: d.replicas,
            min_replicas,
            drained_at,
            rollout_waits,
            polling_secs,
            cold_node_secs,
        });
        d.shutdown().await;
    }
    if let Some(mut c) = control {
        let _ = c.child.start_kill();
        let _ = c.child.wait().await;
    }
    db.close().await;
    Ok(RunResult { spec: spec.clone(), pools, ended_at, wall_secs: wall0.elapsed().as_secs_f64() })
}
