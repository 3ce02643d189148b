//! The notification handlers against real servers: moto (SES v2, SNS) on
//! 127.0.0.1:4566, and an HTTP receiver started by each webhook test on
//! 127.0.0.1:0 that checks signatures and fails on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sns::types::Tag;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use jobfleet_contract::settings::Secret;
use jobfleet_contract::{Handler, JobContext, JobError, Pool};
use jobfleet_handlers::notifications::{
    Email, EmailHandler, NotificationsConfig, Push, PushHandler, Sms, SmsHandler, SmsKind, Webhook, WebhookHandler,
};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

const STACK_HINT: &str = "is the local stack up? run `make stack-up`";
const SECRET: &str = "whsec_test_0123456789abcdef";

fn unique() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn ctx() -> JobContext {
    JobContext::for_test(Pool::NOTIFICATIONS)
}

/// All model instances moto holds, as its `/moto-api/data.json` shows them:
/// `{service: {ModelClass: [ {attribute: value, …}, … ]}}`.
async fn moto_data() -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap_or_else(|e| panic!("moto data: {e}; {STACK_HINT}"))
        .json()
        .await
        .expect("moto data is JSON")
}

fn moto_models<'a>(data: &'a Value, service: &str, model: &str) -> &'a [Value] {
    data.get(service).and_then(|s| s.get(model)).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

async fn sdk() -> aws_config::SdkConfig {
    jobfleet_contract::aws::load_sdk_config().await
}

// --- email -------------------------------------------------------------------

fn email(to: &str, from: Option<&str>) -> Email {
    Email {
        to: vec![to.to_owned()],
        cc: vec![],
        bcc: vec![],
        from: from.map(str::to_owned),
        reply_to: vec![],
        subject: "Welcome, {{ name }}".into(),
        text: Some("Hello {{ name }}, you have {{ items|length }} items.".into()),
        html: Some("<p>Hello {{ name }}</p>".into()),
        vars: json!({ "name": "Ada <Lovelace>", "items": [1, 2, 3] }).as_object().cloned().unwrap_or_default(),
    }
}

#[tokio::test]
async fn email_is_rendered_and_sent_through_ses_from_a_verified_sender() {
    let sdk = sdk().await;
    let ses = jobfleet_handlers::aws::ses_client(&sdk);
    let domain = format!("{}.example.com", unique());
    let sender = format!("no-reply@{domain}");
    ses.create_email_identity().email_identity(&sender).send().await.unwrap_or_else(|e| panic!("verify sender: {e:?}; {STACK_HINT}"));
    let config = NotificationsConfig { email_from: Some(format!("Jobfleet <{sender}>")), ..NotificationsConfig::default() };
    let handler = EmailHandler::with_client(Arc::new(config), ses);
    let to = format!("ada@{domain}");

    let sent = handler.handle(email(&to, None), ctx()).await.expect("sent");
    assert!(!sent.message_id.is_empty());
    assert_eq!(sent.recipients, 1);

    let data = moto_data().await;
    let message = moto_models(&data, "ses", "Message")
        .iter()
        .find(|m| m["id"] == json!(sent.message_id))
        .unwrap_or_else(|| panic!("moto has no message {}", sent.message_id));
    assert_eq!(message["subject"], "Welcome, Ada <Lovelace>", "subject rendered without escaping");
    // moto keeps the HTML part when both are sent: escaped by the template.
    assert_eq!(message["body"], "<p>Hello Ada &lt;Lovelace&gt;</p>");
    assert_eq!(message["destinations"]["ToAddresses"], json!([to]));
    assert_eq!(message["source"], format!("Jobfleet <{sender}>"));
}

#[tokio::test]
async fn email_from_an_unverified_or_unlisted_sender_fails_permanently() {
    let ses = jobfleet_handlers::aws::ses_client(&sdk().await);
    let unverified = format!("nobody@{}.example.com", unique());
    let config = NotificationsConfig { email_from: Some(unverified.clone()), ..NotificationsConfig::default() };
    let handler = EmailHandler::with_client(Arc::new(config), ses);

    let rejected = handler.handle(email("ada@example.com", None), ctx()).await.expect_err("SES rejects");
    assert_eq!((rejected.class(), rejected.is_permanent()), ("email_rejected", true), "{rejected}");

    let unlisted = handler.handle(email("ada@example.com", Some("ceo@example.com")), ctx()).await.expect_err("not allowed");
    assert_eq!((unlisted.class(), unlisted.is_permanent()), ("sender_not_allowed", true));

    let mut broken = email("ada@example.com", None);
    broken.text = Some("{{ undefined_variable }}".into());
    assert_eq!(handler.handle(broken, ctx()).await.map_err(|e| e.class()).err(), Some("template_error"));
    let bad_to = handler.handle(email("not-an-address", None), ctx()).await.expect_err("bad recipient");
    assert_eq!(bad_to.class(), "invalid_recipient");
}

// --- sms and push ------------------------------------------------------------

#[tokio::test]
async fn sms_is_published_to_the_phone_number() {
    let handler = SmsHandler::with_client(jobfleet_handlers::aws::sns_client(&sdk().await));
    let text = format!("Your code is {}", unique());
    let sms = Sms {
        phone_number: "+14155550100".into(),
        message: text.clone(),
        kind: SmsKind::Transactional,
        sender_id: Some("Jobfleet".into()),
    };

    let published = handler.handle(sms.clone(), ctx()).await.unwrap_or_else(|e| panic!("{e}; {STACK_HINT}"));
    let data = moto_data().await;
    let stored =
        moto_models(&data, "sns", "SMS").iter().find(|m| m["message_id"] == json!(published.message_id)).expect("moto has the SMS");
    assert_eq!((stored["phone_number"].as_str(), stored["message"].as_str()), (Some("+14155550100"), Some(text.as_str())));

    let bad = handler.handle(Sms { phone_number: "555-0100".into(), ..sms }, ctx()).await.expect_err("not E.164");
    assert_eq!((bad.class(), bad.is_permanent()), ("invalid_phone_number", true));
}

#[tokio::test]
async fn push_reaches_a_platform_endpoint_and_a_disabled_endpoint_is_permanent() {
    let sns = jobfleet_handlers::aws::sns_client(&sdk().await);
    let app = sns
        .create_platform_application()
        .name(format!("app-{}", unique()))
        .platform("GCM")
        .attributes("PlatformCredential", "test-api-key")
        .send()
        .await
        .unwrap_or_else(|e| panic!("platform application: {e:?}; {STACK_HINT}"))
        .platform_application_arn
        .expect("application arn");
    let endpoint = sns
        .create_platform_endpoint()
        .platform_application_arn(&app)
        .token(format!("device-{}", unique()))
        .send()
        .await
        .expect("endpoint")
        .endpoint_arn
        .expect("endpoint arn");
    let handler = PushHandler::with_client(sns.clone());
    let push = Push {
        target_arn: Some(endpoint.clone()),
        topic_arn: None,
        message: "fallback".into(),
        subject: None,
        platform_payloads: [("GCM".to_owned(), json!({ "notification": { "title": "Hi" } }))].into(),
        message_group_id: None,
    };

    let published = handler.handle(push.clone(), ctx()).await.expect("published");
    let data = moto_data().await;
    let stored = moto_models(&data, "sns", "PlatformEndpoint").iter().find(|e| e["arn"] == json!(endpoint)).expect("moto has the endpoint");
    let body = stored["messages"][&published.message_id].as_str().expect("the message was delivered to the endpoint");
    let structured: Value = serde_json::from_str(body).expect("MessageStructure=json body");
    assert_eq!(structured["default"], "fallback");
    assert_eq!(
        serde_json::from_str::<Value>(structured["GCM"].as_str().expect("GCM payload is a string")).ok(),
        Some(json!({ "notification": { "title": "Hi" } }))
    );

    sns.set_endpoint_attributes().endpoint_arn(&endpoint).attributes("Enabled", "false").send().await.expect("disable endpoint");
    let disabled = handler.handle(push.clone(), ctx()).await.expect_err("disabled endpoint");
    assert_eq!((disabled.class(), disabled.is_permanent()), ("push_endpoint_disabled", true), "{disabled}");

    let neither = Push { target_arn: None, ..push };
    assert_eq!(handler.handle(neither, ctx()).await.map_err(|e| e.class()).err(), Some("invalid_target"));
}

#[tokio::test]
async fn push_to_a_fifo_topic_deduplicates_by_idempotency_key() {
    let sns = jobfleet_handlers::aws::sns_client(&sdk().await);
    let topic = sns
        .create_topic()
        .name(format!("alerts-{}.fifo", unique()))
        .attributes("FifoTopic", "true")
        .tags(Tag::builder().key("test").value("jobs").build().expect("tag"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("topic: {e:?}; {STACK_HINT}"))
        .topic_arn
        .expect("topic arn");
    let handler = PushHandler::with_client(sns);
    let push = Push {
        target_arn: None,
        topic_arn: Some(topic),
        message: "deploy finished".into(),
        subject: Some("Deploys".into()),
        platform_payloads: Default::default(),
        message_group_id: Some("deploys".into()),
    };
    let published = handler.handle(push, ctx()).await.expect("a FIFO publish carries group and deduplication ids");
    assert!(!published.message_id.is_empty());
}

// --- webhooks -----------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    signature_ok: bool,
}

#[derive(Debug, Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

/// The verification recipe of docs/handlers.md, in Rust.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers.get("jobfleet-signature").and_then(|v| v.to_str().ok()) else { return false };
    let parts: HashMap<&str, &str> = header.split(',').filter_map(|kv| kv.split_once('=')).collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else { return false };
    let Ok(ts) = t.parse::<u64>() else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(ts) > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
}

async fn hook(State(rx): State<Receiver>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature_ok = verify(SECRET, &headers, &body);
    rx.received.lock().expect("lock").push(Received { headers, body, signature_ok });
    if let Some(ms) = q.get("sleep_ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if !signature_ok {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    match q.get("status").map(String::as_str) {
        Some("429") => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "slow down").into_response(),
        Some("500") => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Some("404") => (StatusCode::NOT_FOUND, "no such hook").into_response(),
        Some("302") => (StatusCode::FOUND, [("location", "http://169.254.169.254/latest/meta-data/")]).into_response(),
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

/// Starts the receiver; returns its base URL.
async fn start_receiver() -> (String, Receiver) {
    let rx = Receiver::default();
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}"), rx)
}

fn webhook_config() -> NotificationsConfig {
    NotificationsConfig {
        webhook_signing_secret: Some(Secret::new(SECRET)),
        webhook_allow_hosts: vec!["127.0.0.1".into()],
        webhook_require_https: false,
        webhook_timeout_ms: 1_000,
        webhook_connect_timeout_ms: 500,
        ..NotificationsConfig::default()
    }
}

fn webhook(url: String) -> Webhook {
    Webhook { url, body: json!({ "order": 42, "note": "café ✓" }), event: Some("order.paid".into()) }
}

#[tokio::test]
async fn webhook_posts_a_signed_body_with_the_idempotency_key() {
    let (base, rx) = start_receiver().await;
    let handler = WebhookHandler::new(Arc::new(webhook_config()));
    let ctx = ctx();

    let delivered = handler.handle(webhook(format!("{base}/hook")), ctx.clone()).await.expect("delivered");
    assert_eq!(delivered.status, 200);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_ok, "the receiver verifies the signature");
    assert_eq!(serde_json::from_slice::<Value>(&got[0].body).ok(), Some(json!({ "order": 42, "note": "café ✓" })));
    let header = |name: &str| got[0].headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("idempotency-key"), Some(ctx.idempotency_key.clone()));
    assert_eq!(header("jobfleet-event").as_deref(), Some("order.paid"));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));

    // A retry of the same job carries the same key (a new signature, though).
    handler.handle(webhook(format!("{base}/hook")), ctx.clone()).await.expect("delivered again");
    assert_eq!(rx.received()[1].headers.get("idempotency-key").and_then(|v| v.to_str().ok()), Some(ctx.idempotency_key.as_str()));

    // A receiver with another secret refuses it: the signature is real.
    assert!(!verify("another-secret-0123456789", &got[0].headers, &got[0].body));
}

#[tokio::test]
async fn webhook_failures_are_classified_for_retry() {
    let (base, rx) = start_receiver().await;
    let handler = WebhookHandler::new(Arc::new(webhook_config()));
    let call = |query: &str| handler.handle(webhook(format!("{base}/hook?{query}")), ctx());

    let throttled = call("status=429").await.expect_err("429");
    assert!(
        matches!(throttled, JobError::RetryAfter { after, class: "webhook_throttled", .. } if after == Duration::from_secs(7)),
        "{throttled:?}"
    );
    let server_error = call("status=500").await.expect_err("500");
    assert_eq!((server_error.class(), server_error.is_permanent()), ("webhook_5xx", false));
    assert!(server_error.message().contains("boom"), "{server_error}");
    let not_found = call("status=404").await.expect_err("404");
    assert_eq!((not_found.class(), not_found.is_permanent()), ("webhook_4xx", true));
    let redirect = call("status=302").await.expect_err("302");
    assert_eq!((redirect.class(), redirect.is_permanent()), ("webhook_redirect", true));
    let slow = call("sleep_ms=3000").await.expect_err("timeout");
    assert_eq!((slow.class(), slow.is_permanent()), ("webhook_timeout", false), "{slow}");
    assert_eq!(rx.received().len(), 5, "each call reached the receiver once; the redirect was not followed");

    // Nothing listens on a port just released: connect errors are retried.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let refused = handler.handle(webhook(format!("http://127.0.0.1:{port}/hook")), ctx()).await.expect_err("refused");
    assert_eq!((refused.class(), refused.is_permanent()), ("webhook_connect", false), "{refused}");
}

#[tokio::test]
async fn webhook_to_internal_addresses_is_refused_before_connecting() {
    // No allow-list: even the test's own loopback receiver is off limits.
    let config = NotificationsConfig { webhook_allow_hosts: vec![], ..webhook_config() };
    let handler = WebhookHandler::new(Arc::new(config));
    let (base, rx) = start_receiver().await;
    let port = base.rsplit(':').next().unwrap_or("80");
    for url in [
        "http://10.0.0.1/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("{base}/hook"),
    ] {
        let err = handler.handle(webhook(url.clone()), ctx()).await.expect_err("blocked");
        assert_eq!((err.class(), err.is_permanent()), ("ssrf_blocked", true), "{url}: {err}");
    }
    assert!(rx.received().is_empty(), "no request left the guard");

    let https_only = WebhookHandler::new(Arc::new(NotificationsConfig { webhook_require_https: true, ..webhook_config() }));
    let plain = https_only.handle(webhook(format!("{base}/hook")), ctx()).await.expect_err("http refused");
    assert_eq!((plain.class(), plain.is_permanent()), ("invalid_url", true));

    let unsigned = WebhookHandler::new(Arc::new(NotificationsConfig { webhook_signing_secret: None, ..webhook_config() }));
    let err = unsigned.handle(webhook(format!("{base}/hook")), ctx()).await.expect_err("no secret");
    assert_eq!((err.class(), err.is_permanent()), ("webhook_not_configured", true));
}

#[tokio::test]
async fn webhook_rate_limit_defers_jobs_past_the_burst_without_calling() {
    let (base, rx) = start_receiver().await;
    let config = NotificationsConfig { webhook_rate_per_sec: 0.5, webhook_burst: 2, ..webhook_config() };
    let handler = WebhookHandler::new(Arc::new(config));
    for _ in 0..2 {
        handler.handle(webhook(format!("{base}/hook")), ctx()).await.expect("within the burst");
    }
    let over = handler.handle(webhook(format!("{base}/hook")), ctx()).await.expect_err("over the limit");
    match over {
        JobError::RetryAfter { after, class: "rate_limited", .. } => {
            assert!(after >= Duration::from_secs(1) && after <= Duration::from_secs(4), "{after:?}")
        }
        other => panic!("expected rate_limited RetryAfter, got {other:?}"),
    }
    assert_eq!(rx.received().len(), 2, "the deferred job made no request");
}
