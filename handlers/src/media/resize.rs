//! Resampling with `fast_image_resize`: Lanczos3 convolution, SIMD (AVX2/SSE4.1/NEON picked at
//! run time), single-threaded (the job runtime parallelises across jobs, not within one).
//!
//! Like vipsthumbnail's default, resampling happens on the gamma-encoded sRGB values (not in
//! linear light). RGBA is resized with premultiplied alpha so transparent pixels do not bleed
//! their colour into the edges.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::Bitmap;
use super::error::MediaError;

/// Longest-side fit: the size of a `w`×`h` image scaled so its longest side is `longest`, never
/// upscaled, the short side rounded and at least 1.
pub(crate) fn fit(w: u32, h: u32, longest: u32) -> (u32, u32) {
    let (long, short) = (w.max(h) as u64, w.min(h) as u64);
    if long <= longest as u64 {
        return (w, h);
    }
    let scaled_short = ((short * longest as u64 + long / 2) / long).max(1) as u32;
    if w >= h { (longest, scaled_short) } else { (scaled_short, longest) }
}

pub(crate) fn resize(resizer: &mut Resizer, src: &Bitmap, width: u32, height: u32) -> Result<Bitmap, MediaError> {
    let internal = |e: &dyn std::fmt::Display| MediaError::Internal(format!("resize: {e}"));
    let pixel_type = match src.channels {
        3 => PixelType::U8x3,
        4 => PixelType::U8x4,
        n => return Err(MediaError::Internal(format!("resize: {n} channels"))),
    };
    let src_img = ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(|e| internal(&e))?;
    let mut dst = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)).use_alpha(src.channels == 4);
    resizer.resize(&src_img, &mut dst, &options).map_err(|e| internal(&e))?;
    Ok(Bitmap { width, height, channels: src.channels, data: dst.into_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_longest_side() {
        assert_eq!(fit(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit(3000, 4000, 1600), (1200, 1600));
        assert_eq!(fit(4000, 3000, 160), (160, 120));
        assert_eq!(fit(1000, 3, 160), (160, 1)); // never 0
        assert_eq!(fit(500, 400, 1600), (500, 400)); // never upscale
        assert_eq!(fit(1601, 1601, 1600), (1600, 1600));
        assert_eq!(fit(3001, 2000, 640), (640, 427)); // 426.52 rounds up
    }

    #[test]
    fn resizes_flat_colour_to_flat_colour() {
        let mut src = Bitmap::new(300, 200, 3);
        for px in src.data.chunks_exact_mut(3) {
            px.copy_from_slice(&[10, 128, 250]);
        }
        let out = resize(&mut Resizer::new(), &src, 64, 43).expect("test input is valid");
        assert_eq!((out.width, out.height, out.data.len()), (64, 43, 64 * 43 * 3));
        assert!(out.data.chunks_exact(3).all(|p| p == [10, 128, 250]));
    }
}
