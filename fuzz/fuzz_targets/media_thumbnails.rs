//! `jobfleet_handlers::media::make_thumbnails`: the whole pipeline (sniff, header, decode with libjpeg-turbo /
//! png / image-webp, ICC, resize, orientation, encode) on arbitrary bytes.
//!
//! The spec is the default one (1600/640/160, quality 82); the output format is lossless WebP
//! when the input length is odd and JPEG when it is even, so both encoders and the alpha-keeping
//! decode paths get exercised without a second target. `max_pixels` is 1 MP instead of 50 MP so
//! one execution stays in milliseconds; every code path is the same.
//!
//! Properties:
//! * never panics; every error has one of the documented classes, never `internal_codec_error`
//!   (reserved for failures not caused by the input, which would make the job retry for nothing);
//! * it refuses exactly what `probe` refuses, with the same class, and `too_many_pixels` exactly
//!   when the probed size is over the limit;
//! * on success: one variant per requested size, in order, each the longest-side fit of the
//!   display size (never upscaled), and its bytes are an image of the output format with exactly
//!   that size and no orientation tag;
//! * no single Rust allocation over 32 MiB (≈8× the largest legitimate buffer at 1 MP; C
//!   allocations inside libjpeg-turbo are not seen, -rss_limit_mb covers those).
#![no_main]

use jobfleet_fuzz::{CappedAlloc, MIB};
use jobfleet_handlers::media::{Format, Limits, Orientation, OutputFormat, ThumbnailSpec, make_thumbnails, probe};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc::new(32 * MIB);

/// The limits used here (and by the regression tests that replay the crashes).
const LIMITS: Limits = Limits { max_input_bytes: 50 * 1024 * 1024, max_pixels: 1_000_000 };

/// Longest-side fit, restated from the documented contract: never upscale; the long side becomes
/// `v`, the short side is rounded, at least 1.
fn fit(w: u32, h: u32, v: u32) -> (u32, u32) {
    let (long, short) = (w.max(h) as u64, w.min(h) as u64);
    if long <= v as u64 {
        return (w, h);
    }
    let s = (((short * v as u64) as f64 / long as f64).round() as u32).max(1);
    if w >= h { (v, s) } else { (s, v) }
}

fuzz_target!(|input: &[u8]| {
    let format = if input.len() % 2 == 1 { OutputFormat::WebP } else { OutputFormat::Jpeg };
    let spec = ThumbnailSpec { format, ..ThumbnailSpec::default() };
    let probed = probe(input);
    let result = make_thumbnails(input, &spec, &LIMITS);

    let info = match (&probed, &result) {
        (Err(pe), Err(e)) => {
            assert_eq!(pe.class(), e.class(), "probe said {pe}, make_thumbnails said {e}");
            return;
        }
        (Err(pe), Ok(_)) => panic!("probe refused ({pe}) what make_thumbnails accepted"),
        (Ok(info), _) => *info,
    };
    let too_many = info.pixels() > LIMITS.max_pixels;
    let variants = match result {
        Err(e) => {
            let class = e.class();
            assert_eq!(class == "too_many_pixels", too_many, "{class} for a {}x{} image: {e}", info.width, info.height);
            assert!(
                ["too_many_pixels", "unsupported_format", "truncated_image", "corrupt_image"].contains(&class),
                "unexpected class {class} for a probed {:?} {}x{}: {e}",
                info.format,
                info.width,
                info.height
            );
            return;
        }
        Ok(v) => v,
    };
    assert!(!too_many, "{}x{} accepted over the pixel limit", info.width, info.height);
    assert_eq!(variants.len(), spec.variants.len());
    let (dw, dh) = info.display_size();
    let out_format = match format {
        OutputFormat::Jpeg => Format::Jpeg,
        OutputFormat::WebP => Format::WebP,
    };
    for (v, &want) in variants.iter().zip(&spec.variants) {
        assert_eq!(v.longest_side, want);
        assert_eq!((v.width, v.height), fit(dw, dh, want), "variant {want} of a {dw}x{dh} display image");
        assert_eq!(v.content_type, format.content_type());
        let out = probe(&v.bytes).unwrap_or_else(|e| panic!("variant {want} is not a valid image: {e}"));
        assert_eq!(
            (out.format, out.width, out.height, out.orientation),
            (out_format, v.width, v.height, Orientation::Normal),
            "variant {want} bytes disagree with its metadata"
        );
    }
});
