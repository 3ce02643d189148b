//! `notify.webhook`: a signed HTTPS POST of a JSON body to a URL from the job.
//!
//! Every request carries
//! - `Jobfleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//!   `"<t>.<raw body>"` with `notifications.webhook_signing_secret`
//!   (verification recipe in docs/handlers.md),
//! - `Idempotency-Key: <the job's idempotency key>`, the same on every
//!   retry, so a receiver can drop the duplicates at-least-once delivery makes,
//! - `Jobfleet-Event: <event>` when the job names one.
//!
//! The URL passes the SSRF guard, the connection is pinned to the checked
//! addresses, redirects are not followed, and each destination has a rate
//! limit (over it, the job is retried after the wait the limiter computes).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::NotificationsConfig;
use crate::net::{AllowList, PinnedClients, RateLimiter, SsrfGuard, retry_after, snippet, whole_seconds};
pub use crate::payloads::notifications::Webhook;
use jobfleet_contract::error::error_chain;
use jobfleet_contract::{JobContext, JobError};

pub const SIGNATURE_HEADER: &str = "jobfleet-signature";
pub const EVENT_HEADER: &str = "jobfleet-event";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const USER_AGENT: &str = concat!("jobfleet-webhook/", env!("CARGO_PKG_VERSION"));

/// What a delivered webhook records in the ledger (no URL: it may carry a token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivered {
    pub status: u16,
    pub duration_ms: u64,
}

/// Runs `notify.webhook`.
#[derive(Debug)]
pub struct WebhookHandler {
    config: Arc<NotificationsConfig>,
    guard: SsrfGuard,
    clients: PinnedClients,
    limiter: RateLimiter,
}

impl WebhookHandler {
    /// `config` should have passed `NotificationsConfig::validate`; invalid
    /// allow-list entries are otherwise ignored (allowing less, not more).
    pub fn new(config: Arc<NotificationsConfig>) -> Self {
        let allow = AllowList::parse_lenient(&config.webhook_allow_hosts, "notifications.webhook_allow_hosts");
        let timeouts = config.webhook_timeouts();
        Self {
            guard: SsrfGuard::new(allow, config.webhook_require_https, timeouts.connect),
            clients: PinnedClients::new(timeouts, USER_AGENT),
            limiter: RateLimiter::new(config.webhook_rate_per_sec, config.webhook_burst),
            config,
        }
    }
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
pub fn signature_header(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl jobfleet_contract::Handler<Webhook> for WebhookHandler {
    type Output = WebhookDelivered;

    async fn handle(&self, job: Webhook, ctx: JobContext) -> Result<WebhookDelivered, JobError> {
        let Some(secret) = &self.config.webhook_signing_secret else {
            return Err(JobError::permanent("webhook_not_configured", "notifications.webhook_signing_secret is not set"));
        };
        let event = match &job.event {
            Some(event) => Some(
                HeaderValue::from_str(event)
                    .ok()
                    .filter(|_| (1..=100).contains(&event.len()) && event.bytes().all(|b| b.is_ascii_graphic()))
                    .ok_or_else(|| JobError::permanent("invalid_event", "event must be 1 to 100 visible ASCII characters"))?,
            ),
            None => None,
        };
        let idempotency_key = HeaderValue::from_str(&ctx.idempotency_key)
            .map_err(|_| JobError::permanent("invalid_idempotency_key", "the idempotency key is not a valid header value"))?;

        let dest = self.guard.check(&job.url).await.map_err(|e| e.into_job_error())?;
        let authority = dest.authority();
        if let Err(wait) = self.limiter.try_acquire(&authority) {
            return Err(JobError::RetryAfter {
                after: whole_seconds(wait),
                class: "rate_limited",
                message: format!("over the rate limit for {authority} (notifications.webhook_rate_per_sec)"),
            });
        }

        let body = serde_json::to_vec(&job.body).map_err(|e| JobError::permanent("invalid_payload", e))?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signature = signature_header(secret.expose().as_bytes(), timestamp, &body);
        let client = self.clients.client_for(&dest).map_err(|e| JobError::retryable_as("webhook_client", e))?;
        let mut request = client
            .post(dest.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, idempotency_key)
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        if let Some(event) = event {
            request = request.header(EVENT_HEADER, event);
        }

        let started = Instant::now();
        let response = tokio::select! {
            response = request.send() => response,
            () = ctx.cancel.cancelled() => return Err(JobError::retryable_as("cancelled", "worker stopping")),
        };
        let response = response.map_err(|e| transport_error(&authority, &e, self.clients.timeouts().total))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status.is_success() {
            return Ok(WebhookDelivered { status: status.as_u16(), duration_ms });
        }
        // Read a little of the body for the error message; a failure to read it is not the error.
        let text = tokio::time::timeout(Duration::from_secs(2), response.text()).await.ok().and_then(Result::ok).unwrap_or_default();
        Err(status_error(&authority, status, retry_after, &snippet(&text, 300)))
    }
}

fn transport_error(authority: &str, err: &reqwest::Error, total: Duration) -> JobError {
    if err.is_timeout() {
        JobError::retryable_as("webhook_timeout", format!("{authority}: no complete response within {total:?}"))
    } else if err.is_connect() {
        JobError::retryable_as("webhook_connect", format!("{authority}: cannot connect: {}", error_chain(err)))
    } else {
        JobError::retryable_as("webhook_transport", format!("{authority}: {}", error_chain(err)))
    }
}

/// 429 (and 503) with `Retry-After` → retry after exactly that; 408, 429,
/// 5xx → retry with backoff; 3xx (redirects are not followed) and other
/// 4xx → permanent.
fn status_error(authority: &str, status: StatusCode, retry_after: Option<Duration>, body: &str) -> JobError {
    let message = format!("{authority} answered {status}: {body}");
    match (status.as_u16(), retry_after) {
        (429 | 503, Some(after)) => JobError::RetryAfter { after: whole_seconds(after), class: "webhook_throttled", message },
        (429, None) => JobError::retryable_as("webhook_throttled", message),
        (408, _) => JobError::retryable_as("webhook_timeout", message),
        (500..=599, _) => JobError::retryable_as("webhook_5xx", message),
        (300..=399, _) => JobError::permanent("webhook_redirect", format!("{message} (redirects are not followed)")),
        (400..=499, _) => JobError::permanent("webhook_4xx", message),
        _ => JobError::permanent("webhook_unexpected_status", message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Cross-checked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test_secret_0123'
        let header = signature_header(b"whsec_test_secret_0123", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(header, "t=1700000000,v1=b1e06771f9a20c020fc4b9be257996790d615bbe4d030159b6a5669fdada024c");
    }

    #[test]
    fn statuses_map_to_retry_decisions() {
        let secs = |s| Some(Duration::from_secs(s));
        let of = |code: u16, ra| status_error("h:443", StatusCode::from_u16(code).expect("status"), ra, "");
        assert_eq!(
            of(429, secs(7)),
            JobError::RetryAfter {
                after: Duration::from_secs(7),
                class: "webhook_throttled",
                message: "h:443 answered 429 Too Many Requests: ".into()
            }
        );
        assert!(matches!(of(503, secs(0)), JobError::RetryAfter { after, .. } if after == Duration::from_secs(1)));
        assert_eq!(of(429, None).class(), "webhook_throttled");
        assert!(!of(429, None).is_permanent());
        for code in [500, 502, 503, 504] {
            assert_eq!(of(code, None).class(), "webhook_5xx", "{code}");
            assert!(!of(code, None).is_permanent());
        }
        assert!(!of(408, None).is_permanent());
        for code in [400, 401, 403, 404, 410, 422] {
            assert_eq!((of(code, None).class(), of(code, None).is_permanent()), ("webhook_4xx", true), "{code}");
        }
        assert_eq!((of(302, None).class(), of(302, None).is_permanent()), ("webhook_redirect", true));
    }
}
