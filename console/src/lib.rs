//! jobfleet's operator web console: server-rendered HTML pages and a JSON
//! API (`/api/…`, the same data) over the `ops` library, so the console and
//! the CLI do exactly the same thing. Started by `worker console`.
//!
//! Security model (docs/operations.md has the operator's version): every
//! request is authenticated (auth proxy headers from trusted addresses, a
//! bearer token, or anonymous only when enabled); viewers read, operators
//! act; every state-changing request needs the operator role, a CSRF token
//! and a same-origin Origin; pages carry a strict CSP and no inline code;
//! audit rows name the authenticated user.

mod actions;
mod auth;
mod data;
mod error;
mod redact;
mod routes;
mod settings;
mod state;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use jobfleet_ops::errors::OpsError;
use jobfleet_ops::service;
use jobfleet_runtime::config::Config;
use tokio_util::sync::CancellationToken;

pub use auth::{CSRF_FIELD, CSRF_HEADER, EMAIL_HEADER, USER_HEADER};
pub use routes::CSP;
pub use settings::{AuthMethod, ConsoleArgs, Role, Settings, SettingsError};

/// A console ready to serve: its router and the state behind it.
#[derive(Debug, Clone)]
pub struct Console {
    state: Arc<state::AppState>,
}

impl Console {
    /// Connects to SQS and the ledger (migrating it when the configuration says so).
    pub async fn new(config: Config, settings: Settings) -> Result<Self, OpsError> {
        let sqs = service::sqs_client().await?;
        let db = service::connect_db(&config, 4).await?;
        Ok(Self { state: state::AppState::new(config, settings, sqs, db) })
    }

    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.state))
    }

    /// Serves on `listener` until `shutdown`; running replays are stopped
    /// after their current batch (their audit rows say so).
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        let state = Arc::clone(&self.state);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.cancelled().await;
                state.shutdown.cancel();
            })
            .await
    }
}
