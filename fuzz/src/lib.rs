//! Shared by the fuzz targets: a global allocator that turns one oversized allocation into a
//! crash libFuzzer records.
//!
//! Why not libFuzzer's `-malloc_limit_mb`: it works through the sanitizer runtime's malloc hooks,
//! and these targets are built with `--sanitizer none` (see README.md), so it would silently do
//! nothing. `-rss_limit_mb` still works, but only sees memory that is *touched*: a
//! `vec![0; huge]` of a truncated image is mostly untouched zero pages. Checking the requested
//! size catches the allocation itself.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// [`System`], except that a single allocation bigger than `max_bytes` aborts the process
/// (SIGABRT: libFuzzer reports a "deadly signal" and saves the input as a crash artefact).
#[derive(Debug)]
pub struct CappedAlloc {
    max_bytes: usize,
}

impl CappedAlloc {
    pub const fn new(max_bytes: usize) -> Self {
        CappedAlloc { max_bytes }
    }

    #[cold]
    fn too_big(&self, size: usize) -> ! {
        // No formatting machinery (it could allocate, and we are inside the allocator): fixed
        // text and the numbers written digit by digit into a stack buffer.
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\n==fuzz== single allocation of ");
        let _ = err.write_all(decimal(size as u64, &mut [0u8; 20]));
        let _ = err.write_all(b" bytes exceeds the target's cap of ");
        let _ = err.write_all(decimal(self.max_bytes as u64, &mut [0u8; 20]));
        let _ = err.write_all(b" bytes (unbounded allocation?)\n");
        std::process::abort()
    }
}

fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, after a size
// check that either returns normally or aborts (it never unwinds out of the allocator).
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > self.max_bytes {
            self.too_big(layout.size());
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > self.max_bytes {
            self.too_big(layout.size());
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > self.max_bytes {
            self.too_big(new_size);
        }
        // SAFETY: same contract as our caller's; `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Megabytes to bytes, for the caps.
pub const MIB: usize = 1 << 20;
