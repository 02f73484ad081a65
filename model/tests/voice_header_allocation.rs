//! A voice header that claims huge sizes is refused before anything that size is allocated.
//!
//! Its own test binary, because it installs a global allocator that records the largest single
//! allocation and the peak of live bytes (an allocation of 2^60 bytes would abort the process;
//! one of a few GB would succeed lazily on Linux and go unnoticed without this).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sackbut_model::voice_file::Voice;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Parses `bytes` and returns the problem with the largest allocation and the peak of live
/// bytes it took (measured from a reset, in this single-test binary).
fn parse_measured(bytes: &[u8]) -> (String, usize, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    let problem = Voice::from_bytes(bytes).unwrap_err().to_string();
    (problem, LARGEST.load(Ordering::Relaxed), PEAK.load(Ordering::Relaxed) - base)
}

#[test]
fn huge_claims_are_refused_without_allocating_them() {
    const MIB: usize = 1 << 20;
    // The header length claims 2^60 bytes.
    let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
    bytes.extend_from_slice(br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    let (problem, largest, _) = parse_measured(&bytes);
    assert!(problem.contains("header length 1152921504606846976 is not plausible"), "{problem}");
    assert!(largest < MIB, "largest allocation {largest} bytes");

    // A tensor whose shape and data offsets claim 2^60 bytes in a header that is small.
    let header =
        br#"{"__metadata__":{"sackbut":"{}"},"w":{"dtype":"F32","shape":[268435456,1073741824],"data_offsets":[0,1152921504606846976]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 64]);
    let (problem, largest, _) = parse_measured(&bytes);
    assert!(problem.contains("truncated: tensors need 1152921504606846976 bytes"), "{problem}");
    assert!(largest < MIB, "largest allocation {largest} bytes");

    // The largest header accepted, full of numbers. The safetensors crate buffers every JSON
    // value of a header it parses (~24 bytes per byte of this one): the 1 MiB cap on the header
    // is what bounds that (at the crate's own 100 MB cap it would have been ~2.4 GB).
    let body = "0,".repeat(510 * 1024);
    let header = format!(r#"{{"a":[{body}0]}}"#);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let (problem, _, peak) = parse_measured(&bytes);
    assert!(problem.starts_with("not a safetensors voice file"), "{problem}");
    assert!(peak < 40 * MIB, "peak {peak} bytes for a {} byte file", bytes.len());
}
