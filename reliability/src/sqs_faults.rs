//! An HTTP proxy in front of the SQS endpoint that makes batch calls fail
//! *partially*: some entries of a DeleteMessageBatch or
//! ChangeMessageVisibilityBatch are cut from the request before it reaches
//! the server and reported back as failed (`InternalError`, not the
//! sender's fault). Those entries really were not acted on, so a client that
//! ignores per-entry failures leaves messages behind, as it would on AWS.
//!
//! The TCP [`FaultProxy`](crate::fault_proxy::FaultProxy) cannot do this:
//! it needs to read the request (AWS JSON protocol, `X-Amz-Target`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const DELETE_BATCH: &str = "AmazonSQS.DeleteMessageBatch";
const VISIBILITY_BATCH: &str = "AmazonSQS.ChangeMessageVisibilityBatch";
const RECEIVE: &str = "AmazonSQS.ReceiveMessage";

#[derive(Debug)]
struct Inner {
    upstream: String,
    client: reqwest::Client,
    /// Entries still to fail; injection stops at zero.
    budget: AtomicU64,
    /// Fail every visibility *extension* (heartbeat), however many.
    fail_extensions: AtomicBool,
    injected_deletes: AtomicU64,
    injected_visibility: AtomicU64,
    batch_calls: AtomicU64,
    /// Which job each receipt handle delivered (from the envelope's `id` in
    /// each ReceiveMessage answer), and the jobs whose message SQS has
    /// confirmed deleted: the suite checks each of those has its outcome
    /// recorded (a delete must never come first).
    ///
    /// Per job, not per confirmation: SQS (and moto) confirm a delete of any
    /// receipt handle of a message already deleted, so a message delivered
    /// twice, or a batch the SDK resent after an attempt timeout, is
    /// confirmed twice for one job.
    deliveries: Mutex<Deliveries>,
    delete_confirmations: AtomicU64,
}

#[derive(Debug, Default)]
struct Deliveries {
    job_of_handle: HashMap<String, String>,
    deleted_jobs: HashSet<String>,
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
        let inner = Arc::new(Inner::new(upstream.trim_end_matches('/')));
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

    /// Fails every entry that extends a message's visibility (a heartbeat:
    /// `VisibilityTimeout` > 0) while `on`; releases (0) still pass. A long
    /// job's message then reappears while the job runs.
    pub fn fail_heartbeats(&self, on: bool) {
        self.inner.fail_extensions.store(on, Ordering::SeqCst);
    }

    /// Entries failed so far: (DeleteMessageBatch, ChangeMessageVisibilityBatch).
    pub fn injected(&self) -> (u64, u64) {
        (self.inner.injected_deletes.load(Ordering::SeqCst), self.inner.injected_visibility.load(Ordering::SeqCst))
    }

    /// Jobs whose message SQS confirmed deleted through this proxy.
    pub fn deleted(&self) -> u64 {
        self.inner.deliveries().deleted_jobs.len() as u64
    }

    /// The ids of those jobs (envelope ids, as text).
    pub fn deleted_jobs(&self) -> Vec<String> {
        self.inner.deliveries().deleted_jobs.iter().cloned().collect()
    }

    /// Delete entries SQS confirmed, repeats included.
    pub fn delete_confirmations(&self) -> u64 {
        self.inner.delete_confirmations.load(Ordering::SeqCst)
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

impl Inner {
    fn new(upstream: &str) -> Self {
        Self {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            budget: AtomicU64::new(0),
            fail_extensions: AtomicBool::new(false),
            injected_deletes: AtomicU64::new(0),
            injected_visibility: AtomicU64::new(0),
            batch_calls: AtomicU64::new(0),
            deliveries: Mutex::default(),
            delete_confirmations: AtomicU64::new(0),
        }
    }

    fn deliveries(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        self.deliveries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers which job each received message carries.
    fn received(&self, answer: &Value) {
        let Some(messages) = answer.get("Messages").and_then(Value::as_array) else { return };
        let mut deliveries = self.deliveries();
        for message in messages {
            let handle = message.get("ReceiptHandle").and_then(Value::as_str);
            let job = message
                .get("Body")
                .and_then(Value::as_str)
                .and_then(|body| serde_json::from_str::<Value>(body).ok())
                .and_then(|envelope| envelope.get("id").and_then(Value::as_str).map(str::to_owned));
            if let (Some(handle), Some(job)) = (handle, job) {
                deliveries.job_of_handle.insert(handle.to_owned(), job);
            }
        }
    }

    /// Counts the deletes SQS confirmed, per job.
    fn deleted(&self, request: &Value, answer: &Value) {
        let Some(successful) = answer.get("Successful").and_then(Value::as_array) else { return };
        self.delete_confirmations.fetch_add(successful.len() as u64, Ordering::SeqCst);
        let handles: HashMap<&str, &str> = request
            .get("Entries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.get("Id")?.as_str()?, e.get("ReceiptHandle")?.as_str()?)))
            .collect();
        let mut deliveries = self.deliveries();
        for id in successful.iter().filter_map(|s| s.get("Id").and_then(Value::as_str)) {
            let job = handles.get(id).and_then(|handle| deliveries.job_of_handle.get(*handle)).cloned();
            // A handle the proxy never saw delivered still counts, under its own name.
            let job = job.unwrap_or_else(|| format!("unknown handle {}", handles.get(id).copied().unwrap_or(id)));
            deliveries.deleted_jobs.insert(job);
        }
    }
}

/// The call this request is, if it is one the proxy reads.
fn call_target(headers: &HeaderMap) -> Option<&'static str> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok())?;
    [DELETE_BATCH, VISIBILITY_BATCH, RECEIVE].into_iter().find(|t| *t == target)
}

/// Takes the entries `take(position, entry)` picks (1-based) out of the
/// batch; returns their ids.
fn cut_entries(body: &mut Value, mut take: impl FnMut(usize, &Value) -> bool) -> Vec<String> {
    let Some(entries) = body.get_mut("Entries").and_then(Value::as_array_mut) else { return Vec::new() };
    let mut cut = Vec::new();
    let mut index = 0;
    entries.retain(|entry| {
        index += 1;
        let take = take(index, entry);
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
    let target = call_target(&parts.headers);
    // The batch request as sent on, for matching the answer's entry ids.
    let mut request_json = Value::Null;
    if let Some(target) = target.filter(|t| *t != RECEIVE) {
        inner.batch_calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut json) = serde_json::from_slice::<Value>(&body) {
            cut = pick_cuts(&inner, target, &mut json);
            if !cut.is_empty() {
                body = serde_json::to_vec(&json).unwrap_or(body);
            }
            request_json = json;
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
    // One parse of a batch call's answer: count confirmed deletes, and
    // report the entries cut from the request as failed.
    if let Some(target) = target
        && status.is_success()
        && let Ok(mut json) = serde_json::from_slice::<Value>(&answer)
    {
        match target {
            RECEIVE => inner.received(&json),
            DELETE_BATCH => inner.deleted(&request_json, &json),
            _ => {}
        }
        if !cut.is_empty()
            && let Some(Value::Array(failed)) = json.as_object_mut().map(|o| o.entry("Failed").or_insert_with(|| json!([])))
        {
            for id in &cut {
                failed.push(json!({ "Id": id, "SenderFault": false, "Code": "InternalError",
                                    "Message": "injected by the reliability suite" }));
            }
            let counter = if target == DELETE_BATCH { &inner.injected_deletes } else { &inner.injected_visibility };
            counter.fetch_add(cut.len() as u64, Ordering::SeqCst);
            answer = serde_json::to_vec(&json).unwrap_or(answer);
        }
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

/// Which entries of this batch call to fail: every heartbeat while they
/// are switched off, else every other entry of a batch of two or more
/// while the budget lasts.
fn pick_cuts(inner: &Inner, target: &str, json: &mut Value) -> Vec<String> {
    if target == VISIBILITY_BATCH && inner.fail_extensions.load(Ordering::SeqCst) {
        return cut_entries(json, |_, entry| entry.get("VisibilityTimeout").and_then(Value::as_i64).unwrap_or(0) > 0);
    }
    let len = json.get("Entries").and_then(Value::as_array).map_or(0, Vec::len);
    if len < 2 || inner.budget.load(Ordering::SeqCst) == 0 {
        return Vec::new();
    }
    cut_entries(json, |index, _| index % 2 == 0 && take_one(&inner.budget))
}

fn take_one(budget: &AtomicU64) -> bool {
    budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_every_other_entry_within_the_budget() {
        let budget = AtomicU64::new(2);
        let mut body = json!({ "QueueUrl": "q", "Entries": (0..6).map(|i| json!({ "Id": i.to_string() })).collect::<Vec<_>>() });
        assert_eq!(cut_entries(&mut body, |index, _| index % 2 == 0 && take_one(&budget)), ["1", "3"]);
        let left: Vec<&str> = body["Entries"].as_array().expect("entries").iter().filter_map(|e| e["Id"].as_str()).collect();
        assert_eq!(left, ["0", "2", "4", "5"]);
        assert_eq!(budget.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_job_whose_delete_is_confirmed_twice_counts_once() {
        let inner = Inner::new("");
        // Delivered twice (h1, h2), both deletes confirmed, as SQS does.
        for handle in ["h1", "h2"] {
            inner.received(&json!({ "Messages": [{ "ReceiptHandle": handle, "Body": r#"{"id":"job-a"}"# }] }));
        }
        inner.received(&json!({ "Messages": [{ "ReceiptHandle": "h3", "Body": r#"{"id":"job-b"}"# }] }));
        let confirmed = json!({ "Successful": [{ "Id": "0" }] });
        for handle in ["h1", "h2"] {
            inner.deleted(&json!({ "Entries": [{ "Id": "0", "ReceiptHandle": handle }] }), &confirmed);
        }
        assert_eq!(inner.delete_confirmations.load(Ordering::SeqCst), 2);
        assert_eq!(inner.deliveries().deleted_jobs, HashSet::from(["job-a".to_owned()]));
    }

    #[test]
    fn failing_heartbeats_cuts_every_extension_but_no_release() {
        let inner = Inner::new("");
        inner.fail_extensions.store(true, Ordering::SeqCst);
        let entry = |id: &str, secs: i64| json!({ "Id": id, "VisibilityTimeout": secs });
        let mut body = json!({ "Entries": [entry("a", 30), entry("b", 0), entry("c", 4)] });
        assert_eq!(pick_cuts(&inner, VISIBILITY_BATCH, &mut body), ["a", "c"]);
        assert_eq!(body["Entries"].as_array().map(Vec::len), Some(1), "the release goes through");
        let mut deletes = json!({ "Entries": [{ "Id": "0" }, { "Id": "1" }] });
        assert!(pick_cuts(&inner, DELETE_BATCH, &mut deletes).is_empty(), "deletes are untouched without a budget");
    }
}
