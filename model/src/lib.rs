//! What the Sackbut plugin and trainer share: the voice file format, the conditioning
//! streams, quantization, MIDI scores, the native inference engine, and (feature `torch`) the
//! conditioned SampleRNN in tch.

pub mod conditioning;
pub mod engine;
pub mod hparams;
pub mod live_voices;
pub mod pitch_lag;
pub mod quantize;
pub mod rng;
pub mod score;
pub mod score_render;
pub mod user_file;
pub mod velocity_gain;
pub mod voice_alloc;
pub mod voice_file;

#[cfg(feature = "torch")]
pub mod torch;

/// Sample rate of everything inside the model.
pub const MODEL_RATE_HZ: u32 = 16_000;
