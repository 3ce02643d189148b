#![allow(dead_code, clippy::unwrap_used)]
pub use jobfleet_handlers::media::synth;

use jobfleet_handlers::media::Variant;

/// JPEG markers present in a file, up to SOS.
pub fn jpeg_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let m = jpeg[pos + 1];
        out.push(m);
        if m == 0xDA {
            break;
        }
        pos += 2 + u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
    }
    out
}

/// Asserts a JPEG output carries no metadata: only JFIF APP0, tables, frame, scan.
pub fn assert_no_metadata(v: &Variant) {
    let markers = jpeg_markers(&v.bytes);
    assert!(markers.contains(&0xDA), "no SOS found: {markers:x?}");
    for m in &markers {
        assert!(matches!(m, 0xE0 | 0xDB | 0xC4 | 0xC0 | 0xDD | 0xDA), "unexpected marker 0xFF{m:02X} in output: {markers:x?}");
    }
    for needle in [&b"Exif"[..], b"SynthCam", b"private", b"ICC_PROFILE"] {
        assert!(!v.bytes.windows(needle.len()).any(|w| w == needle), "{needle:?} leaked into output");
    }
}

/// Mean colour of a square around (cx, cy) in an RGB buffer.
pub fn mean_rgb(rgb: &[u8], w: usize, cx: usize, cy: usize, r: usize) -> [u8; 3] {
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    for y in cy - r..=cy + r {
        for x in cx - r..=cx + r {
            for c in 0..3 {
                sum[c] += rgb[(y * w + x) * 3 + c] as u64;
            }
            n += 1;
        }
    }
    sum.map(|s| (s / n) as u8)
}

pub fn close(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter().zip(b).all(|(&x, y)| (x as i32 - y as i32).abs() <= tol)
}
