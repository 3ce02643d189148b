//! Writes the hostile media corpus, `reliability/corpus/media/` (the files and
//! `manifest.json`), which `tests/hostile_media.rs` pushes through a running worker.
//!
//! ```sh
//! cargo run -p reliability --example gen_media_corpus
//! ```
//!
//! The files are committed so the corpus is plain data anyone can inspect or feed to another
//! decoder; this generator is committed so they can be rebuilt and reviewed as code. The test
//! includes this file and requires the committed bytes to be exactly what it makes, so an edit
//! here (or in `jobfleet_handlers::media::synth`) without regenerating fails there, not silently.
//!
//! Only integer pixel patterns are used (no floating point), so the bytes are the same on every
//! machine: libjpeg-turbo's default (integer) DCT is bit-exact with and without SIMD, and the
//! PNG/WebP encoders are pinned, deterministic Rust.

use std::path::{Path, PathBuf};

use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails, synth};
use serde::{Deserialize, Serialize};

/// `media.max_input_bytes` the test configures: low enough that the `too_large` case is a
/// small committed file instead of a 50 MiB one, high enough for the biggest other case (the
/// maximum-size EXIF segment).
pub const MAX_INPUT_BYTES: u64 = 81_920;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The `media.max_input_bytes` the worker under test runs with.
    pub max_input_bytes: u64,
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    /// File name inside `corpus/media/`; also the S3 key's last segment.
    pub file: String,
    /// `dead_letter` (with `error_class`), or `succeeded` for hostile inputs the pipeline is
    /// designed to tolerate (malformed metadata is ignored, not fatal).
    pub expect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    pub why: String,
}

pub const DEAD_LETTER: &str = "dead_letter";
pub const SUCCEEDED: &str = "succeeded";

/// One generated file and its manifest entry.
#[derive(Debug)]
pub struct Generated {
    pub entry: Entry,
    pub bytes: Vec<u8>,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/media")
}

/// Photo-like pixels computed without floating point, so the files are the same everywhere.
fn pattern(w: usize, h: usize, seed: u64) -> Vec<u8> {
    synth::gradient_noise(w, h, seed, 15, 8)
}

fn jpeg(w: usize, h: usize, seed: u64) -> Vec<u8> {
    synth::encode_jpeg(&pattern(w, h, seed), w, h, 90, false)
}

/// Offset of the first `0xFF marker` segment in a JPEG's header.
fn find_marker(jpeg: &[u8], marker: u8) -> usize {
    let mut pos = 2;
    loop {
        assert_eq!(jpeg[pos], 0xFF, "marker expected at {pos}");
        if jpeg[pos + 1] == marker {
            return pos;
        }
        assert_ne!(jpeg[pos + 1], 0xDA, "marker {marker:02X} not found before the scan");
        pos += 2 + u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
    }
}

/// The JPEG with one more `marker` segment right after SOI.
fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).expect("a JPEG segment holds at most 65533 bytes");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A maximum-size APP1 Exif segment (65533 payload bytes) whose IFD0 claims 65535 entries, each
/// an Exif-IFD pointer with count and offset near `u32::MAX`; no Orientation tag. A parser that
/// trusts counts or follows offsets allocates gigabytes or reads far out of bounds.
fn huge_exif() -> Vec<u8> {
    let mut p = b"Exif\0\0MM\0\x2a\0\0\0\x08\xff\xff".to_vec();
    while p.len() + 12 <= 65_533 {
        p.extend_from_slice(&[0x87, 0x69, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]);
    }
    p.resize(65_533, 0xFF);
    p
}

/// An ICC profile that passes the cheap checks (RGB colour space, `acsp`) and is nonsense after
/// that: sizes and tag offsets pointing past the end, a tag count of 2^31 − 1.
fn garbage_icc() -> Vec<u8> {
    let mut icc = vec![0u8; 128];
    icc[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
    icc[8..12].copy_from_slice(&[4, 0x40, 0, 0]);
    icc[12..16].copy_from_slice(b"mntr");
    icc[16..20].copy_from_slice(b"RGB ");
    icc[20..24].copy_from_slice(b"XYZ ");
    icc[36..40].copy_from_slice(b"acsp");
    icc.extend_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    for sig in [b"desc", b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"wtpt", b"A2B0"] {
        icc.extend_from_slice(sig);
        icc.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        icc.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    }
    let mut rng = synth::Rng::new(0x1CC);
    icc.extend((0..256).map(|_| rng.next_u64() as u8));
    icc
}

/// A progressive JPEG whose first (DC) scan is repeated 600 times: libjpeg would re-walk the
/// coefficient buffer once per scan, the CPU-exhaustion shape behind libjpeg-turbo's scan limit.
fn scan_bomb() -> Vec<u8> {
    let j = synth::encode_jpeg(&pattern(16, 16, 7), 16, 16, 90, true);
    let sos = find_marker(&j, 0xDA);
    let mut end = sos + 2 + u16::from_be_bytes([j[sos + 2], j[sos + 3]]) as usize;
    // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
    while !(j[end] == 0xFF && j[end + 1] != 0 && !(0xD0..=0xD7).contains(&j[end + 1])) {
        end += 1;
    }
    let mut out = j[..end].to_vec();
    for _ in 0..600 {
        out.extend_from_slice(&j[sos..end]);
    }
    out.extend_from_slice(&j[end..]);
    out
}

fn riff_webp(chunks: &[u8]) -> Vec<u8> {
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WEBP");
    w.extend_from_slice(chunks);
    w
}

/// A 1×1 lossless image's VP8L chunk (header included).
fn vp8l_1x1(rgb: [u8; 3]) -> Vec<u8> {
    synth::encode_webp_lossless(&rgb, 1, 1, false)[12..].to_vec()
}

/// A lossless WebP whose VP8L header claims 16384×16384 (the format's maximum) around the
/// bitstream of a 1×1 image.
fn vp8l_bomb() -> Vec<u8> {
    let mut chunk = vp8l_1x1([1, 2, 3]);
    let bits = u32::from_le_bytes([chunk[9], chunk[10], chunk[11], chunk[12]]);
    let bits = (bits & !0x0FFF_FFFF) | 16_383 | (16_383 << 14);
    chunk[9..13].copy_from_slice(&bits.to_le_bytes());
    riff_webp(&chunk)
}

/// Two-frame animated WebP: VP8X with the animation flag, ANIM, two ANMF frames.
fn animated_webp() -> Vec<u8> {
    let mut c = b"VP8X\x0a\0\0\0\x02\0\0\0\0\0\0\0\0\0".to_vec(); // 1x1 canvas, animated
    c.extend_from_slice(b"ANIM\x06\0\0\0\xff\xff\xff\xff\0\0");
    for rgb in [[255, 0, 0], [0, 0, 255]] {
        let frame = vp8l_1x1(rgb);
        let mut anmf = vec![0u8; 12]; // x, y, width − 1, height − 1: all 0
        anmf.extend_from_slice(&[100, 0, 0, 0]); // 100 ms, no blending flags
        anmf.extend_from_slice(&frame);
        if anmf.len() % 2 == 1 {
            anmf.push(0);
        }
        c.extend_from_slice(b"ANMF");
        c.extend_from_slice(&(anmf.len() as u32).to_le_bytes());
        c.extend_from_slice(&anmf);
    }
    riff_webp(&c)
}

/// Two-frame looping GIF89a (NETSCAPE2.0 loop extension), built from synth's 1×1 GIF.
fn animated_gif() -> Vec<u8> {
    let one = synth::gif();
    let (head, frame) = (&one[..19], &one[19..one.len() - 1]); // header+screen+palette | GCE+image
    let mut g = head.to_vec();
    g.extend_from_slice(b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0");
    g.extend_from_slice(frame);
    g.extend_from_slice(frame);
    g.push(b';');
    g
}

/// Two-frame APNG (acTL/fcTL/fdAT); the default image is the first frame.
fn apng() -> Vec<u8> {
    let (w, h) = (48u32, 32u32);
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w, h);
    e.set_color(png::ColorType::Rgb);
    e.set_depth(png::BitDepth::Eight);
    e.set_animated(2, 0).expect("APNG with 2 frames");
    let mut writer = e.write_header().expect("PNG header");
    writer.write_image_data(&pattern(48, 32, 5)).expect("frame 1");
    writer.write_image_data(&pattern(48, 32, 6)).expect("frame 2");
    writer.finish().expect("PNG end");
    out
}

/// A 1×1 24-bit BMP.
fn bmp() -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&58u32.to_le_bytes()); // file size
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // planes
    b.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    b.extend_from_slice(&[0; 24]); // no compression, sizes and palette defaults
    b.extend_from_slice(&[0x20, 0x40, 0xC0, 0]); // one BGR pixel, row padded to 4
    b
}

/// A stored (uncompressed) ZIP archive with one member.
fn zip() -> Vec<u8> {
    let (name, data) = (b"photo.jpg".as_slice(), b"not a photo\n".as_slice());
    let crc = synth::crc32(data).to_le_bytes();
    let sizes = [(data.len() as u32).to_le_bytes(), (data.len() as u32).to_le_bytes()].concat();
    let mut z = b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0".to_vec();
    z.extend_from_slice(&crc);
    z.extend_from_slice(&sizes);
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z.extend_from_slice(name);
    z.extend_from_slice(data);
    let cd_at = z.len() as u32;
    let mut cd = b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0".to_vec();
    cd.extend_from_slice(&crc);
    cd.extend_from_slice(&sizes);
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
    cd.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    cd.extend_from_slice(name);
    z.extend_from_slice(&cd);
    z.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0");
    z.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

const SVG: &str = r#"<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><text>&d;</text></svg>
"#;

const PDF: &str = "%PDF-1.7\n%\u{e2}\u{e3}\u{cf}\u{d3}\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\
2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// The smallest valid JPEG (made by the pattern generator) just over [`MAX_INPUT_BYTES`].
fn oversize_jpeg() -> Vec<u8> {
    (0..)
        .map(|step| 320 + 16 * step)
        .map(|w| synth::encode_jpeg(&pattern(w, w * 3 / 4, 9), w, w * 3 / 4, 95, false))
        .find(|j| j.len() as u64 > MAX_INPUT_BYTES)
        .expect("some size is big enough")
}

fn case(name: &str, file: &str, bytes: Vec<u8>, error_class: Option<&str>, why: impl Into<String>) -> Generated {
    let expect = if error_class.is_some() { DEAD_LETTER } else { SUCCEEDED };
    let entry =
        Entry { name: name.into(), file: file.into(), expect: expect.into(), error_class: error_class.map(Into::into), why: why.into() };
    Generated { entry, bytes }
}

/// Every file, in manifest order.
pub fn generate() -> Vec<Generated> {
    let base = jpeg(160, 120, 1);
    let small = jpeg(64, 48, 2);
    let png = synth::encode_png(&pattern(96, 64, 3), 96, 64, png::ColorType::Rgb);
    let webp = synth::encode_webp_lossless(&pattern(96, 64, 4), 96, 64, false);

    let mut corrupt_scan = base.clone();
    let mid = corrupt_scan.len() / 2;
    corrupt_scan[mid..mid + 4].copy_from_slice(&[0xFF, 0xC4, 0xFF, 0xC4]); // DHT markers mid-scan
    let mut corrupt_png = png.clone();
    let mid = corrupt_png.len() / 2;
    corrupt_png[mid] ^= 0x55;
    let sof = find_marker(&base, 0xC0);
    let sof_end = sof + 2 + u16::from_be_bytes([base[sof + 2], base[sof + 3]]) as usize;
    let mut two_frames = base[..sof_end].to_vec();
    two_frames.extend_from_slice(&base[sof..]);
    let mut lossless = base.clone();
    lossless[sof + 1] = 0xC3;
    let mut twelve_bit = base.clone();
    twelve_bit[sof + 4] = 12;

    let mut icc_payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc_payload.extend_from_slice(&garbage_icc());

    vec![
        case(
            "bomb_png",
            "bomb-100000x100000.png",
            synth::png_bomb(100_000, 100_000),
            Some("too_many_pixels"),
            "valid PNG, IHDR claims 100000x100000 RGB (30 GB decoded) around a tiny IDAT",
        ),
        case(
            "bomb_jpeg",
            "bomb-65535x65535.jpg",
            synth::jpeg_bomb(65_535, 65_535),
            Some("too_many_pixels"),
            "a real 16x16 JPEG with its frame header patched to 65535x65535, the largest a JPEG can state",
        ),
        case(
            "bomb_webp_canvas",
            "bomb-vp8x-16384x16384.webp",
            synth::webp_bomb(),
            Some("too_many_pixels"),
            "extended WebP: VP8X canvas claims 16384x16384 around a 1x1 lossless image",
        ),
        case(
            "bomb_webp_lossless",
            "bomb-vp8l-16384x16384.webp",
            vp8l_bomb(),
            Some("too_many_pixels"),
            "simple lossless WebP: VP8L header claims 16384x16384 over a 1x1 bitstream",
        ),
        case(
            "truncated_jpeg",
            "truncated-half.jpg",
            base[..base.len() / 2].to_vec(),
            Some("truncated_image"),
            "160x120 baseline JPEG cut at 50%: libjpeg alone would pad it with grey",
        ),
        case(
            "truncated_jpeg_no_eoi",
            "truncated-no-eoi.jpg",
            base[..base.len() - 2].to_vec(),
            Some("truncated_image"),
            "every pixel present, only the final EOI marker missing",
        ),
        case(
            "truncated_png",
            "truncated-half.png",
            png[..png.len() / 2].to_vec(),
            Some("truncated_image"),
            "96x64 PNG cut at 50%, inside IDAT",
        ),
        case(
            "truncated_png_signature",
            "truncated-signature.png",
            png[..5].to_vec(),
            Some("truncated_image"),
            "only the first 5 bytes of the PNG signature",
        ),
        case(
            "truncated_webp",
            "truncated-half.webp",
            webp[..webp.len() / 2].to_vec(),
            Some("truncated_image"),
            "96x64 lossless WebP cut at 50%: shorter than its RIFF size",
        ),
        case(
            "corrupt_jpeg_scan",
            "corrupt-scan.jpg",
            corrupt_scan,
            Some("corrupt_image"),
            "DHT markers spliced into the middle of the entropy-coded scan",
        ),
        case(
            "corrupt_png_crc",
            "corrupt-crc.png",
            corrupt_png,
            Some("corrupt_image"),
            "one IDAT byte flipped mid-stream: the deflate data and the chunk CRC are both broken",
        ),
        case("jpeg_two_frames", "two-frames.jpg", two_frames, Some("corrupt_image"), "a second SOF0 frame header after the first"),
        case("png_zero_size", "zero-size.png", synth::png_bomb(0, 0), Some("corrupt_image"), "valid CRCs, IHDR says 0x0"),
        case(
            "jpeg_scan_bomb",
            "scan-bomb-progressive.jpg",
            scan_bomb(),
            Some("corrupt_image"),
            "progressive 16x16 JPEG with its DC scan repeated 600 times (a CPU bomb; the pipeline sets libjpeg-turbo's scan limit to 500)",
        ),
        case("jpeg_lossless", "lossless-sof3.jpg", lossless, Some("unsupported_format"), "frame header marked lossless (SOF3)"),
        case("jpeg_12_bit", "12-bit.jpg", twelve_bit, Some("unsupported_format"), "frame header says 12-bit samples"),
        case(
            "text_named_jpg",
            "notes.jpg",
            b"This is a text file with a .jpg name.\nNot an image.\n".to_vec(),
            Some("unsupported_format"),
            "plain text; the extension is never trusted",
        ),
        case("bmp_named_jpg", "wrong-magic-bmp.jpg", bmp(), Some("unsupported_format"), "a 1x1 BMP named .jpg: wrong magic for its name"),
        case("pdf", "document.pdf.jpg", PDF.as_bytes().to_vec(), Some("unsupported_format"), "a minimal PDF"),
        case("zip", "archive.png", zip(), Some("unsupported_format"), "a ZIP archive (the container of docx, apk, zip bombs) named .png"),
        case(
            "svg_billion_laughs",
            "billion-laughs.svg",
            SVG.as_bytes().to_vec(),
            Some("unsupported_format"),
            "SVG with nested XML entities (billion laughs): never parsed, refused by magic",
        ),
        case(
            "heic",
            "iphone.heic.jpg",
            b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\x08free".to_vec(),
            Some("unsupported_format"),
            "an ISO-BMFF HEIC header",
        ),
        case(
            "riff_not_webp",
            "riff-wave.webp",
            b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x44\xac\0\0\x88\x58\x01\0\x02\0\x10\0data\0\0\0\0".to_vec(),
            Some("unsupported_format"),
            "a RIFF WAVE header named .webp",
        ),
        case(
            "animated_gif",
            "animated.gif",
            animated_gif(),
            Some("unsupported_format"),
            "two-frame looping GIF89a: GIF is not accepted at all",
        ),
        case(
            "animated_webp",
            "animated.webp",
            animated_webp(),
            Some("unsupported_format"),
            "two-frame animated WebP (VP8X animation flag, ANIM, ANMF): refused, not first-framed",
        ),
        case("empty", "empty.jpg", Vec::new(), Some("empty_input"), "0 bytes (S3 holds empty objects)"),
        case(
            "oversize",
            "oversize.jpg",
            oversize_jpeg(),
            Some("too_large"),
            format!(
                "a valid JPEG just over the {MAX_INPUT_BYTES}-byte media.max_input_bytes the test configures: refused from Content-Length, never downloaded"
            ),
        ),
        case(
            "huge_exif",
            "huge-exif.jpg",
            with_segment(&small, 0xE1, &huge_exif()),
            None,
            "maximum-size APP1: IFD0 claims 65535 entries with counts/offsets near 2^32; malformed EXIF means orientation 1",
        ),
        case(
            "exif_bad_orientation",
            "exif-orientation-65535.jpg",
            synth::with_exif(&small, 0xFFFF),
            None,
            "EXIF Orientation 65535 (valid: 1-8) is read as 1",
        ),
        case(
            "icc_garbage",
            "icc-garbage.jpg",
            with_segment(&small, 0xE2, &icc_payload),
            None,
            "ICC_PROFILE with RGB/acsp headers and nonsense sizes, offsets and a 2^31-1 tag count: ignored, pixels kept",
        ),
        case("apng", "animated.png", apng(), None, "two-frame APNG: documented to yield its default (first) image"),
    ]
}

pub fn manifest(generated: &[Generated]) -> Manifest {
    Manifest { max_input_bytes: MAX_INPUT_BYTES, files: generated.iter().map(|g| g.entry.clone()).collect() }
}

/// `manifest.json` exactly as committed.
pub fn manifest_json(manifest: &Manifest) -> String {
    serde_json::to_string_pretty(manifest).expect("the manifest serialises") + "\n"
}

fn main() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("create corpus/media");
    // Start clean so a renamed or dropped case leaves no stray file behind.
    for old in std::fs::read_dir(&dir).expect("list corpus/media") {
        std::fs::remove_file(old.expect("directory entry").path()).expect("remove an old corpus file");
    }
    let generated = generate();
    for g in &generated {
        std::fs::write(dir.join(&g.entry.file), &g.bytes).expect("write a corpus file");
    }
    std::fs::write(dir.join("manifest.json"), manifest_json(&manifest(&generated))).expect("write manifest.json");
    let total: usize = generated.iter().map(|g| g.bytes.len()).sum();
    println!("wrote {} files ({total} bytes) and manifest.json to {}", generated.len(), dir.display());
    // What the pipeline alone makes of each file, for whoever edits a case (the test checks
    // the same through a worker).
    let limits = Limits { max_input_bytes: MAX_INPUT_BYTES, ..Limits::default() };
    let spec = ThumbnailSpec { variants: vec![64, 16], ..ThumbnailSpec::default() };
    for g in &generated {
        let got = match make_thumbnails(&g.bytes, &spec, &limits) {
            Ok(_) => SUCCEEDED.to_owned(),
            Err(e) => format!("{} ({}): {e}", e.class(), if e.is_permanent() { "permanent" } else { "RETRYABLE" }),
        };
        let want = g.entry.error_class.as_deref().unwrap_or(SUCCEEDED);
        println!("{:<32} {:>6} B  want {want:<18} got {got}", g.entry.file, g.bytes.len());
    }
}
