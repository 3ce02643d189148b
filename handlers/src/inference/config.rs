//! The `inference` configuration section.

use std::time::Duration;

use reqwest::header::HeaderName;
use serde::{Deserialize, Serialize};

use crate::net::{AllowList, HttpTimeouts};
use jobfleet_contract::settings::{Secret, SettingError};

/// Settings of `ai.inference` (`[inference]` in TOML,
/// `JOBFLEET_INFERENCE__<SETTING>` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// The OpenAI-compatible server, e.g. `https://api.openai.com` or
    /// `http://vllm.ai.svc.cluster.local:8000`; `/v1/chat/completions` and
    /// `/v1/embeddings` are appended (a base ending in `/v1` is used as is).
    pub base_url: Option<String>,
    /// Model for chat jobs that name none.
    pub model: Option<String>,
    /// Model for embeddings jobs that name none (falls back to `model`).
    pub embedding_model: Option<String>,
    /// Sent as `Authorization: Bearer <key>`, or as the bare value of
    /// `auth_header` when that is another header (`api-key`). Never printed.
    pub api_key: Option<Secret>,
    pub auth_header: String,
    /// Hosts allowed despite the SSRF rules (an in-cluster server resolves
    /// to a private address and must be listed): IPs, CIDRs, names, `*.suffix`.
    pub allow_hosts: Vec<String>,
    /// Calls one pod makes at once: match the backend's capacity (its batch
    /// slots ÷ pods). Jobs beyond it wait for a slot.
    pub max_in_flight: u32,
    pub connect_timeout_ms: u64,
    /// One call, connect to last byte.
    pub request_timeout_secs: u64,
    /// How long one run of a job waits, in the handler, for a model server
    /// that refuses connections or answers 503 (GPU nodes booting, weights
    /// loading) before giving the message back with `RetryAfter`: waiting
    /// here costs no attempt, a retry costs one. Plus `request_timeout_secs`
    /// it must fit in the `ai.inference` job timeout (checked at start-up).
    pub cold_start_budget_secs: u64,
    /// Responses larger than this go to S3 (`<bucket>/ai-results/<job id>.json`)
    /// and the ledger keeps the reference.
    pub inline_result_max_bytes: u64,
    /// Bucket for large results; defaults to `<env>-jobfleet-media`.
    pub results_bucket: Option<String>,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            embedding_model: None,
            api_key: None,
            auth_header: "authorization".into(),
            allow_hosts: Vec::new(),
            max_in_flight: 4,
            connect_timeout_ms: 5_000,
            request_timeout_secs: 120,
            cold_start_budget_secs: 120,
            inline_result_max_bytes: 64 * 1024,
            results_bucket: None,
        }
    }
}

/// The ledger stores results as JSONB; beyond this a result must go to S3.
pub const MAX_INLINE_RESULT_BYTES: u64 = 1024 * 1024;

impl InferenceConfig {
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Some(base) = &self.base_url {
            let url = url::Url::parse(base).map_err(|e| SettingError::new("inference.base_url", format!("{base:?}: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(SettingError::new("inference.base_url", format!("{base:?} is not an http(s) URL")));
            }
            if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
                return Err(SettingError::new(
                    "inference.base_url",
                    "must not carry credentials, a query or a fragment (put the key in inference.api_key)",
                ));
            }
        }
        for (setting, model) in [("inference.model", &self.model), ("inference.embedding_model", &self.embedding_model)] {
            if model.as_ref().is_some_and(|m| m.trim().is_empty()) {
                return Err(SettingError::new(setting, "must not be empty"));
            }
        }
        if HeaderName::from_bytes(self.auth_header.as_bytes()).is_err() {
            return Err(SettingError::new("inference.auth_header", format!("{:?} is not an HTTP header name", self.auth_header)));
        }
        AllowList::parse(&self.allow_hosts).map_err(|e| SettingError::new("inference.allow_hosts", e))?;
        if !(1..=1_024).contains(&self.max_in_flight) {
            return Err(SettingError::new("inference.max_in_flight", format!("{} is outside 1..=1024", self.max_in_flight)));
        }
        if !(1..=60_000).contains(&self.connect_timeout_ms) {
            return Err(SettingError::new("inference.connect_timeout_ms", format!("{} is outside 1..=60000", self.connect_timeout_ms)));
        }
        if !(1..43_200).contains(&self.request_timeout_secs) {
            return Err(SettingError::new("inference.request_timeout_secs", format!("{} is outside 1..43200", self.request_timeout_secs)));
        }
        if self.cold_start_budget_secs >= 43_200 {
            return Err(SettingError::new(
                "inference.cold_start_budget_secs",
                format!("{} is outside 0..43200", self.cold_start_budget_secs),
            ));
        }
        if !(1..=MAX_INLINE_RESULT_BYTES).contains(&self.inline_result_max_bytes) {
            return Err(SettingError::new(
                "inference.inline_result_max_bytes",
                format!("{} is outside 1..={MAX_INLINE_RESULT_BYTES}", self.inline_result_max_bytes),
            ));
        }
        if let Some(bucket) = &self.results_bucket
            && !is_bucket_name(bucket)
        {
            return Err(SettingError::new("inference.results_bucket", format!("{bucket:?} is not an S3 bucket name")));
        }
        Ok(())
    }

    pub fn cold_start_budget(&self) -> Duration {
        Duration::from_secs(self.cold_start_budget_secs)
    }

    pub fn timeouts(&self) -> HttpTimeouts {
        HttpTimeouts { connect: Duration::from_millis(self.connect_timeout_ms), total: Duration::from_secs(self.request_timeout_secs) }
    }
}

fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_each_rule_names_its_setting() {
        InferenceConfig::default().validate().expect("defaults are valid");
        let base = InferenceConfig::default();
        let cases: Vec<(InferenceConfig, &str)> = vec![
            (InferenceConfig { base_url: Some("vllm:8000".into()), ..base.clone() }, "inference.base_url"),
            (InferenceConfig { base_url: Some("https://k:s@api.example.com".into()), ..base.clone() }, "inference.base_url"),
            (InferenceConfig { model: Some(" ".into()), ..base.clone() }, "inference.model"),
            (InferenceConfig { auth_header: "bad header".into(), ..base.clone() }, "inference.auth_header"),
            (InferenceConfig { allow_hosts: vec!["::/200".into()], ..base.clone() }, "inference.allow_hosts"),
            (InferenceConfig { max_in_flight: 0, ..base.clone() }, "inference.max_in_flight"),
            (InferenceConfig { connect_timeout_ms: 0, ..base.clone() }, "inference.connect_timeout_ms"),
            (InferenceConfig { request_timeout_secs: 0, ..base.clone() }, "inference.request_timeout_secs"),
            (InferenceConfig { cold_start_budget_secs: 43_200, ..base.clone() }, "inference.cold_start_budget_secs"),
            (InferenceConfig { inline_result_max_bytes: 0, ..base.clone() }, "inference.inline_result_max_bytes"),
            (InferenceConfig { results_bucket: Some("Bad_Bucket".into()), ..base.clone() }, "inference.results_bucket"),
        ];
        for (config, setting) in cases {
            assert_eq!(config.validate().map_err(|e| e.setting), Err(setting), "{config:?}");
        }
        let ok = InferenceConfig {
            base_url: Some("http://vllm.ai.svc.cluster.local:8000".into()),
            api_key: Some(Secret::new("sk-live-abcdef")),
            allow_hosts: vec!["*.svc.cluster.local".into()],
            results_bucket: Some("prod-jobfleet-media".into()),
            ..base
        };
        ok.validate().expect("valid");
        assert!(!format!("{ok:?}").contains("sk-live"), "Debug must redact the API key");
    }
}
