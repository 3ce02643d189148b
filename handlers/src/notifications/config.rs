//! The `notifications` configuration section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::email::{address_of, is_email_address};
use crate::net::{AllowList, HttpTimeouts};
use jobfleet_contract::settings::{Secret, SettingError};

/// Settings of the notification handlers (`[notifications]` in TOML,
/// `JOBFLEET_NOTIFICATIONS__<SETTING>` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Default sender of `notify.email` (`"Name <no-reply@example.com>"`);
    /// must be an SES-verified identity.
    pub email_from: Option<String>,
    /// Other senders a job may ask for with `from`: addresses, or `@domain`
    /// for any address of a verified domain. `email_from` is always allowed.
    pub email_allowed_senders: Vec<String>,
    /// SES configuration set for event publishing (bounces, complaints).
    pub email_configuration_set: Option<String>,
    /// HMAC-SHA256 key signing every `notify.webhook` request. Required for
    /// webhooks; never printed (`worker config` shows `[redacted]`).
    pub webhook_signing_secret: Option<Secret>,
    /// Destinations allowed despite the SSRF rules: IPs, CIDR blocks, host
    /// names or `*.suffix` (e.g. `["10.20.0.0/16", "*.internal.example"]`).
    pub webhook_allow_hosts: Vec<String>,
    /// Refuse plain `http://` webhook URLs.
    pub webhook_require_https: bool,
    pub webhook_connect_timeout_ms: u64,
    /// Whole request, connect to last byte.
    pub webhook_timeout_ms: u64,
    /// Per destination (`host:port`) and pod: sustained requests per second…
    pub webhook_rate_per_sec: f64,
    /// …and how many may go at once after a quiet period.
    pub webhook_burst: u32,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            email_from: None,
            email_allowed_senders: Vec::new(),
            email_configuration_set: None,
            webhook_signing_secret: None,
            webhook_allow_hosts: Vec::new(),
            webhook_require_https: true,
            webhook_connect_timeout_ms: 3_000,
            webhook_timeout_ms: 10_000,
            webhook_rate_per_sec: 10.0,
            webhook_burst: 20,
        }
    }
}

/// Webhook signing keys shorter than this are refused.
pub const MIN_SIGNING_SECRET_LEN: usize = 16;

impl NotificationsConfig {
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Some(from) = &self.email_from
            && !is_email_address(address_of(from))
        {
            return Err(SettingError::new("notifications.email_from", format!("{from:?} is not an email address")));
        }
        for sender in &self.email_allowed_senders {
            let ok = match sender.strip_prefix('@') {
                Some(domain) => !domain.is_empty() && is_email_address(&format!("x@{domain}")),
                None => is_email_address(sender),
            };
            if !ok {
                return Err(SettingError::new(
                    "notifications.email_allowed_senders",
                    format!("{sender:?} is neither an email address nor @domain"),
                ));
            }
        }
        if let Some(secret) = &self.webhook_signing_secret
            && secret.expose().len() < MIN_SIGNING_SECRET_LEN
        {
            return Err(SettingError::new(
                "notifications.webhook_signing_secret",
                format!("must be at least {MIN_SIGNING_SECRET_LEN} characters"),
            ));
        }
        AllowList::parse(&self.webhook_allow_hosts).map_err(|e| SettingError::new("notifications.webhook_allow_hosts", e))?;
        if !(1..=60_000).contains(&self.webhook_connect_timeout_ms) {
            return Err(SettingError::new(
                "notifications.webhook_connect_timeout_ms",
                format!("{} is outside 1..=60000", self.webhook_connect_timeout_ms),
            ));
        }
        if !(self.webhook_connect_timeout_ms..=600_000).contains(&self.webhook_timeout_ms) {
            return Err(SettingError::new(
                "notifications.webhook_timeout_ms",
                format!(
                    "{} must be at least webhook_connect_timeout_ms ({}) and at most 600000",
                    self.webhook_timeout_ms, self.webhook_connect_timeout_ms
                ),
            ));
        }
        if !(self.webhook_rate_per_sec > 0.0 && self.webhook_rate_per_sec.is_finite()) {
            return Err(SettingError::new("notifications.webhook_rate_per_sec", "must be a positive number"));
        }
        if self.webhook_burst == 0 {
            return Err(SettingError::new("notifications.webhook_burst", "must be at least 1"));
        }
        Ok(())
    }

    pub fn webhook_timeouts(&self) -> HttpTimeouts {
        HttpTimeouts {
            connect: Duration::from_millis(self.webhook_connect_timeout_ms),
            total: Duration::from_millis(self.webhook_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_each_rule_names_its_setting() {
        NotificationsConfig::default().validate().expect("defaults are valid");
        let base = NotificationsConfig::default();
        let cases: Vec<(NotificationsConfig, &str)> = vec![
            (NotificationsConfig { email_from: Some("nobody".into()), ..base.clone() }, "notifications.email_from"),
            (NotificationsConfig { email_allowed_senders: vec!["@".into()], ..base.clone() }, "notifications.email_allowed_senders"),
            (
                NotificationsConfig { webhook_signing_secret: Some(Secret::new("short")), ..base.clone() },
                "notifications.webhook_signing_secret",
            ),
            (NotificationsConfig { webhook_allow_hosts: vec!["10.0.0.0/40".into()], ..base.clone() }, "notifications.webhook_allow_hosts"),
            (NotificationsConfig { webhook_connect_timeout_ms: 0, ..base.clone() }, "notifications.webhook_connect_timeout_ms"),
            (NotificationsConfig { webhook_timeout_ms: 10, ..base.clone() }, "notifications.webhook_timeout_ms"),
            (NotificationsConfig { webhook_rate_per_sec: f64::NAN, ..base.clone() }, "notifications.webhook_rate_per_sec"),
            (NotificationsConfig { webhook_burst: 0, ..base.clone() }, "notifications.webhook_burst"),
        ];
        for (config, setting) in cases {
            assert_eq!(config.validate().map_err(|e| e.setting), Err(setting), "{config:?}");
        }
        let ok = NotificationsConfig {
            email_from: Some("Jobfleet <no-reply@example.com>".into()),
            email_allowed_senders: vec!["@example.com".into(), "billing@example.org".into()],
            webhook_signing_secret: Some(Secret::new("0123456789abcdef0123")),
            webhook_allow_hosts: vec!["127.0.0.1".into(), "*.svc.cluster.local".into()],
            ..base
        };
        ok.validate().expect("valid");
        assert!(!format!("{ok:?}").contains("0123456789abcdef"), "Debug must redact the signing secret");
    }
}
