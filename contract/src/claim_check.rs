//! Claim check: payloads too large for an SQS message travel through S3.
//!
//! The producer writes the payload (just the payload's JSON, not the
//! envelope) to `s3://<bucket>/<prefix><job id>.json` and sends the envelope
//! with `payload_ref` instead of `payload`. The worker fetches it before the
//! handler runs and deletes it once the job's success is recorded. The key is
//! derived from the job id, so a retried store overwrites rather than
//! duplicates, and the bucket's lifecycle rule on the prefix cleans up what a
//! failed job leaves behind.

use std::fmt;
use std::str::FromStr;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::{Envelope, JobError};

/// Envelopes larger than this go through S3 by default. SQS accepts up to
/// 256 KiB per message including attributes; the margin leaves room for them.
pub const DEFAULT_THRESHOLD_BYTES: usize = 240 * 1024;
/// Where claim-checked payloads live in the bucket (the Terraform lifecycle
/// rule expires this prefix).
pub const DEFAULT_PREFIX: &str = "claim-check/";
/// The error class of a `payload_ref` the worker cannot use.
pub const PAYLOAD_UNAVAILABLE: &str = "payload_unavailable";

/// `s3://bucket/key`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRef {
    pub bucket: String,
    pub key: String,
}

impl FromStr for PayloadRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("payload_ref {s:?} is not an s3:// URL"))?;
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self { bucket: bucket.to_owned(), key: key.to_owned() }),
            _ => Err(format!("payload_ref {s:?} must be s3://<bucket>/<key>")),
        }
    }
}

impl fmt::Display for PayloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimCheckError {
    #[error("could not store the payload at {location}: {reason}")]
    Store { location: String, reason: String },
}

/// Stores and fetches claim-checked payloads.
#[derive(Debug, Clone)]
pub struct ClaimCheck {
    s3: aws_sdk_s3::Client,
}

impl ClaimCheck {
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }

    /// Moves `envelope`'s payload to S3 and replaces it with a `payload_ref`.
    pub async fn store(&self, envelope: &mut Envelope, bucket: &str, prefix: &str) -> Result<PayloadRef, ClaimCheckError> {
        let location = PayloadRef { bucket: bucket.to_owned(), key: format!("{prefix}{}.json", envelope.id) };
        let body = serde_json::to_vec(envelope.payload.as_ref().unwrap_or(&Value::Null))
            .map_err(|e| ClaimCheckError::Store { location: location.to_string(), reason: e.to_string() })?;
        self.s3
            .put_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| ClaimCheckError::Store { location: location.to_string(), reason: DisplayErrorContext(&e).to_string() })?;
        envelope.payload = None;
        envelope.payload_ref = Some(location.to_string());
        Ok(location)
    }

    /// The payload `payload_ref` points at. A reference that can never work
    /// (malformed, missing object, too large, not JSON) is a permanent
    /// `payload_unavailable`; anything else S3 says is worth a retry.
    pub async fn fetch(&self, payload_ref: &str, max_bytes: u64) -> Result<Value, JobError> {
        let location: PayloadRef = payload_ref.parse().map_err(|e| JobError::permanent(PAYLOAD_UNAVAILABLE, e))?;
        let unavailable = |why: String| JobError::permanent(PAYLOAD_UNAVAILABLE, format!("{location}: {why}"));
        let object = match self.s3.get_object().bucket(&location.bucket).key(&location.key).send().await {
            Ok(object) => object,
            Err(e) if is_missing(&e) => return Err(unavailable("no such object (already deleted, or never stored)".into())),
            Err(e) => return Err(JobError::retryable_as("s3_error", format!("{location}: {}", DisplayErrorContext(&e)))),
        };
        if let Some(length) = object.content_length().filter(|&l| l as u64 > max_bytes) {
            return Err(unavailable(format!("{length} bytes exceeds claim_check_max_bytes ({max_bytes})")));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| JobError::retryable_as("s3_error", format!("{location}: reading the body: {e}")))?
            .into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Err(unavailable(format!("{} bytes exceeds claim_check_max_bytes ({max_bytes})", bytes.len())));
        }
        serde_json::from_slice(&bytes).map_err(|e| unavailable(format!("not JSON: {e}")))
    }

    /// Removes a stored payload; a missing object counts as removed.
    pub async fn delete(&self, payload_ref: &str) -> Result<(), String> {
        let location: PayloadRef = payload_ref.parse()?;
        self.s3
            .delete_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{location}: {}", DisplayErrorContext(&e)))
    }
}

/// The object is gone for good: the SDK's modeled `NoSuchKey`, or a bucket
/// that does not exist (S3's `NoSuchBucket` code; GetObject does not model it).
fn is_missing<R>(error: &SdkError<GetObjectError, R>) -> bool {
    error.as_service_error().is_some_and(|e| e.is_no_such_key() || e.code() == Some(NO_SUCH_BUCKET))
}

/// S3's error code for a bucket that does not exist.
const NO_SUCH_BUCKET: &str = "NoSuchBucket";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_key_or_bucket_is_permanent() {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::types::error::NoSuchKey;
        let response = |status: u16| HttpResponse::new(status.try_into().expect("status"), aws_sdk_s3::primitives::SdkBody::empty());
        let no_such_key = SdkError::service_error(GetObjectError::NoSuchKey(NoSuchKey::builder().build()), response(404));
        assert!(is_missing(&no_such_key));
        let no_bucket =
            SdkError::service_error(GetObjectError::generic(ErrorMetadata::builder().code(NO_SUCH_BUCKET).build()), response(404));
        assert!(is_missing(&no_bucket));
        let denied = SdkError::service_error(GetObjectError::generic(ErrorMetadata::builder().code("AccessDenied").build()), response(403));
        assert!(!is_missing(&denied), "access denied must stay retryable, not dead-letter the job");
        let slow = SdkError::service_error(GetObjectError::generic(ErrorMetadata::builder().code("SlowDown").build()), response(503));
        assert!(!is_missing(&slow));
    }

    #[test]
    fn parses_and_prints_s3_references() {
        let r: PayloadRef = "s3://bucket/claim-check/a b.json".parse().expect("valid");
        assert_eq!((r.bucket.as_str(), r.key.as_str()), ("bucket", "claim-check/a b.json"));
        assert_eq!(r.to_string(), "s3://bucket/claim-check/a b.json");
        for bad in ["https://bucket/key", "s3://bucket", "s3://bucket/", "s3:///key"] {
            assert!(bad.parse::<PayloadRef>().is_err(), "{bad} accepted");
        }
    }
}
