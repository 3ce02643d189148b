//! Writes the committed seed corpora: `seeds/envelope_decode/` and `seeds/media/` (shared by
//! `media_probe` and `media_thumbnails`). Deterministic; run from `fuzz/` after changing it:
//!
//! ```sh
//! cargo run --example gen_seeds
//! ```
//!
//! Seeds are small on purpose (a few KB each): libFuzzer mutates faster on small inputs, and
//! every path a big image takes is also taken by a small one.

use std::fs;
use std::path::Path;

use jobfleet_handlers::media::synth;
use serde_json::Value;
use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

type Seeds = Vec<(String, Vec<u8>)>;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    write(&root.join("envelope_decode"), envelopes());
    write(&root.join("media"), media());
}

fn write(dir: &Path, seeds: Seeds) {
    if dir.exists() {
        fs::remove_dir_all(dir).expect("remove old seeds");
    }
    fs::create_dir_all(dir).expect("create seed dir");
    let mut total = 0;
    for (name, bytes) in &seeds {
        fs::write(dir.join(name), bytes).expect("write seed");
        total += bytes.len();
    }
    println!("{}: {} seeds, {total} bytes", dir.display(), seeds.len());
}

fn envelopes() -> Seeds {
    let mut out: Seeds = Vec::new();
    let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let valid = [
        ("minimal", format!(r#"{{"id":"{id}","type":"diag.noop","version":1,"created_at":"2026-11-23T08:00:00Z","payload":{{}}}}"#)),
        (
            "all_fields",
            format!(
                r#"{{"id":"{id}","type":"media.thumbnail","version":1,"created_at":"2026-11-23T08:00:00.123456789+05:30",
"payload":{{"bucket":"b","key":"uploads/cat.jpg","variants":[1600,640,160],"format":"jpeg","quality":82}},
"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","idempotency_key":"order-42","extra":[null,true]}}"#
            ),
        ),
        (
            "payload_ref",
            format!(
                r#"{{"id":"{id}","type":"ai.inference","version":2,"created_at":"2026-01-01T00:00:00-08:00","payload_ref":"s3://bucket/claims/x.json"}}"#
            ),
        ),
        (
            "numbers_and_text",
            format!(
                r#"{{"payload":{{"f":[0.1,1e-7,-0.0,1.7976931348623157e308,5e-324,18446744073709551616,-9223372036854775808],
"s":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n","o":{{"a":{{"b":[{{}}]}}}}}},"type":"notify.email","id":"{id}","version":4294967295,"created_at":"1970-01-01T00:00:00Z"}}"#
            ),
        ),
        (
            "leap_second",
            format!(r#"{{"id":"{id}","type":"diag.sleep","version":1,"created_at":"2016-12-31T23:59:60Z","payload":{{"ms":500}}}}"#),
        ),
    ];
    for (name, body) in valid {
        out.push((format!("valid_{name}.json"), body.into_bytes()));
    }
    // The reliability suite's hostile bodies, with their placeholders filled in.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reliability/corpus/messages.json");
    let messages: Vec<Value> = serde_json::from_slice(&fs::read(&corpus).expect("read messages.json")).expect("messages.json is JSON");
    for m in messages {
        let name = m["name"].as_str().expect("name");
        let body = m["body"].as_str().expect("body");
        let body =
            body.replace("{ID2}", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c").replace("{ID}", id).replace("{NOW}", "2026-11-23T08:00:00Z");
        out.push((format!("corpus_{name}.json"), body.into_bytes()));
    }
    out
}

fn jpeg(pixels: &[u8], w: usize, h: usize, format: PixelFormat, subsamp: Subsamp, arithmetic: bool) -> Vec<u8> {
    let mut c = Compressor::new().expect("compressor");
    c.set_quality(75).expect("quality");
    c.set_subsamp(subsamp).expect("subsamp");
    c.set_arithmetic(arithmetic).expect("arithmetic");
    let pitch = w * format.size();
    c.compress_to_vec(Image { pixels, width: w, pitch, height: h, format }).expect("compress")
}

/// A PNG of `frames` (more than one: APNG, set up by `setup`).
fn png(frames: &[&[u8]], w: u32, h: u32, setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w, h);
    setup(&mut e);
    let mut writer = e.write_header().expect("png header");
    for pixels in frames {
        writer.write_image_data(pixels).expect("png data");
    }
    writer.finish().expect("png finish");
    out
}

/// An extended (VP8X) WebP: the VP8L image chunk of `simple`, then ICCP and EXIF chunks.
fn webp_extended(simple: &[u8], icc: &[u8], exif: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut chunks = b"VP8X\x0a\0\0\0".to_vec();
    chunks.extend_from_slice(&[0x20 | 0x08, 0, 0, 0]); // ICC + EXIF flags
    chunks.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    chunks.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    chunks.extend_from_slice(&simple[12..]);
    for (fourcc, data) in [(b"ICCP", icc), (b"EXIF", exif)] {
        chunks.extend_from_slice(fourcc);
        chunks.extend_from_slice(&(data.len() as u32).to_le_bytes());
        chunks.extend_from_slice(data);
        if data.len() % 2 == 1 {
            chunks.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

/// `png` with an eXIf chunk inserted after IHDR.
fn png_with_exif(png: &[u8], orientation: u16) -> Vec<u8> {
    let exif = synth::exif_tiff(orientation);
    let mut chunk = (exif.len() as u32).to_be_bytes().to_vec();
    let mut body = b"eXIf".to_vec();
    body.extend_from_slice(&exif);
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&synth::crc32(&body).to_be_bytes());
    let mut out = png[..33].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[33..]);
    out
}

fn media() -> Seeds {
    let mut out: Seeds = Vec::new();
    let (w, h) = (48usize, 32usize);
    let rgb = synth::photo(w, h, 7);
    let rgba = synth::photo_rgba(w, h, 8);
    let gray: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
    let cmyk: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 16]).collect();

    // JPEG: baseline, progressive, other samplings and colour spaces, metadata.
    let baseline = synth::encode_jpeg(&rgb, w, h, 75, false);
    out.push(("baseline.jpg".into(), baseline.clone()));
    out.push(("progressive.jpg".into(), synth::encode_jpeg(&rgb, w, h, 75, true)));
    out.push(("gray.jpg".into(), jpeg(&gray, w, h, PixelFormat::GRAY, Subsamp::Gray, false)));
    out.push(("444.jpg".into(), jpeg(&rgb, w, h, PixelFormat::RGB, Subsamp::None, false)));
    out.push(("cmyk.jpg".into(), jpeg(&cmyk, w, h, PixelFormat::CMYK, Subsamp::None, false)));
    out.push(("arithmetic.jpg".into(), jpeg(&rgb, w, h, PixelFormat::RGB, Subsamp::Sub2x2, true)));
    for o in [2u16, 3, 5, 6, 8] {
        out.push((format!("exif-orientation-{o}.jpg"), synth::with_exif(&baseline, o)));
    }
    out.push(("icc-p3.jpg".into(), synth::with_icc(&baseline, &synth::display_p3_profile())));
    out.push(("icc-srgb-named.jpg".into(), synth::with_icc(&baseline, &synth::rgb_profile_named("sRGB IEC61966-2.1"))));
    out.push(("truncated.jpg".into(), baseline[..baseline.len() / 2].to_vec()));

    // PNG: every colour type the decoder converts, 16-bit, palette + tRNS, iCCP, eXIf, APNG.
    let (pw, ph) = (w as u32, h as u32);
    out.push(("rgb.png".into(), synth::encode_png(&rgb, w, h, png::ColorType::Rgb)));
    out.push(("rgba.png".into(), synth::encode_png(&rgba, w, h, png::ColorType::Rgba)));
    out.push(("gray.png".into(), synth::encode_png(&gray, w, h, png::ColorType::Grayscale)));
    let gray_alpha: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[1], p[3]]).collect();
    out.push(("gray-alpha.png".into(), synth::encode_png(&gray_alpha, w, h, png::ColorType::GrayscaleAlpha)));
    let rgb16: Vec<u8> = rgb.iter().flat_map(|&v| [v, v]).collect();
    out.push((
        "rgb16.png".into(),
        png(&[&rgb16], pw, ph, |e| {
            e.set_color(png::ColorType::Rgb);
            e.set_depth(png::BitDepth::Sixteen);
        }),
    ));
    let indices: Vec<u8> = gray.iter().map(|&g| g >> 4).collect();
    let palette: Vec<u8> = (0..16u8).flat_map(|i| [i * 16, 255 - i * 16, i * 8]).collect();
    out.push((
        "palette-trns.png".into(),
        png(&[&indices], pw, ph, |e| {
            e.set_color(png::ColorType::Indexed);
            e.set_depth(png::BitDepth::Eight);
            e.set_palette(palette.clone());
            e.set_trns(vec![0u8, 128, 255]);
        }),
    ));
    let mut info = png::Info::with_size(pw, ph);
    info.color_type = png::ColorType::Rgb;
    info.bit_depth = png::BitDepth::Eight;
    info.icc_profile = Some(synth::display_p3_profile().into());
    let mut iccp = Vec::new();
    {
        let mut writer = png::Encoder::with_info(&mut iccp, info).expect("png info").write_header().expect("png header");
        writer.write_image_data(&rgb).expect("png data");
        writer.finish().expect("png finish");
    }
    out.push(("icc-p3.png".into(), iccp));
    out.push(("exif-orientation-6.png".into(), png_with_exif(&synth::encode_png(&rgb, w, h, png::ColorType::Rgb), 6)));
    let (aw, ah) = (16u32, 8u32);
    let small = &rgb[..(aw * ah * 3) as usize];
    out.push((
        "animated.png".into(),
        png(&[small, small], aw, ah, |e| {
            e.set_color(png::ColorType::Rgb);
            e.set_animated(2, 0).expect("apng");
        }),
    ));

    // WebP: lossless with and without alpha, extended with ICC + EXIF, and a lossy (VP8) header.
    let webp = synth::encode_webp_lossless(&rgb, w, h, false);
    out.push(("lossless.webp".into(), webp.clone()));
    out.push(("lossless-alpha.webp".into(), synth::encode_webp_lossless(&rgba, w, h, true)));
    out.push(("extended-icc-exif.webp".into(), webp_extended(&webp, &synth::display_p3_profile(), &synth::exif_tiff(8), pw, ph)));
    out.push(("vp8-header.webp".into(), b"RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x10\0\0\x9d\x01\x2a\x20\x03\x58\x02".to_vec()));

    // Decompression bombs (refused by the header check) and one under the fuzz targets'
    // 1 MP limit (accepted by the header check, so the decoder meets its tiny IDAT), plus
    // formats that are refused outright.
    out.push(("bomb.png".into(), synth::png_bomb(100_000, 100_000)));
    out.push(("bomb-under-limit.png".into(), synth::png_bomb(1000, 1000)));
    out.push(("bomb.jpg".into(), synth::jpeg_bomb(65_535, 65_535)));
    out.push(("bomb.webp".into(), synth::webp_bomb()));
    out.push(("animated.gif".into(), synth::gif()));
    out.push(("text.jpg".into(), b"This is a text file with a .jpg name.\n".to_vec()));
    out
}
