//! The admin HTTP port: `/metrics`, `/healthz`, `/readyz`.

pub mod health;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use health::Health;

#[derive(Debug, Clone)]
struct AdminState {
    health: Arc<Health>,
    prometheus: PrometheusHandle,
}

/// Binds `addr` (port 0 picks a free one) and serves until `stop`.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    prometheus: PrometheusHandle,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { health, prometheus });
    tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(local)
}

async fn metrics(State(state): State<AdminState>) -> String {
    state.prometheus.render()
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    match state.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(reasons) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", reasons.join(", "))),
    }
}
