//! An HTTP proxy in front of the SQS endpoint that makes batch calls fail
//! *partially*: some entries of a DeleteMessageBatch or
//! ChangeMessageVisibilityBatch are cut from the request before it reaches
//! the server and reported back as failed (`InternalError`, not the
//! sender's fault). Those entries really were not acted on, so a client that
//! ignores per-entry failures leaves messages behind, as it would on AWS.
//!
//! The TCP [`FaultProxy`](crate::fault_proxy::FaultProxy) cannot do this:
//! it needs to read the request (AWS JSON protocol, `X-Amz-Target`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const BATCH_TARGETS: [&str; 2] = ["AmazonSQS.DeleteMessageBatch", "AmazonSQS.ChangeMessageVisibilityBatch"];

#[derive(Debug)]
struct Inner {
    upstream: String,
    client: reqwest::Client,
    /// Entries still to fail; injection stops at zero.
    budget: AtomicU64,
    injected: AtomicU64,
    batch_calls: AtomicU64,
}

#[derive(Debug)]
pub struct SqsFaults {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl SqsFaults {
    /// Proxies to `upstream` (`http://127.0.0.1:4566`) on an ephemeral port.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            budget: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            batch_calls: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, inner, server })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fails up to `entries` batch entries from now on (every other entry
    /// of each batch call with two or more).
    pub fn fail_entries(&self, entries: u64) {
        self.inner.budget.store(entries, Ordering::SeqCst);
    }

    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::SeqCst)
    }

    pub fn batch_calls(&self) -> u64 {
        self.inner.batch_calls.load(Ordering::SeqCst)
    }
}

impl Drop for SqsFaults {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

/// Takes every other entry out of the batch (up to the budget); returns the
/// ids taken.
fn cut_entries(body: &mut Value, budget: &AtomicU64) -> Vec<String> {
    let Some(entries) = body.get_mut("Entries").and_then(Value::as_array_mut) else { return Vec::new() };
    let mut cut = Vec::new();
    let mut index = 0;
    entries.retain(|entry| {
        index += 1;
        let take = index % 2 == 0 && budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok();
        if take {
            cut.push(entry.get("Id").and_then(Value::as_str).unwrap_or_default().to_owned());
        }
        !take
    });
    cut
}

async fn forward(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let mut body = bytes.to_vec();
    let mut cut = Vec::new();
    if target(&parts.headers).is_some_and(|t| BATCH_TARGETS.contains(&t)) {
        inner.batch_calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut json) = serde_json::from_slice::<Value>(&body) {
            let len = json.get("Entries").and_then(Value::as_array).map_or(0, Vec::len);
            if len >= 2 && inner.budget.load(Ordering::SeqCst) > 0 {
                cut = cut_entries(&mut json, &inner.budget);
                body = serde_json::to_vec(&json).unwrap_or(body);
            }
        }
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    let upstream = inner.client.request(parts.method, format!("{}{path}", inner.upstream)).headers(headers).body(body).send().await;
    let Ok(upstream) = upstream else {
        return (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response();
    };
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(mut answer) = upstream.bytes().await.map(|b| b.to_vec()) else {
        return (StatusCode::BAD_GATEWAY, "upstream body unreadable").into_response();
    };
    if !cut.is_empty()
        && status.is_success()
        && let Ok(mut json) = serde_json::from_slice::<Value>(&answer)
    {
        let failed = json.as_object_mut().map(|o| o.entry("Failed").or_insert_with(|| json!([])));
        if let Some(Value::Array(failed)) = failed {
            for id in &cut {
                failed.push(json!({ "Id": id, "SenderFault": false, "Code": "InternalError",
                                    "Message": "injected by the reliability suite" }));
            }
            inner.injected.fetch_add(cut.len() as u64, Ordering::SeqCst);
        }
        answer = serde_json::to_vec(&json).unwrap_or(answer);
    }
    let mut response = Response::new(Body::from(answer));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    } else {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_every_other_entry_within_the_budget() {
        let budget = AtomicU64::new(2);
        let mut body = json!({ "QueueUrl": "q", "Entries": (0..6).map(|i| json!({ "Id": i.to_string() })).collect::<Vec<_>>() });
        assert_eq!(cut_entries(&mut body, &budget), ["1", "3"]);
        let left: Vec<&str> = body["Entries"].as_array().expect("entries").iter().filter_map(|e| e["Id"].as_str()).collect();
        assert_eq!(left, ["0", "2", "4", "5"]);
        assert_eq!(budget.load(Ordering::SeqCst), 0);
    }
}
