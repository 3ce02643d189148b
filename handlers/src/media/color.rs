//! ICC colour management: pixels of an image with an embedded non-sRGB RGB profile (Display P3
//! from phones, Adobe RGB from cameras, ProPhoto from editors) are converted to sRGB with
//! `qcms` (Mozilla's CMS, pure Rust, the one Firefox ships), because the outputs carry no profile
//! and browsers treat untagged images as sRGB. Without this, P3 photos look washed out.
//!
//! Scope (documented limits):
//! * RGB profiles only. Grayscale profiles are ignored (gray stays gray; only the tone curve
//!   could differ). CMYK JPEGs are converted with a naive formula, their profile is ignored.
//! * A profile whose description mentions "sRGB" is taken to be sRGB and skipped: converting
//!   sRGB to sRGB is a no-op that would cost a few milliseconds per job, and almost every camera
//!   JPEG embeds one.
//! * A profile qcms cannot parse or build a transform for is ignored (the job does not fail:
//!   the image is still better shown slightly off than not at all).
//! * The conversion runs after the first resize (on ≤ the biggest variant's pixels, not the
//!   source's), perceptual intent, 8-bit.

use std::sync::OnceLock;

use qcms::{DataType, Intent, Profile, Transform};

pub(crate) struct ToSrgb(Transform);

impl ToSrgb {
    /// A transform from `icc` to sRGB for pixels with `channels` (3 or 4) bytes, or `None` when
    /// there is nothing (sensible) to do.
    pub fn new(icc: &[u8], channels: u8) -> Option<ToSrgb> {
        // Header: colour space signature at 16..20, tag count at 128.
        if icc.len() < 132 || &icc[16..20] != b"RGB " || describes_srgb(icc) {
            return None;
        }
        let input = Profile::new_from_slice(icc, false)?;
        let ty = if channels == 4 { DataType::RGBA8 } else { DataType::RGB8 };
        Transform::new(&input, srgb(), ty, Intent::Perceptual).map(ToSrgb)
    }

    pub fn apply(&self, pixels: &mut [u8]) {
        self.0.apply(pixels);
    }
}

fn srgb() -> &'static Profile {
    static SRGB: OnceLock<Box<Profile>> = OnceLock::new();
    SRGB.get_or_init(|| {
        let mut p = Profile::new_sRGB();
        p.precache_output_transform();
        p
    })
}

/// Whether the profile's `desc` tag (v2 `desc` ASCII or v4 `mluc` UTF-16BE) mentions sRGB.
fn describes_srgb(icc: &[u8]) -> bool {
    let be32 = |at: usize| -> Option<usize> { Some(u32::from_be_bytes(icc.get(at..at + 4)?.try_into().ok()?) as usize) };
    let Some(count) = be32(128) else { return false };
    for i in 0..count.min(100) {
        let entry = 132 + i * 12;
        if icc.get(entry..entry + 4) != Some(b"desc".as_slice()) {
            continue;
        }
        let (Some(off), Some(len)) = (be32(entry + 4), be32(entry + 8)) else { return false };
        let Some(tag) = icc.get(off..off.saturating_add(len)) else { return false };
        // Bytes of the text, ASCII or UTF-16BE; dropping NULs makes both searchable.
        let text: Vec<u8> = match tag.get(0..4) {
            Some(b"desc") => tag.get(12..).unwrap_or(&[]).to_vec(),
            Some(b"mluc") => tag.get(16..).unwrap_or(&[]).iter().copied().filter(|&b| b != 0).collect(),
            _ => return false,
        };
        return text.windows(4).any(|w| w == b"sRGB");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v2 RGB matrix/TRC profile with the given primaries' XYZ (D50), gamma 2.2.
    pub(crate) fn rgb_profile(desc: &str, r: [f64; 3], g: [f64; 3], b: [f64; 3]) -> Vec<u8> {
        let s15 = |v: f64| ((v * 65536.0).round() as i32).to_be_bytes();
        let xyz = |v: [f64; 3]| {
            let mut t = b"XYZ \0\0\0\0".to_vec();
            for c in v {
                t.extend_from_slice(&s15(c));
            }
            t
        };
        let curv = b"curv\0\0\0\0\0\0\0\x01\x02\x33\0\0".to_vec(); // gamma 2.2 (u8Fixed8), padded
        let mut d = b"desc\0\0\0\0".to_vec();
        d.extend_from_slice(&(desc.len() as u32 + 1).to_be_bytes());
        d.extend_from_slice(desc.as_bytes());
        d.extend_from_slice(&[0; 1 + 4 + 4 + 2 + 1 + 67]);
        while !d.len().is_multiple_of(4) {
            d.push(0);
        }
        let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
            (b"desc", d),
            (b"wtpt", xyz([0.9642, 1.0, 0.8249])),
            (b"rXYZ", xyz(r)),
            (b"gXYZ", xyz(g)),
            (b"bXYZ", xyz(b)),
            (b"rTRC", curv.clone()),
            (b"gTRC", curv.clone()),
            (b"bTRC", curv),
        ];
        let mut body = Vec::new();
        let mut table = (tags.len() as u32).to_be_bytes().to_vec();
        let data_start = 128 + 4 + 12 * tags.len();
        for (sig, data) in &tags {
            table.extend_from_slice(*sig);
            table.extend_from_slice(&((data_start + body.len()) as u32).to_be_bytes());
            table.extend_from_slice(&(data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
        }
        let total = data_start + body.len();
        let mut h = vec![0u8; 128];
        h[0..4].copy_from_slice(&(total as u32).to_be_bytes());
        h[8] = 2; // version 2.1
        h[9] = 0x10;
        h[12..16].copy_from_slice(b"mntr");
        h[16..20].copy_from_slice(b"RGB ");
        h[20..24].copy_from_slice(b"XYZ ");
        h[36..40].copy_from_slice(b"acsp");
        h[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]); // D50
        h.extend_from_slice(&table);
        h.extend_from_slice(&body);
        h
    }

    // Display P3 primaries adapted to D50 (the values Apple's profile carries).
    const P3: [[f64; 3]; 3] = [[0.5151, 0.2412, -0.0011], [0.2920, 0.6922, 0.0419], [0.1571, 0.0666, 0.7841]];

    #[test]
    fn wide_gamut_red_is_converted_to_srgb() {
        let icc = rgb_profile("Display P3", P3[0], P3[1], P3[2]);
        let t = ToSrgb::new(&icc, 3).expect("transform");
        let mut px = [255u8, 0, 0, 128, 128, 128];
        t.apply(&mut px);
        // P3 red is outside sRGB: clipped red, and neutral grey stays (nearly) neutral.
        assert!(px[0] >= 250 && px[1] < 40 && px[2] < 40, "{px:?}");
        let (r, g, b) = (px[3] as i32, px[4] as i32, px[5] as i32);
        assert!((r - g).abs() <= 3 && (g - b).abs() <= 3, "{px:?}");
    }

    #[test]
    fn srgb_gray_cmyk_and_garbage_profiles_are_skipped() {
        let srgb_named = rgb_profile("sRGB IEC61966-2.1", P3[0], P3[1], P3[2]);
        assert!(ToSrgb::new(&srgb_named, 3).is_none());
        let mut gray = rgb_profile("Gray", P3[0], P3[1], P3[2]);
        gray[16..20].copy_from_slice(b"GRAY");
        assert!(ToSrgb::new(&gray, 3).is_none());
        assert!(ToSrgb::new(b"not a profile", 3).is_none());
        let mut broken = rgb_profile("Display P3", P3[0], P3[1], P3[2]);
        broken.truncate(200);
        assert!(ToSrgb::new(&broken, 3).is_none());
    }
}
