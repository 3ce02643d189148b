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
use jobfleet_contract::settings::Secret;
use jobfleet_contract::{Handler, JobContext, JobError, Pool};
use jobfleet_handlers::inference::{ChatMessage, ChatRequest, EmbeddingsRequest, Inference, InferenceConfig, InferenceHandler};
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
        // No waiting for a cold server unless a test asks for it.
        cold_start_budget_secs: 0,
        ..InferenceConfig::default()
    }
}

async fn s3() -> aws_sdk_s3::Client {
    jobfleet_contract::aws::s3_client(&jobfleet_contract::aws::load_sdk_config().await)
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
    JobContext::for_test(Pool::AI)
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
        matches!(busy, JobError::RetryAfter { after, class: "inference_cold_start", .. } if after == Duration::from_secs(11)),
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
    assert!(matches!(refused, JobError::RetryAfter { class: "inference_cold_start", .. }), "refused is a cold server: {refused}");
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

/// A model server coming up, as the ai NodePool's GPU nodes boot: first
/// nothing listens (connection refused), then it answers 503 with
/// `Retry-After` while the weights load, then it answers. Within
/// `cold_start_budget_secs` that is one run of the job, no attempt spent.
#[derive(Debug, Default)]
struct ColdServer {
    calls: AtomicUsize,
}

async fn warming_up(State(server): State<Arc<ColdServer>>, Json(body): Json<Value>) -> Response {
    let call = server.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= 2 {
        return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "loading weights").into_response();
    }
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "warm now"}, "finish_reason": "stop"}],
    }))
    .into_response()
}

#[tokio::test]
async fn a_cold_model_server_is_waited_for_within_the_budget() {
    // A port with nothing behind it yet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let h = Arc::new(handler(
        InferenceConfig { api_key: None, cold_start_budget_secs: 30, ..config(&format!("http://{addr}")) },
        s3().await,
        "unused",
    ));
    let started = tokio::time::Instant::now();
    let job = {
        let h = h.clone();
        tokio::spawn(async move { h.handle(chat_job(None, "hello"), ctx()).await })
    };
    // The server boots two seconds later (the handler meanwhile finds the port refusing).
    const DOWN_FOR: Duration = Duration::from_secs(2);
    tokio::time::sleep(DOWN_FOR).await;
    let server = Arc::new(ColdServer::default());
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(warming_up)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("the same port");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let out = job.await.expect("joined").expect("one run gets through the cold start");
    let took = started.elapsed();
    assert_eq!(out.response.expect("inline")["choices"][0]["message"]["content"], "warm now");
    assert_eq!(server.calls.load(Ordering::SeqCst), 3, "two 503s waited out, then the answer");
    // Refused until the server came up, then 2 × Retry-After of 1 s.
    assert!(took >= DOWN_FOR + Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(30), "within the budget: {took:?}");
}

#[tokio::test]
async fn past_the_budget_a_cold_model_server_gives_the_message_back_with_retry_after() {
    // 503 without Retry-After, for ever.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let h =
        handler(InferenceConfig { api_key: None, cold_start_budget_secs: 4, ..config(&format!("http://{addr}")) }, s3().await, "unused");

    let started = tokio::time::Instant::now();
    let err = h.handle(chat_job(None, "x"), ctx()).await.expect_err("still cold after the budget");
    let took = started.elapsed();
    // Waits of 1 s and 2 s fit in 4 s; the next (4 s) would not.
    assert!(matches!(err, JobError::RetryAfter { after, class: "inference_cold_start", .. } if after == Duration::from_secs(4)), "{err:?}");
    assert!(err.message().contains("cold_start_budget_secs") && err.message().contains("503"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(4), "gave up before the budget ran out: {took:?}");
}
