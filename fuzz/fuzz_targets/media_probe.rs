//! `jobfleet_handlers::media::probe`: the header walk (JPEG markers, PNG chunks, RIFF chunks, EXIF IFD0) that
//! runs on every upload before any decoder sees it.
//!
//! Properties:
//! * probing never panics and never allocates anything big (the module's promise: no allocation
//!   proportional to the image; enforced by a 1 MiB cap per allocation);
//! * errors are the header classes only: `empty_input` exactly for empty input, else
//!   `unsupported_format`, `truncated_image` or `corrupt_image`;
//! * an accepted header is sane: non-zero size within what the format can express, the format
//!   the magic bytes say, display size = stored size swapped exactly when the orientation says;
//! * probing reads the header only: appending bytes to an accepted input changes nothing.
#![no_main]

use jobfleet_fuzz::{CappedAlloc, MIB};
use jobfleet_handlers::media::{Format, probe};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc::new(MIB);

fuzz_target!(|input: &[u8]| {
    let info = match probe(input) {
        Err(e) => {
            let class = e.class();
            let expected =
                if input.is_empty() { ["empty_input"].as_slice() } else { &["unsupported_format", "truncated_image", "corrupt_image"] };
            assert!(expected.contains(&class), "probe error class {class}: {e}");
            return;
        }
        Ok(info) => info,
    };
    let (w, h) = (info.width, info.height);
    assert!(w >= 1 && h >= 1, "accepted {w}x{h}");
    let max_side = match info.format {
        Format::Jpeg => {
            assert!(input.starts_with(&[0xFF, 0xD8, 0xFF]), "not JPEG magic");
            u16::MAX as u32 // 16-bit SOF fields
        }
        Format::Png => {
            assert!(input.starts_with(b"\x89PNG\r\n\x1a\n"), "not PNG magic");
            i32::MAX as u32 // the PNG spec's limit
        }
        Format::WebP => {
            assert!(input.len() >= 12 && &input[..4] == b"RIFF" && &input[8..12] == b"WEBP", "not WebP magic");
            1 << 24 // VP8X: 24-bit (size - 1) fields
        }
    };
    assert!(w <= max_side && h <= max_side, "{:?} {w}x{h} exceeds what the format can express", info.format);
    assert_eq!(info.pixels(), w as u64 * h as u64);
    let expected_display = if info.orientation.swaps_dimensions() { (h, w) } else { (w, h) };
    assert_eq!(info.display_size(), expected_display, "{:?}", info.orientation);

    let mut longer = input.to_vec();
    longer.extend_from_slice(&[0xFF, 0xD9, 0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xFF, 0xFF]);
    let again = probe(&longer).unwrap_or_else(|e| panic!("accepted input + trailing bytes refused: {e}"));
    assert_eq!(again, info, "trailing bytes changed the header");
});
