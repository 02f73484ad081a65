//! The command-line options that choose a model shape: a preset and per-field overrides, shared
//! by `train` and `bench`.

use anyhow::{Context, Result};
use sackbut_model::hparams::HParams;

/// A preset and overrides of its fields.
#[derive(clap::Args, Debug, Clone)]
pub struct ShapeArgs {
    /// Model size: tiny (tests) or small.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Override the preset's frame-tier widths (top and middle).
    #[arg(long)]
    pub frame_dim: Option<usize>,
    /// Override the top tier's width alone (after --frame-dim).
    #[arg(long)]
    pub top_dim: Option<usize>,
    /// Override the middle tier's width alone (after --frame-dim).
    #[arg(long)]
    pub mid_dim: Option<usize>,
    /// Override the middle frames per top frame (4: a 64-sample top frame).
    #[arg(long)]
    pub top_ratio: Option<usize>,
    /// Override the sample MLP's width.
    #[arg(long)]
    pub mlp_dim: Option<usize>,
    /// Override the GRU layers per frame tier.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Override the pitch-lag taps: codes from one period of the note ago that the sample MLP
    /// reads (0: none).
    #[arg(long)]
    pub pitch_lag_taps: Option<usize>,
}

impl ShapeArgs {
    /// Whether any field override was given.
    pub fn overrides_any(&self) -> bool {
        [self.frame_dim, self.top_dim, self.mid_dim, self.top_ratio, self.mlp_dim, self.layers, self.pitch_lag_taps]
            .iter()
            .any(|o| o.is_some())
    }

    /// The preset with the overrides applied, validated.
    pub fn hparams(&self) -> Result<HParams> {
        let mut hp = HParams::preset(&self.preset)
            .with_context(|| format!("--preset {}: unknown (expected one of {:?})", self.preset, HParams::PRESETS))?;
        if let Some(d) = self.frame_dim {
            hp.top_dim = d;
            hp.mid_dim = d;
        }
        let fields = [
            (self.top_dim, &mut hp.top_dim),
            (self.mid_dim, &mut hp.mid_dim),
            (self.top_ratio, &mut hp.top_ratio),
            (self.mlp_dim, &mut hp.mlp_dim),
            (self.layers, &mut hp.rnn_layers),
            (self.pitch_lag_taps, &mut hp.pitch_lag_taps),
        ];
        for (value, field) in fields {
            if let Some(v) = value {
                *field = v;
            }
        }
        hp.validate().map_err(|e| anyhow::anyhow!(e))?;
        Ok(hp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(preset: &str) -> ShapeArgs {
        ShapeArgs {
            preset: preset.into(),
            frame_dim: None,
            top_dim: None,
            mid_dim: None,
            top_ratio: None,
            mlp_dim: None,
            layers: None,
            pitch_lag_taps: None,
        }
    }

    #[test]
    fn overrides_apply_after_frame_dim() {
        let a = ShapeArgs { frame_dim: Some(128), top_dim: Some(512), top_ratio: Some(8), ..args("small") };
        let hp = a.hparams().unwrap();
        assert_eq!((hp.top_dim, hp.mid_dim, hp.top_ratio, hp.top_frame()), (512, 128, 8, 128));
        assert!(a.overrides_any() && !args("tiny").overrides_any());
    }

    #[test]
    fn bad_shapes_are_named() {
        assert!(args("huge").hparams().unwrap_err().to_string().contains("--preset huge"));
        let zero = ShapeArgs { mlp_dim: Some(0), ..args("tiny") };
        assert!(zero.hparams().unwrap_err().to_string().contains("mlp_dim"));
    }
}
