//! Header probing: dimensions, orientation and colour metadata, read by walking the container
//! structure (JPEG markers, PNG chunks, RIFF chunks) without decoding any pixel data and without
//! allocating anything proportional to the image size. This is what lets
//! [`make_thumbnails`](super::make_thumbnails) refuse a decompression bomb (a few hundred bytes
//! claiming 100000×100000 pixels) before a decoder allocates its frame buffer.

use std::ops::Range;

use super::error::MediaError;
use super::orient::{Orientation, exif_orientation};
use super::sniff::{Format, sniff};

/// What the header says; everything needed to plan the decode.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub format: Format,
    /// Stored (pre-orientation) size.
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub detail: Detail,
}

#[derive(Debug, Clone)]
pub(crate) enum Detail {
    Jpeg(JpegHeader),
    Png,
    WebP { icc: Option<Range<usize>> },
}

#[derive(Debug, Clone)]
pub(crate) struct JpegHeader {
    pub components: u8,
    /// Transform flag of an Adobe APP14 segment, when present (tells YCCK from CMYK and that
    /// Adobe-written CMYK is stored inverted).
    pub adobe_transform: Option<u8>,
    /// `(sequence number, payload range)` of each `ICC_PROFILE` APP2 segment.
    pub icc_chunks: Vec<(u8, Range<usize>)>,
}

impl JpegHeader {
    /// Reassembles the ICC profile from its APP2 chunks; `None` if absent or inconsistent.
    pub fn icc_profile(&self, input: &[u8]) -> Option<Vec<u8>> {
        if self.icc_chunks.is_empty() {
            return None;
        }
        let mut chunks = self.icc_chunks.clone();
        chunks.sort_by_key(|(seq, _)| *seq);
        // Sequence numbers must be exactly 1..=n.
        if chunks.iter().enumerate().any(|(i, (seq, _))| *seq as usize != i + 1) {
            return None;
        }
        let mut icc = Vec::with_capacity(chunks.iter().map(|(_, r)| r.len()).sum());
        for (_, r) in chunks {
            icc.extend_from_slice(&input[r]);
        }
        Some(icc)
    }
}

pub(crate) fn read_header(input: &[u8]) -> Result<Header, MediaError> {
    match sniff(input)? {
        Format::Jpeg => jpeg(input),
        Format::Png => png(input),
        Format::WebP => webp(input),
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le24(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], 0])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn jpeg(input: &[u8]) -> Result<Header, MediaError> {
    let f = Format::Jpeg;
    let truncated = || MediaError::truncated(f, "input ends inside the JPEG header");
    let mut pos = 2; // after SOI
    let mut sof: Option<(u32, u32, u8)> = None;
    let mut orientation = None;
    let mut adobe_transform = None;
    let mut icc_chunks = Vec::new();
    loop {
        // Markers are 0xFF followed by a code; any number of 0xFF fill bytes may precede it.
        match input.get(pos) {
            None => return Err(truncated()),
            Some(0xFF) => {}
            Some(_) => return Err(MediaError::corrupt(f, format!("expected a marker at byte {pos}"))),
        }
        while input.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *input.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue, // standalone markers
            0xD8 => return Err(MediaError::corrupt(f, "second SOI marker in header")),
            0xD9 => return Err(MediaError::corrupt(f, "EOI before any image data")),
            0x00 => return Err(MediaError::corrupt(f, "stuffed 0xFF00 in header")),
            _ => {}
        }
        if pos + 2 > input.len() {
            return Err(truncated());
        }
        let len = be16(input, pos) as usize;
        if len < 2 {
            return Err(MediaError::corrupt(f, format!("segment length {len} < 2")));
        }
        let payload = pos + 2..pos + len;
        if payload.end > input.len() {
            return Err(truncated());
        }
        let p = &input[payload.clone()];
        match marker {
            0xDA => break, // SOS: entropy-coded data follows, the header is complete.
            0xE1 if orientation.is_none() && p.starts_with(b"Exif\0\0") => {
                orientation = Some(exif_orientation(p));
            }
            0xE2 if p.len() > 14 && p.starts_with(b"ICC_PROFILE\0") => {
                icc_chunks.push((p[12], payload.start + 14..payload.end));
            }
            0xEE if p.len() >= 12 && p.starts_with(b"Adobe") => adobe_transform = Some(p[11]),
            // SOFn, except DHT (C4), JPG (C8) and DAC (CC) which share the range.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if sof.is_some() {
                    return Err(MediaError::corrupt(f, "more than one frame header"));
                }
                if p.len() < 6 {
                    return Err(MediaError::corrupt(f, "short frame header"));
                }
                let kind = match marker {
                    0xC0 | 0xC1 | 0xC2 | 0xC9 | 0xCA => None,
                    0xC3 | 0xCB => Some("lossless jpeg"),
                    _ => Some("hierarchical jpeg"),
                };
                if let Some(kind) = kind {
                    return Err(MediaError::UnsupportedFormat(kind.into()));
                }
                if p[0] != 8 {
                    return Err(MediaError::UnsupportedFormat(format!("{}-bit jpeg", p[0])));
                }
                let (h, w, n) = (be16(p, 1) as u32, be16(p, 3) as u32, p[5]);
                if w == 0 || h == 0 {
                    // Height 0 means "defined later by a DNL marker", which libjpeg rejects.
                    return Err(MediaError::corrupt(f, format!("frame header says {w}x{h}")));
                }
                if !matches!(n, 1 | 3 | 4) || p.len() < 6 + 3 * n as usize {
                    return Err(MediaError::corrupt(f, format!("{n} components")));
                }
                sof = Some((w, h, n));
            }
            _ => {}
        }
        pos = payload.end;
    }
    let Some((width, height, components)) = sof else {
        return Err(MediaError::corrupt(f, "scan data before a frame header"));
    };
    Ok(Header {
        format: f,
        width,
        height,
        orientation: orientation.unwrap_or_default(),
        detail: Detail::Jpeg(JpegHeader { components, adobe_transform, icc_chunks }),
    })
}

fn png(input: &[u8]) -> Result<Header, MediaError> {
    let f = Format::Png;
    let truncated = || MediaError::truncated(f, "input ends before the first IDAT chunk");
    // IHDR must come first: 8 signature + 4 length + 4 type + 13 data + 4 CRC.
    if input.len() < 33 {
        return Err(truncated());
    }
    if be32(input, 8) != 13 || &input[12..16] != b"IHDR" {
        return Err(MediaError::corrupt(f, "first chunk is not a 13-byte IHDR"));
    }
    let (width, height) = (be32(input, 16), be32(input, 20));
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(MediaError::corrupt(f, format!("IHDR says {width}x{height}")));
    }
    let mut orientation = Orientation::Normal;
    // Walk the ancillary chunks up to the image data for eXIf.
    let mut pos = 33;
    loop {
        if pos + 8 > input.len() {
            return Err(truncated());
        }
        let len = be32(input, pos) as usize;
        let typ = &input[pos + 4..pos + 8];
        let data = pos + 8..(pos + 8).saturating_add(len);
        if typ == b"IDAT" {
            break;
        }
        if data.end.saturating_add(4) > input.len() {
            return Err(truncated());
        }
        match typ {
            b"eXIf" => orientation = exif_orientation(&input[data.clone()]),
            b"IEND" => return Err(MediaError::corrupt(f, "IEND before any IDAT")),
            _ => {}
        }
        pos = data.end + 4;
    }
    Ok(Header { format: f, width, height, orientation, detail: Detail::Png })
}

fn webp(input: &[u8]) -> Result<Header, MediaError> {
    let f = Format::WebP;
    let truncated = || MediaError::truncated(f, "input is shorter than its RIFF header says");
    let riff_end = (le32(input, 4) as usize).saturating_add(8);
    if riff_end > input.len() {
        return Err(truncated());
    }
    let input = &input[..riff_end];
    // One chunk header at `pos`: fourcc, payload range (payloads are padded to even sizes).
    type Chunk<'a> = Option<(&'a [u8], Range<usize>)>;
    let chunk = |pos: usize| -> Result<Chunk<'_>, MediaError> {
        if pos + 8 > input.len() {
            return if pos >= input.len() { Ok(None) } else { Err(truncated()) };
        }
        let len = le32(input, pos + 4) as usize;
        let data = pos + 8..(pos + 8).saturating_add(len);
        if data.end > input.len() {
            return Err(truncated());
        }
        Ok(Some((&input[pos..pos + 4], data)))
    };
    let Some((fourcc, data)) = chunk(12)? else {
        return Err(truncated());
    };
    let d = &input[data.clone()];
    let short = || MediaError::corrupt(f, "first chunk too short");
    let (width, height) = match fourcc {
        b"VP8 " => {
            if d.len() < 10 {
                return Err(short());
            }
            if d[0] & 1 != 0 || d[3..6] != [0x9D, 0x01, 0x2A] {
                return Err(MediaError::corrupt(f, "bad VP8 key frame header"));
            }
            let w = u16::from_le_bytes([d[6], d[7]]) as u32 & 0x3FFF;
            let h = u16::from_le_bytes([d[8], d[9]]) as u32 & 0x3FFF;
            (w, h)
        }
        b"VP8L" => {
            if d.len() < 5 {
                return Err(short());
            }
            if d[0] != 0x2F {
                return Err(MediaError::corrupt(f, "bad VP8L signature"));
            }
            let bits = le32(d, 1);
            if bits >> 29 != 0 {
                return Err(MediaError::corrupt(f, "bad VP8L version"));
            }
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => {
            if d.len() < 10 {
                return Err(short());
            }
            if d[0] & 0x02 != 0 {
                return Err(MediaError::UnsupportedFormat("animated webp".into()));
            }
            (le24(d, 4) + 1, le24(d, 7) + 1)
        }
        other => {
            return Err(MediaError::corrupt(f, format!("unexpected first chunk {other:?}")));
        }
    };
    if width == 0 || height == 0 {
        return Err(MediaError::corrupt(f, format!("header says {width}x{height}")));
    }
    let mut orientation = Orientation::Normal;
    let mut icc = None;
    if fourcc == b"VP8X" {
        // The extended layout puts EXIF after the image data; chunk headers let us hop to it.
        let mut pos = data.start + data.len().div_ceil(2) * 2;
        while let Some((fourcc, data)) = chunk(pos)? {
            match fourcc {
                b"EXIF" => orientation = exif_orientation(&input[data.clone()]),
                b"ICCP" => icc = Some(data.clone()),
                b"ANIM" | b"ANMF" => {
                    return Err(MediaError::UnsupportedFormat("animated webp".into()));
                }
                _ => {}
            }
            pos = data.start + data.len().div_ceil(2) * 2;
        }
    }
    Ok(Header { format: f, width, height, orientation, detail: Detail::WebP { icc } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(r: Result<Header, MediaError>) -> &'static str {
        r.expect_err("should be refused").class()
    }

    /// A minimal JPEG header up to SOS (no entropy data): enough for probing.
    fn jpeg_header(w: u16, h: u16, extra: &[u8]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend_from_slice(extra);
        j.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8]);
        j.extend_from_slice(&h.to_be_bytes());
        j.extend_from_slice(&w.to_be_bytes());
        j.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        j.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
        j
    }

    #[test]
    fn jpeg_dimensions_orientation_and_icc() {
        let mut app1 = vec![0xFF, 0xE1, 0, 0];
        app1.extend_from_slice(b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0");
        let n = (app1.len() - 2) as u16;
        app1[2..4].copy_from_slice(&n.to_be_bytes());
        let mut app2 = vec![0xFF, 0xE2, 0, 19];
        app2.extend_from_slice(b"ICC_PROFILE\0\x01\x01abc");
        app1.extend_from_slice(&app2);
        let j = jpeg_header(4000, 3000, &app1);
        let h = read_header(&j).expect("test input is valid");
        assert_eq!((h.width, h.height), (4000, 3000));
        assert_eq!(h.orientation, Orientation::Rotate90Cw);
        let Detail::Jpeg(jh) = &h.detail else { panic!() };
        assert_eq!(jh.components, 3);
        assert_eq!(jh.icc_profile(&j).expect("test input is valid"), b"abc");
    }

    #[test]
    fn jpeg_header_errors() {
        let j = jpeg_header(10, 10, &[]);
        // Cut anywhere inside the header: truncated (never a panic).
        for cut in 3..j.len() - 14 {
            assert_eq!(class(read_header(&j[..cut])), "truncated_image", "cut at {cut}");
        }
        assert_eq!(class(read_header(&jpeg_header(0, 10, &[]))), "corrupt_image");
        assert_eq!(class(read_header(&jpeg_header(10, 0, &[]))), "corrupt_image");
        let mut lossless = jpeg_header(10, 10, &[]);
        lossless[3] = 0xC3;
        assert_eq!(class(read_header(&lossless)), "unsupported_format");
        let mut twelve_bit = jpeg_header(10, 10, &[]);
        twelve_bit[6] = 12;
        assert_eq!(class(read_header(&twelve_bit)), "unsupported_format");
        assert_eq!(class(read_header(&[0xFF, 0xD8, 0xFF, 0xD9])), "corrupt_image");
        assert_eq!(class(read_header(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00])), "truncated_image");
        assert_eq!(class(read_header(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 0x12])), "corrupt_image");
    }

    fn png_chunk(out: &mut Vec<u8>, typ: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(typ);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0; 4]); // CRC is not checked by the prober
    }

    #[test]
    fn png_dimensions_and_exif() {
        let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&640u32.to_be_bytes());
        ihdr.extend_from_slice(&480u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut p, b"IHDR", &ihdr);
        png_chunk(&mut p, b"eXIf", b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x08\0\0\0");
        png_chunk(&mut p, b"tRNS", &[0, 0, 0, 0, 0, 0]);
        let before_idat = p.len();
        png_chunk(&mut p, b"IDAT", &[1, 2, 3]);
        let h = read_header(&p).expect("test input is valid");
        assert_eq!((h.width, h.height), (640, 480));
        assert_eq!(h.orientation, Orientation::Rotate90Ccw);
        for cut in 9..before_idat + 4 {
            assert_eq!(class(read_header(&p[..cut])), "truncated_image", "cut at {cut}");
        }
    }

    #[test]
    fn webp_variants() {
        let riff = |chunks: &[u8]| {
            let mut w = b"RIFF".to_vec();
            w.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
            w.extend_from_slice(b"WEBP");
            w.extend_from_slice(chunks);
            w
        };
        let vp8 = riff(b"VP8 \x0a\0\0\0\x10\0\0\x9d\x01\x2a\x20\x03\x58\x02");
        let h = read_header(&vp8).expect("test input is valid");
        assert_eq!((h.width, h.height), (800, 600));
        let bits: u32 = 99 | (49 << 14) | (1 << 28);
        let mut l = b"VP8L\x05\0\0\0\x2f".to_vec();
        l.extend_from_slice(&bits.to_le_bytes());
        l.push(0);
        let h = read_header(&riff(&l)).expect("test input is valid");
        assert_eq!((h.width, h.height), (100, 50));
        // VP8X 16384x16384 with EXIF orientation 3 after the (empty) image chunk.
        let mut x = b"VP8X\x0a\0\0\0\x08\0\0\0\xff\x3f\0\xff\x3f\0".to_vec();
        x.extend_from_slice(b"VP8L\x00\0\0\0");
        x.extend_from_slice(b"EXIF\x16\0\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x03\0\0\0");
        let h = read_header(&riff(&x)).expect("test input is valid");
        assert_eq!((h.width, h.height), (16384, 16384));
        assert_eq!(h.orientation, Orientation::Rotate180);
        let anim = riff(b"VP8X\x0a\0\0\0\x02\0\0\0\x09\0\0\x09\0\0");
        assert_eq!(class(read_header(&anim)), "unsupported_format");
        let mut cut = vp8.clone();
        cut.truncate(vp8.len() - 3);
        assert_eq!(class(read_header(&cut)), "truncated_image");
    }
}
