//! EXIF orientation: parsing the tag out of a TIFF/EXIF blob, and applying it to pixels.
//!
//! Cameras store the sensor's pixels as they come and record how the camera was held in the EXIF
//! `Orientation` tag (0x0112). Browsers honour it for `<img>`, so a thumbnail that ignores it
//! shows sideways. We apply it to the (small) resized pixels and write no EXIF at all, so the
//! output is displayed upright by every viewer and cannot be rotated twice.
//!
//! Malformed EXIF never fails a job: anything we cannot read is treated as orientation 1.

/// The eight EXIF orientations. Values are the EXIF tag values.
///
/// | value | stored row 0 is the visual… | stored column 0 is the visual… | to display  |
/// |-------|-----------------------------|--------------------------------|-------------|
/// | 1     | top                         | left                           | as is       |
/// | 2     | top                         | right                          | mirror H    |
/// | 3     | bottom                      | right                          | rotate 180  |
/// | 4     | bottom                      | left                           | mirror V    |
/// | 5     | left                        | top                            | transpose   |
/// | 6     | right                       | top                            | rotate 90 CW|
/// | 7     | right                       | bottom                         | transverse  |
/// | 8     | left                        | bottom                         | rotate 90 CCW|
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    #[default]
    Normal = 1,
    MirrorHorizontal = 2,
    Rotate180 = 3,
    MirrorVertical = 4,
    Transpose = 5,
    Rotate90Cw = 6,
    Transverse = 7,
    Rotate90Ccw = 8,
}

impl Orientation {
    /// Maps an EXIF value; out-of-range values (0, 9, 0xFFFF, …) mean "normal".
    pub fn from_exif(value: u16) -> Orientation {
        match value {
            2 => Orientation::MirrorHorizontal,
            3 => Orientation::Rotate180,
            4 => Orientation::MirrorVertical,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90Cw,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate90Ccw,
            _ => Orientation::Normal,
        }
    }

    pub fn exif_value(self) -> u8 {
        self as u8
    }

    /// Whether displaying swaps width and height (values 5–8).
    pub fn swaps_dimensions(self) -> bool {
        (self as u8) >= 5
    }

    /// Display size of a stored `w`×`h` image.
    pub fn display_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps_dimensions() { (h, w) } else { (w, h) }
    }

    /// For display pixel `(dx, dy)` of a stored `w`×`h` image, the stored pixel to take.
    #[inline]
    fn source_of(self, dx: usize, dy: usize, w: usize, h: usize) -> (usize, usize) {
        match self {
            Orientation::Normal => (dx, dy),
            Orientation::MirrorHorizontal => (w - 1 - dx, dy),
            Orientation::Rotate180 => (w - 1 - dx, h - 1 - dy),
            Orientation::MirrorVertical => (dx, h - 1 - dy),
            Orientation::Transpose => (dy, dx),
            Orientation::Rotate90Cw => (dy, h - 1 - dx),
            Orientation::Transverse => (w - 1 - dy, h - 1 - dx),
            Orientation::Rotate90Ccw => (w - 1 - dy, dx),
        }
    }
}

/// Returns the display-oriented copy of a packed `w`×`h` image with `bpp` bytes per pixel
/// (`None` for [`Orientation::Normal`]: use the input as is). Works for planes (`bpp == 1`) too.
pub(crate) fn apply(o: Orientation, src: &[u8], w: usize, h: usize, bpp: usize) -> Option<(Vec<u8>, usize, usize)> {
    if o == Orientation::Normal {
        return None;
    }
    debug_assert_eq!(src.len(), w * h * bpp);
    let (dw, dh) = if o.swaps_dimensions() { (h, w) } else { (w, h) };
    let mut out = vec![0u8; src.len()];
    match o {
        // Row-preserving cases: whole-row copies or per-row pixel reversal.
        Orientation::MirrorVertical => {
            for (dy, row) in out.chunks_exact_mut(w * bpp).enumerate() {
                let sy = h - 1 - dy;
                row.copy_from_slice(&src[sy * w * bpp..(sy + 1) * w * bpp]);
            }
        }
        Orientation::MirrorHorizontal | Orientation::Rotate180 => {
            for (dy, row) in out.chunks_exact_mut(w * bpp).enumerate() {
                let sy = if o == Orientation::Rotate180 { h - 1 - dy } else { dy };
                let srow = &src[sy * w * bpp..(sy + 1) * w * bpp];
                for (d, s) in row.chunks_exact_mut(bpp).zip(srow.chunks_exact(bpp).rev()) {
                    d.copy_from_slice(s);
                }
            }
        }
        _ => {
            // Transposing cases. The images are thumbnails (≤ a few MP), a plain gather is
            // a few milliseconds at most.
            for dy in 0..dh {
                let row = &mut out[dy * dw * bpp..(dy + 1) * dw * bpp];
                for (dx, d) in row.chunks_exact_mut(bpp).enumerate() {
                    let (sx, sy) = o.source_of(dx, dy, w, h);
                    let at = (sy * w + sx) * bpp;
                    d.copy_from_slice(&src[at..at + bpp]);
                }
            }
        }
    }
    Some((out, dw, dh))
}

/// Reads the Orientation tag from EXIF data: a TIFF structure, optionally preceded by the
/// `Exif\0\0` identifier (JPEG APP1 always has it; PNG `eXIf` and WebP `EXIF` should not, but
/// some writers add it). Only IFD0 is consulted, as the standard says.
pub fn exif_orientation(exif: &[u8]) -> Orientation {
    let tiff = exif.strip_prefix(b"Exif\0\0".as_slice()).unwrap_or(exif);
    read_orientation(tiff).map(Orientation::from_exif).unwrap_or_default()
}

fn read_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(0..4)? {
        [b'I', b'I', 42, 0] => false,
        [b'M', b'M', 0, 42] => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let ifd0 = u32_at(4)? as usize;
    let count = u16_at(ifd0)? as usize;
    for i in 0..count {
        let entry = ifd0.checked_add(2 + i * 12)?;
        if u16_at(entry)? == 0x0112 {
            let (typ, n) = (u16_at(entry + 2)?, u32_at(entry + 4)?);
            // SHORT, count 1: the value sits left-justified in the 4-byte value field.
            return (typ == 3 && n >= 1).then(|| u16_at(entry + 8)).flatten();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff_with_orientation(big_endian: bool, value: u16) -> Vec<u8> {
        let mut t = Vec::new();
        let p16 = |t: &mut Vec<u8>, v: u16| t.extend_from_slice(&if big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
        let p32 = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&if big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
        t.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        p16(&mut t, 42);
        p32(&mut t, 8);
        p16(&mut t, 2); // two entries: an unrelated one first
        p16(&mut t, 0x010F); // Make, ASCII
        p16(&mut t, 2);
        p32(&mut t, 4);
        t.extend_from_slice(b"abc\0");
        p16(&mut t, 0x0112);
        p16(&mut t, 3);
        p32(&mut t, 1);
        p16(&mut t, value);
        p16(&mut t, 0);
        p32(&mut t, 0);
        t
    }

    #[test]
    fn parses_both_byte_orders_and_the_exif_prefix() {
        for v in 1..=8u16 {
            for be in [false, true] {
                let t = tiff_with_orientation(be, v);
                assert_eq!(exif_orientation(&t).exif_value() as u16, v);
                let mut prefixed = b"Exif\0\0".to_vec();
                prefixed.extend_from_slice(&t);
                assert_eq!(exif_orientation(&prefixed).exif_value() as u16, v);
            }
        }
    }

    #[test]
    fn garbage_means_normal() {
        assert_eq!(exif_orientation(b""), Orientation::Normal);
        assert_eq!(exif_orientation(b"Exif\0\0II*\0\xff\xff\xff\xff"), Orientation::Normal);
        assert_eq!(exif_orientation(&tiff_with_orientation(false, 9)), Orientation::Normal);
        assert_eq!(exif_orientation(&tiff_with_orientation(true, 0)), Orientation::Normal);
        let t = tiff_with_orientation(false, 6);
        for cut in 0..t.len() - 4 {
            // Every truncation is handled without panicking.
            let _ = exif_orientation(&t[..cut]);
        }
    }

    /// Builds the stored image for orientation `o` from the EXIF table (row 0 / column 0 sides),
    /// independently of `source_of`, so the two cannot share a mistake.
    fn stored_from_table(o: u8, display: &[u8], dw: usize, dh: usize) -> (Vec<u8>, usize, usize) {
        let (row0, col0) = match o {
            1 => ('T', 'L'),
            2 => ('T', 'R'),
            3 => ('B', 'R'),
            4 => ('B', 'L'),
            5 => ('L', 'T'),
            6 => ('R', 'T'),
            7 => ('R', 'B'),
            8 => ('L', 'B'),
            _ => unreachable!(),
        };
        let (sw, sh) = if o >= 5 { (dh, dw) } else { (dw, dh) };
        let mut s = vec![0u8; sw * sh];
        for sy in 0..sh {
            for sx in 0..sw {
                let (mut vx, mut vy) = (0, 0);
                match row0 {
                    'T' => vy = sy,
                    'B' => vy = dh - 1 - sy,
                    'L' => vx = sy,
                    _ => vx = dw - 1 - sy,
                }
                match col0 {
                    'L' => vx = sx,
                    'R' => vx = dw - 1 - sx,
                    'T' => vy = sx,
                    _ => vy = dh - 1 - sx,
                }
                s[sy * sw + sx] = display[vy * dw + vx];
            }
        }
        (s, sw, sh)
    }

    #[test]
    fn apply_matches_the_exif_table_for_all_eight() {
        let (dw, dh) = (5usize, 3usize);
        let display: Vec<u8> = (0..(dw * dh) as u8).collect();
        for o in 1..=8u8 {
            let (stored, sw, sh) = stored_from_table(o, &display, dw, dh);
            let orient = Orientation::from_exif(o as u16);
            assert_eq!(orient.display_size(sw as u32, sh as u32), (dw as u32, dh as u32));
            let (out, ow, oh) = apply(orient, &stored, sw, sh, 1).unwrap_or((stored.clone(), sw, sh));
            assert_eq!((ow, oh), (dw, dh), "orientation {o}");
            assert_eq!(out, display, "orientation {o}");
            // Multi-byte pixels move as a unit.
            let rgb: Vec<u8> = stored.iter().flat_map(|&v| [v, v ^ 0x55, v ^ 0xAA]).collect();
            let (out3, _, _) = apply(orient, &rgb, sw, sh, 3).unwrap_or((rgb.clone(), sw, sh));
            let want: Vec<u8> = display.iter().flat_map(|&v| [v, v ^ 0x55, v ^ 0xAA]).collect();
            assert_eq!(out3, want, "orientation {o}, 3 bytes per pixel");
        }
    }
}
