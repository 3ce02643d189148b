//! Peak RSS of one job on a 12 MP JPEG stays within the 64 MiB budget.
//!
//! Alone in its test binary (one test = one thread doing work). The high-water mark is reset
//! through /proc/self/clear_refs after the input is built, so it measures the job plus the
//! process baseline — i.e. the budget as a worker would see it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod media_common;
use media_common as common;

use common::synth;
use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn twelve_megapixel_jpeg_peak_rss_under_64_mib() {
    let (w, h) = (4000usize, 3000usize);
    // Photo-sized (MBs, not KBs) and quick to make in a debug build.
    let jpeg = synth::encode_jpeg(&synth::gradient_noise(w, h, 1, 31, 32), w, h, 90, false);
    assert!(jpeg.len() > 2_000_000, "input is {} bytes", jpeg.len());
    // Without the reset, VmHWM would include building the input and the
    // test could pass or fail for reasons other than the job: a machine
    // that cannot reset it cannot run this test, and says so by failing.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        panic!("cannot reset VmHWM through /proc/self/clear_refs ({e}): this test measures peak RSS and needs Linux /proc");
    }
    let before = status_kib("VmHWM:");
    let out = make_thumbnails(&jpeg, &ThumbnailSpec::default(), &Limits::default()).unwrap();
    let peak = status_kib("VmHWM:");
    eprintln!("input {} bytes, VmHWM before {before} KiB, peak {peak} KiB", jpeg.len());
    assert_eq!(out.len(), 3);
    assert!(peak <= 64 * 1024, "peak RSS {peak} KiB > 64 MiB");
}
