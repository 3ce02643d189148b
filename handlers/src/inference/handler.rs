//! `ai.inference`: one call to an OpenAI-compatible server.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::InferenceConfig;
use crate::net::{AllowList, MAX_RETRY_AFTER, PinnedClients, SsrfGuard, retry_after, snippet, whole_seconds};
pub use crate::payloads::inference::{ChatMessage, ChatRequest, EmbeddingsRequest, Inference};
use jobfleet_contract::aws::{LazyClient, s3_client};
use jobfleet_contract::{JobContext, JobError};

const USER_AGENT: &str = concat!("jobfleet-inference/", env!("CARGO_PKG_VERSION"));
/// Request fields the handler sets itself; `params` may not override them.
const RESERVED_PARAMS: [&str; 4] = ["model", "messages", "input", "stream"];

/// The job's result: the server's response inline, or where it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceOutput {
    pub operation: String,
    pub model: String,
    /// The response body, when at most `inference.inline_result_max_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// `s3://<bucket>/ai-results/<job id>.json` for a larger response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_ref: Option<String>,
    /// Size of the response body.
    pub bytes: usize,
    /// The response's `usage` (token counts), kept inline either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
}

/// Runs `ai.inference`. One per process: its semaphore is the pod's bound
/// on calls in flight.
#[derive(Debug)]
pub struct InferenceHandler {
    config: Arc<InferenceConfig>,
    guard: SsrfGuard,
    clients: PinnedClients,
    in_flight: Arc<Semaphore>,
    s3: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
}

impl InferenceHandler {
    /// `results_bucket` is `inference.results_bucket` or the environment's
    /// default; the S3 client is built from the environment on first use.
    pub fn new(config: Arc<InferenceConfig>, results_bucket: String) -> Self {
        Self::build(config, results_bucket, LazyClient::from_env(s3_client))
    }

    pub fn with_s3(config: Arc<InferenceConfig>, results_bucket: String, s3: aws_sdk_s3::Client) -> Self {
        Self::build(config, results_bucket, LazyClient::ready(s3, s3_client))
    }

    /// `config` should have passed `InferenceConfig::validate`; invalid
    /// allow-list entries are otherwise ignored (allowing less, not more).
    fn build(config: Arc<InferenceConfig>, bucket: String, s3: LazyClient<aws_sdk_s3::Client>) -> Self {
        let allow = AllowList::parse_lenient(&config.allow_hosts, "inference.allow_hosts");
        let timeouts = config.timeouts();
        Self {
            guard: SsrfGuard::new(allow, false, timeouts.connect),
            clients: PinnedClients::new(timeouts, USER_AGENT),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1) as usize)),
            s3,
            bucket,
            config,
        }
    }

    /// Calls running now (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        (self.config.max_in_flight.max(1) as usize).saturating_sub(self.in_flight.available_permits())
    }

    fn endpoint(&self, path: &str) -> Result<String, JobError> {
        let base = self
            .config
            .base_url
            .as_deref()
            .ok_or_else(|| JobError::permanent("inference_not_configured", "inference.base_url is not set"))?
            .trim_end_matches('/');
        Ok(if base.ends_with("/v1") { format!("{base}/{path}") } else { format!("{base}/v1/{path}") })
    }

    fn auth(&self) -> Result<Option<(HeaderName, HeaderValue)>, JobError> {
        let Some(key) = &self.config.api_key else { return Ok(None) };
        let name = HeaderName::from_bytes(self.config.auth_header.as_bytes())
            .map_err(|_| JobError::permanent("inference_not_configured", "inference.auth_header is not a header name"))?;
        let value = if name == AUTHORIZATION { format!("Bearer {}", key.expose()) } else { key.expose().to_owned() };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| JobError::permanent("inference_not_configured", "inference.api_key is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    /// The request body and model for `job`.
    fn request(&self, job: Inference) -> Result<(&'static str, &'static str, String, Value), JobError> {
        let invalid = |m: &str| JobError::permanent("invalid_request", m.to_owned());
        let (operation, path, model, params, fields) = match job {
            Inference::Chat(chat) => {
                if chat.messages.is_empty() {
                    return Err(invalid("`messages` is empty"));
                }
                let model = chat.model.or_else(|| self.config.model.clone());
                let mut fields = Map::new();
                fields.insert("messages".into(), serde_json::to_value(chat.messages).map_err(|e| invalid(&e.to_string()))?);
                fields.insert("stream".into(), Value::Bool(false));
                if let Some(max_tokens) = chat.max_tokens {
                    fields.insert("max_tokens".into(), max_tokens.into());
                }
                if let Some(temperature) = chat.temperature {
                    fields.insert("temperature".into(), temperature.into());
                }
                ("chat", "chat/completions", model, chat.params, fields)
            }
            Inference::Embeddings(embeddings) => {
                let ok_input = match &embeddings.input {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(items) => !items.is_empty(),
                    _ => false,
                };
                if !ok_input {
                    return Err(invalid("`input` must be a non-empty string or array"));
                }
                let model = embeddings.model.or_else(|| self.config.embedding_model.clone()).or_else(|| self.config.model.clone());
                let mut fields = Map::new();
                fields.insert("input".into(), embeddings.input);
                ("embeddings", "embeddings", model, embeddings.params, fields)
            }
        };
        let model =
            model.ok_or_else(|| JobError::permanent("model_not_configured", "the job names no model and inference.model is not set"))?;
        if let Some(reserved) = RESERVED_PARAMS.iter().find(|k| params.contains_key(**k)) {
            return Err(invalid(&format!("`params` may not set `{reserved}`")));
        }
        let mut body = params;
        body.extend(fields);
        body.insert("model".into(), Value::String(model.clone()));
        Ok((operation, path, model, Value::Object(body)))
    }

    async fn store(&self, ctx: &JobContext, bytes: Vec<u8>) -> Result<String, JobError> {
        // The key is the job id: a retry overwrites the same object.
        let key = format!("ai-results/{}.json", ctx.id);
        self.s3
            .get()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                JobError::retryable_as(
                    "result_store_failed",
                    format!("S3 PutObject s3://{}/{key}: {}", self.bucket, DisplayErrorContext(&e)),
                )
            })?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

impl jobfleet_contract::Handler<Inference> for InferenceHandler {
    type Output = InferenceOutput;

    async fn handle(&self, job: Inference, ctx: JobContext) -> Result<InferenceOutput, JobError> {
        if self.config.base_url.is_none() {
            return Err(JobError::permanent("inference_not_configured", "inference.base_url is not set"));
        }
        let (operation, path, model, body) = self.request(job)?;
        let url = self.endpoint(path)?;
        let auth = self.auth()?;
        let dest = self.guard.check(&url).await.map_err(|e| e.into_job_error())?;
        let authority = dest.authority();
        let client = self.clients.client_for(&dest).map_err(|e| JobError::retryable_as("inference_client", e))?;

        // A cold model server (refusing, or 503 while GPU nodes boot and
        // weights load) is waited for here, up to the budget: the message
        // stays invisible under the runtime's heartbeat and no attempt is
        // spent. Past the budget the message goes back with `RetryAfter`.
        let cold_since = tokio::time::Instant::now();
        let mut cold_waits: u32 = 0;
        let (status, bytes) = loop {
            let permit = tokio::select! {
                permit = self.in_flight.clone().acquire_owned() => permit.map_err(|_| JobError::retryable_as("cancelled", "handler closed"))?,
                () = ctx.cancel.cancelled() => return Err(JobError::retryable_as("cancelled", "worker stopping")),
            };
            let mut request = client.post(dest.url.clone()).json(&body);
            if let Some((name, value)) = &auth {
                request = request.header(name.clone(), value.clone());
            }
            let call = async {
                let response = request.send().await?;
                let status = response.status();
                let retry_after = retry_after(response.headers());
                let bytes = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, bytes))
            };
            let outcome = tokio::select! {
                outcome = call => outcome,
                () = ctx.cancel.cancelled() => return Err(JobError::retryable_as("cancelled", "worker stopping")),
            };
            drop(permit);
            let (hint, why) = match outcome {
                Ok((status, retry_after, bytes)) if status == StatusCode::SERVICE_UNAVAILABLE => {
                    (retry_after, format!("answered {status}: {}", snippet(&String::from_utf8_lossy(&bytes), 300)))
                }
                Ok((status, retry_after, bytes)) => {
                    if !status.is_success() {
                        return Err(status_error(&authority, status, retry_after, &snippet(&String::from_utf8_lossy(&bytes), 300)));
                    }
                    break (status, bytes);
                }
                Err(e) if e.is_connect() => (None, format!("cannot connect: {}", jobfleet_contract::error::error_chain(&e))),
                Err(e) => return Err(transport_error(&authority, &e, self.clients.timeouts().total)),
            };
            let wait = hint.unwrap_or_else(|| cold_backoff(cold_waits)).min(MAX_RETRY_AFTER);
            let waited = cold_since.elapsed();
            if waited + wait > self.config.cold_start_budget() {
                return Err(JobError::RetryAfter {
                    after: whole_seconds(wait),
                    class: "inference_cold_start",
                    message: format!(
                        "{authority} {why}; the model server is not ready after {} s of waiting (inference.cold_start_budget_secs = {})",
                        waited.as_secs(),
                        self.config.cold_start_budget_secs
                    ),
                });
            }
            tracing::info!(%authority, wait_ms = wait.as_millis() as u64, waited_ms = waited.as_millis() as u64, reason = %why, "model server not ready; waiting");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ctx.cancel.cancelled() => return Err(JobError::retryable_as("cancelled", "worker stopping")),
            }
            cold_waits = cold_waits.saturating_add(1);
        };
        let response: Value = serde_json::from_slice(&bytes).map_err(|e| {
            JobError::retryable_as("inference_bad_response", format!("{authority}: the {status} response is not JSON ({e})"))
        })?;
        let usage = response.get("usage").cloned();
        let model = response.get("model").and_then(Value::as_str).map_or(model, str::to_owned);
        let size = bytes.len();
        if size as u64 <= self.config.inline_result_max_bytes {
            return Ok(InferenceOutput {
                operation: operation.into(),
                model,
                response: Some(response),
                result_ref: None,
                bytes: size,
                usage,
            });
        }
        let result_ref = self.store(&ctx, bytes.to_vec()).await?;
        Ok(InferenceOutput { operation: operation.into(), model, response: None, result_ref: Some(result_ref), bytes: size, usage })
    }
}

/// The longest the handler waits between two calls to a cold model server
/// that gives no `Retry-After`.
const MAX_COLD_BACKOFF: Duration = Duration::from_secs(15);

/// 1 s, 2 s, 4 s, … up to [`MAX_COLD_BACKOFF`]: a server that is about to
/// come up is found quickly, one that takes minutes costs a call per 15 s.
fn cold_backoff(waits: u32) -> Duration {
    Duration::from_secs(1u64 << waits.min(4)).min(MAX_COLD_BACKOFF)
}

fn transport_error(authority: &str, err: &reqwest::Error, total: Duration) -> JobError {
    let detail = jobfleet_contract::error::error_chain(err);
    if err.is_timeout() {
        JobError::retryable_as("inference_timeout", format!("{authority}: no complete response within {total:?}"))
    } else {
        JobError::retryable_as("inference_transport", format!("{authority}: {detail}"))
    }
}

/// 429 with `Retry-After` → retry after that; 408, 429, 5xx → retry with
/// backoff; 400/401/403/404/413/422 and other 4xx → permanent, by class.
/// (503 never gets here: it is a cold model server, waited for first.)
fn status_error(authority: &str, status: StatusCode, retry_after: Option<Duration>, body: &str) -> JobError {
    let message = format!("{authority} answered {status}: {body}");
    let permanent = |class| JobError::permanent(class, message.clone());
    match (status.as_u16(), retry_after) {
        (429, Some(after)) => JobError::RetryAfter { after: whole_seconds(after), class: "inference_throttled", message },
        (429, None) => JobError::retryable_as("inference_throttled", message),
        (408, _) => JobError::retryable_as("inference_timeout", message),
        (500..=599, _) => JobError::retryable_as("inference_5xx", message),
        (400, _) => permanent("inference_bad_request"),
        (401, _) => permanent("inference_unauthorized"),
        (403, _) => permanent("inference_forbidden"),
        (404, _) => permanent("inference_not_found"),
        (413, _) => permanent("inference_too_large"),
        (422, _) => permanent("inference_unprocessable"),
        (300..=399, _) => permanent("inference_redirect"),
        _ => permanent("inference_4xx"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn handler(config: InferenceConfig) -> InferenceHandler {
        InferenceHandler::new(Arc::new(config), "bucket".into())
    }

    #[test]
    fn payloads_decode_by_operation() {
        let chat: Inference =
            jobfleet_contract::decode_payload(1, json!({"operation": "chat", "messages": [{"role": "user", "content": "hi"}]}))
                .expect("chat");
        assert!(matches!(chat, Inference::Chat(ref c) if c.messages.len() == 1));
        let emb: Inference =
            jobfleet_contract::decode_payload(1, json!({"operation": "embeddings", "input": ["a", "b"]})).expect("embeddings");
        assert!(matches!(emb, Inference::Embeddings(_)));
        let err = jobfleet_contract::decode_payload::<Inference>(1, json!({"operation": "images"})).expect_err("unknown op");
        assert_eq!(err.class(), "invalid_payload");
    }

    #[test]
    fn request_bodies_use_defaults_and_refuse_reserved_params() {
        let h =
            handler(InferenceConfig { model: Some("chat-m".into()), embedding_model: Some("emb-m".into()), ..InferenceConfig::default() });
        let chat = Inference::Chat(ChatRequest {
            messages: vec![ChatMessage { role: "user".into(), content: json!("hi"), name: None }],
            model: None,
            max_tokens: Some(5),
            temperature: None,
            params: json!({"top_p": 0.5}).as_object().cloned().unwrap_or_default(),
        });
        let (op, path, model, body) = h.request(chat.clone()).expect("chat body");
        assert_eq!((op, path, model.as_str()), ("chat", "chat/completions", "chat-m"));
        assert_eq!(
            body,
            json!({"model": "chat-m", "messages": [{"role": "user", "content": "hi"}], "stream": false, "max_tokens": 5, "top_p": 0.5})
        );
        let emb = Inference::Embeddings(EmbeddingsRequest { input: json!("x"), model: None, params: Map::new() });
        assert_eq!(h.request(emb).expect("emb").2, "emb-m");
        let Inference::Chat(mut bad) = chat else { unreachable!() };
        bad.params.insert("stream".into(), json!(true));
        assert_eq!(h.request(Inference::Chat(bad)).map_err(|e| e.class()).err(), Some("invalid_request"));
        let no_model = handler(InferenceConfig::default());
        let emb = Inference::Embeddings(EmbeddingsRequest { input: json!(["x"]), model: None, params: Map::new() });
        assert_eq!(no_model.request(emb).map_err(|e| e.class()).err(), Some("model_not_configured"));
    }

    #[test]
    fn endpoints_append_v1_once() {
        let with =
            |base: &str| handler(InferenceConfig { base_url: Some(base.into()), ..InferenceConfig::default() }).endpoint("embeddings");
        assert_eq!(with("http://h:8000").ok().as_deref(), Some("http://h:8000/v1/embeddings"));
        assert_eq!(with("https://api.example.com/v1/").ok().as_deref(), Some("https://api.example.com/v1/embeddings"));
        assert_eq!(with("https://gw.example.com/openai").ok().as_deref(), Some("https://gw.example.com/openai/v1/embeddings"));
        let unset = handler(InferenceConfig::default()).endpoint("embeddings");
        assert_eq!(unset.map_err(|e| e.class()).err(), Some("inference_not_configured"));
    }

    #[test]
    fn statuses_map_to_classes() {
        let of =
            |code: u16, ra: Option<u64>| status_error("h:1", StatusCode::from_u16(code).expect("status"), ra.map(Duration::from_secs), "");
        assert!(
            matches!(of(429, Some(3)), JobError::RetryAfter { after, class: "inference_throttled", .. } if after == Duration::from_secs(3))
        );
        for (code, class) in [(429, "inference_throttled"), (500, "inference_5xx"), (502, "inference_5xx"), (408, "inference_timeout")] {
            let err = of(code, None);
            assert_eq!((err.class(), err.is_permanent()), (class, false), "{code}");
        }
        for (code, class) in [
            (400, "inference_bad_request"),
            (401, "inference_unauthorized"),
            (403, "inference_forbidden"),
            (404, "inference_not_found"),
            (422, "inference_unprocessable"),
            (418, "inference_4xx"),
        ] {
            let err = of(code, None);
            assert_eq!((err.class(), err.is_permanent()), (class, true), "{code}");
        }
    }
}
