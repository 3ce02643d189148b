//! The `worker` binary: the daemon (`run`) and the operator commands, in
//! one image.

mod console;
mod control;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jobfleet_contract::Pool;
use jobfleet_ops::enqueue::{EnqueueRequest, enqueue};
use jobfleet_runtime::config::{Config, ConfigError};
use jobfleet_runtime::dispatch::catalog::router_for;
use jobfleet_runtime::{runtime, store, telemetry};

#[derive(Debug, Parser)]
#[command(name = "worker", version, about = "jobfleet: SQS job worker fleet", propagate_version = true)]
struct Cli {
    /// TOML config file; JOBFLEET_* environment variables override it.
    #[arg(long, global = true, env = "JOBFLEET_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume a pool's queue until SIGTERM/SIGINT, then drain.
    Run {
        /// A configured pool: media, notifications, ai, or one of the config file's `[pools.*]` (or JOBFLEET_POOL)
        #[arg(long)]
        pool: Option<Pool>,
    },
    /// Apply the ledger's database migrations and exit.
    Migrate,
    /// Publish transactional-outbox rows (job_outbox) to SQS until SIGTERM.
    /// Safe to run as several replicas.
    Relay {
        /// Rows claimed per round.
        #[arg(long, default_value_t = 100)]
        batch_size: u32,
        /// Poll interval when the outbox is empty, in milliseconds.
        #[arg(long, default_value_t = 200)]
        idle_ms: u64,
    },
    /// The fleet service: queue gauges for every pool (also at zero pods), the KEDA
    /// external scaler (gRPC, drain-time sizing) and, with --relay, the outbox relay.
    Control(control::ControlArgs),
    /// The operator web console (HTML and JSON API): fleet overview, job search,
    /// dead-letter triage and replay, audit trail. Settings: JOBFLEET_CONSOLE_*.
    Console(jobfleet_console::ConsoleArgs),
    /// Print the effective configuration (after file and environment) and exit.
    Config,
    /// Validate and send jobs to a pool's queue.
    Enqueue {
        /// Job type, e.g. diag.sleep
        job_type: String,
        /// Payload JSON, or @path to read it from a file.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Pool (required for diag.* types, which every pool accepts).
        #[arg(long)]
        pool: Option<Pool>,
        /// Payload version (default: the current version of the type).
        #[arg(long = "payload-version")]
        payload_version: Option<u32>,
        /// SQS DelaySeconds (0–900).
        #[arg(long)]
        delay: Option<u32>,
        /// Send this many copies (each a new job id).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// MessageGroupId: on a FIFO pool the jobs of one group run in
        /// order (default there: each job its own group); on a fair pool
        /// the tenant.
        #[arg(long)]
        group: Option<String>,
        /// One of the pool's priority queues (`[pools.<pool>.priority_queues.<name>]`)
        /// instead of the pool's own queue.
        #[arg(long)]
        queue: Option<String>,
    },
    /// Queue depths per pool: visible, in flight, delayed, DLQ.
    Queues(jobfleet_ops::cli::QueuesArgs),
    /// Read job status from the ledger, and prune old jobs.
    Jobs {
        #[command(subcommand)]
        command: jobfleet_ops::jobs::JobsCommand,
    },
    /// Inspect, replay, redrive and purge dead-letter queues (audited).
    Dlq {
        #[command(subcommand)]
        command: jobfleet_ops::cli::DlqCommand,
    },
}

/// Exit codes: 1 runtime failure, 2 bad configuration or input.
pub(crate) fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(2, e),
    };
    telemetry::init_logging(config.log_format);
    match cli.command {
        Command::Run { pool } => {
            if pool.is_some() {
                config.pool = pool;
            }
            run(config).await
        }
        Command::Migrate => match store::connect(&config.database_url, 1).await {
            Ok(db) => match store::migrate(&db).await {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e),
            },
            Err(e) => fail(1, e),
        },
        Command::Config => match config_json(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e),
        },
        Command::Enqueue { job_type, payload, pool, payload_version, delay, count, group, queue } => {
            let payload = match read_payload(&payload) {
                Ok(p) => p,
                Err(e) => return fail(2, e),
            };
            let request = EnqueueRequest {
                job_type,
                payload,
                version: payload_version,
                pool,
                delay_secs: delay,
                count,
                group,
                priority_queue: queue,
            };
            match enqueue(&config, request).await {
                Ok(sent) => {
                    for id in &sent.ids {
                        println!("{id}");
                    }
                    eprintln!("enqueued {} job(s) to {}", sent.ids.len(), sent.queue);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, e),
            }
        }
        Command::Relay { batch_size, idle_ms } => relay(config, batch_size, idle_ms).await,
        Command::Control(args) => control::control(config, args).await,
        Command::Console(args) => console::console(config, args).await,
        Command::Queues(args) => jobfleet_ops::cli::queues(&config, args).await,
        Command::Dlq { command } => jobfleet_ops::cli::dlq(&config, command).await,
        Command::Jobs { command } => jobfleet_ops::jobs::run(&config, command).await,
    }
}

async fn run(config: Config) -> ExitCode {
    let pool = match config.require_pool().and_then(|pool| config.pool_config(pool).map(|_| pool)) {
        Ok(pool) => pool,
        Err(e) => return fail(2, e),
    };
    let router = match router_for(&config, pool) {
        Ok(router) => router,
        Err(e) => return fail(2, e),
    };
    match runtime::run_until_signalled(config, router).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

async fn relay(config: Config, batch_size: u32, idle_ms: u64) -> ExitCode {
    match jobfleet_runtime::outbox::relay::run_until_signalled(&config, batch_size, std::time::Duration::from_millis(idle_ms)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e),
    }
}

fn read_payload(arg: &str) -> Result<serde_json::Value, String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read payload file {path}: {e}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("--payload is not valid JSON: {e}"))
}

fn config_json(config: &Config) -> Result<String, ConfigError> {
    serde_json::to_string_pretty(config).map_err(|e| ConfigError::Parse(e.to_string()))
}
