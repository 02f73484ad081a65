//! The host-visible parameters. Ids are short and stable: they are saved in users' projects.

use std::sync::Arc;

use nice_plug::plugin::ParamValue;
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
                    if s.starts_with("voice") {
                        Some(0.0)
                    } else {
                        s.parse().ok()
                    }
                })),
            engine: EnumParam::new("Engine", EngineChoice::Auto),
            seed: IntParam::new("Seed", 0, IntRange::Linear { min: 0, max: 9999 }),
        }
    }
}

/// Makes a host's saved state safe to restore (called from `Plugin::filter_state`).
///
/// nice-plug restores a saved value as it is, without clamping it to the parameter's range, so
/// a damaged or hand-edited project could set a lookahead of 10^30 ms (an event delay of
/// ages), a polyphony of 1000, or an engine index of 99 (a value off the host's scale). Out-of-range numbers are clamped to the
/// range, infinite or NaN ones dropped (the parameter keeps its default); values of the wrong
/// type and unknown ids are left for nice-plug, which ignores them. The persisted voice path
/// needs nothing here: `voice_source::resolve_persisted` falls back on any path it cannot use.
pub fn sanitize_state(state: &mut PluginState) {
    let params = SackbutParams::default();
    let map = params.param_map();
    state.params.retain(|id, value| {
        let Some((_, ptr, _)) = map.iter().find(|(pid, _, _)| pid == id) else { return true };
        // SAFETY: `ptr` points into `params`, which lives until the end of this function.
        let (lo, hi) = unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
        match (ptr, value) {
            (ParamPtr::FloatParam(_), ParamValue::F32(v)) => {
                if !v.is_finite() {
                    return false;
                }
                *v = v.clamp(lo, hi);
            }
            (ParamPtr::IntParam(_) | ParamPtr::EnumParam(_), ParamValue::I32(v)) => {
                *v = (*v).clamp(lo.round() as i32, hi.round() as i32);
            }
            _ => {}
        }
        true
    });
}

/// Milliseconds to model samples (16 kHz), rounded.
pub fn ms_to_model_samples(ms: f32) -> u32 {
    (ms.max(0.0) as f64 * 16.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(params: &[(&str, ParamValue)]) -> PluginState {
        PluginState {
            version: String::new(),
            params: params.iter().map(|(id, v)| (id.to_string(), v.clone())).collect(),
            fields: Default::default(),
        }
    }

    #[test]
    fn saved_values_off_their_range_are_clamped_into_it() {
        let mut s = state(&[
            ("gain", ParamValue::F32(1e30)),
            ("temp", ParamValue::F32(-3.0)),
            ("look", ParamValue::F32(f32::MAX)),
            ("rel", ParamValue::F32(f32::NAN)),
            ("poly", ParamValue::I32(1000)),
            ("seed", ParamValue::I32(i32::MIN)),
            ("engine", ParamValue::I32(99)),
        ]);
        sanitize_state(&mut s);
        let p = &s.params;
        assert_eq!(format!("{:?}", p["gain"]), format!("{:?}", ParamValue::F32(GAIN_DB_RANGE.1)));
        assert_eq!(format!("{:?}", p["temp"]), format!("{:?}", ParamValue::F32(0.0)));
        assert_eq!(format!("{:?}", p["look"]), format!("{:?}", ParamValue::F32(MAX_LOOKAHEAD_MS)));
        assert!(!p.contains_key("rel"), "a NaN is dropped: the parameter keeps its default");
        assert_eq!(format!("{:?}", p["poly"]), format!("{:?}", ParamValue::I32(MAX_POLYPHONY)));
        assert_eq!(format!("{:?}", p["seed"]), format!("{:?}", ParamValue::I32(0)));
        assert_eq!(format!("{:?}", p["engine"]), format!("{:?}", ParamValue::I32(2)));
    }

    #[test]
    fn values_in_range_and_unknown_entries_are_kept_as_saved() {
        let saved = [
            ("gain", ParamValue::F32(-7.3)),
            ("temp", ParamValue::F32(0.85)),
            ("poly", ParamValue::I32(3)),
            ("engine", ParamValue::String("cpu".into())),
            ("look", ParamValue::Bool(true)), // wrong type: nice-plug ignores it
            ("from-a-newer-version", ParamValue::F32(1e30)),
        ];
        let mut s = state(&saved);
        sanitize_state(&mut s);
        assert_eq!(format!("{:?}", s.params), format!("{:?}", state(&saved).params));
    }

    #[test]
    fn a_saved_state_from_json_is_clamped_after_parsing() {
        // What a host hands back: nice-plug's JSON, here hand-edited.
        let json = r#"{"version":"0.1.0","params":{"look":{"f32":1e30},"poly":{"i32":-5},"engine":{"i32":7}},"fields":{"voice-path":"\"/dev/zero\""}}"#;
        let mut s: PluginState = serde_json::from_str(json).unwrap();
        sanitize_state(&mut s);
        assert_eq!(format!("{:?}", s.params["look"]), format!("{:?}", ParamValue::F32(MAX_LOOKAHEAD_MS)));
        assert_eq!(format!("{:?}", s.params["poly"]), format!("{:?}", ParamValue::I32(1)));
        assert_eq!(format!("{:?}", s.params["engine"]), format!("{:?}", ParamValue::I32(2)));
    }
}
