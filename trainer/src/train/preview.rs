//! The short preview rendered at every evaluation: a few notes across the voice's range, so a
//! person can hear the voice improve and pick a checkpoint by ear.

use std::path::Path;

use anyhow::Result;
use sackbut_model::score::ScoreNote;
use sackbut_model::voice_file::Voice;
use sackbut_model::MODEL_RATE_HZ;
use tch::Device;

use crate::audio::wav::write_wav_i16;
use crate::render::{plan, render_spans};
use sackbut_model::torch::SampleRnn;

/// Three notes (lowest, middle, highest trained), 0.4 s each with 0.2 s between sounds.
pub fn preview_notes(voice: &Voice) -> Vec<ScoreNote> {
    let notes = &voice.meta.conditioning.notes;
    let (Some(&lo), Some(&hi)) = (notes.first(), notes.last()) else { return Vec::new() };
    let mid = notes[notes.len() / 2];
    let release_s = voice.meta.conditioning.release_samples as f64 / MODEL_RATE_HZ as f64;
    let mut on = 0.25;
    [lo, mid, hi]
        .iter()
        .map(|&key| {
            let n = ScoreNote { key, velocity: 100, channel: 0, on_s: on, off_s: on + 0.4 };
            on += 0.6 + release_s;
            n
        })
        .collect()
}

/// Renders the preview of `voice` (whose weights `model` holds) to `path`.
pub fn write_preview(model: &SampleRnn, voice: &Voice, device: Device, path: &Path) -> Result<()> {
    let (voices, len) = plan(&preview_notes(voice), voice.meta.conditioning.release_samples, 1, 250);
    let audio = render_spans(model, voice, device, &voices, len, 0, 1.0);
    write_wav_i16(path, &audio, MODEL_RATE_HZ)
}
