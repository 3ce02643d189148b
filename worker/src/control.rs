//! `worker control`: the fleet service's flags (control/ does the work).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use jobfleet_control::{ControlSettings, TlsFiles};
use jobfleet_runtime::Config;

#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// KEDA external scaler gRPC address.
    #[arg(long, env = "JOBFLEET_CONTROL_GRPC_ADDR", default_value = "0.0.0.0:6000")]
    grpc_addr: SocketAddr,
    /// Server certificate (PEM) for gRPC TLS; with --tls-key.
    #[arg(long, env = "JOBFLEET_CONTROL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Server private key (PEM) for gRPC TLS.
    #[arg(long, env = "JOBFLEET_CONTROL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to (mutual TLS); needs --tls-cert.
    #[arg(long, env = "JOBFLEET_CONTROL_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Seconds between samples of every pool's queues (gauges).
    #[arg(long, env = "JOBFLEET_CONTROL_SAMPLE_INTERVAL_SECS", default_value_t = 10.0)]
    sample_interval_secs: f64,
    /// Seconds a pool's ledger durations are reused before being read again.
    #[arg(long, env = "JOBFLEET_CONTROL_DURATIONS_REFRESH_SECS", default_value_t = 30.0)]
    durations_refresh_secs: f64,
    /// The mean job duration is over at most this many of a pool's latest finished jobs.
    #[arg(long, env = "JOBFLEET_CONTROL_HISTORY_JOBS", default_value_t = 200)]
    history_jobs: u32,
    /// ...finished within this many seconds.
    #[arg(long, env = "JOBFLEET_CONTROL_HISTORY_MAX_AGE_SECS", default_value_t = 604_800.0)]
    history_max_age_secs: f64,
    /// Job seconds assumed for a pool without history (ScaledObject metadata `coldStartJobSeconds` overrides).
    #[arg(long, env = "JOBFLEET_CONTROL_COLD_START_JOB_SECS", default_value_t = 30.0)]
    cold_start_job_secs: f64,
    /// Target drain seconds for the desired-replicas gauge until a ScaledObject names its own.
    #[arg(long, env = "JOBFLEET_CONTROL_TARGET_DRAIN_SECS", default_value_t = 120.0)]
    target_drain_secs: f64,
    /// Also run the outbox relay in this process.
    #[arg(long, env = "JOBFLEET_CONTROL_RELAY")]
    relay: bool,
}

fn seconds(setting: &'static str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{setting}: {value} is not a positive number of seconds"))
    }
}

impl ControlArgs {
    fn settings(&self) -> Result<ControlSettings, String> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone(), client_ca: self.tls_client_ca.clone() }),
            _ => None,
        };
        Ok(ControlSettings {
            grpc_addr: self.grpc_addr,
            tls,
            sample_interval: seconds("--sample-interval-secs", self.sample_interval_secs)?,
            durations_refresh: seconds("--durations-refresh-secs", self.durations_refresh_secs)?,
            history_jobs: self.history_jobs.max(1),
            history_max_age: seconds("--history-max-age-secs", self.history_max_age_secs)?,
            cold_start_job_secs: seconds("--cold-start-job-secs", self.cold_start_job_secs)?.as_secs_f64(),
            default_target_drain_secs: seconds("--target-drain-secs", self.target_drain_secs)?.as_secs_f64(),
            relay: self.relay,
            ..ControlSettings::default()
        })
    }
}

pub async fn control(config: Config, args: ControlArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => return crate::fail(2, e),
    };
    match jobfleet_control::run_until_signalled(&config, &settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(1, e),
    }
}
