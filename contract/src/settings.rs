//! Building blocks of the handlers' configuration sections (the `worker`
//! crate nests them in its `Config`): a redacting [`Secret`] and the
//! [`SettingError`] their `validate()` methods return.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a [`Secret`] prints and serialises as.
pub const REDACTED: &str = "[redacted]";

/// A secret setting (signing secret, API key). `Debug`, `Display` and
/// `Serialize` print [`REDACTED`], so neither logs nor `worker config` can
/// leak it; only [`Secret::expose`] gives the value, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's value. Call it where the value is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// An invalid setting of a handler section, named by its dotted path
/// (`notifications.webhook_allow_hosts`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {reason}")]
pub struct SettingError {
    pub setting: &'static str,
    pub reason: String,
}

impl SettingError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self { setting, reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(secret.to_string(), REDACTED);
        assert_eq!(serde_json::to_string(&secret).expect("serialises"), format!("\"{REDACTED}\""));
        assert_eq!(serde_json::to_string(&Some(&secret)).expect("serialises"), format!("\"{REDACTED}\""));
        let read: Secret = serde_json::from_str("\"s3cr3t\"").expect("deserialises");
        assert_eq!(read.expose(), "s3cr3t");
    }
}
