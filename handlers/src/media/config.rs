//! The `media` configuration section.

use serde::{Deserialize, Serialize};

use super::Limits;
use jobfleet_contract::settings::SettingError;

/// Settings of the `media.thumbnail` handler (`[media]` in TOML,
/// `JOBFLEET_MEDIA__<SETTING>` in the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Largest source object read from S3, in bytes; a bigger one fails
    /// permanently as `too_large` without being downloaded.
    pub max_input_bytes: u64,
    /// Largest image accepted, as width × height declared by its header;
    /// more fails as `too_many_pixels` before any pixel is decoded.
    pub max_pixels: u64,
    /// JPEG quality (1–100) of jobs that do not give `quality`.
    pub default_quality: u8,
    /// Key prefix of the variants: `<prefix><source key without extension>/<size>.<ext>`,
    /// in the source's bucket. Must end with `/`.
    pub output_prefix: String,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_input_bytes: limits.max_input_bytes,
            max_pixels: limits.max_pixels,
            default_quality: 82,
            output_prefix: "thumbnails/".to_owned(),
        }
    }
}

/// Ceiling of `media.max_input_bytes`: the source is held in memory.
pub const MAX_INPUT_BYTES_LIMIT: u64 = 1 << 30;
/// Ceiling of `media.max_pixels` (a PNG or WebP decodes at full size, 4 bytes a pixel).
pub const MAX_PIXELS_LIMIT: u64 = 500_000_000;
/// Longest accepted `media.output_prefix`, leaving room in S3's 1024-byte keys.
pub const MAX_OUTPUT_PREFIX_LEN: usize = 256;

impl MediaConfig {
    pub fn validate(&self) -> Result<(), SettingError> {
        if !(1..=MAX_INPUT_BYTES_LIMIT).contains(&self.max_input_bytes) {
            return Err(SettingError::new(
                "media.max_input_bytes",
                format!("{} is outside 1..={MAX_INPUT_BYTES_LIMIT}", self.max_input_bytes),
            ));
        }
        if !(1..=MAX_PIXELS_LIMIT).contains(&self.max_pixels) {
            return Err(SettingError::new("media.max_pixels", format!("{} is outside 1..={MAX_PIXELS_LIMIT}", self.max_pixels)));
        }
        if !(1..=100).contains(&self.default_quality) {
            return Err(SettingError::new("media.default_quality", format!("{} is outside 1..=100", self.default_quality)));
        }
        let prefix = &self.output_prefix;
        if prefix.len() < 2 || !prefix.ends_with('/') || prefix.starts_with('/') || prefix.len() > MAX_OUTPUT_PREFIX_LEN {
            return Err(SettingError::new(
                "media.output_prefix",
                format!("{prefix:?} must be 2–{MAX_OUTPUT_PREFIX_LEN} bytes, end with '/' and not start with '/'"),
            ));
        }
        if prefix.chars().any(char::is_control) {
            return Err(SettingError::new("media.output_prefix", "must not contain control characters"));
        }
        Ok(())
    }

    /// The pipeline's limits.
    pub fn limits(&self) -> Limits {
        Limits { max_input_bytes: self.max_input_bytes, max_pixels: self.max_pixels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_each_rule_names_its_setting() {
        MediaConfig::default().validate().expect("defaults are valid");
        assert_eq!(MediaConfig::default().limits(), Limits::default());
        let base = MediaConfig::default();
        let cases: Vec<(MediaConfig, &str)> = vec![
            (MediaConfig { max_input_bytes: 0, ..base.clone() }, "media.max_input_bytes"),
            (MediaConfig { max_input_bytes: MAX_INPUT_BYTES_LIMIT + 1, ..base.clone() }, "media.max_input_bytes"),
            (MediaConfig { max_pixels: 0, ..base.clone() }, "media.max_pixels"),
            (MediaConfig { default_quality: 0, ..base.clone() }, "media.default_quality"),
            (MediaConfig { default_quality: 101, ..base.clone() }, "media.default_quality"),
            (MediaConfig { output_prefix: String::new(), ..base.clone() }, "media.output_prefix"),
            (MediaConfig { output_prefix: "thumbs".into(), ..base.clone() }, "media.output_prefix"),
            (MediaConfig { output_prefix: "/thumbs/".into(), ..base.clone() }, "media.output_prefix"),
            (MediaConfig { output_prefix: "th\numbs/".into(), ..base.clone() }, "media.output_prefix"),
        ];
        for (config, setting) in cases {
            assert_eq!(config.validate().map_err(|e| e.setting), Err(setting), "{config:?}");
        }
        MediaConfig { output_prefix: "derived/thumbs/".into(), max_pixels: 1000, default_quality: 100, ..base }.validate().expect("valid");
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let config: MediaConfig = serde_json::from_str(r#"{"default_quality": 90}"#).expect("parses");
        assert_eq!(config, MediaConfig { default_quality: 90, ..MediaConfig::default() });
        assert!(serde_json::from_str::<MediaConfig>(r#"{"quality": 90}"#).is_err(), "unknown settings are refused");
    }
}
