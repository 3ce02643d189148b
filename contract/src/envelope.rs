//! Envelope v1: the SQS message body every producer sends.
//!
//! ```json
//! { "id": "<uuid v7>", "type": "media.thumbnail", "version": 1,
//!   "created_at": "<RFC 3339>", "payload": { … },
//!   "payload_ref": "s3://bucket/key", "traceparent": "00-…",
//!   "idempotency_key": "…" }
//! ```
//! `version` is the version of the *payload* schema of `type`; the envelope's
//! own shape is versioned by this module (v1). Unknown extra fields are
//! ignored so producers can add fields before consumers know them.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Job;

/// The SQS message attribute that repeats the envelope's `type`, so tools
/// can filter without parsing bodies.
pub const JOB_TYPE_ATTRIBUTE: &str = "job_type";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "jobfleet envelope v1",
    extend("oneOf" = [{ "required": ["payload"] }, { "required": ["payload_ref"] }])
)]
pub struct Envelope {
    /// UUID v7 (time-ordered); the job's identity in the ledger and for deduplication.
    pub id: Uuid,
    /// The job type's wire name, e.g. `media.thumbnail`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 128))]
    pub job_type: String,
    /// Version of the payload schema of `type` (see `payloads/<type>.v<version>.json`).
    #[schemars(range(min = 1))]
    pub version: u32,
    /// RFC 3339 time the producer created the job.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created_at: OffsetDateTime,
    /// The typed payload of `type` at `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Claim check: `s3://bucket/key` of the payload when it was too large
    /// for SQS. Exactly one of `payload` and `payload_ref` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^s3://[^/]+/.+$"))]
    pub payload_ref: Option<String>,
    /// W3C trace context of the producer, carried into the handler's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Defaults to `id` (see [`Envelope::idempotency_key`]). At most 128
    /// characters: it becomes an SNS FIFO `MessageDeduplicationId`, whose
    /// limit that is; and never empty, which would make every job the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub idempotency_key: Option<String>,
}

/// Why a message could not be turned into a job. Each class becomes the
/// `error_class` attribute of the dead-lettered message, so operators can
/// tell "the producer sent garbage" from "we don't know this type yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorClass {
    /// Not UTF-8 or not JSON at all.
    MalformedJson,
    /// JSON, but not an envelope: a field is missing, mistyped or duplicated,
    /// the id is not a UUID, the timestamp is not RFC 3339, …
    InvalidEnvelope,
    /// No handler for `type` in this pool.
    UnknownType,
    /// `version` is newer than the handler knows, or too old to upcast.
    UnknownVersion,
    /// The payload does not match the type's schema.
    InvalidPayload,
}

impl DecodeErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidEnvelope => "invalid_envelope",
            Self::UnknownType => "unknown_type",
            Self::UnknownVersion => "unknown_version",
            Self::InvalidPayload => "invalid_payload",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", class.as_str())]
pub struct DecodeError {
    pub class: DecodeErrorClass,
    pub message: String,
}

impl DecodeError {
    pub fn new(class: DecodeErrorClass, message: impl fmt::Display) -> Self {
        Self { class, message: message.to_string() }
    }
}

impl Envelope {
    /// Wraps a typed job in a fresh envelope (new uuid v7 id, now, current version).
    pub fn new<J: Job>(job: &J) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            job_type: J::TYPE.to_owned(),
            version: J::VERSION,
            created_at: OffsetDateTime::now_utc(),
            payload: Some(serde_json::to_value(job)?),
            payload_ref: None,
            traceparent: None,
            idempotency_key: None,
        })
    }

    /// Decodes an SQS message body. The two-step parse (any JSON, then the
    /// envelope) is what lets "not JSON" and "not an envelope" be told apart.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| DecodeError::new(DecodeErrorClass::MalformedJson, e))?;
        if !value.is_object() {
            return Err(DecodeError::new(
                DecodeErrorClass::InvalidEnvelope,
                format!("expected a JSON object, found {}", json_kind(&value)),
            ));
        }
        // Re-parse from the bytes (not the Value) so serde reports duplicate
        // keys, which a Value silently collapses.
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| DecodeError::new(DecodeErrorClass::InvalidEnvelope, e))?;
        envelope.validate()?;
        Ok(envelope)
    }

    fn validate(&self) -> Result<(), DecodeError> {
        let invalid = |m: &str| Err(DecodeError::new(DecodeErrorClass::InvalidEnvelope, m));
        if self.job_type.is_empty() || self.job_type.len() > 128 {
            return invalid("`type` must be 1 to 128 characters");
        }
        if self.id.is_nil() {
            return invalid("`id` must not be the nil UUID");
        }
        if self.idempotency_key.as_ref().is_some_and(|k| k.is_empty() || k.chars().count() > 128) {
            return invalid("`idempotency_key` must be 1 to 128 characters (or absent: it defaults to `id`)");
        }
        match (&self.payload, &self.payload_ref) {
            (Some(_), Some(_)) => invalid("exactly one of `payload` and `payload_ref` may be present, found both"),
            (None, None) => invalid("missing field `payload` (or `payload_ref`)"),
            _ => Ok(()),
        }
    }

    /// The key handlers use for external side effects.
    pub fn idempotency_key(&self) -> String {
        self.idempotency_key.clone().unwrap_or_else(|| self.id.to_string())
    }

    pub fn to_json(&self) -> String {
        // An Envelope holds only strings, numbers and JSON values: it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(body: &str) -> Option<DecodeErrorClass> {
        Envelope::decode(body.as_bytes()).err().map(|e| e.class)
    }

    const GOOD: &str =
        r#"{"id":"0192f0c4-8a2e-7cc1-9f51-2d7e4e0b8a11","type":"diag.noop","version":1,"created_at":"2026-11-23T08:00:00Z","payload":{}}"#;

    #[test]
    fn an_idempotency_key_is_one_to_128_characters() {
        let with_key = |key: &str| GOOD.replacen("\"payload\"", &format!("\"idempotency_key\":{key:?},\"payload\""), 1);
        assert_eq!(class_of(&with_key("")), Some(DecodeErrorClass::InvalidEnvelope));
        assert_eq!(class_of(&with_key(&"k".repeat(129))), Some(DecodeErrorClass::InvalidEnvelope));
        // Characters, not bytes: 128 two-byte characters fit.
        assert_eq!(class_of(&with_key(&"é".repeat(128))), None);
        let env = Envelope::decode(with_key("order-42").as_bytes()).expect("valid");
        assert_eq!(env.idempotency_key(), "order-42");
    }

    #[test]
    fn payload_numbers_survive_decoding_exactly() {
        // fuzz/regressions/envelope_decode: without serde_json's
        // float_roundtrip this came back as 1.1400000000000001e308.
        let body = GOOD.replacen("\"payload\":{}", "\"payload\":{\"f\":[1.14e308, 0.1, 123.456]}", 1);
        let env = Envelope::decode(body.as_bytes()).expect("valid");
        assert_eq!(env.payload.expect("payload")["f"], serde_json::json!([1.14e308, 0.1, 123.456]));
    }

    #[test]
    fn decodes_a_valid_envelope_and_defaults_the_idempotency_key_to_the_id() {
        let env = Envelope::decode(GOOD.as_bytes()).expect("valid envelope");
        assert_eq!(env.job_type, "diag.noop");
        assert_eq!(env.idempotency_key(), "0192f0c4-8a2e-7cc1-9f51-2d7e4e0b8a11");
        let again = Envelope::decode(env.to_json().as_bytes()).expect("round trip");
        assert_eq!(again, env);
    }

    #[test]
    fn classifies_each_kind_of_bad_body() {
        assert_eq!(class_of("not json"), Some(DecodeErrorClass::MalformedJson));
        assert_eq!(class_of(r#"{"id": "#), Some(DecodeErrorClass::MalformedJson));
        assert_eq!(class_of("[1,2]"), Some(DecodeErrorClass::InvalidEnvelope));
        assert_eq!(class_of(r#"{"type":"diag.noop"}"#), Some(DecodeErrorClass::InvalidEnvelope));
        let bad_id = GOOD.replace("0192f0c4-8a2e-7cc1-9f51-2d7e4e0b8a11", "42");
        assert_eq!(class_of(&bad_id), Some(DecodeErrorClass::InvalidEnvelope));
        let bad_time = GOOD.replace("2026-11-23T08:00:00Z", "yesterday");
        assert_eq!(class_of(&bad_time), Some(DecodeErrorClass::InvalidEnvelope));
        let dup = GOOD.replace(r#""version":1"#, r#""version":1,"version":2"#);
        assert_eq!(class_of(&dup), Some(DecodeErrorClass::InvalidEnvelope));
        let both = GOOD.replace(r#""payload":{}"#, r#""payload":{},"payload_ref":"s3://b/k""#);
        assert_eq!(class_of(&both), Some(DecodeErrorClass::InvalidEnvelope));
        assert_eq!(Envelope::decode(&[0xff, 0xfe]).err().map(|e| e.class), Some(DecodeErrorClass::MalformedJson));
    }

    #[test]
    fn the_error_names_the_missing_field() {
        let err = Envelope::decode(
            br#"{"id":"0192f0c4-8a2e-7cc1-9f51-2d7e4e0b8a11","version":1,"created_at":"2026-11-23T08:00:00Z","payload":{}}"#,
        )
        .expect_err("missing type");
        assert!(err.message.contains("`type`"), "{}", err.message);
    }
}
