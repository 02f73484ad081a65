//! Any bytes as a voice file: `Voice::from_bytes` returns a voice or a `VoiceProblem`, never
//! panics, and never allocates more than a small multiple of the input (libFuzzer's
//! `-rss_limit_mb` and `-malloc_limit_mb` catch a header that makes it try).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sackbut_model::voice_file::Voice;

fuzz_target!(|data: &[u8]| {
    if let Err(problem) = Voice::from_bytes(data) {
        // Every problem has words for the user.
        assert!(!problem.to_string().is_empty());
    }
});
