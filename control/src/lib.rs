//! The fleet service, `worker control`: one small always-on process for the
//! whole fleet that
//!
//! - exports the queue gauges of **every** configured pool (also a pool at
//!   zero pods, where no worker exports anything), with the pool's idle
//!   time and the replicas it recommends;
//! - serves KEDA's external scaler gRPC API (`externalscaler.proto`),
//!   sizing each pool by drain time: queued and running messages times the
//!   pool's recent mean job duration from the ledger, over a target drain
//!   time ([`sizing`]);
//! - optionally runs the outbox relay in the same process (`--relay`).
//!
//! See docs/FLEET.md for how it compares with queue-length scaling.

pub mod metrics;
pub mod proto;
mod scaler;
pub mod settings;
pub mod sizing;
mod state;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jobfleet_runtime::admin::Health;
use jobfleet_runtime::outbox::Relay;
use jobfleet_runtime::sqs::Sqs;
use jobfleet_runtime::{Config, Shutdown, store, telemetry};
use tokio_util::sync::CancellationToken;

pub use scaler::Scaler;
pub use settings::{ControlSettings, TlsFiles};
pub use state::{Fleet, PoolQueues, PriorityQueue};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("pool {pool}: cannot resolve queue {queue}: {message}")]
    Queue { pool: String, queue: String, message: String },
    #[error("no pools are configured: declare [pools.<name>] in the config file")]
    NoPools,
    #[error("{setting}: {message}")]
    Tls { setting: &'static str, message: String },
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("outbox relay: {0}")]
    Relay(#[from] jobfleet_runtime::outbox::RelayError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// What a started service exposes to its caller (tests, the harness).
#[derive(Debug)]
pub struct Running {
    pub admin_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub fleet: Arc<Fleet>,
    done: tokio::task::JoinHandle<Result<(), ControlError>>,
}

impl Running {
    /// Waits until the service has stopped (after `stop` was cancelled).
    pub async fn wait(self) -> Result<(), ControlError> {
        self.done.await.unwrap_or(Ok(()))
    }
}

/// Resolves every pool's queues, binds the admin and gRPC ports and starts
/// the samplers (and the relay when asked). Returns once both ports are
/// bound; the service runs until `stop`.
pub async fn start(config: &Config, settings: &ControlSettings, stop: CancellationToken) -> Result<Running, ControlError> {
    if config.pools.is_empty() {
        return Err(ControlError::NoPools);
    }
    let db = store::open(config, settings.db_max_connections).await?;
    let sqs = Sqs::from_env().await;
    let mut pools = Vec::new();
    for (&pool, pool_config) in &config.pools {
        let resolve = |explicit: &Option<String>, name: String| {
            let sqs = sqs.clone();
            let explicit = explicit.clone();
            async move {
                match explicit {
                    Some(url) if !url.is_empty() => Ok(url),
                    _ => sqs.queue_url(&name).await.map_err(|e| ControlError::Queue {
                        pool: pool.to_string(),
                        queue: name.clone(),
                        message: e.to_string(),
                    }),
                }
            }
        };
        // `.fifo` names for a FIFO pool.
        let (main_name, dlq_name) = config.queue_names(pool).unwrap_or_else(|_| (pool.queue_name(&config.env), pool.dlq_name(&config.env)));
        let main = resolve(&pool_config.queue_url, main_name).await?;
        let dlq = resolve(&pool_config.dlq_url, dlq_name).await?;
        let mut priority = Vec::new();
        for lane in config.queue_lanes(pool).unwrap_or_default().into_iter().filter(|lane| !lane.is_own()) {
            let url = resolve(&lane.queue_url, lane.queue_name).await?;
            let dlq = resolve(&lane.dlq_url, lane.dlq_name).await?;
            priority.push(PriorityQueue { label: lane.label, url, dlq });
        }
        let concurrency = pool_config.concurrency.unwrap_or(config.concurrency);
        pools.push(PoolQueues { pool, main, dlq, priority, concurrency });
    }
    let health = Arc::new(Health::new(settings.sample_interval * 3 + Duration::from_secs(5)));
    let fleet = Arc::new(Fleet::new(db.clone(), sqs.clone(), pools, settings.clone(), health.clone()));
    let prometheus = telemetry::prometheus();
    metrics::describe();

    let admin_addr = jobfleet_runtime::admin::serve(config.admin_addr, health, prometheus, stop.clone())
        .await
        .map_err(|source| ControlError::Bind { what: "admin HTTP", addr: config.admin_addr, source })?;

    for pool in fleet.pools() {
        tokio::spawn(state::sample_loop(fleet.clone(), pool, stop.clone()));
    }
    let mut tasks = tokio::task::JoinSet::new();
    if settings.relay {
        let relay = Relay::new(db, sqs, config, settings.relay_batch_size).await?;
        let idle = settings.relay_idle;
        let stop = stop.clone();
        tasks.spawn(async move {
            relay.run(idle, stop).await;
            Ok(())
        });
    }
    let (grpc_addr, server) = scaler::serve(settings, Scaler::new(fleet.clone()), stop.clone()).await?;
    tasks.spawn(server);
    tracing::info!(%admin_addr, %grpc_addr, pools = fleet.pools().len(), relay = settings.relay, "fleet service started");
    let done = tokio::spawn(async move {
        while let Some(result) = tasks.join_next().await {
            if let Ok(Err(e)) = result {
                return Err(e);
            }
        }
        Ok(())
    });
    Ok(Running { admin_addr, grpc_addr, fleet, done })
}

/// `worker control`'s whole life: start, serve until SIGTERM/SIGINT.
pub async fn run_until_signalled(config: &Config, settings: &ControlSettings) -> Result<(), ControlError> {
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals().map_err(ControlError::Signals)?;
    let running = start(config, settings, shutdown.stop.clone()).await?;
    running.wait().await
}
