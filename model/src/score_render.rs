//! A score played through [`LiveVoices`] as the plugin plays it, every note-off known from the
//! start (the exact view): what `trainer render` writes and what the plugin's offline bounce
//! equals once resampled and shifted by its latency (the CLAP tests' reference render).

use crate::engine::Engine;
use crate::live_voices::{EventKind, LiveSettings, LiveVoices, TimedEvent};
use crate::score::ScoreNote;
use crate::voice_file::Voice;
use crate::MODEL_RATE_HZ;

/// Renders `notes` with `engine` as the plugin plays them, and mixes them: `len` samples at
/// 16 kHz. Voices are allocated, reset at the top-frame boundary before each note (each note
/// with its own seed derived from `seed`) and left idle between notes by
/// [`LiveVoices`], with every note-off known from the start (the exact view): the plugin's
/// offline bounce of the same notes is this render, resampled, shifted by its latency.
pub fn render_notes(
    engine: &mut dyn Engine,
    voice: &Voice,
    notes: &[ScoreNote],
    len: usize,
    seed: u64,
    temperature: f32,
    polyphony: usize,
) -> Vec<f32> {
    assert!(engine.at_frame_boundary(), "render_notes starts at a top-frame boundary");
    let meta = &voice.meta;
    let mut live = LiveVoices::new(LiveSettings {
        max_rows: engine.max_batch(),
        top_frame: engine.top_frame(),
        horizon: meta.hparams.horizon,
        lookahead: u32::MAX,
        polyphony: polyphony.min(engine.max_batch()),
        release: meta.conditioning.release_samples,
        seed,
    });
    live.stage(TimedEvent { t: 0, kind: EventKind::Temperature(temperature) });
    let to_sample = |s: f64| (s * MODEL_RATE_HZ as f64).round() as u64;
    // Keys outside the trained range play an octave into it, as in the plugin.
    let key_map = meta.conditioning.key_map();
    for n in notes {
        let key = key_map[(n.key & 127) as usize];
        live.stage(TimedEvent { t: to_sample(n.on_s), kind: EventKind::NoteOn { channel: n.channel, key, velocity: n.velocity } });
        live.stage(TimedEvent { t: to_sample(n.off_s), kind: EventKind::NoteOff { channel: n.channel, key } });
    }
    let decode = meta.quantization.decode_table();
    let tf = engine.top_frame();
    let mut mix = vec![0f32; len.div_ceil(tf) * tf];
    for frame in mix.chunks_mut(tf) {
        live.render_frame(engine, &decode, frame).expect("whole frames at boundaries");
    }
    mix.truncate(len);
    mix
}
