//! Output encoders. Nothing but pixels is written: no EXIF (orientation is already applied, and
//! GPS/camera data must not leak into public thumbnails), no XMP, no ICC (pixels are sRGB).
//!
//! * JPEG: libjpeg-turbo (SIMD), baseline, 4:2:0 chroma subsampling, no Huffman optimisation —
//!   the same settings as `vipsthumbnail … -o x.jpg[Q=82,strip]`, which keeps the benchmark fair.
//! * WebP: `image-webp`, which only has a **lossless** (VP8L) encoder; `quality` is ignored. For
//!   photos this is several times bigger than the JPEG, so it is opt-in. A lossy encoder would
//!   mean linking libwebp (C); not worth it until someone needs WebP thumbnails of photos.

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use super::OutputFormat;
use super::error::MediaError;

pub(crate) fn encode(format: OutputFormat, quality: u8, data: &[u8], width: u32, height: u32, channels: u8) -> Result<Vec<u8>, MediaError> {
    match format {
        OutputFormat::Jpeg => encode_jpeg(quality, data, width, height, channels),
        OutputFormat::WebP => encode_webp(data, width, height, channels),
    }
}

fn encode_jpeg(quality: u8, data: &[u8], width: u32, height: u32, channels: u8) -> Result<Vec<u8>, MediaError> {
    let internal = |e: turbojpeg::Error| MediaError::Internal(format!("jpeg encoder: {e}"));
    let format = match channels {
        3 => PixelFormat::RGB,
        // The pipeline flattens alpha for JPEG output; RGBX ignores the 4th byte if it ever comes.
        4 => PixelFormat::RGBX,
        n => return Err(MediaError::Internal(format!("jpeg encoder: {n} channels"))),
    };
    let mut c = Compressor::new().map_err(internal)?;
    c.set_quality(quality as i32).map_err(internal)?;
    c.set_subsamp(Subsamp::Sub2x2).map_err(internal)?;
    let (w, h) = (width as usize, height as usize);
    let image = Image { pixels: data, width: w, pitch: w * channels as usize, height: h, format };
    c.compress_to_vec(image).map_err(internal)
}

fn encode_webp(data: &[u8], width: u32, height: u32, channels: u8) -> Result<Vec<u8>, MediaError> {
    let color = match channels {
        3 => image_webp::ColorType::Rgb8,
        4 => image_webp::ColorType::Rgba8,
        n => return Err(MediaError::Internal(format!("webp encoder: {n} channels"))),
    };
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(data, width, height, color)
        .map_err(|e| MediaError::Internal(format!("webp encoder: {e}")))?;
    Ok(out)
}
