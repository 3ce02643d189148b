//! `media.thumbnail`'s payload (the handler is `media::thumbnail`, feature `media`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use jobfleet_contract::{Job, Pool};

/// Variants made when a job does not list any: longest sides in pixels.
pub const DEFAULT_VARIANTS: [u32; 3] = [1600, 640, 160];

/// `media.thumbnail`, version 1:
/// `{"bucket": "...", "key": "...", "variants": [1600, 640, 160], "format": "jpeg", "quality": 82}`.
/// Only `bucket` and `key` are required. The format is sniffed from the content, never from
/// the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Thumbnail {
    pub bucket: String,
    pub key: String,
    /// Longest side of each variant (1–8192 px, at most 16). Default [`DEFAULT_VARIANTS`].
    /// Images are never upscaled: a variant bigger than the source is the source's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<u32>>,
    /// Default `jpeg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ThumbnailFormat>,
    /// JPEG quality 1–100; default `media.default_quality` (82). WebP output is lossless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
}

impl Job for Thumbnail {
    const TYPE: &'static str = "media.thumbnail";
    const POOL: Option<Pool> = Some(Pool::MEDIA);
}

/// Output encoding, as the payload spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailFormat {
    #[default]
    Jpeg,
    /// Lossless WebP; keeps alpha.
    Webp,
}
