//! Any bytes as a WAV file through the trainer's reader.
//!
//! The trainer is a binary crate that links libtorch, so its WAV module is compiled in here
//! from its source file instead (it needs only anyhow and hound).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../trainer/src/audio/wav.rs"]
mod wav;

fuzz_target!(|data: &[u8]| {
    match wav::decode_wav_mono("fuzz.wav", std::io::Cursor::new(data)) {
        Ok((samples, rate)) => {
            assert!(rate > 0 && !samples.is_empty());
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.wav: "), "{e}"),
    }
});
