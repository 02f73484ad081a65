//! The voice path a host restores with a saved project, into the plugin's `resolve_persisted`.
//!
//! nice-plug stores the `voice-path` field as a JSON string and hands the plugin whatever it
//! decodes; the path may be garbage, huge, a directory, a device or a file that is no voice.
//! The first byte picks what the rest of the input becomes:
//! - 0: the rest is the saved field's JSON (decoded as nice-plug does) or, failing that, a raw
//!   path (lossy UTF-8);
//! - 1: the rest is the content of a file whose path is restored;
//! - 2: one of the special paths below, joined with the rest as a suffix.
//!
//! Loading must give the file's voice or fall back to the default voice with a reason that
//! names the path; it must not panic, hang or exhaust memory. The plugin crate links
//! nice-plug and its editor, so `voice_source.rs` (which needs only sackbut-model) is compiled
//! in here from its source file instead.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../plugin/src/voice_source.rs"]
mod voice_source;

use voice_source::{resolve_persisted, VoiceOrigin};

/// Paths a saved project can hold that are no voice file.
const SPECIAL: &[&str] = &["/", "/dev/zero", "/dev/urandom", "/dev/null", "/proc/self/mem", "/tmp", ".", ""];

fn check(path: &str) {
    let (slot, why) = resolve_persisted(path).expect("the default voice always loads");
    match slot.origin {
        VoiceOrigin::File(p) => assert_eq!(p, path),
        VoiceOrigin::Default => {
            if !path.is_empty() {
                let why = why.expect("a fallback says why");
                assert!(why.contains("default voice instead"), "{why}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let path = serde_json::from_slice::<String>(rest).unwrap_or_else(|_| String::from_utf8_lossy(rest).into_owned());
            check(&path);
        }
        1 => {
            let mut file = tempfile_in_tmp();
            file.1.write_all(rest).unwrap();
            check(file.0.to_str().unwrap());
            let _ = std::fs::remove_file(&file.0);
        }
        _ => {
            let base = SPECIAL[rest.first().copied().unwrap_or(0) as usize % SPECIAL.len()];
            let suffix = String::from_utf8_lossy(rest.get(1..).unwrap_or_default());
            check(&format!("{base}{suffix}"));
        }
    }
});

/// A file of this process in the temporary directory (one at a time: libFuzzer runs inputs in turn).
fn tempfile_in_tmp() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("sackbut-fuzz-{}.voice.safetensors", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
