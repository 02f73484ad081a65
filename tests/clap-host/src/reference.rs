//! The offline render a bounce must equal: the score read from MIDI (`parse_midi`, which
//! resolves the pedal), played by `sackbut_model::score_render::render_notes` (the plugin's own
//! `LiveVoices`, every note-off known from the start) on the native engine at 16 kHz, and
//! resampled as `trainer render` resamples (rubato's `FftFixedInOut`, 1024-sample chunks from the
//! start, the filter delay dropped). This is what `trainer render --engine native --rate R`
//! computes (see the plugin's README section).

use rubato::{FftFixedInOut, Resampler};
use sackbut_model::engine::native::NativeEngine;
use sackbut_model::score::ScoreNote;
use sackbut_model::score_render::render_notes;
use sackbut_model::voice_file::Voice;
use sackbut_plugin::voice_source::MAX_VOICES;

/// Renders `notes` at 16 kHz for `len` samples: every note-off known from the start (the exact
/// view), notes allocated and reset as the plugin does, on an engine of `MAX_VOICES` rows.
pub fn render_16k(voice: &Voice, notes: &[ScoreNote], len: usize, seed: u64, temperature: f32, polyphony: usize) -> Vec<f32> {
    render_16k_rows(voice, notes, len, seed, temperature, polyphony, MAX_VOICES)
}

/// [`render_16k`] on an engine of `rows` rows (at least `polyphony`).
pub fn render_16k_rows(
    voice: &Voice,
    notes: &[ScoreNote],
    len: usize,
    seed: u64,
    temperature: f32,
    polyphony: usize,
    rows: usize,
) -> Vec<f32> {
    let mut engine = NativeEngine::new(voice, rows).expect("engine");
    render_notes(&mut engine, voice, notes, len, seed, temperature, polyphony)
}

/// What a bounce of the test phrase ([`crate::phrase::PHRASE`]) with the default voice, seed 0,
/// temperature 1 and polyphony 8 must equal at `rate`, once its latency is compensated.
pub fn phrase_reference(rate: u32) -> Vec<f32> {
    use crate::phrase::{to_midi, PHRASE, PHRASE_MS};
    let score = sackbut_model::score::parse_midi(&to_midi(PHRASE, PHRASE_MS)).expect("the phrase's MIDI");
    let voice = sackbut_plugin::voice_source::default_voice().expect("the default voice");
    let x = render_16k(&voice, &score.notes, (PHRASE_MS * 16) as usize, 0, 1.0, 8);
    resample_like_trainer(&x, rate)
}

/// `trainer render`'s resampling: whole FFT chunks from the start, delay dropped,
/// round(len · to / 16000) samples.
pub fn resample_like_trainer(x: &[f32], to_hz: u32) -> Vec<f32> {
    if to_hz == 16_000 {
        return x.to_vec();
    }
    let out_len = ((x.len() as u128 * to_hz as u128 + 8_000) / 16_000) as usize;
    let mut r = FftFixedInOut::<f32>::new(16_000, to_hz as usize, 1024, 1).expect("resampler");
    let (ci, co, delay) = (r.input_frames_next(), r.output_frames_next(), r.output_delay());
    let mut out = Vec::with_capacity(out_len + delay + co);
    let mut input = vec![0f32; ci];
    let mut output = vec![0f32; co];
    let mut pos = 0;
    while out.len() < out_len + delay {
        let rest = x.get(pos..).unwrap_or(&[]);
        let n = rest.len().min(ci);
        input[..n].copy_from_slice(&rest[..n]);
        input[n..].fill(0.0);
        r.process_into_buffer(&[&input], &mut [&mut output], None).expect("chunk");
        out.extend_from_slice(&output);
        pos += ci;
    }
    out.drain(..delay);
    out.truncate(out_len);
    out
}
