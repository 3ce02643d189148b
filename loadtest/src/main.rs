//! `loadtest`: the benchmark suite's binary. `bash loadtest/bench.sh` runs
//! `loadtest suite` with everything installed and started; the other
//! subcommands are its parts, for use by hand.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadtest::generator::{self, Format, Mix};
use loadtest::results::{Consumer, Environment, Repeat, Results};
use loadtest::suite::{Settings, Suite, Tools};
use loadtest::{emu, report};

#[derive(Debug, Parser)]
#[command(name = "loadtest", about = "jobfleet load generator, benchmark suite and autoscaling model")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every scenario, write results.json, REPORT.md and the chart.
    Suite(Box<SuiteArgs>),
    /// Rewrite REPORT.md and the chart from a results.json.
    Report {
        #[arg(long)]
        results: PathBuf,
        #[arg(long, default_value = "loadtest")]
        report_dir: PathBuf,
    },
    /// Send jobs to a queue (open loop with --rate, else as fast as possible).
    Generate {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long)]
        queue_url: String,
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, value_enum, default_value = "envelope")]
        format: Format,
        /// e.g. "noop=8,sleep=2,sleep_ms=20,pad=0|1024"
        #[arg(long, default_value = "noop=1")]
        mix: String,
    },
    /// Measure the emulator's ceiling with the bare SDK loop.
    Ceiling {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long, default_value_t = 8.0)]
        secs: f64,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Create a queue on the emulator and print its URL.
    QueueCreate {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long)]
        name: String,
    },
    /// Wait until the emulator has seen a ReceiveMessage on the queue
    /// (`polled`) or the queue holds nothing (`empty`).
    QueueWait {
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["polled", "empty"])]
        until: String,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

#[derive(Debug, clap::Args)]
struct SuiteArgs {
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    emulator_pid: Option<u32>,
    #[arg(long)]
    worker_bin: PathBuf,
    #[arg(long)]
    node_bin: PathBuf,
    #[arg(long)]
    peers_dir: PathBuf,
    #[arg(long)]
    celery_bin: PathBuf,
    #[arg(long)]
    database_url: String,
    /// Raw results, logs and peers' records.
    #[arg(long)]
    out_dir: PathBuf,
    /// Where REPORT.md and latency-vs-load.svg go.
    #[arg(long, default_value = "loadtest")]
    report_dir: PathBuf,
    #[arg(long, env = "BENCH_REPEATS", default_value_t = 3)]
    repeats: usize,
    #[arg(long, env = "BENCH_OURS_JOBS", default_value_t = 20_000)]
    ours_jobs: u64,
    #[arg(long, env = "BENCH_PEER_JOBS", default_value_t = 10_000)]
    peer_jobs: u64,
    #[arg(long, env = "BENCH_CELERY_JOBS", default_value_t = 5_000)]
    celery_jobs: u64,
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 64)]
    concurrency: u32,
    #[arg(long, env = "BENCH_POINT_SECS", default_value_t = 8.0)]
    point_secs: f64,
    #[arg(long, default_value = "0.1,0.25,0.5,0.75,0.9")]
    sweep: String,
    #[arg(long, default_value = "1,2,4")]
    fleet: String,
    #[arg(long, default_value = "noop=8,sleep=2,sleep_ms=20,pad=0|1024|8192")]
    mix: String,
    #[arg(long, env = "BENCH_CELERY_POLLING_INTERVAL", default_value = "0")]
    celery_polling_interval: String,
    #[arg(long, env = "BENCH_SKIP_PEERS", default_value_t = false)]
    skip_peers: bool,
    #[arg(long, env = "BENCH_DRAIN_MAX_SECS", default_value_t = 45.0)]
    drain_max_secs: f64,
    /// Run only these scenarios (comma list of: ceiling, backlog, peers,
    /// sweep, peer-latency, mixed, fleet, drain); empty = all.
    #[arg(long, env = "BENCH_ONLY", default_value = "")]
    only: String,
    /// key=value pairs for the report's environment section.
    #[arg(long = "version-info")]
    version_info: Vec<String>,
}

fn list<T: std::str::FromStr>(text: &str) -> anyhow::Result<Vec<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.split(',').filter(|s| !s.trim().is_empty()).map(|s| Ok(s.trim().parse::<T>()?)).collect()
}

fn environment(args: &SuiteArgs, settings: &Settings) -> Environment {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Environment {
        started_at: loadtest::generator::rfc3339_micros(time::OffsetDateTime::now_utc())[..19].replace('T', " ") + " UTC",
        wall_secs: 0.0,
        cpus: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|s| s.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
        mem_total_mib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024,
        versions: args.version_info.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        settings: settings.describe(),
    }
}

fn write_report(results: &Results, report_dir: &std::path::Path) -> anyhow::Result<()> {
    let summary = report::summarize(results);
    report::chart(&summary, &report_dir.join("latency-vs-load.svg"))?;
    let mut extra = Vec::new();
    for (title, file) in [("Profile (callgrind)", "PROFILE.md"), ("Findings and proposed fixes", "FINDINGS.md")] {
        if let Ok(text) = std::fs::read_to_string(report_dir.join(file)) {
            // Drop the file's own top-level title.
            let body: String = text.lines().skip_while(|l| l.starts_with("# ") || l.trim().is_empty()).collect::<Vec<_>>().join("\n");
            extra.push((title.to_owned(), format!("(from `loadtest/{file}`)\n\n{body}")));
        }
    }
    std::fs::write(report_dir.join("REPORT.md"), report::markdown(results, &extra))?;
    Ok(())
}

fn save(results: &Results, out_dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::write(out_dir.join("results.json"), serde_json::to_string_pretty(results)?)?;
    Ok(())
}

macro_rules! step {
    ($repeat:expr, $what:expr, $fut:expr) => {{
        let t = Instant::now();
        eprintln!("[bench] {} …", $what);
        match $fut.await {
            Ok(v) => {
                eprintln!("[bench] {} done in {:.1} s", $what, t.elapsed().as_secs_f64());
                Some(v)
            }
            Err(e) => {
                eprintln!("[bench] {} FAILED: {e:#}", $what);
                $repeat.errors.push(format!("{}: {e:#}", $what));
                None
            }
        }
    }};
}

async fn run_suite(args: SuiteArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = Settings {
        repeats: args.repeats.max(1),
        ours_jobs: args.ours_jobs,
        peer_jobs: args.peer_jobs,
        celery_jobs: args.celery_jobs,
        concurrency: args.concurrency,
        sweep_fractions: list(&args.sweep)?,
        point_secs: args.point_secs,
        ceiling_secs: 8.0,
        ceiling_concurrency: 8,
        idle_secs: 3.0,
        fleet: list(&args.fleet)?,
        mix: Mix::parse(&args.mix)?,
        celery_polling_interval: args.celery_polling_interval.clone(),
        skip_peers: args.skip_peers,
        drain_max_secs: args.drain_max_secs,
    };
    let only: Vec<String> = args.only.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let tools = Tools {
        worker_bin: args.worker_bin.clone(),
        node_bin: args.node_bin.clone(),
        peers_dir: args.peers_dir.clone(),
        celery_bin: args.celery_bin.clone(),
        database_url: args.database_url.clone(),
        out_dir: args.out_dir.clone(),
        emulator_pid: args.emulator_pid,
    };
    let mut results = Results { environment: environment(&args, &settings), repeats: Vec::new() };
    let mut suite = Suite::new(tools, settings.clone(), &args.endpoint).await?;
    let peers: Vec<(Consumer, u64)> = if settings.skip_peers || !want("peers") {
        Vec::new()
    } else {
        vec![
            (Consumer::SqsConsumerMessage, settings.peer_jobs),
            (Consumer::SqsConsumerBatch, settings.peer_jobs),
            (Consumer::Celery, settings.celery_jobs),
        ]
    };
    for i in 0..settings.repeats {
        eprintln!("[bench] === repeat {}/{} ===", i + 1, settings.repeats);
        let mut r = Repeat::default();
        if !want("ceiling") {
        } else if let Some(c) = step!(r, "emulator ceiling", suite.ceiling()) {
            eprintln!("[bench]   ceiling {:.0} msg/s", c.msgs_per_sec);
            r.ceiling = c;
        }
        let ours = if want("backlog") || want("sweep") {
            step!(r, "jobfleet backlog", suite.saturation(Consumer::Jobfleet, 1, settings.ours_jobs, Mix::noop(), "sat"))
        } else {
            None
        };
        if let Some(s) = &ours {
            eprintln!(
                "[bench]   jobfleet {:.0} jobs/s, {:.1} µs/job, {:.3} req/job",
                s.jobs_per_sec, s.cpu_us_per_job, s.requests_per_job_emulator
            );
            r.saturation.push(s.clone());
            r.fleet.push(s.clone());
        }
        for &(peer, jobs) in &peers {
            if let Some(s) = step!(r, format!("{} backlog", peer.label()), suite.saturation(peer, 1, jobs, Mix::noop(), "sat")) {
                eprintln!(
                    "[bench]   {} {:.0} jobs/s, {:.1} µs/job, {:.3} req/job",
                    peer.label(),
                    s.jobs_per_sec,
                    s.cpu_us_per_job,
                    s.requests_per_job_emulator
                );
                r.saturation.push(s);
            }
        }
        save(&Results { repeats: [results.repeats.clone(), vec![r.clone()]].concat(), ..results.clone() }, &args.out_dir)?;
        if let Some(capacity) = ours.as_ref().map(|s| s.jobs_per_sec).filter(|_| want("sweep")) {
            for &f in &settings.sweep_fractions {
                if let Some(p) =
                    step!(r, format!("jobfleet at {:.0} % load", f * 100.0), suite.latency_point(Consumer::Jobfleet, capacity * f, f))
                {
                    eprintln!("[bench]   p50/p99 {:?}", p.latency_ms.map(|l| (l.p50, l.p99)));
                    r.sweep.push(p);
                }
            }
        }
        let peer_caps: Vec<(Consumer, f64)> =
            r.saturation.iter().filter_map(|s| Some((s.consumer?, s.jobs_per_sec))).filter(|(c, _)| *c != Consumer::Jobfleet).collect();
        for (peer, capacity) in peer_caps.into_iter().filter(|_| want("peer-latency")) {
            if let Some(p) = step!(r, format!("{} at 50 % load", peer.label()), suite.latency_point(peer, capacity * 0.5, 0.5)) {
                eprintln!("[bench]   p50/p99 {:?}", p.latency_ms.map(|l| (l.p50, l.p99)));
                r.peer_latency.push(p);
            }
        }
        r.mixed = if !want("mixed") {
            None
        } else {
            step!(
                r,
                "jobfleet mixed backlog",
                suite.saturation(Consumer::Jobfleet, 1, settings.ours_jobs / 2, settings.mix.clone(), "mixed")
            )
        };
        for &n in settings.fleet.iter().filter(|&&n| n > 1 && want("fleet")) {
            if let Some(s) =
                step!(r, format!("fleet of {n}"), suite.saturation(Consumer::Jobfleet, n, settings.ours_jobs, Mix::noop(), "fleet"))
            {
                eprintln!("[bench]   {n} processes: {:.0} jobs/s", s.jobs_per_sec);
                r.fleet.push(s);
            }
        }
        r.drain = if want("drain") { step!(r, "drain under load", suite.drain(200, 250.0, 8.0, 4.0)) } else { None };
        results.repeats.push(r);
        save(&results, &args.out_dir)?;
    }
    results.environment.wall_secs = started.elapsed().as_secs_f64();
    save(&results, &args.out_dir)?;
    write_report(&results, &args.report_dir)?;
    eprintln!("[bench] suite done in {:.0} s; report: {}", started.elapsed().as_secs_f64(), args.report_dir.join("REPORT.md").display());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Suite(args) => run_suite(*args).await,
        Cmd::Report { results, report_dir } => {
            let results: Results = serde_json::from_str(&std::fs::read_to_string(&results).context("reading results")?)?;
            write_report(&results, &report_dir)
        }
        Cmd::Generate { endpoint, queue_url, count, rate, concurrency, format, mix } => {
            let emu = emu::Emulator::new(&endpoint).await;
            let spec = generator::Spec { queue_url, count, rate, concurrency, format, mix: Mix::parse(&mix)? };
            let sent = generator::run(emu.sqs.clone(), spec).await;
            println!("{}", serde_json::to_string(&sent)?);
            Ok(())
        }
        Cmd::Ceiling { endpoint, secs, concurrency } => {
            let emu = emu::Emulator::new(&endpoint).await;
            let ceiling = Suite::ceiling_with(&emu, secs, concurrency).await?;
            println!("{}", serde_json::to_string(&ceiling)?);
            Ok(())
        }
        Cmd::QueueCreate { endpoint, name } => {
            println!("{}", emu::Emulator::new(&endpoint).await.create_queue(&name).await?);
            Ok(())
        }
        Cmd::QueueWait { endpoint, name, until, timeout_secs } => {
            let emu = emu::Emulator::new(&endpoint).await;
            let deadline = Instant::now() + std::time::Duration::from_secs(timeout_secs);
            loop {
                let done = if until == "polled" {
                    emu.requests().await?.iter().any(|((op, q), n)| op == "ReceiveMessage" && *q == name && *n > 0)
                } else {
                    let (visible, in_flight) = emu.depth(&name).await?;
                    visible + in_flight == 0
                };
                if done {
                    return Ok(());
                }
                anyhow::ensure!(Instant::now() < deadline, "queue {name}: not {until} after {timeout_secs} s");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
