//! Decoding to packed 8-bit RGB (or RGBA when the output keeps alpha).
//!
//! * JPEG goes through libjpeg-turbo (`turbojpeg` crate, SIMD) with DCT-domain downscaling: the
//!   decoder produces a 1/2, 1/4 or 1/8 size image directly, which is both the biggest speed-up
//!   and what keeps the pixel buffer of a 12 MP photo at ~9 MB instead of 36 MB.
//! * PNG goes through the `png` crate, row by row into the final buffer (no second full-size
//!   buffer for colour conversion), with CRC and Adler-32 verification on.
//! * WebP goes through `image-webp` (pure Rust, lossy and lossless).
//!
//! Every decoder error *and warning* is an error: a truncated JPEG that libjpeg-turbo would
//! finish with grey rows is refused instead (`truncated_image`).

use std::io::Cursor;

use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

use super::error::MediaError;
use super::header::{Detail, Header, JpegHeader};
use super::sniff::Format;

/// Packed 8-bit pixels, `channels` ∈ {3 (RGB), 4 (RGBA, straight alpha)}, no row padding.
#[derive(Debug, Clone)]
pub(crate) struct Bitmap {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

impl Bitmap {
    pub fn new(width: u32, height: u32, channels: u8) -> Bitmap {
        let len = width as usize * height as usize * channels as usize;
        Bitmap { width, height, channels, data: vec![0; len] }
    }
}

pub(crate) struct Decoded {
    pub bitmap: Bitmap,
    /// Embedded ICC profile, if any (converted to sRGB later, on the smaller image).
    pub icc: Option<Vec<u8>>,
}

/// Decodes `input` (already probed into `header`). `need_longest` is the longest side of the
/// biggest output; the JPEG path decodes at the smallest DCT scale that still leaves at least
/// 1.25× that, so the final Lanczos step always has real pixels to work with.
pub(crate) fn decode(input: &[u8], header: &Header, need_longest: u32, keep_alpha: bool) -> Result<Decoded, MediaError> {
    match &header.detail {
        Detail::Jpeg(jh) => decode_jpeg(input, header, jh, need_longest),
        Detail::Png => decode_png(input, header, keep_alpha),
        Detail::WebP { icc } => {
            let icc = icc.clone().map(|r| input[r].to_vec());
            decode_webp(input, header, keep_alpha).map(|bitmap| Decoded { bitmap, icc })
        }
    }
}

/// Largest reduction in {8, 4, 2} whose result keeps the longest side ≥ 1.25 × `need_longest`.
pub(crate) fn jpeg_scale_denom(width: u32, height: u32, need_longest: u32) -> u8 {
    let longest = width.max(height) as u64;
    let want = (need_longest as u64 * 5).div_ceil(4);
    [8u8, 4, 2].into_iter().find(|&d| longest.div_ceil(d as u64) >= want).unwrap_or(1)
}

fn jpeg_error(e: turbojpeg::Error) -> MediaError {
    match e {
        turbojpeg::Error::TurboJpegError(msg) => {
            if msg.contains("Premature end of JPEG file") {
                MediaError::truncated(Format::Jpeg, msg)
            } else if msg.contains("Insufficient memory") {
                MediaError::Internal(format!("libjpeg-turbo: {msg}"))
            } else {
                MediaError::corrupt(Format::Jpeg, msg)
            }
        }
        other => MediaError::Internal(format!("turbojpeg: {other}")),
    }
}

/// libjpeg-turbo's guard against progressive JPEGs with absurd scan counts (a CPU bomb: each scan
/// re-walks the whole coefficient buffer). Real encoders emit ≤ ~10 scans.
const MAX_PROGRESSIVE_SCANS: u32 = 500;

fn decode_jpeg(input: &[u8], header: &Header, jh: &JpegHeader, need_longest: u32) -> Result<Decoded, MediaError> {
    let internal = |e: turbojpeg::Error| MediaError::Internal(format!("turbojpeg: {e}"));
    let mut d = Decompressor::new().map_err(internal)?;
    d.set_scan_limit(MAX_PROGRESSIVE_SCANS).map_err(internal)?;
    let th = d.read_header(input).map_err(jpeg_error)?;
    if (th.width as u64, th.height as u64) != (header.width as u64, header.height as u64) {
        return Err(MediaError::corrupt(Format::Jpeg, "inconsistent frame dimensions"));
    }
    let denom = jpeg_scale_denom(header.width, header.height, need_longest);
    let factor = ScalingFactor::new(1, denom as usize);
    d.set_scaling_factor(factor).map_err(internal)?;
    let scaled = th.scaled(factor);
    let (w, h) = (scaled.width, scaled.height);
    let cmyk = jh.components == 4;
    let (format, bpp) = if cmyk { (PixelFormat::CMYK, 4) } else { (PixelFormat::RGB, 3) };
    let mut data = vec![0u8; w * h * bpp];
    d.decompress(input, Image { pixels: &mut data[..], width: w, pitch: w * bpp, height: h, format }).map_err(jpeg_error)?;
    if cmyk {
        cmyk_to_rgb_in_place(&mut data, jh.adobe_transform.is_some());
    }
    let bitmap = Bitmap { width: w as u32, height: h as u32, channels: 3, data };
    // A CMYK profile cannot be applied to the naive RGB we made; see the module docs.
    let icc = if cmyk { None } else { jh.icc_profile(input) };
    Ok(Decoded { bitmap, icc })
}

/// Naive CMYK → RGB. Adobe-written CMYK/YCCK JPEGs (those with an APP14 "Adobe" segment, i.e.
/// Photoshop's) store inverted values (255 = no ink); others store ink amounts.
fn cmyk_to_rgb_in_place(data: &mut Vec<u8>, inverted: bool) {
    let n = data.len() / 4;
    for i in 0..n {
        let p = [data[i * 4], data[i * 4 + 1], data[i * 4 + 2], data[i * 4 + 3]];
        let [c, m, y, k] = if inverted { p } else { p.map(|v| 255 - v) };
        let mul = |a: u8, b: u8| ((a as u32 * b as u32 + 127) / 255) as u8;
        data[i * 3] = mul(c, k);
        data[i * 3 + 1] = mul(m, k);
        data[i * 3 + 2] = mul(y, k);
    }
    data.truncate(n * 3);
}

/// Straight-alpha RGBA → RGB composited over white, in place.
pub(crate) fn flatten_alpha_in_place(data: &mut Vec<u8>) {
    let n = data.len() / 4;
    for i in 0..n {
        let a = data[i * 4 + 3] as u32;
        for c in 0..3 {
            let v = data[i * 4 + c] as u32;
            data[i * 3 + c] = ((v * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    data.truncate(n * 3);
}

fn png_error(e: png::DecodingError) -> MediaError {
    match e {
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::truncated(Format::Png, io.to_string())
        }
        png::DecodingError::LimitsExceeded => MediaError::corrupt(Format::Png, "decoder memory limit exceeded (huge metadata chunk?)"),
        other => MediaError::corrupt(Format::Png, other.to_string()),
    }
}

fn decode_png(input: &[u8], header: &Header, keep_alpha: bool) -> Result<Decoded, MediaError> {
    let mut decoder = png::Decoder::new(Cursor::new(input));
    decoder.ignore_checksums(false); // verify CRCs and Adler-32: corrupt data must not decode
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (width, height, interlaced) = {
        let info = reader.info();
        (info.width, info.height, info.interlaced)
    };
    if (width, height) != (header.width, header.height) {
        return Err(MediaError::corrupt(Format::Png, "inconsistent IHDR"));
    }
    // A PLTE chunk holds whole RGB entries (PNG spec 11.2.3). The png crate
    // (0.18) does not check it and panics expanding a palette of 49 bytes
    // (found by fuzz/fuzz_targets/media_thumbnails.rs; the input is in
    // fuzz/regressions/media_thumbnails/).
    if let Some(palette) = reader.info().palette.as_deref()
        && (palette.len() % 3 != 0 || palette.len() > 256 * 3)
    {
        return Err(MediaError::corrupt(Format::Png, format!("PLTE of {} bytes is not 1 to 256 RGB entries", palette.len())));
    }
    let icc = reader.info().icc_profile.as_ref().map(|c| c.to_vec());
    let (color, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Err(MediaError::Internal(format!("png produced {depth:?}-bit samples")));
    }
    let src_channels = color.samples();
    let has_alpha = matches!(color, png::ColorType::GrayscaleAlpha | png::ColorType::Rgba);
    let channels: u8 = if has_alpha && keep_alpha { 4 } else { 3 };
    let mut out = Bitmap::new(width, height, channels);
    let row_out = width as usize * channels as usize;
    if interlaced {
        // Adam7 rows arrive pass by pass; decode the frame whole, then convert.
        let size = reader.output_buffer_size().ok_or_else(|| MediaError::corrupt(Format::Png, "frame size overflows"))?;
        let mut frame = vec![0u8; size];
        reader.next_frame(&mut frame).map_err(png_error)?;
        let row_in = width as usize * src_channels;
        for (src, dst) in frame.chunks_exact(row_in).zip(out.data.chunks_exact_mut(row_out)) {
            convert_row(src, src_channels, dst, channels);
        }
    } else {
        let mut rows = out.data.chunks_exact_mut(row_out);
        while let Some(row) = reader.next_row().map_err(png_error)? {
            let dst = rows.next().ok_or_else(|| MediaError::corrupt(Format::Png, "too many rows"))?;
            convert_row(row.data(), src_channels, dst, channels);
        }
        if rows.next().is_some() {
            return Err(MediaError::truncated(Format::Png, "image data ends early"));
        }
        // Reads to IEND, verifying the remaining checksums.
        reader.finish().map_err(png_error)?;
    }
    Ok(Decoded { bitmap: out, icc })
}

/// One row of gray / gray+alpha / RGB / RGBA samples into RGB (alpha flattened over white) or
/// RGBA.
fn convert_row(src: &[u8], src_channels: usize, dst: &mut [u8], dst_channels: u8) {
    let over_white = |v: u8, a: u8| ((v as u32 * a as u32 + 255 * (255 - a as u32) + 127) / 255) as u8;
    match (src_channels, dst_channels) {
        (3, 3) | (4, 4) => dst.copy_from_slice(&src[..dst.len()]),
        (1, 3) => {
            for (d, &g) in dst.chunks_exact_mut(3).zip(src) {
                d.fill(g);
            }
        }
        (2, 4) => {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(2)) {
                d.copy_from_slice(&[s[0], s[0], s[0], s[1]]);
            }
        }
        (2, 3) => {
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(2)) {
                d.fill(over_white(s[0], s[1]));
            }
        }
        (4, 3) => {
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&[over_white(s[0], s[3]), over_white(s[1], s[3]), over_white(s[2], s[3])]);
            }
        }
        _ => unreachable!("png output has {src_channels} channels, bitmap {dst_channels}"),
    }
}

fn webp_error(e: image_webp::DecodingError) -> MediaError {
    match e {
        image_webp::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::truncated(Format::WebP, io.to_string())
        }
        image_webp::DecodingError::UnsupportedFeature(what) => MediaError::UnsupportedFormat(format!("webp: {what}")),
        other => MediaError::corrupt(Format::WebP, other.to_string()),
    }
}

fn decode_webp(input: &[u8], header: &Header, keep_alpha: bool) -> Result<Bitmap, MediaError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(input)).map_err(webp_error)?;
    if decoder.dimensions() != (header.width, header.height) {
        return Err(MediaError::corrupt(Format::WebP, "inconsistent dimensions"));
    }
    if decoder.is_animated() {
        return Err(MediaError::UnsupportedFormat("animated webp".into()));
    }
    let size = decoder.output_buffer_size().ok_or_else(|| MediaError::corrupt(Format::WebP, "frame size overflows"))?;
    let mut data = vec![0u8; size];
    decoder.read_image(&mut data).map_err(webp_error)?;
    let (width, height) = decoder.dimensions();
    let mut channels = if decoder.has_alpha() { 4 } else { 3 };
    if channels == 4 && !keep_alpha {
        flatten_alpha_in_place(&mut data);
        channels = 3;
    }
    Ok(Bitmap { width, height, channels, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_at_least_one_and_a_quarter_times_the_target() {
        // 12 MP photo, 1600 px output: 1/2 gives exactly 2000 = 1.25 × 1600.
        assert_eq!(jpeg_scale_denom(4000, 3000, 1600), 2);
        assert_eq!(jpeg_scale_denom(3000, 4000, 1600), 2);
        assert_eq!(jpeg_scale_denom(4000, 3000, 1601), 1);
        assert_eq!(jpeg_scale_denom(4000, 3000, 640), 4);
        assert_eq!(jpeg_scale_denom(4000, 3000, 400), 8);
        assert_eq!(jpeg_scale_denom(4000, 3000, 160), 8);
        assert_eq!(jpeg_scale_denom(1000, 800, 1600), 1);
        assert_eq!(jpeg_scale_denom(8000, 6000, 1600), 4);
    }

    #[test]
    fn a_palette_of_partial_rgb_entries_is_corrupt_not_a_panic() {
        let input = include_bytes!("../../../fuzz/regressions/media_thumbnails/png-plte-length-49.png");
        let header = super::super::header::read_header(input).expect("its header reads");
        match decode(input, &header, 160, false) {
            Err(e @ MediaError::Corrupt { .. }) => assert!(e.to_string().contains("PLTE of 49 bytes"), "{e}"),
            other => panic!("want a corrupt-image error, got {:?}", other.map(|d| d.bitmap.width)),
        }
    }

    #[test]
    fn flatten_and_cmyk_conversions() {
        let mut px = vec![255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128];
        flatten_alpha_in_place(&mut px);
        assert_eq!(px, vec![255, 0, 0, 255, 255, 255, 127, 127, 127]);
        // Inverted (Adobe) CMYK: 255 means no ink → white; plain CMYK: 0 means no ink.
        let mut inv = vec![255, 255, 255, 255, 0, 255, 255, 255];
        cmyk_to_rgb_in_place(&mut inv, true);
        assert_eq!(inv, vec![255, 255, 255, 0, 255, 255]);
        let mut plain = vec![0, 0, 0, 0, 0, 0, 0, 255];
        cmyk_to_rgb_in_place(&mut plain, false);
        assert_eq!(plain, vec![255, 255, 255, 0, 0, 0]);
    }
}
