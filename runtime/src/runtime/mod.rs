//! Assembles a pool's worker: ledger, SQS queues, pollers, processor, admin
//! port and background gauges; runs it until shutdown and drains.

pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jobfleet_contract::Pool;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::health::{self, Dependency};
use crate::admin::{self, Health};
use crate::config::{Config, OWN_QUEUE_LABEL};
use crate::dispatch::Router;
use crate::dispatch::fairness::Fairness;
use crate::dispatch::ordering::Ordering;
use crate::shutdown::Shutdown;
use crate::sqs::dead_letter::DeadLetter;
use crate::sqs::poller::{Dispatch, Intake, Poller, Slots};
use crate::sqs::priority;
use crate::sqs::queue_stats::{self, Activity};
use crate::sqs::{Acker, Sqs};
use crate::store::{self, Ledger};
use crate::telemetry::{self, POOL_CONCURRENCY, WORKER_READY};
use process::Processor;

/// How long aborted jobs get to release their messages after the drain
/// timeout ran out.
const ABORT_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(
        "queue {name} not found for pool {pool} in env {env} ({source}).\n  hint: queues are named <env>-jobfleet-<pool> and <env>-jobfleet-<pool>-dlq; create them with `make stack-up` locally or the Terraform sqs module, or set JOBFLEET_QUEUE_URL / JOBFLEET_DLQ_URL"
    )]
    QueueMissing { name: String, pool: Pool, env: String, source: crate::sqs::SqsError },
    /// The lookup failed for another reason (denied, unreachable, …): the
    /// error says which queue and why.
    #[error("cannot look up the queue of pool {pool}: {source}")]
    QueueLookup { pool: Pool, source: crate::sqs::SqsError },
    #[error("cannot bind the admin port {addr}: {source}")]
    Admin { addr: SocketAddr, source: std::io::Error },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// One queue the pool consumes, resolved.
struct Lane {
    label: String,
    weight: u32,
    queue_url: String,
    dlq_url: String,
    acker: Acker,
    dead_letter: DeadLetter,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    pub took: Duration,
    /// Jobs were still running at the drain timeout and were abandoned
    /// (their messages released for another worker).
    pub aborted: bool,
}

#[derive(Debug)]
pub struct WorkerHandle {
    pub admin_addr: SocketAddr,
    pub queue_url: String,
    pub dlq_url: String,
    task: JoinHandle<DrainReport>,
}

impl WorkerHandle {
    /// Waits for the worker to stop (after `Shutdown::stop`).
    pub async fn wait(self) -> DrainReport {
        self.task.await.unwrap_or(DrainReport { took: Duration::ZERO, aborted: true })
    }
}

async fn resolve(sqs: &Sqs, given: Option<&String>, name: String, pool: Pool, env: &str) -> Result<String, StartError> {
    match given {
        Some(url) => Ok(url.clone()),
        None => sqs.queue_url(&name).await.map_err(|source| match source.kind {
            crate::sqs::SqsErrorKind::NotFound => StartError::QueueMissing { name, pool, env: env.to_owned(), source },
            _ => StartError::QueueLookup { pool, source },
        }),
    }
}

/// Starts the worker for `router.pool()`. Returns once it is polling.
pub async fn start(config: Config, router: Router, shutdown: Shutdown) -> Result<WorkerHandle, StartError> {
    // Boxed: start-up holds the whole configuration, clients and the admin
    // server across awaits; callers (and their tests) keep a pointer.
    Box::pin(start_boxed(config, router, shutdown)).await
}

async fn start_boxed(config: Config, router: Router, shutdown: Shutdown) -> Result<WorkerHandle, StartError> {
    let pool = router.pool();
    // The pool's own settings (concurrency, queue URLs) in place of the top-level ones.
    let config = config.for_pool(pool)?;
    let prometheus = telemetry::prometheus();
    let health = Arc::new(Health::new(Duration::from_secs(config.readiness_max_age_secs)));

    let db = store::open(&config, config.db_max_connections).await?;
    health.db_ok();
    if config.retention_days > 0 {
        let older_than = Duration::from_secs(u64::from(config.retention_days) * 86_400);
        let every = Duration::from_secs(config.prune_interval_secs);
        tokio::spawn(store::records::prune_periodically(db.clone(), older_than, every, shutdown.stop.clone()));
    }
    let ledger = Ledger::new(db, Duration::from_millis(config.ledger_flush_interval_ms));

    let sqs = Sqs::from_env().await;
    let fifo = config.pool_fifo(pool)?;
    // The pool's own queue, and its priority queues if any, highest first.
    let mut lanes = Vec::new();
    for lane in config.queue_lanes(pool)? {
        let queue_url = resolve(&sqs, lane.queue_url.as_ref(), lane.queue_name.clone(), pool, &config.env).await?;
        let dlq_url = resolve(&sqs, lane.dlq_url.as_ref(), lane.dlq_name.clone(), pool, &config.env).await?;
        let acker = Acker::new(sqs.clone(), queue_url.clone(), Duration::from_millis(config.ack_flush_interval_ms));
        let dead_letter = DeadLetter::new(sqs.clone(), dlq_url.clone(), lane.queue_name.clone());
        lanes.push(Lane { label: lane.label, weight: lane.weight, queue_url, dlq_url, acker, dead_letter });
    }
    let main = lanes.iter().find(|lane| lane.label == OWN_QUEUE_LABEL).expect("queue_lanes always has the pool's own queue");
    let (queue_url, dlq_url, acker) = (main.queue_url.clone(), main.dlq_url.clone(), main.acker.clone());

    // Background tasks (admin, gauges) outlive the drain and stop last.
    let background = CancellationToken::new();
    let admin_addr = admin::serve(config.admin_addr, health.clone(), prometheus, background.clone())
        .await
        .map_err(|source| StartError::Admin { addr: config.admin_addr, source })?;

    let capacity = Arc::new(Semaphore::new(config.concurrency as usize));
    metrics::gauge!(POOL_CONCURRENCY, "pool" => pool.as_str()).set(f64::from(config.concurrency));
    // Job tasks, and nothing else: the drain waits for exactly these.
    let tracker = TaskTracker::new();
    let intake = Arc::new(Intake::default());
    let activity = Arc::new(Activity::default());
    let processor = Processor {
        pool,
        router: Arc::new(router),
        ledger: ledger.clone(),
        acker: acker.clone(),
        dead_letter: main.dead_letter.clone(),
        activity: activity.clone(),
        health: health.clone(),
        tracker: tracker.clone(),
        abort: shutdown.abort.clone(),
        heartbeat_interval: Duration::from_secs(config.heartbeat_interval_secs),
        visibility_timeout: Duration::from_secs(config.visibility_timeout_secs),
    };
    let pool_config = config.pool_config(pool)?;
    let fair = pool_config.fair;
    let full_batch = config.concurrency.min(crate::sqs::poller::MAX_BATCH);
    let poller = |queue_url: String, slots: Slots, acker: Acker| Poller {
        sqs: sqs.clone(),
        queue_url,
        slots,
        full_batch,
        wait_time_secs: config.receive_wait_time_secs as i32,
        visibility_timeout_secs: config.visibility_timeout_secs as i32,
        health: health.clone(),
        acker,
        intake: intake.clone(),
    };
    let cut_receives = CancellationToken::new();
    let run = |poller: Poller, dispatch: Arc<dyn Dispatch>| tokio::spawn(poller.run(dispatch, shutdown.stop.clone(), cut_receives.clone()));
    let pollers: Vec<JoinHandle<()>> = if lanes.len() == 1 {
        let dispatch: Arc<dyn Dispatch> = if fifo {
            Arc::new(Ordering::new(processor, config.concurrency, shutdown.stop.clone()))
        } else if fair {
            Arc::new(Fairness::new(processor, config.concurrency, pool_config.tenant_max_concurrency, shutdown.stop.clone()))
        } else {
            Arc::new(processor)
        };
        let poller = poller(queue_url.clone(), Slots::Pool(capacity), acker);
        (0..config.pollers()).map(|_| run(poller.clone(), dispatch.clone())).collect()
    } else {
        // One poller per queue; the arbiter decides which gets the free slots.
        let weights = lanes.iter().map(|lane| lane.weight).collect();
        let arbiter = priority::start(capacity, pool_config.priority, weights, full_batch, shutdown.stop.clone());
        lanes
            .iter()
            .zip(arbiter)
            .map(|(lane, slots)| {
                let processor = Processor { acker: lane.acker.clone(), dead_letter: lane.dead_letter.clone(), ..processor.clone() };
                run(poller(lane.queue_url.clone(), Slots::Lane(slots), lane.acker.clone()), Arc::new(processor))
            })
            .collect()
    };

    let gauges = queue_stats::Gauges {
        sqs: sqs.clone(),
        pool,
        queues: lanes
            .iter()
            .flat_map(|lane| {
                let dlq = if lane.label == OWN_QUEUE_LABEL { "dlq".to_owned() } else { format!("{}-dlq", lane.label) };
                [
                    queue_stats::Gauged { label: lane.label.clone(), url: lane.queue_url.clone(), backlog: true },
                    queue_stats::Gauged { label: dlq, url: lane.dlq_url.clone(), backlog: false },
                ]
            })
            .collect(),
        activity,
        health: health.clone(),
        interval: Duration::from_secs(config.queue_metrics_interval_secs),
        min_rate: config.backlog_min_rate_per_sec,
    };
    tokio::spawn(queue_stats::run(gauges, background.clone()));
    spawn_readiness_checks(ledger, sqs, queue_url.clone(), health.clone(), pool, background.clone());

    let queues = lanes.iter().map(|lane| format!("{} (weight {})", lane.label, lane.weight)).collect::<Vec<_>>().join(", ");
    tracing::info!(%pool, %queue_url, fifo, fair, %queues, concurrency = config.concurrency, pollers = pollers.len(), %admin_addr, "worker started");
    let drain_timeout = config.drain_timeout();
    let task = tokio::spawn(async move {
        shutdown.stop.cancelled().await;
        let stopping = Stopping { pollers, jobs: tracker, intake, cut_receives };
        let report = drain(stopping, &shutdown, &health, pool, drain_timeout).await;
        background.cancel();
        report
    });
    Ok(WorkerHandle { admin_addr, queue_url, dlq_url, task })
}

/// The daemon's whole life: start, run until SIGTERM/SIGINT, drain. Every
/// binary that runs a worker (`worker run`, the reliability suite's
/// effect-worker) goes through here, so they shut down the same way.
pub async fn run_until_signalled(config: Config, router: Router) -> Result<DrainReport, StartError> {
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals().map_err(StartError::Signals)?;
    let handle = start(config, router, shutdown).await?;
    let report = handle.wait().await;
    if report.aborted {
        tracing::warn!("stopped with jobs abandoned; their messages were released");
    }
    Ok(report)
}

/// What the drain stops, in order.
struct Stopping {
    pollers: Vec<JoinHandle<()>>,
    /// The job tasks (the processor spawns nothing else here).
    jobs: TaskTracker,
    intake: Arc<Intake>,
    /// Cuts receives still in flight, once the jobs are done.
    cut_receives: CancellationToken,
}

/// Stops taking work and waits for what is running, up to the drain timeout.
///
/// `stop` has already sent pollers that wait for slots home. Intake closes
/// (from here on a poll still in flight releases what it brings back), the
/// running jobs finish, and only then are receives still in flight cut: an
/// idle worker exits at once, a busy one right after its last job, and a
/// long poll is cut as late as possible, since SQS keeps it open for its
/// whole wait after the client left (docs/ARCHITECTURE.md, "Shutdown").
async fn drain(stopping: Stopping, shutdown: &Shutdown, health: &Health, pool: Pool, timeout: Duration) -> DrainReport {
    let Stopping { pollers, jobs, intake, cut_receives } = stopping;
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    health.set_draining();
    metrics::gauge!(WORKER_READY, "pool" => pool.as_str()).set(0.0);
    intake.close();
    jobs.close();
    tracing::info!(in_flight = jobs.len(), timeout_secs = timeout.as_secs(), "draining");
    let finished = tokio::time::timeout_at(deadline, jobs.wait()).await.is_ok();
    cut_receives.cancel();
    if !finished {
        tracing::warn!(still_running = jobs.len(), "drain timeout reached; abandoning running jobs");
        shutdown.abort.cancel();
        if tokio::time::timeout(ABORT_GRACE, jobs.wait()).await.is_err() {
            tracing::error!("some messages could not be released in time; they reappear after their visibility timeout");
        }
    }
    // Pollers end at once now; one that got messages first releases them.
    let pollers_done = tokio::time::timeout(ABORT_GRACE, async {
        for poller in pollers {
            let _ = poller.await;
        }
    })
    .await;
    if pollers_done.is_err() {
        tracing::error!("messages received during the drain could not be released in time; they reappear after their visibility timeout");
    }
    let took = started.elapsed();
    tracing::info!(took_ms = took.as_millis() as u64, aborted = !finished, "drained");
    DrainReport { took, aborted: !finished }
}

/// Keeps readiness honest while no poll is due (every slot busy): a
/// GetQueueAttributes on the pool's queue and a `SELECT 1`, each only when
/// that dependency has not answered for half of `readiness_max_age_secs`.
/// Also keeps the `jobfleet_worker_ready` gauge.
fn spawn_readiness_checks(ledger: Ledger, sqs: Sqs, queue_url: String, health: Arc<Health>, pool: Pool, stop: CancellationToken) {
    let sqs_check = move || {
        let (sqs, queue_url) = (sqs.clone(), queue_url.clone());
        async move { sqs.queue_depth(&queue_url).await.map(drop) }
    };
    tokio::spawn(health::watch(health.clone(), Dependency::Sqs, sqs_check, stop.clone()));
    let db_check = move || {
        let ledger = ledger.clone();
        async move { ledger.ping().await }
    };
    tokio::spawn(health::watch(health.clone(), Dependency::Database, db_check, stop.clone()));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(health::check_interval(health.max_age()));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let ready = if health.readiness().is_ok() { 1.0 } else { 0.0 };
            metrics::gauge!(WORKER_READY, "pool" => pool.as_str()).set(ready);
        }
    });
}
