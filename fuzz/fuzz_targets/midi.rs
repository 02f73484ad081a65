//! Any bytes as a MIDI file: `parse_midi` returns a score or a `ScoreError`, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sackbut_model::score::parse_midi;

fuzz_target!(|data: &[u8]| {
    match parse_midi(data) {
        Ok(score) => {
            // What the renderer relies on: every note ends after it starts, in finite time.
            for n in &score.notes {
                assert!(n.on_s.is_finite() && n.off_s.is_finite() && n.off_s > n.on_s, "{n}");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
