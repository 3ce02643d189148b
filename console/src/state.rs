//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jobfleet_runtime::config::Config;
use jobfleet_runtime::sqs::Sqs;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::auth::{Principal, csrf_token};
use crate::settings::Settings;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub settings: Settings,
    pub sqs: Sqs,
    pub db: PgPool,
    /// Replays running in this process, by audit id: stopping cancels the
    /// token at once (other replicas see the stop request in the audit row).
    pub running: Mutex<HashMap<i64, CancellationToken>>,
    /// Cancelled on shutdown: running replays stop after their batch.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(config: Config, settings: Settings, sqs: Sqs, db: PgPool) -> Arc<Self> {
        Arc::new(Self { config, settings, sqs, db, running: Mutex::new(HashMap::new()), shutdown: CancellationToken::new() })
    }

    pub fn csrf(&self, principal: &Principal) -> String {
        csrf_token(&self.settings.csrf_key, principal)
    }

    pub fn is_running(&self, audit_id: i64) -> bool {
        self.running.lock().map(|m| m.contains_key(&audit_id)).unwrap_or(false)
    }
}

/// Runs an ops call on a blocking-pool thread that drives it to the end.
///
/// Some of the ops library's futures (the DLQ sweep's concurrent releases,
/// the queue report) are not provably `Send` to today's compiler (its
/// higher-ranked lifetime limits), which axum handlers and `tokio::spawn`
/// require; the CLI never needed it. Driving them with `Handle::block_on` on
/// a blocking thread needs only the *inputs* to be `Send`. Operator traffic
/// is a few requests a minute, so a thread per call costs nothing.
pub async fn off_thread<T, F, Fut>(state: &Arc<AppState>, f: F) -> Result<T, crate::error::ConsoleError>
where
    T: Send + 'static,
    F: FnOnce(Arc<AppState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, crate::error::ConsoleError>>,
{
    let handle = tokio::runtime::Handle::current();
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || handle.block_on(f(state)))
        .await
        .map_err(|_| crate::error::ConsoleError::internal("the request's task ended unexpectedly"))?
}
