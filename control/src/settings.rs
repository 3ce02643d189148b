//! The fleet service's own settings (flags of `worker control`); the pools,
//! queues, database and admin port come from the worker configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// PEM files of the gRPC server's TLS (mounted from a Secret). With
/// `client_ca`, clients (KEDA's TriggerAuthentication `cert`/`key`) must
/// present a certificate signed by it.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// KEDA external scaler gRPC address (CONTRACTS.md: port 6000).
    pub grpc_addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// How often each pool's queues are sampled for the gauges.
    pub sample_interval: Duration,
    /// How often each pool's job durations are re-read from the ledger.
    pub durations_refresh: Duration,
    /// The mean is taken over at most this many of the pool's latest finished jobs...
    pub history_jobs: u32,
    /// ...finished within this age; older history is not "recent".
    pub history_max_age: Duration,
    /// Job seconds assumed for a pool with no finished job in its history
    /// (overridable per ScaledObject, metadata `coldStartJobSeconds`).
    pub cold_start_job_secs: f64,
    /// Target drain seconds for the desired-replicas gauge until KEDA has
    /// asked with a ScaledObject's own `targetDrainSeconds`.
    pub default_target_drain_secs: f64,
    pub db_max_connections: u32,
    /// Run the outbox relay in this process too.
    pub relay: bool,
    pub relay_batch_size: u32,
    pub relay_idle: Duration,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 6000)),
            tls: None,
            sample_interval: Duration::from_secs(10),
            durations_refresh: Duration::from_secs(30),
            history_jobs: 200,
            history_max_age: Duration::from_secs(7 * 24 * 3600),
            cold_start_job_secs: 30.0,
            default_target_drain_secs: 120.0,
            db_max_connections: 4,
            relay: false,
            relay_batch_size: 100,
            relay_idle: Duration::from_millis(200),
        }
    }
}
