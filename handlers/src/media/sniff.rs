//! Format detection from magic bytes. The file name and any claimed content type are never
//! consulted: uploads lie (a `.jpg` that is really a GIF, a text file renamed to `.png`).

use std::fmt;

use super::error::MediaError;

/// An input format the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::WebP => "webp",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Detects the format of `input` from its first bytes.
///
/// * empty input → [`MediaError::EmptyInput`];
/// * a strict prefix of a supported signature (e.g. the first 5 bytes of a PNG) →
///   [`MediaError::Truncated`];
/// * anything else that is not JPEG/PNG/WebP → [`MediaError::UnsupportedFormat`] with a best
///   guess of what it is, for the failure record.
pub fn sniff(input: &[u8]) -> Result<Format, MediaError> {
    if input.is_empty() {
        return Err(MediaError::EmptyInput);
    }
    if input.starts_with(JPEG_MAGIC) {
        return Ok(Format::Jpeg);
    }
    if input.starts_with(PNG_MAGIC) {
        return Ok(Format::Png);
    }
    if input.len() >= 12 && &input[0..4] == b"RIFF" && &input[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    // Cut off inside the signature itself.
    for (magic, format) in [(JPEG_MAGIC, Format::Jpeg), (PNG_MAGIC, Format::Png)] {
        if input.len() < magic.len() && magic.starts_with(input) {
            return Err(MediaError::truncated(format, "input ends inside the file signature"));
        }
    }
    if input.len() < 12 && b"RIFF".starts_with(&input[..input.len().min(4)]) {
        return Err(MediaError::truncated(Format::WebP, "input ends inside the RIFF header"));
    }
    Err(MediaError::UnsupportedFormat(describe_unsupported(input).to_string()))
}

/// Names common formats we refuse so that the failure record says more than "unknown".
fn describe_unsupported(input: &[u8]) -> &'static str {
    let starts = |m: &[u8]| input.starts_with(m);
    if starts(b"GIF87a") || starts(b"GIF89a") {
        "gif"
    } else if starts(b"BM") {
        "bmp"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "tiff"
    } else if input.len() >= 12 && &input[4..8] == b"ftyp" {
        match &input[8..12] {
            b"avif" | b"avis" => "avif",
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc" => "heif",
            _ => "iso-bmff (video?)",
        }
    } else if starts(b"RIFF") {
        "riff (not webp)"
    } else if starts(b"%PDF") {
        "pdf"
    } else if starts(b"PK\x03\x04") {
        "zip"
    } else if starts(&[0x00, 0x00, 0x00, 0x0C, b'j', b'P']) || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        "jpeg2000"
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL ") {
        "jpeg-xl"
    } else if looks_like_text(input) {
        let head = String::from_utf8_lossy(&input[..input.len().min(256)]).to_ascii_lowercase();
        if head.contains("<svg") || head.contains("<?xml") { "svg/xml" } else { "text" }
    } else {
        "unknown"
    }
}

fn looks_like_text(input: &[u8]) -> bool {
    let head = &input[..input.len().min(512)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(head);
    !head.is_empty() && head.iter().all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || b >= 0x20) && std::str::from_utf8(head).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported(input: &[u8]) -> String {
        match sniff(input) {
            Err(MediaError::UnsupportedFormat(what)) => what,
            other => panic!("expected unsupported, got {other:?}"),
        }
    }

    #[test]
    fn detects_supported_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).expect("test input is valid"), Format::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR").expect("test input is valid"), Format::Png);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8L").expect("test input is valid"), Format::WebP);
    }

    #[test]
    fn empty_is_its_own_class() {
        assert_eq!(sniff(&[]).expect_err("should be refused").class(), "empty_input");
    }

    #[test]
    fn refuses_other_formats_with_a_name() {
        assert_eq!(unsupported(b"GIF89a\x01\0\x01\0"), "gif");
        assert_eq!(unsupported(b"hello, this is not a picture\n"), "text");
        assert_eq!(unsupported(b"<?xml version=\"1.0\"?><svg></svg>"), "svg/xml");
        assert_eq!(unsupported(b"\0\0\0\x1cftypheic\0\0\0\0"), "heif");
        assert_eq!(unsupported(b"RIFF\x10\0\0\0WAVEfmt "), "riff (not webp)");
        assert_eq!(unsupported(&[0x00, 0x01, 0x02, 0xFE, 0x80]), "unknown");
        assert_eq!(sniff(b"GIF89a").expect_err("should be refused").class(), "unsupported_format");
    }

    #[test]
    fn prefix_of_a_signature_is_truncated() {
        assert_eq!(sniff(&[0xFF, 0xD8]).expect_err("should be refused").class(), "truncated_image");
        assert_eq!(sniff(b"\x89PN").expect_err("should be refused").class(), "truncated_image");
        assert_eq!(sniff(b"RIFF\0\0").expect_err("should be refused").class(), "truncated_image");
    }
}
