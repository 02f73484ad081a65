//! The hyper-parameters of a conditioned SampleRNN: one small `Copy` struct, as in tch-rs's
//! examples, written into every voice file.

use serde::{Deserialize, Serialize};

use crate::conditioning::{DEFAULT_AGE_HORIZON, DEFAULT_HORIZON, NOTE_ROWS, SCALAR_FEATURES};
use crate::quantize::Q_LEVELS;

/// Most floats in one voice's weights or in one table the native engine folds from them
/// (2^28: 1 GiB), far above any real-time voice.
pub const MAX_TABLE_FLOATS: usize = 1 << 28;

/// Shape of a three-tier conditioned SampleRNN (frame sizes [mid_frame, top_ratio]).
///
/// Tiers: a top GRU over `top_frame()`-sample frames, a middle GRU over `mid_frame`-sample
/// frames, and a sample-level MLP over the previous `mid_frame` samples. Each tier adds a
/// projection of the conditioning (note embedding, velocity, remaining) of the frame or
/// sample it predicts. Upsampling is one linear map per frame straight into the next tier's
/// width (top → `top_ratio` × `mid_dim`, middle → `mid_frame` × `mlp_dim`), which keeps it
/// cheap when `mlp_dim` is small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HParams {
    /// Samples per middle-tier frame, and the sample MLP's receptive field (16).
    pub mid_frame: usize,
    /// Middle frames per top frame (4): the top frame is `mid_frame * top_ratio` samples.
    pub top_ratio: usize,
    /// Top tier GRU width.
    pub top_dim: usize,
    /// Middle tier GRU width.
    pub mid_dim: usize,
    /// Sample-level MLP width.
    pub mlp_dim: usize,
    /// Width of the sample embedding feeding the MLP.
    pub sample_emb_dim: usize,
    /// Width of the note embedding in the conditioning.
    pub note_emb_dim: usize,
    /// GRU layers in each frame tier.
    pub rnn_layers: usize,
    /// Horizon H: `remaining` is fed as min(remaining, H) / H.
    pub horizon: u32,
    /// Age horizon A: samples since the note-on are fed as min(age, A) / A.
    pub age_horizon: u32,
    /// Codes the sample MLP reads from one period of the note ago (`pitch_lag`); 0: none, as
    /// in voices of format 2, which had no such input.
    #[serde(default)]
    pub pitch_lag_taps: usize,
}

impl HParams {
    /// For tests: trains in seconds on a CPU.
    pub const TINY: HParams = HParams {
        mid_frame: 16,
        top_ratio: 4,
        top_dim: 32,
        mid_dim: 32,
        mlp_dim: 32,
        sample_emb_dim: 8,
        note_emb_dim: 8,
        rnn_layers: 1,
        horizon: DEFAULT_HORIZON,
        age_horizon: DEFAULT_AGE_HORIZON,
        pitch_lag_taps: 4,
    };

    /// A first real voice: trains on CPU in tens of minutes, plays in real time.
    pub const SMALL: HParams = HParams {
        mid_frame: 16,
        top_ratio: 4,
        top_dim: 256,
        mid_dim: 256,
        mlp_dim: 128,
        sample_emb_dim: 32,
        note_emb_dim: 16,
        rnn_layers: 1,
        horizon: DEFAULT_HORIZON,
        age_horizon: DEFAULT_AGE_HORIZON,
        pitch_lag_taps: 4,
    };

    /// The preset called `name`.
    pub fn preset(name: &str) -> Option<HParams> {
        match name {
            "tiny" => Some(Self::TINY),
            "small" => Some(Self::SMALL),
            _ => None,
        }
    }

    /// Names accepted by [`HParams::preset`].
    pub const PRESETS: &'static [&'static str] = &["tiny", "small"];

    /// Samples per top-tier frame.
    pub fn top_frame(&self) -> usize {
        self.mid_frame * self.top_ratio
    }

    /// Codes of history the model reads before each sample: the top frame, or the pitch lag's
    /// reach when the voice has one.
    pub fn history_len(&self) -> usize {
        if self.pitch_lag_taps > 0 {
            self.top_frame().max(crate::pitch_lag::LAG_HISTORY)
        } else {
            self.top_frame()
        }
    }

    /// Width of the conditioning vector: note embedding + velocity, remaining and age.
    pub fn cond_dim(&self) -> usize {
        self.note_emb_dim + SCALAR_FEATURES
    }

    /// Every tensor a voice file of this shape holds, with its shape, in a fixed order.
    /// Names are the tch VarStore paths; the native engine reads the same names.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        let mut push = |name: String, shape: Vec<usize>| v.push((name, shape));
        push("note_emb.weight".into(), vec![NOTE_ROWS, self.note_emb_dim]);
        let tiers = [
            ("top", self.top_frame(), self.top_dim, self.top_ratio * self.mid_dim),
            ("mid", self.mid_frame, self.mid_dim, self.mid_frame * self.mlp_dim),
        ];
        for (tier, frame, dim, up) in tiers {
            push(format!("{tier}.input.weight"), vec![dim, frame]);
            push(format!("{tier}.input.bias"), vec![dim]);
            push(format!("{tier}.cond.weight"), vec![dim, self.cond_dim()]);
            push(format!("{tier}.cond.bias"), vec![dim]);
            for l in 0..self.rnn_layers {
                push(format!("{tier}.gru.weight_ih_l{l}"), vec![3 * dim, dim]);
                push(format!("{tier}.gru.weight_hh_l{l}"), vec![3 * dim, dim]);
                push(format!("{tier}.gru.bias_ih_l{l}"), vec![3 * dim]);
                push(format!("{tier}.gru.bias_hh_l{l}"), vec![3 * dim]);
            }
            push(format!("{tier}.h0"), vec![self.rnn_layers, dim]);
            push(format!("{tier}.upsample.weight"), vec![up, dim]);
            push(format!("{tier}.upsample.bias"), vec![up]);
        }
        push("mlp.embedding.weight".into(), vec![Q_LEVELS, self.sample_emb_dim]);
        push("mlp.input.weight".into(), vec![self.mlp_dim, self.sample_emb_dim, self.mid_frame]);
        if self.pitch_lag_taps > 0 {
            push("mlp.lag.weight".into(), vec![self.mlp_dim, self.sample_emb_dim, self.pitch_lag_taps]);
        }
        push("mlp.cond.weight".into(), vec![self.mlp_dim, self.cond_dim()]);
        push("mlp.cond.bias".into(), vec![self.mlp_dim]);
        for layer in ["hidden1", "hidden2"] {
            push(format!("mlp.{layer}.weight"), vec![self.mlp_dim, self.mlp_dim]);
            push(format!("mlp.{layer}.bias"), vec![self.mlp_dim]);
        }
        push("mlp.output.weight".into(), vec![Q_LEVELS, self.mlp_dim]);
        push("mlp.output.bias".into(), vec![Q_LEVELS]);
        v
    }

    /// Total number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensor_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// Checks the shape makes sense; the message says which field is off.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("mid_frame", self.mid_frame),
            ("top_ratio", self.top_ratio),
            ("top_dim", self.top_dim),
            ("mid_dim", self.mid_dim),
            ("mlp_dim", self.mlp_dim),
            ("sample_emb_dim", self.sample_emb_dim),
            ("note_emb_dim", self.note_emb_dim),
            ("rnn_layers", self.rnn_layers),
            ("horizon", self.horizon as usize),
            ("age_horizon", self.age_horizon as usize),
        ];
        for (name, v) in positive {
            if v == 0 || v > 1 << 16 {
                return Err(format!("hyper-parameter {name} = {v} is out of range 1..=65536"));
            }
        }
        if self.pitch_lag_taps > crate::pitch_lag::MAX_TAPS {
            return Err(format!(
                "hyper-parameter pitch_lag_taps = {} is out of range 0..={}",
                self.pitch_lag_taps,
                crate::pitch_lag::MAX_TAPS
            ));
        }
        // Each field alone may be in range while their products are not: the native engine
        // folds the sample MLP's first layer into a table of mid_frame × 256 × mlp_dim floats,
        // so a small file could otherwise ask for hundreds of GB at load.
        let lut = (self.mid_frame + self.pitch_lag_taps) as u128 * Q_LEVELS as u128 * self.mlp_dim as u128;
        if lut > MAX_TABLE_FLOATS as u128 {
            return Err(format!(
                "mid_frame {} × 256 × mlp_dim {} = {lut} table entries, more than a voice may use ({MAX_TABLE_FLOATS})",
                self.mid_frame, self.mlp_dim
            ));
        }
        let params = self.tensor_shapes().iter().map(|(_, s)| s.iter().map(|&d| d as u128).product::<u128>()).sum::<u128>();
        if params > MAX_TABLE_FLOATS as u128 {
            return Err(format!("{params} parameters, more than a voice may have ({MAX_TABLE_FLOATS})"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_named() {
        for name in HParams::PRESETS {
            let hp = HParams::preset(name).unwrap();
            hp.validate().unwrap();
            assert_eq!(hp.top_frame(), 64, "frame sizes [16, 4] as in the thesis");
        }
        assert!(HParams::preset("huge").is_none());
    }

    #[test]
    fn tensor_names_are_unique() {
        let shapes = HParams::SMALL.tensor_shapes();
        let mut names: Vec<_> = shapes.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), shapes.len());
    }

    #[test]
    fn shapes_whose_tables_would_not_fit_are_rejected_before_loading() {
        let hp = HParams { mid_frame: 60_000, mlp_dim: 60_000, sample_emb_dim: 1, ..HParams::TINY };
        assert!(hp.validate().unwrap_err().contains("table entries"), "{:?}", hp.validate());
        let hp = HParams { top_dim: 40_000, top_ratio: 64, ..HParams::TINY };
        assert!(hp.validate().unwrap_err().contains("parameters"), "{:?}", hp.validate());
        HParams::SMALL.validate().unwrap();
    }

    #[test]
    fn zero_width_is_rejected_by_name() {
        let hp = HParams { mlp_dim: 0, ..HParams::TINY };
        assert!(hp.validate().unwrap_err().contains("mlp_dim"));
    }
}
