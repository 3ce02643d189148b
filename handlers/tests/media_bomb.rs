//! Decompression bombs are refused from the header, without allocating a pixel buffer.
//!
//! This test binary counts heap allocations with `stats_alloc`'s instrumented global
//! allocator (the workspace forbids unsafe code, so no hand-written `GlobalAlloc`). A decoder
//! that trusted the 100000×100000 header would allocate 30 GB (or fail to); we require the
//! whole call to allocate under 64 KiB in total and to take well under a second. The counters
//! are process-wide, so every test here holds [`SERIAL`] while it runs: nothing else in this
//! binary allocates during a measurement.
#![allow(clippy::unwrap_used)]

mod media_common;
use media_common as common;

use std::alloc::System;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::synth;
use jobfleet_handlers::media::{Limits, ThumbnailSpec, make_thumbnails, probe};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` and returns its result, the heap bytes it allocated (an upper bound of its peak),
/// and its duration.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let region = Region::new(GLOBAL);
    let t = Instant::now();
    let out = f();
    let elapsed = t.elapsed();
    (out, region.change().bytes_allocated, elapsed)
}

fn assert_refused_cheaply(name: &str, bytes: &[u8], claimed: (u32, u32)) {
    let info = probe(bytes).unwrap();
    assert_eq!((info.width, info.height), claimed, "{name}");
    let spec = ThumbnailSpec::default();
    let limits = Limits::default();
    let (result, allocated, took) = measured(|| make_thumbnails(bytes, &spec, &limits));
    let err = result.expect_err(name);
    assert_eq!(err.class(), "too_many_pixels", "{name}: {err}");
    assert!(err.is_permanent());
    assert!(allocated < 64 * 1024, "{name}: {allocated} bytes allocated while refusing");
    assert!(took < Duration::from_millis(200), "{name}: took {took:?}");
}

#[test]
fn the_allocator_counts() {
    let _serial = serial();
    // Sanity check of the instrument itself.
    let (_, allocated, _) = measured(|| vec![0u8; 1 << 20]);
    assert!(allocated >= 1 << 20);
}

#[test]
fn png_claiming_100000_squared_is_refused_without_allocating() {
    let _serial = serial();
    assert_refused_cheaply("png", &synth::png_bomb(100_000, 100_000), (100_000, 100_000));
}

#[test]
fn jpeg_claiming_65535_squared_is_refused_without_allocating() {
    let _serial = serial();
    // 65535 is the largest size a JPEG frame header can state.
    assert_refused_cheaply("jpeg", &synth::jpeg_bomb(65_535, 65_535), (65_535, 65_535));
}

#[test]
fn webp_claiming_16384_squared_is_refused_without_allocating() {
    let _serial = serial();
    assert_refused_cheaply("webp", &synth::webp_bomb(), (16_384, 16_384));
}

#[test]
fn limit_is_exact_and_configurable() {
    let _serial = serial();
    // 8000x6250 = 50 000 000 exactly: allowed by the header check (then fails decoding the fake
    // body, which proves the header check let it through); one more row is refused.
    let at_limit = synth::png_bomb(8000, 6250);
    let (r, _, _) = measured(|| make_thumbnails(&at_limit, &ThumbnailSpec::default(), &Limits::default()));
    assert_ne!(r.unwrap_err().class(), "too_many_pixels");
    let over = synth::png_bomb(8000, 6251);
    let r = make_thumbnails(&over, &ThumbnailSpec::default(), &Limits::default());
    assert_eq!(r.unwrap_err().class(), "too_many_pixels");
    let strict = Limits { max_pixels: 1000, ..Limits::default() };
    let small = synth::png_bomb(40, 26);
    assert_eq!(make_thumbnails(&small, &ThumbnailSpec::default(), &strict).unwrap_err().class(), "too_many_pixels");
}
