//! What the console answers when something fails: the HTTP status and a
//! page (or JSON) saying what failed and what to do. Decided by the kind
//! of ops error, never by its text; internal details (SQL, SDK dumps) go to
//! the log, not to the page.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobfleet_ops::errors::{ErrorKind, OpsError};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleError {
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable, for API clients: unauthenticated, forbidden, csrf, bad_request, …
    pub kind: &'static str,
    /// What failed.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ConsoleError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self { status, kind, message: message.into(), hint: hint.map(str::to_owned) }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message, Some("open the console through its auth proxy URL"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, Some("ask an administrator for the operator role"))
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the request has no valid CSRF token",
            Some("reload the page and submit the form again; API clients send X-CSRF-Token from GET /api/session"),
        )
    }

    pub fn csrf_origin(origin: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("the request comes from another origin ({origin})"),
            Some("use the console's own pages; if it sits behind a proxy, set JOBFLEET_CONSOLE_PUBLIC_ORIGIN"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the request body is over {limit} bytes"), None)
    }

    pub fn bad_request(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, None)
    }

    pub fn conflict(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, hint)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "failure", message, Some("retry; if it fails again, read the console's log"))
    }

    /// The page title for people.
    pub fn title(&self) -> &'static str {
        match self.kind {
            "unauthenticated" => "Not signed in",
            "forbidden" | "csrf" => "Not allowed",
            "bad_request" | "too_large" => "Check the input",
            "not_found" | "queue_missing" => "Not found",
            "sqs" => "SQS call failed",
            "database" => "Database unavailable",
            "conflict" => "Cannot do that now",
            _ => "Something failed",
        }
    }

    pub fn respond(self, json: bool) -> Response {
        if json {
            (self.status, Json(json!({ "error": self }))).into_response()
        } else {
            let status = self.status;
            (status, axum::response::Html(crate::views::error_page(&self).into_string())).into_response()
        }
    }
}

impl From<OpsError> for ConsoleError {
    fn from(e: OpsError) -> Self {
        let (status, kind, fallback) = match e.kind {
            ErrorKind::Usage => (StatusCode::BAD_REQUEST, "bad_request", "correct the input and try again"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found", "it may have been pruned, replayed or purged"),
            ErrorKind::QueueMissing => (StatusCode::NOT_FOUND, "queue_missing", "create the queue (terraform, or `make stack-up` locally)"),
            ErrorKind::Sqs => (StatusCode::BAD_GATEWAY, "sqs", "check the console's AWS role and that SQS is reachable, then retry"),
            ErrorKind::Database => (StatusCode::SERVICE_UNAVAILABLE, "database", "check that Postgres is up and migrated, then retry"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict", "wait for the running action, then retry"),
            ErrorKind::Failure => (StatusCode::INTERNAL_SERVER_ERROR, "failure", "retry; if it fails again, read the console's log"),
        };
        tracing::warn!(kind, message = %e.message, "console action failed");
        Self { status, kind, message: e.message, hint: Some(e.hint.unwrap_or_else(|| fallback.to_owned())) }
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "console database query failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database",
            "the ledger database did not answer the query",
            Some("check that Postgres is up (DATABASE_URL) and that `worker migrate` has run, then reload"),
        )
    }
}

/// Rendered as a page; the guard swaps in the JSON form for `/api/` paths
/// (it finds the error in the response's extensions).
impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let mut response = self.clone().respond(false);
        response.extensions_mut().insert(self);
        response
    }
}
