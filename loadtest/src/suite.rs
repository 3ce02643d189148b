//! The benchmark suite: starts consumers as real processes against the
//! emulator, drives them with the generator, and measures them from the
//! outside (/proc, the emulator, the ledger, /metrics).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::PgPool;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::emu::{Emulator, consumer_requests};
use crate::generator::{self, Format, Mix};
use crate::procfs;
use crate::results::*;
use crate::stats;

/// Where things are, from loadtest/bench.sh.
#[derive(Debug, Clone)]
pub struct Tools {
    pub worker_bin: PathBuf,
    pub node_bin: PathBuf,
    pub peers_dir: PathBuf,
    pub celery_bin: PathBuf,
    pub database_url: String,
    pub out_dir: PathBuf,
    pub emulator_pid: Option<u32>,
}

/// Sizes and durations of the scenarios.
#[derive(Debug, Clone)]
pub struct Settings {
    pub repeats: usize,
    pub ours_jobs: u64,
    pub peer_jobs: u64,
    pub celery_jobs: u64,
    pub concurrency: u32,
    pub sweep_fractions: Vec<f64>,
    pub point_secs: f64,
    pub ceiling_secs: f64,
    pub ceiling_concurrency: usize,
    pub idle_secs: f64,
    pub fleet: Vec<usize>,
    pub mix: Mix,
    pub celery_polling_interval: String,
    pub skip_peers: bool,
    /// Longest a backlog drain is measured for; a consumer still busy then
    /// is measured on what it processed.
    pub drain_max_secs: f64,
}

impl Settings {
    pub fn describe(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("repeats".into(), self.repeats.to_string()),
            ("backlog jobs (jobfleet)".into(), self.ours_jobs.to_string()),
            ("backlog jobs (sqs-consumer)".into(), self.peer_jobs.to_string()),
            ("backlog jobs (Celery)".into(), self.celery_jobs.to_string()),
            ("JOBFLEET_CONCURRENCY".into(), self.concurrency.to_string()),
            ("latency point length (s)".into(), self.point_secs.to_string()),
            ("sweep (fractions of saturation)".into(), format!("{:?}", self.sweep_fractions)),
            ("ceiling loop".into(), format!("{} loops × {} s", self.ceiling_concurrency, self.ceiling_secs)),
            ("fleet sizes".into(), format!("{:?}", self.fleet)),
            ("mixed scenario".into(), format!("{:?}", self.mix)),
            ("Celery polling_interval".into(), self.celery_polling_interval.clone()),
            ("backlog drain time box (s)".into(), self.drain_max_secs.to_string()),
        ])
    }
}

#[derive(Debug)]
pub struct Suite {
    pub tools: Tools,
    pub settings: Settings,
    pub emu: Emulator,
    ticks: f64,
    db: Option<PgPool>,
    seq: u32,
    run_tag: String,
}

/// Consumer processes under test.
struct Running {
    consumer: Consumer,
    children: Vec<Child>,
    pids: Vec<u32>,
    admin_ports: Vec<u16>,
    out_prefix: PathBuf,
    queue: String,
    dlq: String,
    spawned: Instant,
}

fn signal(pids: &[u32], sig: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = std::process::Command::new("kill").arg(format!("-{sig}")).args(pids.iter().map(u32::to_string)).status();
}

fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(0.0)
}

/// Sum of a Prometheus counter's samples (all label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Suite {
    pub async fn new(tools: Tools, settings: Settings, endpoint: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(tools.out_dir.join("logs"))?;
        // Children run in other directories (Celery in its app's folder).
        let absolute = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let tools = Tools {
            worker_bin: absolute(&tools.worker_bin),
            node_bin: absolute(&tools.node_bin),
            peers_dir: absolute(&tools.peers_dir),
            celery_bin: absolute(&tools.celery_bin),
            out_dir: absolute(&tools.out_dir),
            ..tools
        };
        let emu = Emulator::new(endpoint).await;
        let run_tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() % 0xfffff);
        Ok(Self { tools, settings, emu, ticks: procfs::clock_ticks_per_sec(), db: None, seq: 0, run_tag })
    }

    async fn db(&mut self) -> anyhow::Result<PgPool> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        let db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&self.tools.database_url).await?;
        self.db = Some(db.clone());
        Ok(db)
    }

    /// Empties the ledger table (the bench database is the suite's own).
    async fn truncate_ledger(&mut self) -> anyhow::Result<()> {
        let db = self.db().await?;
        if let Err(e) = sqlx::query("TRUNCATE jobs").execute(&db).await {
            // Before the first worker has migrated there is no table yet.
            if !e.to_string().contains("does not exist") {
                return Err(e.into());
            }
        }
        Ok(())
    }

    async fn ledger_latencies_ms(&mut self, ids: Option<&[Uuid]>) -> anyhow::Result<Vec<f64>> {
        let db = self.db().await?;
        let sql = "SELECT (extract(epoch from (started_at - enqueued_at)) * 1000)::float8 FROM jobs \
                   WHERE status = 'succeeded' AND ($1::uuid[] IS NULL OR id = ANY($1))";
        let rows: Vec<(f64,)> = sqlx::query_as(sql).bind(ids.map(<[Uuid]>::to_vec)).fetch_all(&db).await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    async fn ledger_succeeded(&mut self) -> anyhow::Result<u64> {
        let db = self.db().await?;
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE status = 'succeeded'").fetch_one(&db).await?;
        Ok(n as u64)
    }

    fn next_queue(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("lt{}-{}-{}", self.run_tag, self.seq, what)
    }

    async fn spawn(&mut self, consumer: Consumer, processes: usize, scenario: &str) -> anyhow::Result<Running> {
        self.spawn_with(consumer, processes, scenario, None).await
    }

    /// Starts consumers on new queues, or on `existing` (queue, dlq) names.
    async fn spawn_with(
        &mut self,
        consumer: Consumer,
        processes: usize,
        scenario: &str,
        existing: Option<(&str, &str)>,
    ) -> anyhow::Result<Running> {
        let (queue, dlq, queue_url, dlq_url) = match existing {
            Some((queue, dlq)) => {
                self.seq += 1;
                let url = |name: &str| format!("{}/000000000000/{name}", self.emu.endpoint);
                (queue.to_owned(), dlq.to_owned(), url(queue), url(dlq))
            }
            None => {
                let base = self.next_queue(consumer.slug());
                let (queue, dlq) = (format!("{base}-jobfleet-media"), format!("{base}-jobfleet-media-dlq"));
                let queue_url = self.emu.create_queue(&queue).await?;
                let dlq_url = self.emu.create_queue(&dlq).await?;
                (queue, dlq, queue_url, dlq_url)
            }
        };
        let out_prefix = self.tools.out_dir.join(format!("{scenario}-{}-{}", consumer.slug(), self.seq));
        let mut children = Vec::new();
        let mut admin_ports = Vec::new();
        let spawned = Instant::now();
        for i in 0..processes {
            let log = std::fs::File::create(self.tools.out_dir.join("logs").join(format!(
                "{scenario}-{}-{}-{i}.log",
                consumer.slug(),
                self.seq
            )))?;
            let mut cmd = match consumer {
                Consumer::Jobfleet => {
                    let port = 19_100 + (self.seq % 50) as u16 * 8 + i as u16;
                    admin_ports.push(port);
                    let mut cmd = Command::new(&self.tools.worker_bin);
                    cmd.args(["run", "--pool", "media"])
                        .env("JOBFLEET_ENV", "bench")
                        .env("JOBFLEET_QUEUE_URL", &queue_url)
                        .env("JOBFLEET_DLQ_URL", &dlq_url)
                        .env("JOBFLEET_DATABASE_URL", &self.tools.database_url)
                        .env("JOBFLEET_CONCURRENCY", self.settings.concurrency.to_string())
                        .env("JOBFLEET_DIAG_ENABLED", "true")
                        .env("JOBFLEET_ADMIN_ADDR", format!("127.0.0.1:{port}"))
                        .env("JOBFLEET_LOG_FORMAT", "json")
                        .env("RUST_LOG", "warn");
                    cmd
                }
                Consumer::SqsConsumerMessage | Consumer::SqsConsumerBatch => {
                    let mode = if consumer == Consumer::SqsConsumerBatch { "batch" } else { "message" };
                    let mut cmd = Command::new(&self.tools.node_bin);
                    cmd.arg(self.tools.peers_dir.join("sqs-consumer/consumer.mjs"))
                        .arg(mode)
                        .arg(&queue_url)
                        .arg(out_prefix.with_extension(format!("{i}.json")));
                    cmd
                }
                Consumer::Celery => {
                    let mut cmd = Command::new(&self.tools.celery_bin);
                    cmd.args([
                        "-A",
                        "bench_app",
                        "worker",
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ])
                    .current_dir(self.tools.peers_dir.join("celery"))
                    .env("BENCH_ENDPOINT", &self.emu.endpoint)
                    .env("BENCH_QUEUE_URL", &queue_url)
                    .env("BENCH_OUT", &out_prefix)
                    .env("BENCH_POLLING_INTERVAL", &self.settings.celery_polling_interval);
                    cmd
                }
            };
            cmd.env("AWS_ENDPOINT_URL", &self.emu.endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true);
            children.push(cmd.spawn().with_context(|| format!("starting {}", consumer.label()))?);
        }
        let pids = children.iter().filter_map(Child::id).collect();
        Ok(Running { consumer, children, pids, admin_ports, out_prefix, queue, dlq, spawned })
    }

    /// Waits until every process polls: the emulator has seen a
    /// ReceiveMessage on the queue from each (and ours' admin ports answer).
    async fn wait_ready(&self, running: &mut Running) -> anyhow::Result<f64> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let mut first_receive: Option<f64> = None;
        loop {
            for child in &mut running.children {
                if let Some(status) = child.try_wait()? {
                    bail!("{} exited during start-up ({status}); see {}/logs", running.consumer.label(), self.tools.out_dir.display());
                }
            }
            let receives = self
                .emu
                .requests()
                .await?
                .iter()
                .filter(|((op, q), _)| op == "ReceiveMessage" && *q == running.queue)
                .map(|(_, n)| *n)
                .sum::<u64>();
            if receives > 0 && first_receive.is_none() {
                first_receive = Some(running.spawned.elapsed().as_secs_f64());
            }
            let mut admin_ok = true;
            for port in &running.admin_ports {
                admin_ok &= http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.is_ok();
            }
            if receives >= running.children.len() as u64 && admin_ok {
                return Ok(first_receive.unwrap_or_else(|| running.spawned.elapsed().as_secs_f64()));
            }
            if Instant::now() > deadline {
                bail!("{} did not start polling within 60 s", running.consumer.label());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn tree_pids(running: &Running) -> Vec<u32> {
        running.pids.iter().flat_map(|&p| procfs::tree(p)).collect()
    }

    async fn scrape_sqs_requests(&self, running: &Running) -> Option<f64> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
        let mut total = 0.0;
        for port in &running.admin_ports {
            let text = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.ok()?.text().await.ok()?;
            total += metric_sum(&text, "jobfleet_sqs_requests_total");
        }
        (!running.admin_ports.is_empty()).then_some(total)
    }

    /// SIGTERM, then wait (SIGKILL after 40 s). Returns each exit code.
    async fn stop(&self, running: &mut Running) -> Vec<Option<i32>> {
        signal(&running.pids, "CONT");
        signal(&running.pids, "TERM");
        let mut codes = Vec::new();
        for child in &mut running.children {
            match tokio::time::timeout(Duration::from_secs(40), child.wait()).await {
                Ok(Ok(status)) => codes.push(status.code()),
                _ => {
                    let _ = child.kill().await;
                    codes.push(None);
                }
            }
        }
        codes
    }

    /// Peers' own per-job records (latency ms), written at shutdown.
    fn peer_latencies(running: &Running) -> Vec<f64> {
        let dir = running.out_prefix.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = running.out_prefix.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("{stem}."))
                    && name.ends_with(".json")
                    && let Ok(Ok(v)) = std::fs::read_to_string(entry.path()).map(|t| serde_json::from_str::<serde_json::Value>(&t))
                {
                    out.extend(v["latencies_ms"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_f64));
                }
            }
        }
        out
    }

    fn format_for(consumer: Consumer) -> Format {
        if consumer == Consumer::Celery { Format::Celery } else { Format::Envelope }
    }

    async fn wait_empty(&self, queue: &str, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let (visible, in_flight) = self.emu.depth(queue).await?;
            if visible + in_flight == 0 {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!("queue {queue} still holds {visible} visible + {in_flight} in flight after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn emulator_cpu(&self) -> Option<f64> {
        self.tools.emulator_pid.map(|pid| procfs::cpu_seconds(&[pid], self.ticks))
    }

    /// The emulator's ceiling with a bare SDK loop, plus the emulator's CPU.
    pub async fn ceiling(&mut self) -> anyhow::Result<Ceiling> {
        let emu0 = self.emulator_cpu();
        let mut ceiling = Self::ceiling_with(&self.emu, self.settings.ceiling_secs, self.settings.ceiling_concurrency).await?;
        if let (Some(a), Some(b)) = (emu0, self.emulator_cpu()) {
            ceiling.emulator_cores = Some((b - a) / ceiling.secs);
        }
        Ok(ceiling)
    }

    /// `concurrency` loops of send batch 10 → receive 10 → delete batch 10
    /// for `secs`; messages deleted per second.
    pub async fn ceiling_with(emu: &Emulator, secs: f64, concurrency: usize) -> anyhow::Result<Ceiling> {
        let name = format!("ceiling-{}", uuid::Uuid::now_v7().simple());
        let url = emu.create_queue(&name).await?;
        let me = std::process::id();
        let ticks = procfs::clock_ticks_per_sec();
        let cpu0 = procfs::cpu_seconds(&[me], ticks);
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url) = (emu.sqs.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mix = Mix::noop();
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let now = time::OffsetDateTime::now_utc();
                    let entries: Vec<_> = (0..10)
                        .filter_map(|i| {
                            let (_, body, _) = generator::message(Format::Envelope, &mix, now);
                            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build().ok()
                        })
                        .collect();
                    if client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.is_err() {
                        continue;
                    }
                    let Ok(out) = client.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1).send().await
                    else {
                        continue;
                    };
                    let entries: Vec<_> = out
                        .messages
                        .unwrap_or_default()
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, m)| {
                            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(m.receipt_handle?)
                                .build()
                                .ok()
                        })
                        .collect();
                    if entries.is_empty() {
                        continue;
                    }
                    let n = entries.len() as u64;
                    if client.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.is_ok() {
                        done += n;
                    }
                }
                done
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = procfs::cpu_seconds(&[me], ticks) - cpu0;
        Ok(Ceiling { msgs_per_sec: total as f64 / elapsed, concurrency, secs: elapsed, emulator_cores: None, client_cores: cpu / elapsed })
    }

    /// Drains a backlog of `jobs` with `processes` consumer processes.
    pub async fn saturation(
        &mut self,
        consumer: Consumer,
        processes: usize,
        jobs: u64,
        mix: Mix,
        scenario: &str,
    ) -> anyhow::Result<Saturation> {
        if consumer == Consumer::Jobfleet {
            self.truncate_ledger().await?;
        }
        let mut running = self.spawn(consumer, processes, scenario).await?;
        let result = self.saturation_inner(&mut running, jobs, mix).await;
        let codes = self.stop(&mut running).await;
        let mut result = result?;
        if consumer == Consumer::Jobfleet {
            result.handled = self.ledger_succeeded().await?;
        } else {
            result.handled = Self::peer_latencies(&running).len() as u64;
        }
        if codes.iter().any(|c| *c != Some(0)) {
            eprintln!("loadtest: warning: {} exited with {codes:?}", consumer.label());
        }
        Ok(result)
    }

    async fn saturation_inner(&mut self, running: &mut Running, jobs: u64, mix: Mix) -> anyhow::Result<Saturation> {
        let start_secs = self.wait_ready(running).await?;
        let roots = running.pids.clone();
        let cpu_idle0 = procfs::cpu_seconds(&roots, self.ticks);
        tokio::time::sleep(Duration::from_secs_f64(self.settings.idle_secs)).await;
        let idle_cpu_pct = (procfs::cpu_seconds(&roots, self.ticks) - cpu_idle0) / self.settings.idle_secs * 100.0;
        let (idle_rss_kib, _) = procfs::memory_kib(&roots);

        // The admin port cannot answer while the process is stopped: read
        // the worker's request counter first (it is idle, so nothing moves).
        let metrics0 = self.scrape_sqs_requests(running).await;
        // Pause the consumer while the backlog is written.
        let tree = Self::tree_pids(running);
        signal(&tree, "STOP");
        let queue_url = format!("{}/000000000000/{}", self.emu.endpoint, running.queue);
        let spec = generator::Spec { queue_url, count: jobs, rate: None, concurrency: 8, format: Self::format_for(running.consumer), mix };
        let sent = generator::run(self.emu.sqs.clone(), spec).await;
        if sent.sent != jobs {
            signal(&tree, "CONT");
            bail!("generator sent {} of {jobs} ({} failed)", sent.sent, sent.failed);
        }
        let requests0 = self.emu.requests().await?;
        let load0 = load_avg();
        let cpu0 = procfs::cpu_seconds(&roots, self.ticks);
        let emu0 = self.emulator_cpu();
        let t0 = Instant::now();
        signal(&tree, "CONT");
        // Bounded: a slow consumer is measured on what it did in the time box.
        let time_box = Duration::from_secs_f64(self.settings.drain_max_secs);
        let (t_end, left) = match self.wait_empty(&running.queue, time_box).await {
            Ok(t) => (t, 0),
            Err(_) => {
                let (visible, in_flight) = self.emu.depth(&running.queue).await?;
                (Instant::now(), visible + in_flight)
            }
        };
        let processed = jobs.saturating_sub(left).max(1);
        let secs = (t_end - t0).as_secs_f64();
        // Let the last acknowledgements and ledger writes land.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu_secs = procfs::cpu_seconds(&roots, self.ticks) - cpu0;
        let emulator_cores = match (emu0, self.emulator_cpu()) {
            (Some(a), Some(b)) => Some((b - a) / t0.elapsed().as_secs_f64()),
            _ => None,
        };
        let (_, peak_rss_kib) = procfs::memory_kib(&roots);
        let requests1 = self.emu.requests().await?;
        let metrics1 = self.scrape_sqs_requests(running).await;
        let by_op = consumer_requests(&requests0, &requests1, &[running.queue.as_str(), running.dlq.as_str()]);
        let total: u64 = by_op.values().sum();
        Ok(Saturation {
            consumer: Some(running.consumer),
            processes: running.children.len(),
            jobs,
            processed,
            time_boxed: left > 0,
            handled: 0,
            secs,
            jobs_per_sec: processed as f64 / secs,
            cpu_secs,
            cpu_us_per_job: cpu_secs / processed as f64 * 1e6,
            cores: cpu_secs / t0.elapsed().as_secs_f64(),
            emulator_cores,
            idle_rss_kib,
            peak_rss_kib,
            idle_cpu_pct,
            start_secs,
            requests_per_job_emulator: total as f64 / processed as f64,
            requests_emulator: by_op,
            requests_per_job_metrics: match (metrics0, metrics1) {
                (Some(a), Some(b)) => Some((b - a) / processed as f64),
                _ => None,
            },
            load_avg: (load0 + load_avg()) / 2.0,
        })
    }

    /// One open-loop point: `rate` jobs/s for `secs` after a 1 s warm-up.
    pub async fn latency_point(&mut self, consumer: Consumer, rate: f64, load_fraction: f64) -> anyhow::Result<LatencyPoint> {
        if consumer == Consumer::Jobfleet {
            self.truncate_ledger().await?;
        }
        let mut running = self.spawn(consumer, 1, "latency").await?;
        let result = self.latency_inner(&mut running, rate, load_fraction).await;
        self.stop(&mut running).await;
        let (mut point, ids, warmup) = result?;
        let latencies = if consumer == Consumer::Jobfleet {
            self.ledger_latencies_ms(Some(&ids)).await?
        } else {
            // Peers record in handling order; the warm-up jobs came first.
            let all = Self::peer_latencies(&running);
            all.into_iter().skip(warmup as usize).collect()
        };
        point.latency_ms = stats::summarize(&latencies);
        Ok(point)
    }

    async fn latency_inner(
        &mut self,
        running: &mut Running,
        rate: f64,
        load_fraction: f64,
    ) -> anyhow::Result<(LatencyPoint, Vec<Uuid>, u64)> {
        self.wait_ready(running).await?;
        let queue_url = format!("{}/000000000000/{}", self.emu.endpoint, running.queue);
        let format = Self::format_for(running.consumer);
        let spec =
            |count| generator::Spec { queue_url: queue_url.clone(), count, rate: Some(rate), concurrency: 64, format, mix: Mix::noop() };
        // Warm-up second (not measured), then let it drain.
        let warmup = (rate.ceil() as u64).max(10);
        generator::run(self.emu.sqs.clone(), spec(warmup)).await;
        self.wait_empty(&running.queue, Duration::from_secs(60)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let count = (rate * self.settings.point_secs).round().max(10.0) as u64;
        let requests0 = self.emu.requests().await?;
        let cpu0 = procfs::cpu_seconds(&running.pids, self.ticks);
        let load0 = load_avg();
        let sent = generator::run(self.emu.sqs.clone(), spec(count)).await;
        self.wait_empty(&running.queue, Duration::from_secs(120)).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu = procfs::cpu_seconds(&running.pids, self.ticks) - cpu0;
        let requests1 = self.emu.requests().await?;
        let total: u64 = consumer_requests(&requests0, &requests1, &[running.queue.as_str(), running.dlq.as_str()]).values().sum();
        let point = LatencyPoint {
            consumer: Some(running.consumer),
            load_fraction,
            offered_per_sec: rate,
            achieved_send_per_sec: sent.rate,
            jobs: sent.sent,
            latency_ms: None,
            cpu_us_per_job: cpu / sent.sent.max(1) as f64 * 1e6,
            requests_per_job_emulator: total as f64 / sent.sent.max(1) as f64,
            load_avg: (load0 + load_avg()) / 2.0,
        };
        Ok((point, sent.ids, warmup))
    }

    /// SIGTERM under load; then a second worker finishes the rest; the
    /// ledger says whether anything was lost or run twice.
    pub async fn drain(&mut self, sleep_ms: u64, rate: f64, secs: f64, term_after: f64) -> anyhow::Result<Drain> {
        self.truncate_ledger().await?;
        let mut first = self.spawn(Consumer::Jobfleet, 1, "drain").await?;
        self.wait_ready(&mut first).await?;
        let queue_url = format!("{}/000000000000/{}", self.emu.endpoint, first.queue);
        let count = (rate * secs).round() as u64;
        let spec =
            generator::Spec { queue_url, count, rate: Some(rate), concurrency: 64, format: Format::Envelope, mix: Mix::sleep(sleep_ms) };
        let generator = tokio::spawn(generator::run(self.emu.sqs.clone(), spec));
        tokio::time::sleep(Duration::from_secs_f64(term_after)).await;
        let term_at = Instant::now();
        signal(&first.pids, "TERM");
        let status = tokio::time::timeout(Duration::from_secs(60), first.children[0].wait()).await;
        let drain_secs = term_at.elapsed().as_secs_f64();
        let exit_code = match status {
            Ok(Ok(s)) => s.code(),
            _ => {
                let _ = first.children[0].kill().await;
                None
            }
        };
        let sent = generator.await?;
        let db = self.db().await?;
        let (started, abandoned): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE status IN ('running', 'retrying')) FROM jobs WHERE id = ANY($1)")
                .bind(&sent.ids)
                .fetch_one(&db)
                .await?;
        let (visible, in_flight) = self.emu.depth(&first.queue).await?;

        // A second worker on the same queue finishes what is left.
        let (queue, dlq) = (first.queue.clone(), first.dlq.clone());
        let mut second = self.spawn_with(Consumer::Jobfleet, 1, "drain-rest", Some((&queue, &dlq))).await?;
        self.wait_ready(&mut second).await?;
        self.wait_empty(&first.queue, Duration::from_secs(120)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.stop(&mut second).await;
        let (succeeded, attempts_over_one, duplicates): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE attempts > 1), \
             coalesce(sum(duplicate_deliveries), 0)::bigint FROM jobs WHERE id = ANY($1)",
        )
        .bind(&sent.ids)
        .fetch_one(&db)
        .await?;
        Ok(Drain {
            jobs_sent: sent.sent,
            sleep_ms,
            rate,
            sigterm_after_secs: term_after,
            drain_secs,
            exit_code,
            started_by_first: started as u64,
            abandoned: abandoned as u64,
            in_flight_after_exit: in_flight,
            visible_after_exit: visible,
            // Every sent job not started by the first worker must still be queued.
            unstarted_after_exit: sent.sent.saturating_sub(started as u64),
            succeeded: succeeded as u64,
            lost: sent.sent.saturating_sub(succeeded as u64),
            attempts_over_one: attempts_over_one as u64,
            redelivered_after_completion: duplicates as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_every_label_set_of_one_metric_only() {
        let text = "# TYPE jobfleet_sqs_requests_total counter\n\
                    jobfleet_sqs_requests_total{operation=\"ReceiveMessage\",result=\"ok\"} 12\n\
                    jobfleet_sqs_requests_total{operation=\"DeleteMessageBatch\",result=\"ok\"} 10\n\
                    jobfleet_sqs_requests_total_other 99\n\
                    jobfleet_jobs_total{pool=\"media\"} 5\n";
        assert_eq!(metric_sum(text, "jobfleet_sqs_requests_total"), 22.0);
        assert_eq!(metric_sum(text, "jobfleet_jobs_total"), 5.0);
    }
}
