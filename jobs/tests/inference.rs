//! `ai.inference` against a real OpenAI-compatible stub (axum on
//! 127.0.0.1:0, started by each test) and real S3 (moto on 127.0.0.1:4566).
//! The stub picks its behaviour from the requested model's name.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jobs::inference::{ChatMessage, ChatRequest, EmbeddingsRequest, Inference, InferenceConfig, InferenceHandler};
use jobs::settings::Secret;
use jobs::{Handler, JobContext, JobError, Pool};
use serde_json::{Map, Value, json};
use uuid::Uuid;

const STACK_HINT: &str = "is the local stack up? run `make stack-up`";
const API_KEY: &str = "sk-test-0123456789";

#[derive(Debug, Default)]
struct Stub {
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

/// Behaviour by model: `slow` (300 ms), `slower` (3 s), `throttle` (429 +
/// Retry-After), `busy` (503 + Retry-After), `boom` (500), `bad` (400),
/// `big` (a ~50 KB answer); anything else answers at once.
async fn chat(State(stub): State<Arc<Stub>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    stub.calls.fetch_add(1, Ordering::SeqCst);
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "invalid api key"}}))).into_response();
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let now = stub.running.fetch_add(1, Ordering::SeqCst) + 1;
    stub.max_running.fetch_max(now, Ordering::SeqCst);
    match model.as_str() {
        "slow" => tokio::time::sleep(Duration::from_millis(300)).await,
        "slower" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    stub.running.fetch_sub(1, Ordering::SeqCst);
    let content = match model.as_str() {
        "throttle" => return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "5")], "rate limited").into_response(),
        "busy" => return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "11")], "overloaded").into_response(),
        "boom" => return (StatusCode::INTERNAL_SERVER_ERROR, "kaput").into_response(),
        "bad" => return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "messages: too long"}}))).into_response(),
        "big" => "lorem ipsum ".repeat(4_000),
        _ => format!("echo: {}", body["messages"][0]["content"].as_str().unwrap_or_default()),
    };
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "echo_max_tokens": body["max_tokens"], "echo_stream": body["stream"],
    }))
    .into_response()
}

async fn embeddings(State(stub): State<Arc<Stub>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    stub.calls.fetch_add(1, Ordering::SeqCst);
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let inputs = match &body["input"] {
        Value::Array(items) => items.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..inputs).map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]})).collect();
    Json(json!({"object": "list", "model": body["model"], "data": data, "usage": {"prompt_tokens": 2, "total_tokens": 2}})).into_response()
}

async fn start_stub() -> (String, Arc<Stub>) {
    let stub = Arc::new(Stub::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route("/v1/embeddings", axum::routing::post(embeddings))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}"), stub)
}

fn config(base_url: &str) -> InferenceConfig {
    InferenceConfig {
        base_url: Some(base_url.to_owned()),
        model: Some("echo".into()),
        api_key: Some(Secret::new(API_KEY)),
        allow_hosts: vec!["127.0.0.1".into()],
        request_timeout_secs: 1,
        ..InferenceConfig::default()
    }
}

async fn s3() -> aws_sdk_s3::Client {
    jobs::aws::s3_client(&jobs::aws::load_sdk_config().await)
}

fn handler(config: InferenceConfig, s3: aws_sdk_s3::Client, bucket: &str) -> InferenceHandler {
    InferenceHandler::with_s3(Arc::new(config), bucket.to_owned(), s3)
}

fn chat_job(model: Option<&str>, prompt: &str) -> Inference {
    Inference::Chat(ChatRequest {
        messages: vec![ChatMessage { role: "user".into(), content: json!(prompt), name: None }],
        model: model.map(str::to_owned),
        max_tokens: Some(16),
        temperature: None,
        params: Map::new(),
    })
}

fn ctx() -> JobContext {
    JobContext::for_test(Pool::Ai)
}

#[tokio::test]
async fn chat_and_embeddings_return_the_servers_answer_inline() {
    let (base, _stub) = start_stub().await;
    let h = handler(config(&base), s3().await, "unused");

    let out = h.handle(chat_job(None, "hello"), ctx()).await.expect("chat");
    assert_eq!((out.operation.as_str(), out.model.as_str()), ("chat", "echo"));
    let response = out.response.expect("inline");
    assert_eq!(response["choices"][0]["message"]["content"], "echo: hello");
    assert_eq!((response["echo_max_tokens"].clone(), response["echo_stream"].clone()), (json!(16), json!(false)));
    assert_eq!(out.usage, Some(json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})));
    assert!(out.result_ref.is_none());

    let emb = Inference::Embeddings(EmbeddingsRequest { input: json!(["a", "b"]), model: Some("embedder".into()), params: Map::new() });
    let out = h.handle(emb, ctx()).await.expect("embeddings");
    let response = out.response.expect("inline");
    assert_eq!(response["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(response["model"], "embedder");
}

#[tokio::test]
async fn throttling_and_errors_are_classified() {
    let (base, _stub) = start_stub().await;
    let h = handler(config(&base), s3().await, "unused");
    let run = |model: &'static str| h.handle(chat_job(Some(model), "x"), ctx());

    let throttled = run("throttle").await.expect_err("429");
    assert!(
        matches!(throttled, JobError::RetryAfter { after, class: "inference_throttled", .. } if after == Duration::from_secs(5)),
        "{throttled:?}"
    );
    let busy = run("busy").await.expect_err("503");
    assert!(
        matches!(busy, JobError::RetryAfter { after, class: "inference_unavailable", .. } if after == Duration::from_secs(11)),
        "{busy:?}"
    );
    let boom = run("boom").await.expect_err("500");
    assert_eq!((boom.class(), boom.is_permanent()), ("inference_5xx", false));
    let bad = run("bad").await.expect_err("400");
    assert_eq!((bad.class(), bad.is_permanent()), ("inference_bad_request", true));
    assert!(bad.message().contains("messages: too long"), "the server's reason is kept: {bad}");
    let slow = run("slower").await.expect_err("timeout");
    assert_eq!((slow.class(), slow.is_permanent()), ("inference_timeout", false), "{slow}");

    let wrong_key = handler(InferenceConfig { api_key: Some(Secret::new("sk-wrong-key")), ..config(&base) }, s3().await, "unused");
    let denied = wrong_key.handle(chat_job(None, "x"), ctx()).await.expect_err("401");
    assert_eq!((denied.class(), denied.is_permanent()), ("inference_unauthorized", true));
    assert!(!denied.message().contains("sk-wrong-key"), "the key never appears in errors");

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let down = handler(config(&format!("http://127.0.0.1:{port}")), s3().await, "unused");
    let refused = down.handle(chat_job(None, "x"), ctx()).await.expect_err("refused");
    assert_eq!((refused.class(), refused.is_permanent()), ("inference_connect", false), "{refused}");
}

#[tokio::test]
async fn a_large_result_is_stored_in_s3_and_referenced() {
    let (base, _stub) = start_stub().await;
    let s3 = s3().await;
    let bucket = format!("t-ai-{}", &Uuid::new_v4().simple().to_string()[..12]);
    s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("create bucket: {e:?}; {STACK_HINT}"));
    let h = handler(InferenceConfig { inline_result_max_bytes: 4_096, ..config(&base) }, s3.clone(), &bucket);
    let ctx = ctx();

    let out = h.handle(chat_job(Some("big"), "write a lot"), ctx.clone()).await.expect("big answer");
    let key = format!("ai-results/{}.json", ctx.id);
    assert_eq!(out.result_ref.as_deref(), Some(format!("s3://{bucket}/{key}").as_str()));
    assert!(out.response.is_none() && out.bytes > 4_096);
    assert_eq!(out.usage.as_ref().map(|u| u["total_tokens"].clone()), Some(json!(5)), "usage stays inline");

    let object = s3.get_object().bucket(&bucket).key(&key).send().await.expect("the object exists");
    assert_eq!(object.content_type(), Some("application/json"));
    let bytes = object.body.collect().await.expect("read object").into_bytes();
    assert_eq!(bytes.len(), out.bytes);
    let stored: Value = serde_json::from_slice(&bytes).expect("the object is the JSON response");
    assert!(stored["choices"][0]["message"]["content"].as_str().is_some_and(|c| c.starts_with("lorem ipsum")));
}

#[tokio::test]
async fn calls_in_flight_never_exceed_max_in_flight() {
    let (base, stub) = start_stub().await;
    let h = Arc::new(handler(InferenceConfig { max_in_flight: 2, ..config(&base) }, s3().await, "unused"));
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.handle(chat_job(Some("slow"), &format!("job {i}")), ctx()).await })
        })
        .collect();
    for job in jobs {
        job.await.expect("joined").expect("succeeds");
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 6);
    assert_eq!(stub.max_running.load(Ordering::SeqCst), 2, "the semaphore bounds concurrent calls");
    assert_eq!(h.in_flight(), 0);
}

#[tokio::test]
async fn an_internal_base_url_is_refused_unless_allow_listed() {
    let (base, stub) = start_stub().await;
    for url in [base.as_str(), "http://169.254.169.254", "http://10.0.0.1:8000", "http://[::1]:8000"] {
        let h = handler(InferenceConfig { allow_hosts: vec![], ..config(url) }, s3().await, "unused");
        let err = h.handle(chat_job(None, "x"), ctx()).await.expect_err("blocked");
        assert_eq!((err.class(), err.is_permanent()), ("ssrf_blocked", true), "{url}: {err}");
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 0);
    let unconfigured = handler(InferenceConfig::default(), s3().await, "unused");
    assert_eq!(unconfigured.handle(chat_job(None, "x"), ctx()).await.map_err(|e| e.class()).err(), Some("inference_not_configured"));
}
