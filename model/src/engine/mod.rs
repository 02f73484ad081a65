//! Inference engines: one interface, two implementations (DESIGN.md "Inference engines").
//!
//! - [`native::NativeEngine`]: pure Rust on the CPU, weights packed once at load, zero heap
//!   allocation while generating, runtime CPU-feature dispatch. What the plugin runs.
//! - `crate::torch::TorchGenerator` (feature `torch`): the training model's own forward pass in
//!   tch, batched across voices, on CPU or CUDA. The plugin reaches it on CUDA through the GPU
//!   engine library and its C ABI ([`gpu_abi`]).
//!
//! # The state contract
//!
//! An engine holds `max_batch()` rows; each row is one voice with its own state (GRU hidden
//! states, the last top-frame of samples, the pending frame-tier outputs, its random stream).
//! - **Call [`Engine::reset_row`] for every row before its first [`Engine::generate`].** A reset
//!   row starts from silence with the voice's learned initial states and a random stream seeded
//!   by `SplitMix64::for_row(seed, row)`.
//! - **All rows share one clock.** Every `generate` call advances the clock by the block length
//!   for every row, active or not; frame boundaries are global (`clock % top_frame == 0`), so
//!   the frame tiers of all active rows run at the same step and batch together.
//! - **A row may be reset only at a top-frame boundary** ([`Engine::at_frame_boundary`]);
//!   elsewhere `reset_row` returns [`EngineError::NotAtFrameBoundary`] and changes nothing. To
//!   start a note at sample `t`, reset the row at the boundary at or before `t` and generate it
//!   with silent conditioning until the onset.
//! - **A row is active (listed in `rows`) or idle for whole top frames.** Idle rows cost
//!   nothing and their state does not advance. A row that goes idle at a boundary and comes
//!   back at a later boundary resumes where it left off; one that changes between active and
//!   idle inside a top frame resumes with stale frame outputs (deterministic, safe, but not
//!   what the model would have generated) — reset it instead.
//!
//! Blocks may have any length and need not align with frames: the engines split them
//! internally. Each generated sample draws exactly one uniform from its row's stream (also at
//! temperature 0), so a render is reproducible for a fixed seed, block sizes included.

use std::fmt;

use crate::conditioning::Conditioning;

pub mod gpu_abi;
pub mod gpu_client;
pub mod native;

/// Temperatures at or below this sample greedily (the most likely code), in every engine.
pub const GREEDY_TEMPERATURE: f32 = 1e-3;

/// Samples of silence a row's GRU states have run through when it is reset (at least; rounded
/// up to whole top frames). Why: training begins every sequence from the learned initial states
/// in at least 100 ms of silence, so the model has only met a note after silence has shaped its
/// states. A voice reset to the bare initial states right at a note-on (which the plugin does
/// whenever a note-on lands on a top-frame boundary, and for every late note) played nothing:
/// every such note of a phrase stayed silent. Both engines compute these states once, at load.
pub const WARMUP_SAMPLES: usize = 2048;

/// Why an engine call was refused. Returned before any state changes; carries no heap data, so
/// returning it does not allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// A row index is not below `max_batch`.
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// Rows the engine holds.
        max_batch: usize,
    },
    /// A row is listed twice in one call.
    DuplicateRow(usize),
    /// `rows`, the conditioning and the outputs disagree in number.
    RowCountMismatch {
        /// Rows listed.
        rows: usize,
        /// Conditioning slices given.
        cond: usize,
        /// Output slices given.
        out: usize,
    },
    /// A row's conditioning or output slice has a different length than the first row's.
    LengthMismatch {
        /// Position in `rows` of the offending row.
        index: usize,
        /// Expected length (samples, or samples × 256 for logits).
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The engine's device failed (a CUDA error in the GPU engine library, which logged why).
    DeviceFailed,
    /// `reset_row` away from a top-frame boundary.
    NotAtFrameBoundary {
        /// The engine's clock in samples.
        clock_samples: u64,
        /// Samples per top frame.
        top_frame: usize,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EngineError::RowOutOfRange { row, max_batch } => {
                write!(f, "row {row} is out of range: the engine holds {max_batch} rows")
            }
            EngineError::DuplicateRow(row) => write!(f, "row {row} is listed twice"),
            EngineError::RowCountMismatch { rows, cond, out } => {
                write!(f, "{rows} rows but {cond} conditioning and {out} output slices")
            }
            EngineError::LengthMismatch { index, expected, found } => {
                write!(f, "slice {index} has length {found}, expected {expected}")
            }
            EngineError::DeviceFailed => write!(f, "the engine's device failed"),
            EngineError::NotAtFrameBoundary { clock_samples, top_frame } => {
                write!(f, "reset at sample {clock_samples}, not a top-frame boundary (a multiple of {top_frame})")
            }
        }
    }
}

impl std::error::Error for EngineError {}

/// Generates voices sample by sample from a voice file's model. See the module docs for the
/// state contract: reset a row before its first block, and only at top-frame boundaries.
pub trait Engine {
    /// Rows (voices) the engine holds.
    fn max_batch(&self) -> usize;

    /// Samples per top frame: resets and activity changes happen at multiples of this.
    fn top_frame(&self) -> usize;

    /// Samples generated since the engine was built (the shared clock of all rows).
    fn clock_samples(&self) -> u64;

    /// Whether the clock is at a top-frame boundary, where rows may be reset.
    fn at_frame_boundary(&self) -> bool {
        self.samples_to_frame_boundary() == 0
    }

    /// Samples to generate before the next top-frame boundary (0 when at one).
    fn samples_to_frame_boundary(&self) -> usize {
        let tf = self.top_frame() as u64;
        ((tf - self.clock_samples() % tf) % tf) as usize
    }

    /// Puts `row` back to silence with the voice's initial states and the random stream
    /// `SplitMix64::for_row(seed, row)`. Only at a top-frame boundary.
    fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError>;

    /// Sampling temperature for every row from the next sample on (≤ [`GREEDY_TEMPERATURE`]:
    /// greedy). Negative or NaN values are treated as 0.
    fn set_temperature(&mut self, temperature: f32);

    /// Generates one block for the rows in `rows` (each at most once): `cond[i]` is the
    /// conditioning of row `rows[i]` for each sample of the block, `out[i]` receives its codes.
    /// Every `cond[i]` and `out[i]` has the same length, the block length; the clock advances
    /// by it. Rows not listed are idle. Arguments are checked before anything runs.
    fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError>;

    /// Advances the clock by `samples` with every row idle: what `generate` with no rows would
    /// do if it could know the block length. Used to wait, computing nothing, for the frame
    /// boundary where the first note's row is reset.
    fn skip(&mut self, samples: usize);

    /// Why the engine failed, after a call returned [`EngineError::DeviceFailed`].
    fn failure(&self) -> Option<&str> {
        None
    }
}

/// Checks a `reset_row` call: `row` below `max_batch`, and the clock at a top-frame boundary.
#[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` is newer than the workspace's rust-version (1.85)
pub(crate) fn check_reset(max_batch: usize, clock_samples: u64, top_frame: usize, row: usize) -> Result<(), EngineError> {
    if row >= max_batch {
        return Err(EngineError::RowOutOfRange { row, max_batch });
    }
    if clock_samples % top_frame as u64 != 0 {
        return Err(EngineError::NotAtFrameBoundary { clock_samples, top_frame });
    }
    Ok(())
}

/// Checks the shape of a `generate`-like call: `rows` unique and in range, one conditioning and
/// one output slice per row, all of the block's length (`per_sample` output values per sample).
/// `seen` is scratch of `max_batch` entries (any content); returns the block length.
pub(crate) fn check_block(
    max_batch: usize,
    rows: &[usize],
    cond: &[&[Conditioning]],
    out_lens: impl ExactSizeIterator<Item = usize>,
    per_sample: usize,
    seen: &mut [bool],
) -> Result<usize, EngineError> {
    let n_out = out_lens.len();
    if cond.len() != rows.len() || n_out != rows.len() {
        return Err(EngineError::RowCountMismatch { rows: rows.len(), cond: cond.len(), out: n_out });
    }
    let n = cond.first().map_or(0, |c| c.len());
    for (index, c) in cond.iter().enumerate() {
        if c.len() != n {
            return Err(EngineError::LengthMismatch { index, expected: n, found: c.len() });
        }
    }
    for (index, len) in out_lens.enumerate() {
        if len != n * per_sample {
            return Err(EngineError::LengthMismatch { index, expected: n * per_sample, found: len });
        }
    }
    seen.iter_mut().for_each(|s| *s = false);
    for &row in rows {
        if row >= max_batch {
            return Err(EngineError::RowOutOfRange { row, max_batch });
        }
        if std::mem::replace(&mut seen[row], true) {
            return Err(EngineError::DuplicateRow(row));
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_checks_name_the_problem() {
        let c = [Conditioning::SILENT; 4];
        let short = [Conditioning::SILENT; 3];
        let mut seen = [false; 3];
        fn lens(v: &[usize]) -> impl ExactSizeIterator<Item = usize> + '_ {
            v.iter().copied()
        }
        assert_eq!(check_block(3, &[0, 2], &[&c, &c], lens(&[4, 4]), 1, &mut seen), Ok(4));
        assert_eq!(
            check_block(3, &[0, 3], &[&c, &c], lens(&[4, 4]), 1, &mut seen),
            Err(EngineError::RowOutOfRange { row: 3, max_batch: 3 })
        );
        assert_eq!(check_block(3, &[1, 1], &[&c, &c], lens(&[4, 4]), 1, &mut seen), Err(EngineError::DuplicateRow(1)));
        assert_eq!(
            check_block(3, &[0, 1], &[&c, &short], lens(&[4, 4]), 1, &mut seen),
            Err(EngineError::LengthMismatch { index: 1, expected: 4, found: 3 })
        );
        assert_eq!(
            check_block(3, &[0], &[&c], lens(&[4]), 256, &mut seen),
            Err(EngineError::LengthMismatch { index: 0, expected: 1024, found: 4 })
        );
        assert!(matches!(check_block(3, &[0], &[&c, &c], lens(&[4]), 1, &mut seen), Err(EngineError::RowCountMismatch { .. })));
    }
}
