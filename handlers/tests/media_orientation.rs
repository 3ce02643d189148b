//! All eight EXIF orientations, generated from the EXIF definition (see
//! `synth::stored_for_orientation`): the output must be the upright wide picture with red
//! top-left, green top-right, blue bottom-left, white bottom-right — and carry no EXIF.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod media_common;
use media_common as common;

use common::synth::{self, QUADRANTS};
use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails, probe};

#[test]
fn all_eight_orientations_display_upright() {
    let (dw, dh) = (96usize, 64usize);
    for o in 1..=8u16 {
        let jpeg = synth::orientation_case(o, dw, dh);
        let info = probe(&jpeg).unwrap();
        assert_eq!(info.orientation.exif_value() as u16, o);
        assert_eq!(info.display_size(), (dw as u32, dh as u32), "orientation {o}");
        // One variant at full size (no resize), one downscaled: both paths rotate.
        let spec = ThumbnailSpec { variants: vec![96, 48], ..Default::default() };
        let out = make_thumbnails(&jpeg, &spec, &Limits::default()).unwrap();
        for v in &out {
            let (w, h) = (v.width as usize, v.height as usize);
            assert_eq!(w * 2, h * 3, "orientation {o}: {w}x{h} is not 3:2");
            assert!(w > h, "orientation {o}: {w}x{h} is not landscape");
            common::assert_no_metadata(v);
            let (rgb, rw, rh) = synth::decode_jpeg(&v.bytes);
            assert_eq!((rw, rh), (w, h));
            let r = w / 12;
            let centres = [(w / 4, h / 4), (3 * w / 4, h / 4), (w / 4, 3 * h / 4), (3 * w / 4, 3 * h / 4)];
            for (q, (cx, cy)) in centres.into_iter().enumerate() {
                let got = common::mean_rgb(&rgb, w, cx, cy, r);
                assert!(
                    common::close(got, QUADRANTS[q], 12),
                    "orientation {o}, {w}x{h}, quadrant {q}: got {got:?}, want {:?}",
                    QUADRANTS[q]
                );
            }
        }
    }
}
