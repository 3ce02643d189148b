//! The corpus cases (same generator as `media-corpus`, at small sizes): every file gives exactly
//! the expected outcome; good files give decodable, metadata-free variants of the right sizes.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod media_common;
use media_common as common;

use common::synth;
use jobfleet_handlers::media::{Limits, OutputFormat, ThumbnailSpec, make_thumbnails, probe};

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let spec = ThumbnailSpec::default();
    for f in synth::corpus(800, 600, 2) {
        let result = make_thumbnails(&f.bytes, &spec, &Limits::default());
        match (&result, f.expect) {
            (Ok(variants), "ok") => {
                assert_eq!(variants.len(), 3, "{}", f.name);
                for (v, want) in variants.iter().zip([1600, 640, 160]) {
                    assert_eq!(v.longest_side, want);
                    assert_eq!(v.content_type, "image/jpeg");
                    assert!(v.width.max(v.height) <= want, "{}: {}x{}", f.name, v.width, v.height);
                    let (_, w, h) = synth::decode_jpeg(&v.bytes);
                    assert_eq!((w as u32, h as u32), (v.width, v.height), "{}", f.name);
                    common::assert_no_metadata(v);
                }
            }
            (Err(e), class) if e.class() == class => assert!(e.is_permanent()),
            _ => panic!("{} ({}): expected {}, got {:?}", f.name, f.note, f.expect, result.map(|v| v.len())),
        }
    }
}

#[test]
fn twelve_megapixel_photo_gives_exact_sizes() {
    // Smaller stand-in with the same 4:3 geometry as a 12 MP camera file.
    let rgb = synth::photo(1920, 1440, 7);
    let jpeg = synth::encode_jpeg(&rgb, 1920, 1440, 90, false);
    let out = make_thumbnails(&jpeg, &ThumbnailSpec::default(), &Limits::default()).unwrap();
    let sizes: Vec<_> = out.iter().map(|v| (v.width, v.height)).collect();
    assert_eq!(sizes, vec![(1600, 1200), (640, 480), (160, 120)]);
    // The thumbnail looks like the source, in the right place: compare the 160 px variant with
    // a 12×12 box-filtered source. Lanczos keeps more grain than a box, so the difference is
    // not 0 (here 8.31; vipsthumbnail --size 160 on the same file: 8.29), but it must be small and
    // smallest at zero offset: a shifted or mirrored resize scores clearly worse.
    let (small, w, h) = synth::decode_jpeg(&out[2].bytes);
    let (src, sw, _) = synth::decode_jpeg(&jpeg);
    let k = sw / w;
    assert_eq!(k * w, sw);
    let mad_at = |ox: isize, oy: isize| -> f64 {
        let (mut diff, mut n) = (0u64, 0u64);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let (tx, ty) = ((x as isize + ox) as usize, (y as isize + oy) as usize);
                for c in 0..3 {
                    let mut s = 0u64;
                    for yy in 0..k {
                        for xx in 0..k {
                            s += src[((y * k + yy) * sw + x * k + xx) * 3 + c] as u64;
                        }
                    }
                    let box_mean = (s / (k * k) as u64) as i64;
                    diff += (box_mean - small[(ty * w + tx) * 3 + c] as i64).unsigned_abs();
                    n += 1;
                }
            }
        }
        diff as f64 / n as f64
    };
    let mad = mad_at(0, 0);
    let shifted = [(1, 0), (-1, 0), (0, 1), (0, -1)].map(|(x, y)| mad_at(x, y));
    eprintln!("mean abs difference vs box filter: {mad:.2}, shifted by 1 px: {shifted:.2?}");
    assert!(mad < 10.0, "mean abs difference vs box filter: {mad}");
    assert!(shifted.iter().all(|&s| s > mad * 1.2), "{mad} vs shifted {shifted:?}");
}

#[test]
fn portrait_exif_photo_is_displayed_upright() {
    let f = synth::corpus(800, 600, 0).into_iter().find(|f| f.name == "portrait-exif6.jpg").unwrap();
    let info = probe(&f.bytes).unwrap();
    assert_eq!((info.width, info.height, info.orientation.exif_value()), (400, 300, 6));
    assert_eq!(info.display_size(), (300, 400));
    let out = make_thumbnails(&f.bytes, &ThumbnailSpec::default(), &Limits::default()).unwrap();
    // No upscaling: the 1600 and 640 variants are the whole image, displayed upright.
    let sizes: Vec<_> = out.iter().map(|v| (v.width, v.height)).collect();
    assert_eq!(sizes, vec![(300, 400), (300, 400), (120, 160)]);
    assert_eq!(out[0].bytes, out[1].bytes);
}

#[test]
fn png_alpha_is_flattened_over_white_for_jpeg() {
    // Left half opaque black, right half fully transparent black.
    let (w, h) = (200usize, 100usize);
    let mut rgba = vec![0u8; w * h * 4];
    for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
        px[3] = if i % w < w / 2 { 255 } else { 0 };
    }
    let png = synth::encode_png(&rgba, w, h, png::ColorType::Rgba);
    let spec = ThumbnailSpec { variants: vec![100], ..Default::default() };
    let out = make_thumbnails(&png, &spec, &Limits::default()).unwrap();
    let (rgb, ow, _) = synth::decode_jpeg(&out[0].bytes);
    assert!(common::close(common::mean_rgb(&rgb, ow, 10, 25, 3), [0, 0, 0], 6));
    assert!(common::close(common::mean_rgb(&rgb, ow, 90, 25, 3), [255, 255, 255], 6));
}

#[test]
fn grayscale_and_palette_pngs_decode() {
    let (w, h) = (64usize, 48usize);
    let gray: Vec<u8> = (0..w * h).map(|i| (i % 256) as u8).collect();
    let png = synth::encode_png(&gray, w, h, png::ColorType::Grayscale);
    let spec = ThumbnailSpec { variants: vec![32], ..Default::default() };
    let out = make_thumbnails(&png, &spec, &Limits::default()).unwrap();
    assert_eq!((out[0].width, out[0].height), (32, 24));
    let ga: Vec<u8> = gray.iter().flat_map(|&g| [g, 255]).collect();
    let png = synth::encode_png(&ga, w, h, png::ColorType::GrayscaleAlpha);
    assert!(make_thumbnails(&png, &spec, &Limits::default()).is_ok());

    // Palette with a transparent entry (tRNS) → expanded to RGBA → flattened over white.
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w as u32, h as u32);
        e.set_color(png::ColorType::Indexed);
        e.set_depth(png::BitDepth::Eight);
        e.set_palette(vec![200, 10, 10, 0, 0, 0]);
        e.set_trns(vec![255, 0]);
        let mut wr = e.write_header().unwrap();
        let idx: Vec<u8> = (0..w * h).map(|i| ((i % w) >= w / 2) as u8).collect();
        wr.write_image_data(&idx).unwrap();
    }
    let res = make_thumbnails(&out, &spec, &Limits::default()).unwrap();
    let (px, ow, _) = synth::decode_jpeg(&res[0].bytes);
    assert!(common::close(common::mean_rgb(&px, ow, 6, 12, 2), [200, 10, 10], 12));
    assert!(common::close(common::mean_rgb(&px, ow, 26, 12, 2), [255, 255, 255], 6));

    // 16-bit RGB (big-endian samples) → 8-bit.
    let rgb16: Vec<u8> = (0..w * h).flat_map(|_| [0x40u8, 0xFF, 0x80, 0x00, 0x20, 0x10]).collect();
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w as u32, h as u32);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Sixteen);
        e.write_header().unwrap().write_image_data(&rgb16).unwrap();
    }
    let res = make_thumbnails(&out, &spec, &Limits::default()).unwrap();
    let (px, ow, _) = synth::decode_jpeg(&res[0].bytes);
    assert!(common::close(common::mean_rgb(&px, ow, 16, 12, 2), [0x40, 0x80, 0x20], 4));
}

#[test]
fn webp_input_and_webp_output() {
    let (w, h) = (300usize, 200usize);
    let rgba = synth::photo_rgba(w, h, 9);
    let webp = synth::encode_webp_lossless(&rgba, w, h, true);
    let spec = ThumbnailSpec { variants: vec![150, 60], format: OutputFormat::WebP, quality: 82 };
    let out = make_thumbnails(&webp, &spec, &Limits::default()).unwrap();
    assert_eq!(out[0].content_type, "image/webp");
    assert_eq!((out[0].width, out[0].height), (150, 100));
    // The WebP output decodes and kept its alpha.
    let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(&out[1].bytes)).unwrap();
    assert_eq!(d.dimensions(), (60, 40));
    assert!(d.has_alpha());
    let mut buf = vec![0; d.output_buffer_size().unwrap()];
    d.read_image(&mut buf).unwrap();
    assert!(buf[3] > 200 && buf[buf.len() - 1] < 60, "alpha ramp survives");
}

#[test]
fn lossy_webp_header_is_probed() {
    // Hand-made VP8 key-frame header (no bitstream): probe only.
    let mut w = b"RIFF\x16\0\0\0WEBPVP8 \x0a\0\0\0\x10\0\0\x9d\x01\x2a\x80\x07\x38\x04".to_vec();
    w.truncate(30);
    let info = probe(&w).unwrap();
    assert_eq!((info.width, info.height), (1920, 1080));
}

#[test]
fn icc_display_p3_is_converted_to_srgb() {
    let (w, h) = (64usize, 64usize);
    let red: Vec<u8> = [200u8, 40, 40].repeat(w * h);
    let plain = synth::encode_jpeg(&red, w, h, 95, false);
    let tagged = synth::with_icc(&plain, &synth::display_p3_profile());
    let spec = ThumbnailSpec { variants: vec![32], ..Default::default() };
    let a = make_thumbnails(&plain, &spec, &Limits::default()).unwrap();
    let b = make_thumbnails(&tagged, &spec, &Limits::default()).unwrap();
    let (pa, aw, _) = synth::decode_jpeg(&a[0].bytes);
    let (pb, bw, _) = synth::decode_jpeg(&b[0].bytes);
    let (ca, cb) = (common::mean_rgb(&pa, aw, 16, 16, 4), common::mean_rgb(&pb, bw, 16, 16, 4));
    // P3 red is more saturated than sRGB red: in sRGB it has more red, less green.
    assert!(cb[0] > ca[0] + 10 && cb[1] + 10 < ca[1], "untagged {ca:?}, P3 {cb:?}");
    common::assert_no_metadata(&b[0]);
    // An sRGB-described profile is left alone (bit-identical output).
    let srgb_tagged = synth::with_icc(&plain, &synth::rgb_profile_named("sRGB IEC61966-2.1"));
    let c = make_thumbnails(&srgb_tagged, &spec, &Limits::default()).unwrap();
    assert_eq!(c[0].bytes, a[0].bytes);
}

#[test]
fn variants_come_back_in_request_order_with_duplicates() {
    let rgb = synth::photo(800, 600, 3);
    let jpeg = synth::encode_jpeg(&rgb, 800, 600, 90, false);
    let spec = ThumbnailSpec { variants: vec![160, 640, 160, 320], ..Default::default() };
    let out = make_thumbnails(&jpeg, &spec, &Limits::default()).unwrap();
    let got: Vec<_> = out.iter().map(|v| (v.longest_side, v.width)).collect();
    assert_eq!(got, vec![(160, 160), (640, 640), (160, 160), (320, 320)]);
}

#[test]
fn grayscale_and_cmyk_jpegs() {
    let (w, h) = (64usize, 48usize);
    let gray = vec![100u8; w * h];
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_subsamp(turbojpeg::Subsamp::Gray).unwrap();
    let img = turbojpeg::Image { pixels: &gray[..], width: w, pitch: w, height: h, format: turbojpeg::PixelFormat::GRAY };
    let jpeg = c.compress_to_vec(img).unwrap();
    let spec = ThumbnailSpec { variants: vec![32], ..Default::default() };
    let out = make_thumbnails(&jpeg, &spec, &Limits::default()).unwrap();
    let (px, ow, _) = synth::decode_jpeg(&out[0].bytes);
    assert!(common::close(common::mean_rgb(&px, ow, 16, 12, 3), [100, 100, 100], 3));

    // CMYK (YCCK) as Photoshop writes it: inverted (255 = no ink) with an Adobe APP14 marker.
    // libjpeg-turbo adds the Adobe marker but stores what it is given, so we hand it inverted
    // values: half cyan ink, no magenta/yellow/black → light cyan.
    let cmyk: Vec<u8> = [127u8, 255, 255, 255].repeat(w * h);
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    c.set_quality(95).unwrap();
    let img = turbojpeg::Image { pixels: &cmyk[..], width: w, pitch: w * 4, height: h, format: turbojpeg::PixelFormat::CMYK };
    let jpeg = c.compress_to_vec(img).unwrap();
    assert!(jpeg.windows(5).any(|x| x == b"Adobe"));
    let out = make_thumbnails(&jpeg, &spec, &Limits::default()).unwrap();
    let (px, ow, _) = synth::decode_jpeg(&out[0].bytes);
    let got = common::mean_rgb(&px, ow, 16, 12, 3);
    assert!(common::close(got, [127, 255, 255], 5), "{got:?}");
}
