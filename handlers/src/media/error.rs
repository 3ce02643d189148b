//! Error type of the media pipeline.
//!
//! Every variant maps to a stable `error_class` string (see [`MediaError::class`]) that the
//! job runtime records on a failed job. The classes are part of the contract with dashboards
//! and alerting: never rename one, only add.

use super::sniff::Format;

/// Why an image could not be turned into thumbnails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The input has zero bytes.
    #[error("empty input")]
    EmptyInput,

    /// The input is larger than [`Limits::max_input_bytes`](super::Limits::max_input_bytes).
    #[error("input is {size} bytes, limit is {max}")]
    TooLarge { size: u64, max: u64 },

    /// The content is not JPEG, PNG or WebP (the file name is never consulted), or it is a
    /// variant of those we refuse (animated WebP, arithmetic-coded/lossless JPEG, ...).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),

    /// The header declares more pixels than [`Limits::max_pixels`](super::Limits::max_pixels).
    /// Raised before any pixel buffer is allocated (decompression-bomb guard).
    #[error("{width}x{height} is {} pixels, limit is {max}", *width as u64 * *height as u64)]
    TooManyPixels { width: u32, height: u32, max: u64 },

    /// The data ends before the image does (partial upload, cut-off download).
    #[error("truncated {format} image: {detail}")]
    Truncated { format: Format, detail: String },

    /// The data is malformed. Decoder warnings (which libjpeg-turbo would otherwise paper over
    /// with grey pixels) are reported as this too.
    #[error("corrupt {format} image: {detail}")]
    Corrupt { format: Format, detail: String },

    /// The [`ThumbnailSpec`](super::ThumbnailSpec) itself is invalid (caller bug / bad job
    /// payload): no variants, a zero size, quality outside 1..=100.
    #[error("invalid thumbnail spec: {0}")]
    InvalidSpec(String),

    /// An encoder or codec library failed on pixels we produced ourselves (for example an
    /// allocation failure inside libjpeg-turbo). The input is not known to be at fault, so the
    /// job may be retried.
    #[error("internal codec failure: {0}")]
    Internal(String),
}

impl MediaError {
    /// Stable `error_class` string for metrics, logs and the job's failure record.
    pub fn class(&self) -> &'static str {
        match self {
            MediaError::EmptyInput => "empty_input",
            MediaError::TooLarge { .. } => "too_large",
            MediaError::UnsupportedFormat(_) => "unsupported_format",
            MediaError::TooManyPixels { .. } => "too_many_pixels",
            MediaError::Truncated { .. } => "truncated_image",
            MediaError::Corrupt { .. } => "corrupt_image",
            MediaError::InvalidSpec(_) => "invalid_spec",
            MediaError::Internal(_) => "internal_codec_error",
        }
    }

    /// `true` when retrying the same input can never succeed: the job should go straight to the
    /// dead-letter/failed state instead of being retried. Everything caused by the input or the
    /// spec is permanent; only [`MediaError::Internal`] is not.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MediaError::Internal(_))
    }

    pub(crate) fn corrupt(format: Format, detail: impl Into<String>) -> Self {
        MediaError::Corrupt { format, detail: detail.into() }
    }

    pub(crate) fn truncated(format: Format, detail: impl Into<String>) -> Self {
        MediaError::Truncated { format, detail: detail.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_stable_and_permanence_is_right() {
        let cases: Vec<(MediaError, &str, bool)> = vec![
            (MediaError::EmptyInput, "empty_input", true),
            (MediaError::TooLarge { size: 2, max: 1 }, "too_large", true),
            (MediaError::UnsupportedFormat("gif".into()), "unsupported_format", true),
            (MediaError::TooManyPixels { width: 1, height: 2, max: 1 }, "too_many_pixels", true),
            (MediaError::truncated(Format::Jpeg, "x"), "truncated_image", true),
            (MediaError::corrupt(Format::Png, "x"), "corrupt_image", true),
            (MediaError::InvalidSpec("x".into()), "invalid_spec", true),
            (MediaError::Internal("oom".into()), "internal_codec_error", false),
        ];
        for (err, class, permanent) in cases {
            assert_eq!(err.class(), class, "{err}");
            assert_eq!(err.is_permanent(), permanent, "{err}");
        }
    }

    #[test]
    fn too_many_pixels_message_does_not_overflow() {
        let e = MediaError::TooManyPixels { width: u32::MAX, height: u32::MAX, max: 50_000_000 };
        assert!(e.to_string().contains("18446744065119617025"));
    }
}
