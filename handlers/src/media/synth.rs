//! Deterministic synthetic test images, shared by the media tests (`jobs/tests/media_*.rs`) and
//! loadtest's `media-corpus` generator. Nothing is downloaded: every image is computed from a
//! seed. Only compiled with the `synth` feature; test-data code, so it panics on encoder errors.
#![allow(clippy::unwrap_used)]

/// SplitMix64: tiny, seedable, good enough for textures.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
}

/// A lattice of random values in [-1, 1] sampled with smooth bilinear interpolation.
struct Lattice {
    spacing: f32,
    gw: usize,
    values: Vec<f32>,
}

impl Lattice {
    fn new(rng: &mut Rng, w: usize, h: usize, spacing: f32) -> Lattice {
        let gw = (w as f32 / spacing) as usize + 2;
        let gh = (h as f32 / spacing) as usize + 2;
        let values = (0..gw * gh).map(|_| rng.range(-1.0, 1.0)).collect();
        Lattice { spacing, gw, values }
    }
    /// Adds `amp` × noise for row `y` into `row`.
    fn add_row(&self, y: usize, amp: f32, row: &mut [f32]) {
        let fy = y as f32 / self.spacing;
        let (gy, ty) = (fy as usize, fy.fract());
        let ty = ty * ty * (3.0 - 2.0 * ty);
        let r0 = &self.values[gy * self.gw..(gy + 1) * self.gw];
        let r1 = &self.values[(gy + 1) * self.gw..(gy + 2) * self.gw];
        let inv = 1.0 / self.spacing;
        for (x, out) in row.iter_mut().enumerate() {
            let fx = x as f32 * inv;
            let (gx, tx) = (fx as usize, fx.fract());
            let tx = tx * tx * (3.0 - 2.0 * tx);
            let top = r0[gx] + (r0[gx + 1] - r0[gx]) * tx;
            let bot = r1[gx] + (r1[gx + 1] - r1[gx]) * tx;
            *out += amp * (top + (bot - top) * ty);
        }
    }
}

enum Shape {
    Ellipse {
        cx: f32,
        cy: f32,
        rx: f32,
        ry: f32,
    },
    Rect {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
    },
    /// A rotated rectangle (a "building", a "branch"): centre, half sizes, angle.
    Slab {
        cx: f32,
        cy: f32,
        hw: f32,
        hh: f32,
        cos: f32,
        sin: f32,
    },
}

impl Shape {
    fn bbox(&self) -> (f32, f32, f32, f32) {
        match *self {
            Shape::Ellipse { cx, cy, rx, ry } => (cx - rx, cy - ry, cx + rx, cy + ry),
            Shape::Rect { x0, y0, x1, y1 } => (x0, y0, x1, y1),
            Shape::Slab { cx, cy, hw, hh, cos, sin } => {
                let ex = hw * cos.abs() + hh * sin.abs();
                let ey = hw * sin.abs() + hh * cos.abs();
                (cx - ex, cy - ey, cx + ex, cy + ey)
            }
        }
    }
    fn contains(&self, x: f32, y: f32) -> bool {
        match *self {
            Shape::Ellipse { cx, cy, rx, ry } => {
                let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
                dx * dx + dy * dy <= 1.0
            }
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x < x1 && y >= y0 && y < y1,
            Shape::Slab { cx, cy, hw, hh, cos, sin } => {
                let (dx, dy) = (x - cx, y - cy);
                (dx * cos + dy * sin).abs() <= hw && (-dx * sin + dy * cos).abs() <= hh
            }
        }
    }
}

/// A cheap stand-in for [`photo`] (slow in an unoptimised test build): RGB
/// gradients, diagonal bands `band` px wide and per-pixel noise (`noise_mask`
/// of random bits), so a JPEG of it is photo-sized. Integer-only, so the bytes
/// are the same on every machine (the committed hostile-media corpus relies
/// on that).
pub fn gradient_noise(w: usize, h: usize, seed: u64, noise_mask: u64, band: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut rgb = vec![0u8; w * h * 3];
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let (x, y) = (i % w, i / w);
        let n = (rng.next_u64() & noise_mask) as usize;
        px[0] = ((x * 255 / w + n) & 255) as u8;
        px[1] = ((y * 255 / h + n) & 255) as u8;
        px[2] = (((x + y) / band * 8 + n) & 255) as u8;
    }
    rgb
}

/// A "photographic-like" RGB image: a sky/ground gradient, multi-octave value-noise texture,
/// low-frequency colour casts, 200 hard-edged shapes (mostly small) with their own colours, and
/// per-pixel sensor grain. JPEG-compresses like a photo (~0.2–0.3 bytes/pixel at q90).
pub fn photo(w: usize, h: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let scale = w.max(h) as f32;
    // fBm texture: spacings from a quarter of the image down to 2 px.
    let mut octaves = Vec::new();
    let (mut spacing, mut amp) = (scale / 4.0, 0.45f32);
    while spacing >= 2.0 {
        octaves.push((Lattice::new(&mut rng, w, h, spacing), amp));
        spacing /= 2.0;
        amp *= 0.72;
    }
    let tints: Vec<Lattice> = (0..3).map(|_| Lattice::new(&mut rng, w, h, scale / 3.0)).collect();
    let sky = [rng.range(90.0, 170.0), rng.range(120.0, 190.0), rng.range(170.0, 240.0)];
    let ground = [rng.range(50.0, 130.0), rng.range(60.0, 120.0), rng.range(20.0, 80.0)];
    let horizon = rng.range(0.35, 0.65) * h as f32;

    // Shapes go into a label map (0 = background), cost proportional to their area.
    let mut label = vec![0u8; w * h];
    let mut colours = vec![[0f32; 3]];
    // Mostly small shapes (many edges, like foliage or text in a photo), a few big ones.
    let n_shapes = 200;
    for i in 0..n_shapes {
        let (cx, cy) = (rng.range(0.0, w as f32), rng.range(0.0, h as f32));
        let r = rng.f32();
        let size = scale * (0.004 + 0.17 * r * r * r);
        let shape = match i % 3 {
            0 => Shape::Ellipse { cx, cy, rx: size, ry: size * rng.range(0.4, 1.2) },
            1 => Shape::Rect { x0: cx - size, y0: cy - size * 0.6, x1: cx + size * 0.5, y1: cy + size },
            _ => {
                let a = rng.range(0.0, std::f32::consts::PI);
                Shape::Slab { cx, cy, hw: size, hh: size * rng.range(0.05, 0.3), cos: a.cos(), sin: a.sin() }
            }
        };
        colours.push([rng.range(20.0, 235.0), rng.range(20.0, 235.0), rng.range(20.0, 235.0)]);
        let (x0, y0, x1, y1) = shape.bbox();
        let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
        for y in clamp(y0, h)..clamp(y1 + 1.0, h) {
            for x in clamp(x0, w)..clamp(x1 + 1.0, w) {
                if shape.contains(x as f32 + 0.5, y as f32 + 0.5) {
                    label[y * w + x] = (i + 1) as u8;
                }
            }
        }
    }

    let mut out = vec![0u8; w * h * 3];
    let mut tex = vec![0f32; w];
    let mut tint = [vec![0f32; w], vec![0f32; w], vec![0f32; w]];
    let mut grain = Rng::new(seed ^ 0xD1CE);
    for y in 0..h {
        tex.fill(0.0);
        for (lat, amp) in &octaves {
            lat.add_row(y, *amp, &mut tex);
        }
        for (t, lat) in tint.iter_mut().zip(&tints) {
            t.fill(0.0);
            lat.add_row(y, 28.0, t);
        }
        let t = ((y as f32 - horizon) / (h as f32 * 0.08)).tanh() * 0.5 + 0.5;
        let bg: [f32; 3] = std::array::from_fn(|c| sky[c] + (ground[c] - sky[c]) * t);
        let row = &mut out[y * w * 3..(y + 1) * w * 3];
        for x in 0..w {
            let l = label[y * w + x] as usize;
            let base = if l == 0 { bg } else { colours[l] };
            let shade = 1.0 + 0.55 * tex[x];
            let g = grain.next_u64();
            for c in 0..3 {
                let noise = ((g >> (c * 16)) & 0xFF) as f32 / 255.0 * 20.0 - 10.0;
                let v = base[c] * shade + tint[c][x] + noise;
                row[x * 3 + c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Baseline (or progressive) 4:2:0 JPEG.
pub fn encode_jpeg(rgb: &[u8], w: usize, h: usize, quality: i32, progressive: bool) -> Vec<u8> {
    let mut c = turbojpeg::Compressor::new().unwrap();
    c.set_quality(quality).unwrap();
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
    c.set_progressive(progressive).unwrap();
    let image = turbojpeg::Image { pixels: rgb, width: w, pitch: w * 3, height: h, format: turbojpeg::PixelFormat::RGB };
    c.compress_to_vec(image).unwrap()
}

/// Decodes a JPEG to RGB (test helper for checking outputs).
pub fn decode_jpeg(jpeg: &[u8]) -> (Vec<u8>, usize, usize) {
    let img = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::RGB).unwrap();
    (img.pixels, img.width, img.height)
}

/// TIFF (EXIF) blob with an Orientation tag plus camera make and an image description that must
/// never reach a thumbnail.
pub fn exif_tiff(orientation: u16) -> Vec<u8> {
    let make = b"SynthCam\0";
    let desc = b"private: 51.5007N 0.1246W\0";
    let mut t = b"II*\0\x08\0\0\0".to_vec();
    let n_entries = 3u16;
    let data_at = 8 + 2 + 12 * n_entries as u32 + 4;
    t.extend_from_slice(&n_entries.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&typ.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    entry(&mut t, 0x010E, 2, desc.len() as u32, data_at);
    entry(&mut t, 0x010F, 2, make.len() as u32, data_at + desc.len() as u32);
    entry(&mut t, 0x0112, 3, 1, orientation as u32);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(desc);
    t.extend_from_slice(make);
    t
}

/// Inserts an APP1 Exif segment right after SOI.
pub fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&exif_tiff(orientation));
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Inserts an ICC profile as one APP2 ICC_PROFILE segment right after SOI.
pub fn with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    let mut payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    payload.extend_from_slice(icc);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The colours of the orientation test picture, as displayed: top-left red, top-right green,
/// bottom-left blue, bottom-right white (a wide 3:2 picture, so rotation also shows in the aspect).
pub const QUADRANTS: [[u8; 3]; 4] = [[220, 30, 30], [30, 200, 40], [30, 40, 210], [235, 235, 235]];

pub fn quadrant_picture(w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let q = (y >= h / 2) as usize * 2 + (x >= w / 2) as usize;
            out[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&QUADRANTS[q]);
        }
    }
    out
}

/// The stored pixels a camera writes for `display` when it records EXIF orientation `o`, built
/// straight from the EXIF definition (which visual side stored row 0 and column 0 are).
pub fn stored_for_orientation(display: &[u8], dw: usize, dh: usize, o: u16) -> (Vec<u8>, usize, usize) {
    let (row0, col0) = match o {
        1 => ('T', 'L'),
        2 => ('T', 'R'),
        3 => ('B', 'R'),
        4 => ('B', 'L'),
        5 => ('L', 'T'),
        6 => ('R', 'T'),
        7 => ('R', 'B'),
        8 => ('L', 'B'),
        _ => panic!("orientation {o}"),
    };
    let (sw, sh) = if o >= 5 { (dh, dw) } else { (dw, dh) };
    let mut s = vec![0u8; sw * sh * 3];
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
            let (si, di) = ((sy * sw + sx) * 3, (vy * dw + vx) * 3);
            s[si..si + 3].copy_from_slice(&display[di..di + 3]);
        }
    }
    (s, sw, sh)
}

/// JPEG of the quadrant picture stored for orientation `o`, with the EXIF tag.
pub fn orientation_case(o: u16, dw: usize, dh: usize) -> Vec<u8> {
    let (stored, sw, sh) = stored_for_orientation(&quadrant_picture(dw, dh), dw, dh, o);
    with_exif(&encode_jpeg(&stored, sw, sh, 95, false), o)
}

pub fn encode_png(pixels: &[u8], w: usize, h: usize, color: png::ColorType) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w as u32, h as u32);
    e.set_color(color);
    e.set_depth(png::BitDepth::Eight);
    let mut writer = e.write_header().unwrap();
    writer.write_image_data(pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// RGBA version of `photo` with a horizontal alpha ramp (opaque left → transparent right).
pub fn photo_rgba(w: usize, h: usize, seed: u64) -> Vec<u8> {
    let rgb = photo(w, h, seed);
    let mut out = Vec::with_capacity(w * h * 4);
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        let x = i % w;
        out.extend_from_slice(&[p[0], p[1], p[2], (255 - x * 255 / w.max(1)) as u8]);
    }
    out
}

pub fn encode_webp_lossless(pixels: &[u8], w: usize, h: usize, alpha: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let color = if alpha { image_webp::ColorType::Rgba8 } else { image_webp::ColorType::Rgb8 };
    image_webp::WebPEncoder::new(&mut out).encode(pixels, w as u32, h as u32, color).unwrap();
    out
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, typ: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = typ.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A valid-looking PNG (correct CRCs) whose IHDR claims `w`×`h` RGB, with a tiny IDAT: what a
/// decompression bomb's header looks like. A decoder that trusts it allocates w×h×3 bytes.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut p, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes (a real bomb would be a long run of zeros).
    png_chunk(&mut p, b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
    png_chunk(&mut p, b"IEND", &[]);
    p
}

/// A real tiny JPEG with its frame header patched to claim `w`×`h`.
pub fn jpeg_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut j = encode_jpeg(&vec![128u8; 16 * 16 * 3], 16, 16, 80, false);
    let sof = j.windows(2).position(|m| m == [0xFF, 0xC0]).expect("SOF0");
    j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    j
}

/// An extended WebP whose VP8X canvas claims 16384×16384 around a 1×1 lossless image.
pub fn webp_bomb() -> Vec<u8> {
    let inner = encode_webp_lossless(&[1, 2, 3], 1, 1, false);
    let vp8l = &inner[12..]; // the VP8L chunk, header included
    let mut chunks = b"VP8X\x0a\0\0\0\0\0\0\0\xff\x3f\0\xff\x3f\0".to_vec();
    chunks.extend_from_slice(vp8l);
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WEBP");
    w.extend_from_slice(&chunks);
    w
}

/// A 1×1 GIF89a.
pub fn gif() -> Vec<u8> {
    b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;".to_vec()
}

/// One corpus file: name, bytes, and the expected outcome: `"ok"` or the error class.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: &'static str,
    pub note: String,
}

/// The corpus: `n_photos` photos of `pw`×`ph` (4000×3000 for the real corpus), plus every edge
/// case. Small sizes make a fast test corpus with the same cases.
pub fn corpus(pw: usize, ph: usize, n_photos: usize) -> Vec<CorpusFile> {
    let mut files = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>, expect: &'static str, note: String| files.push(CorpusFile { name, bytes, expect, note });
    let mut first_photo = Vec::new();
    for i in 0..n_photos {
        let rgb = photo(pw, ph, 1000 + i as u64);
        let jpeg = encode_jpeg(&rgb, pw, ph, 90, false);
        if i == 0 {
            first_photo = jpeg.clone();
        }
        add(format!("photo-{i:02}.jpg"), jpeg, "ok", format!("{pw}x{ph} photo-like, q90 baseline 4:2:0"));
    }
    let rgb = photo(pw, ph, 2000);
    add("progressive.jpg".into(), encode_jpeg(&rgb, pw, ph, 90, true), "ok", format!("{pw}x{ph} photo-like, q90 progressive"));
    // Portrait camera shot: stored landscape, EXIF says rotate 90° CW.
    let (sw, sh) = (pw / 2, ph / 2);
    add(
        "portrait-exif6.jpg".into(),
        with_exif(&encode_jpeg(&photo(sw, sh, 3000), sw, sh, 90, false), 6),
        "ok",
        format!("{sw}x{sh} stored, orientation 6: displays {sh}x{sw}"),
    );
    for o in 1..=8u16 {
        add(
            format!("orientation-{o}.jpg"),
            orientation_case(o, 96, 64),
            "ok",
            format!("quadrants red/green over blue/white when displayed, EXIF orientation {o}"),
        );
    }
    let (qw, qh) = ((pw * 3 / 10).max(8), (ph * 3 / 10).max(8));
    add(
        "alpha.png".into(),
        encode_png(&photo_rgba(qw, qh, 4000), qw, qh, png::ColorType::Rgba),
        "ok",
        format!("{qw}x{qh} RGBA with an alpha ramp"),
    );
    let (ww, wh) = ((pw / 4).max(8), (ph / 4).max(8));
    add("lossless.webp".into(), encode_webp_lossless(&photo(ww, wh, 5000), ww, wh, false), "ok", format!("{ww}x{wh} lossless WebP"));
    add("bomb.png".into(), png_bomb(100_000, 100_000), "too_many_pixels", "IHDR claims 100000x100000".into());
    add("bomb.jpg".into(), jpeg_bomb(65_535, 65_535), "too_many_pixels", "SOF claims 65535x65535".into());
    add("bomb.webp".into(), webp_bomb(), "too_many_pixels", "VP8X canvas claims 16384x16384".into());
    let half = first_photo.len() / 2;
    add("truncated.jpg".into(), first_photo[..half].to_vec(), "truncated_image", "photo-00.jpg cut at 50%".into());
    add(
        "not-an-image.jpg".into(),
        b"This is a text file with a .jpg name.\nNot an image.\n".to_vec(),
        "unsupported_format",
        "text with an image extension".into(),
    );
    add("animated.gif".into(), gif(), "unsupported_format", "GIF".into());
    add("empty.jpg".into(), Vec::new(), "empty_input", "0 bytes".into());
    files
}

/// A minimal ICC v2 RGB matrix/TRC display profile (gamma 2.2) with D50-adapted primaries.
pub fn rgb_profile(desc: &str, prim: [[f64; 3]; 3]) -> Vec<u8> {
    let s15 = |v: f64| ((v * 65536.0).round() as i32).to_be_bytes();
    let xyz = |v: [f64; 3]| {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        for c in v {
            t.extend_from_slice(&s15(c));
        }
        t
    };
    let curv = b"curv\0\0\0\0\0\0\0\x01\x02\x33\0\0".to_vec();
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
        (b"rXYZ", xyz(prim[0])),
        (b"gXYZ", xyz(prim[1])),
        (b"bXYZ", xyz(prim[2])),
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
    let mut h = vec![0u8; 128];
    h[0..4].copy_from_slice(&((data_start + body.len()) as u32).to_be_bytes());
    h[8] = 2;
    h[9] = 0x10;
    h[12..16].copy_from_slice(b"mntr");
    h[16..20].copy_from_slice(b"RGB ");
    h[20..24].copy_from_slice(b"XYZ ");
    h[36..40].copy_from_slice(b"acsp");
    h[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]);
    h.extend_from_slice(&table);
    h.extend_from_slice(&body);
    h
}

/// Display P3 primaries (D50-adapted, as Apple's profile carries them).
pub const P3_PRIMARIES: [[f64; 3]; 3] = [[0.5151, 0.2412, -0.0011], [0.2920, 0.6922, 0.0419], [0.1571, 0.0666, 0.7841]];

pub fn display_p3_profile() -> Vec<u8> {
    rgb_profile("Display P3", P3_PRIMARIES)
}

/// A profile that only *says* it is sRGB (the pipeline skips those by description).
pub fn rgb_profile_named(desc: &str) -> Vec<u8> {
    rgb_profile(desc, P3_PRIMARIES)
}
