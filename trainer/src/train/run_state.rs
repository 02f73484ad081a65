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
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: cannot resume: no run state (no checkpoint was saved in this run directory yet: start it without --resume)",
                path.display()
            )
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = RunState { step: 42, epoch: 3, pass_in_epoch: 1, passes: 20, samples_seen: 999, best_valid_bits: Some(2.5), wall_s: 12.0 };
        s.write(dir.path()).unwrap();
        let back = RunState::read(dir.path()).unwrap();
        assert_eq!((back.step, back.epoch, back.pass_in_epoch, back.passes), (42, 3, 1, 20));
        assert_eq!(back.best_valid_bits, Some(2.5));
    }

    #[test]
    fn missing_or_damaged_state_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let msg = format!("{:#}", RunState::read(dir.path()).unwrap_err());
        assert!(msg.contains("state.json") && msg.contains("cannot resume"), "{msg}");
        std::fs::write(dir.path().join("state.json"), "{\"step\": \"many\"}").unwrap();
        let msg = format!("{:#}", RunState::read(dir.path()).unwrap_err());
        assert!(msg.contains("state.json") && msg.contains("damaged"), "{msg}");
    }
}
