//! What `--resume` restores: the run's position and best score, saved beside the checkpoint.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Saved at every checkpoint (JSON), written atomically after the checkpoint itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Current epoch.
    pub epoch: u64,
    /// Passes (groups of examples) already finished in this epoch.
    pub pass_in_epoch: u64,
    /// Passes finished since the start (seeds the live/exact choice).
    pub passes: u64,
    /// Training samples seen.
    pub samples_seen: u64,
    /// Best validation NLL so far (bits per sample).
    pub best_valid_bits: Option<f64>,
    /// Training wall time so far in seconds.
    pub wall_s: f64,
}

impl RunState {
    /// Reads `run_dir/state.json`.
    pub fn read(run_dir: &Path) -> Result<RunState> {
        let path = run_dir.join("state.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot resume: no run state (was this run directory trained?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: damaged run state", path.display()))
    }

    /// Writes `run_dir/state.json` atomically.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join("state.json");
        let text = serde_json::to_string_pretty(self)?;
        sackbut_model::voice_file::write_atomically(&path, text.as_bytes())
            .with_context(|| format!("{}: cannot write run state", path.display()))
    }
}
