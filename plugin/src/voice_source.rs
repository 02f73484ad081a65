//! Where voices come from: the embedded default voice and `.voice.safetensors` files. Loading
//! parses and validates (may allocate, take a while and fail); it never runs on the audio thread.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use sackbut_model::engine::native::NativeEngine;
use sackbut_model::voice_file::Voice;

/// The default voice, embedded in the plugin binary.
pub static DEFAULT_VOICE_BYTES: &[u8] = include_bytes!("../../assets/trombone.voice.safetensors");

/// Rows of every engine the plugin builds: the most voices the polyphony parameter allows.
pub const MAX_VOICES: usize = 16;

/// Where the playing voice came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceOrigin {
    /// Embedded in the plugin.
    Default,
    /// Loaded from this file.
    File(String),
}

impl VoiceOrigin {
    /// The persisted form: "" for the default voice, else the path.
    pub fn as_persisted(&self) -> &str {
        match self {
            VoiceOrigin::Default => "",
            VoiceOrigin::File(p) => p,
        }
    }
}

/// A parsed voice and its origin.
#[derive(Clone)]
pub struct VoiceSlot {
    /// The voice.
    pub voice: Arc<Voice>,
    /// Where it came from.
    pub origin: VoiceOrigin,
}

/// The embedded voice, parsed once per process.
pub fn default_voice() -> Result<Arc<Voice>, String> {
    static PARSED: OnceLock<Result<Arc<Voice>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| Voice::from_bytes(DEFAULT_VOICE_BYTES).map(Arc::new).map_err(|e| format!("the embedded default voice: {e}")))
        .clone()
}

/// The default voice as a slot.
pub fn default_slot() -> Result<VoiceSlot, String> {
    Ok(VoiceSlot { voice: default_voice()?, origin: VoiceOrigin::Default })
}

/// Longest voice path accepted (Linux's `PATH_MAX`). A saved project can hold any string; a
/// longer one is no path, and is named by its start only so the message stays one line.
pub const MAX_PATH_BYTES: usize = 4096;

/// Reads and validates a voice file; the error says which file and what is wrong with it.
pub fn read_voice_file(path: &str) -> Result<VoiceSlot, String> {
    if path.len() > MAX_PATH_BYTES {
        let start = (0..=64).rev().find(|&i| path.is_char_boundary(i)).unwrap_or(0);
        return Err(format!(
            "{}…: a voice path of {} bytes, longer than any file path ({MAX_PATH_BYTES} bytes at most)",
            &path[..start],
            path.len()
        ));
    }
    let p = Path::new(path);
    if !p.exists() {
        return Err(format!("{path}: no such file"));
    }
    let voice = Voice::read(p).map_err(|e| e.to_string())?;
    // The engine checks what the file format cannot (shapes it packs, this CPU's kernels).
    NativeEngine::new(&voice, 1).map_err(|e| format!("{path}: {e}"))?;
    Ok(VoiceSlot { voice: Arc::new(voice), origin: VoiceOrigin::File(path.to_string()) })
}

/// The voice a persisted path asks for: the file, or the default voice with the reason when the
/// file cannot be used. An error only if the default voice itself cannot be used (a build whose
/// embedded voice does not match its model code).
pub fn resolve_persisted(path: &str) -> Result<(VoiceSlot, Option<String>), String> {
    if path.is_empty() {
        return Ok((default_slot()?, None));
    }
    match read_voice_file(path) {
        Ok(slot) => Ok((slot, None)),
        Err(e) => Ok((default_slot()?, Some(format!("{e} — playing the default voice instead")))),
    }
}

/// One line about a voice for the editor and logs.
pub fn describe(voice: &Voice) -> String {
    let m = &voice.meta;
    let range = m.conditioning.note_range().map_or("no notes".to_string(), |(lo, hi)| format!("notes {lo}–{hi}"));
    format!("{} ({range}, {} steps)", m.name, m.training.steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_voice_parses_and_builds_an_engine() {
        let v = default_voice().unwrap();
        assert_eq!(v.meta.sample_rate, 16_000);
        NativeEngine::new(&v, MAX_VOICES).unwrap();
    }

    #[test]
    fn a_missing_or_bad_file_falls_back_with_a_reason() {
        let (slot, why) = resolve_persisted("/nonexistent/x.voice.safetensors").unwrap();
        assert_eq!(slot.origin, VoiceOrigin::Default);
        assert!(why.unwrap().contains("no such file"));
        let dir = std::env::temp_dir().join(format!("sackbut-voice-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.voice.safetensors");
        std::fs::write(&bad, b"not a voice").unwrap();
        let err = read_voice_file(bad.to_str().unwrap()).err().unwrap();
        assert!(err.contains("bad.voice.safetensors"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What a saved project's voice path resolves to, and the reason given (or "").
    fn resolve(path: &str) -> (VoiceOrigin, String) {
        let (slot, why) = resolve_persisted(path).unwrap();
        (slot.origin, why.unwrap_or_default())
    }

    #[test]
    fn hostile_saved_paths_fall_back_and_say_what_is_wrong() {
        let dir = scratch_dir("hostile");
        let d = dir.to_str().unwrap();
        let cases: Vec<(String, String)> = vec![
            // A directory, and an endless device (read whole, it took all memory).
            (d.to_string(), format!("{d}: is a directory, not a file")),
            ("/dev/zero".into(), "/dev/zero: is a device, pipe or socket, not a file".into()),
            // A NUL byte cannot be in a path.
            ("a\0b.voice.safetensors".into(), "no such file".into()),
            // Not UTF-8 once (lossy in the JSON string), and not a file either.
            ("\u{fffd}\u{fffd}.voice".into(), "\u{fffd}\u{fffd}.voice: no such file".into()),
        ];
        for (path, expected) in cases {
            let (origin, why) = resolve(&path);
            assert_eq!(origin, VoiceOrigin::Default, "{path}");
            assert!(why.contains(&expected) && why.ends_with("playing the default voice instead"), "{path}: {why}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An empty directory of this test process (the plugin has no tempfile dependency).
    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sackbut-voice-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_huge_saved_path_is_named_by_its_start_only() {
        let path = "é".repeat(1 << 20);
        let (origin, why) = resolve(&path);
        assert_eq!(origin, VoiceOrigin::Default);
        assert!(
            why.starts_with(&format!("{}…: a voice path of {} bytes, longer than any file path", "é".repeat(32), path.len())),
            "{}",
            &why[..200]
        );
        assert!(why.len() < 300, "the message stays one short line");
    }

    #[test]
    fn files_that_are_no_voice_say_why() {
        let dir = scratch_dir("not-voices");
        let cases: [(&str, &[u8], &str); 3] = [
            ("empty.voice.safetensors", b"", "truncated"),
            ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a safetensors voice file"),
            // A header claiming 2^60 bytes.
            ("huge.voice.safetensors", &(1u64 << 60).to_le_bytes(), "header length 1152921504606846976 is not plausible"),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let (origin, why) = resolve(path.to_str().unwrap());
            assert_eq!(origin, VoiceOrigin::Default);
            assert!(why.starts_with(&format!("{}: ", path.display())) && why.contains(expected), "{why}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
