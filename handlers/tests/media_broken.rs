//! Truncated and corrupt inputs fail permanently with the right class — never a grey image.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod media_common;
use media_common as common;

use common::synth;
use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails};

fn class_of(bytes: &[u8]) -> &'static str {
    match make_thumbnails(bytes, &ThumbnailSpec::default(), &Limits::default()) {
        Ok(_) => "ok",
        Err(e) => {
            assert!(e.is_permanent(), "{e}");
            e.class()
        }
    }
}

fn photo_jpeg(progressive: bool) -> Vec<u8> {
    synth::encode_jpeg(&synth::photo(1200, 900, 11), 1200, 900, 90, progressive)
}

#[test]
fn jpeg_truncated_at_half_is_refused_not_grey() {
    for progressive in [false, true] {
        let jpeg = photo_jpeg(progressive);
        assert_eq!(class_of(&jpeg), "ok");
        // libjpeg-turbo alone would return a picture whose bottom half is grey.
        let half = &jpeg[..jpeg.len() / 2];
        let grey = turbojpeg::decompress(half, turbojpeg::PixelFormat::RGB);
        assert!(grey.is_err(), "turbojpeg reports the truncation as an error/warning");
        assert_eq!(class_of(half), "truncated_image", "progressive={progressive}");
    }
}

#[test]
fn jpeg_truncated_anywhere_is_refused() {
    let jpeg = photo_jpeg(false);
    for pct in [1, 5, 10, 25, 75, 90, 99] {
        let cut = &jpeg[..jpeg.len() * pct / 100];
        assert_eq!(class_of(cut), "truncated_image", "cut at {pct}%");
    }
    // Only the final EOI marker missing: every pixel is there, but the file is still cut.
    assert_eq!(class_of(&jpeg[..jpeg.len() - 2]), "truncated_image");
}

#[test]
fn jpeg_with_garbage_in_the_scan_is_corrupt() {
    let mut jpeg = photo_jpeg(false);
    let mid = jpeg.len() / 2;
    // A marker that cannot appear inside entropy-coded data.
    jpeg[mid..mid + 4].copy_from_slice(&[0xFF, 0xC4, 0xFF, 0xC4]);
    assert_eq!(class_of(&jpeg), "corrupt_image");
}

#[test]
fn png_truncated_or_corrupt() {
    let (w, h) = (300usize, 200usize);
    let png = synth::encode_png(&synth::photo(w, h, 5), w, h, png::ColorType::Rgb);
    assert_eq!(class_of(&png), "ok");
    for pct in [2, 50, 99] {
        assert_eq!(class_of(&png[..png.len() * pct / 100]), "truncated_image", "cut at {pct}%");
    }
    let mut flipped = png.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55; // CRC mismatch in IDAT
    assert_eq!(class_of(&flipped), "corrupt_image");
}

#[test]
fn webp_truncated() {
    let (w, h) = (200usize, 150usize);
    let webp = synth::encode_webp_lossless(&synth::photo(w, h, 6), w, h, false);
    assert_eq!(class_of(&webp), "ok");
    assert_eq!(class_of(&webp[..webp.len() / 2]), "truncated_image");
}

#[test]
fn not_images() {
    assert_eq!(class_of(b""), "empty_input");
    assert_eq!(class_of(b"just some text\n"), "unsupported_format");
    assert_eq!(class_of(&synth::gif()), "unsupported_format");
    assert_eq!(class_of(&[0xFF, 0xD8]), "truncated_image");
    assert_eq!(class_of(&[0xFF, 0xD8, 0xFF, 0xD9]), "corrupt_image");
}

/// Thousands of deterministic random mutations (byte flips, cuts, spliced junk) of small JPEG,
/// PNG and WebP files: every call returns Ok or a classified error — no panic, no hang, and
/// nothing but input-caused (permanent) errors.
#[test]
fn mutated_inputs_never_panic() {
    let (w, h) = (48usize, 32usize);
    let rgb = synth::photo(w, h, 21);
    let rgba = synth::photo_rgba(w, h, 22);
    let seeds = [
        synth::with_exif(&synth::encode_jpeg(&rgb, w, h, 85, false), 6),
        synth::encode_jpeg(&rgb, w, h, 85, true),
        synth::encode_png(&rgba, w, h, png::ColorType::Rgba),
        synth::encode_webp_lossless(&rgba, w, h, true),
    ];
    let spec = ThumbnailSpec { variants: vec![40, 8], ..Default::default() };
    let mut rng = synth::Rng::new(77);
    let mut counts = std::collections::BTreeMap::new();
    for seed in &seeds {
        for _ in 0..600 {
            let mut m = seed.clone();
            match rng.next_u64() % 4 {
                0 => {
                    for _ in 0..1 + rng.next_u64() % 4 {
                        let i = (rng.next_u64() as usize) % m.len();
                        m[i] ^= 1 << (rng.next_u64() % 8);
                    }
                }
                1 => m.truncate((rng.next_u64() as usize) % m.len()),
                2 => {
                    let i = (rng.next_u64() as usize) % m.len();
                    let n = (1 + rng.next_u64() % 16) as usize;
                    for j in i..(i + n).min(m.len()) {
                        m[j] = rng.next_u64() as u8;
                    }
                }
                _ => {
                    // Header fields are where parsers break: hit the first 64 bytes.
                    let i = (rng.next_u64() as usize) % m.len().min(64);
                    m[i] = rng.next_u64() as u8;
                }
            }
            let class = match make_thumbnails(&m, &spec, &Limits::default()) {
                Ok(v) => {
                    assert_eq!(v.len(), 2);
                    "ok"
                }
                Err(e) => {
                    assert!(e.is_permanent(), "non-permanent error from bad input: {e}");
                    e.class()
                }
            };
            *counts.entry(class).or_insert(0) += 1;
        }
    }
    eprintln!("mutation outcomes: {counts:?}");
}
