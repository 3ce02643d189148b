//! The `notify.*` payloads (the handlers are in `notifications`, feature
//! `notifications`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use jobfleet_contract::{Job, Pool};

/// `notify.email`. `subject`, `text` and `html` are minijinja templates
/// rendered with `vars`; `html` is HTML-escaped, the others are not.
/// At least one of `text` and `html` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Email {
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    /// Sender; defaults to `notifications.email_from`. Must be allow-listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub vars: Map<String, Value>,
}

impl Job for Email {
    const TYPE: &'static str = "notify.email";
    const POOL: Option<Pool> = Some(Pool::NOTIFICATIONS);
}

/// `notify.sms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sms {
    /// E.164: `+` then 2 to 15 digits, e.g. `+14155550100`.
    pub phone_number: String,
    pub message: String,
    /// `transactional` (default: one-time codes, alerts; delivery over cost)
    /// or `promotional`.
    #[serde(default)]
    pub kind: SmsKind,
    /// Alphanumeric sender ID, where the destination country supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsKind {
    #[default]
    Transactional,
    Promotional,
}

impl Job for Sms {
    const TYPE: &'static str = "notify.sms";
    const POOL: Option<Pool> = Some(Pool::NOTIFICATIONS);
}

/// `notify.push`. Exactly one of `target_arn` (a platform endpoint) and
/// `topic_arn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Push {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// The text every platform gets unless `platform_payloads` overrides it.
    pub message: String,
    /// For email subscribers of a topic (≤ 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Per-platform JSON payloads (`{"APNS": {"aps": {...}}, "GCM": {...}}`);
    /// when present the message is sent with `MessageStructure=json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platform_payloads: BTreeMap<String, Value>,
    /// For FIFO topics (`….fifo`): the ordering group; defaults to `default`.
    /// The deduplication id is the job's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

impl Job for Push {
    const TYPE: &'static str = "notify.push";
    const POOL: Option<Pool> = Some(Pool::NOTIFICATIONS);
}

/// `notify.webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Webhook {
    /// `https://…` (plain `http://` only when
    /// `notifications.webhook_require_https` is off).
    pub url: String,
    /// Sent as the request body, serialised once; the signature covers
    /// exactly those bytes.
    pub body: Value,
    /// Sent as `Jobfleet-Event` (1–100 visible ASCII characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Job for Webhook {
    const TYPE: &'static str = "notify.webhook";
    const POOL: Option<Pool> = Some(Pool::NOTIFICATIONS);
}
