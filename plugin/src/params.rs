//! The host-visible parameters. Ids are short and stable: they are saved in users' projects.

use std::sync::Arc;

use nice_plug::prelude::*;
use parking_lot::RwLock;

/// Output gain range (dB).
pub const GAIN_DB_RANGE: (f32, f32) = (-36.0, 12.0);
/// Most voices.
pub const MAX_POLYPHONY: i32 = crate::voice_source::MAX_VOICES as i32;
/// Longest lookahead (ms).
pub const MAX_LOOKAHEAD_MS: f32 = 1000.0;
/// Longest release override (ms).
pub const MAX_RELEASE_MS: f32 = 2000.0;

/// Which engine generates.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// The GPU engine when a GPU and the GPU engine library are present, else the CPU.
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    /// The native engine on the CPU.
    #[id = "cpu"]
    #[name = "CPU"]
    Cpu,
    /// The torch engine on CUDA (falls back to the CPU, saying why, when unavailable).
    #[id = "gpu"]
    #[name = "GPU"]
    Gpu,
}

/// Sackbut's parameters and persisted fields.
#[derive(Params)]
pub struct SackbutParams {
    /// Path of the loaded voice file; empty for the embedded default voice.
    #[persist = "voice-path"]
    pub voice_path: Arc<RwLock<String>>,

    /// Output gain, smoothed.
    #[id = "gain"]
    pub gain_db: FloatParam,
    /// Sampling temperature: 0 always takes the most likely sample, 1 samples the model as trained.
    #[id = "temp"]
    pub temperature: FloatParam,
    /// Most notes sounding at once; more steal a voice (the oldest released, then the oldest held).
    #[id = "poly"]
    pub polyphony: IntParam,
    /// How early the plugin sees note-offs, so a note's end is known before it comes; adds the
    /// same latency. Offline renders always see a whole horizon ahead.
    #[id = "look"]
    pub lookahead_ms: FloatParam,
    /// The release length R after a note-off, in place of the voice's own (0: the voice's own).
    #[id = "rel"]
    pub release_ms: FloatParam,
    /// Engine: Auto, CPU or GPU.
    #[id = "engine"]
    pub engine: EnumParam<EngineChoice>,
    /// Seed of the sampling: the same seed and input give the same output.
    #[id = "seed"]
    pub seed: IntParam,
}

impl Default for SackbutParams {
    fn default() -> Self {
        SackbutParams {
            voice_path: Arc::new(RwLock::new(String::new())),
            gain_db: FloatParam::new("Gain", 0.0, FloatRange::Linear { min: GAIN_DB_RANGE.0, max: GAIN_DB_RANGE.1 })
                .with_smoother(SmoothingStyle::Linear(20.0))
                .with_step_size(0.1)
                .with_unit(" dB"),
            temperature: FloatParam::new("Temperature", 1.0, FloatRange::Linear { min: 0.0, max: 1.5 }).with_step_size(0.01),
            polyphony: IntParam::new("Polyphony", 8, IntRange::Linear { min: 1, max: MAX_POLYPHONY }),
            lookahead_ms: FloatParam::new("Lookahead", 0.0, FloatRange::Linear { min: 0.0, max: MAX_LOOKAHEAD_MS })
                .with_step_size(1.0)
                .with_unit(" ms"),
            release_ms: FloatParam::new("Release", 0.0, FloatRange::Linear { min: 0.0, max: MAX_RELEASE_MS })
                .with_step_size(1.0)
                .with_value_to_string(Arc::new(|v| if v <= 0.0 { "voice's own".to_string() } else { format!("{v:.0} ms") }))
                .with_string_to_value(Arc::new(|s| {
                    let s = s.trim().trim_end_matches("ms").trim();
                    if s.starts_with("voice") { Some(0.0) } else { s.parse().ok() }
                })),
            engine: EnumParam::new("Engine", EngineChoice::Auto),
            seed: IntParam::new("Seed", 0, IntRange::Linear { min: 0, max: 9999 }),
        }
    }
}

/// Milliseconds to model samples (16 kHz), rounded.
pub fn ms_to_model_samples(ms: f32) -> u32 {
    (ms.max(0.0) as f64 * 16.0).round() as u32
}
