//! The pitch lag: the sample MLP also reads a few of the voice's own codes from one period of
//! the sounding note ago (as LPCNet and other pitch-predictive vocoders do).
//!
//! Why: a sustained trombone note is nearly periodic, and the best guess for the next sample is
//! the sample one period back. The MLP's window (16 samples, 1 ms) is far shorter than a low
//! note's period (12 ms at E2), and the frame tiers only tick every 1 or 8 ms, so without this
//! input the model had to carry a whole period in a GRU state: small voices then played the
//! low notes as resonant noise with no stable pitch. With it, "copy the last period, corrected
//! by what the window shows" is a shallow function the MLP learns early.
//!
//! The period comes from the conditioning's note (equal temperament), rounded to whole samples;
//! the taps around it let the MLP interpolate the fraction. Silence (no note) reads silence.
//! Lags are in the model's samples; history before a row's reset is silence.

use crate::conditioning::{note_hz, NOTE_NONE, NOTE_ROWS};
use crate::quantize::SILENCE_CODE;

/// Codes of history the lag may reach back to (the period of MIDI note 0, 8.2 Hz, is 1957).
pub const LAG_HISTORY: usize = 2048;

/// Most taps a voice may read (the file format allows no more).
pub const MAX_TAPS: usize = 16;

/// Offset of the first tap from the lag: taps read `t − lag + FIRST + k` for `k < taps`, so
/// they centre on one period back, with one tap before it and the rest after.
pub fn first_offset(taps: usize) -> isize {
    -(taps.saturating_sub(1) as isize / 2)
}

/// The lag in samples for `note` (a MIDI note below [`NOTE_NONE`]) read through `taps` taps:
/// the note's period rounded, kept long enough that every tap lies in the past and short
/// enough that every tap lies within [`LAG_HISTORY`].
pub fn lag_samples(note: u8, taps: usize) -> usize {
    let period = (crate::MODEL_RATE_HZ as f64 / note_hz(note.min(NOTE_NONE - 1))).round() as isize;
    let first = first_offset(taps);
    let last = first + taps.max(1) as isize - 1;
    // t − lag + last ≤ t − 1  and  t − lag + first ≥ t − LAG_HISTORY.
    period.clamp(last + 1, LAG_HISTORY as isize + first) as usize
}

/// The lag of every note row for `taps` taps, computed once (a voice's engine holds one, so
/// the per-sample path only indexes it). The [`NOTE_NONE`] row holds the longest lag; its taps
/// are replaced by silence.
#[derive(Clone, Debug)]
pub struct LagTable {
    taps: usize,
    lags: [usize; NOTE_ROWS],
}

impl LagTable {
    /// The table for `taps` taps.
    pub fn new(taps: usize) -> LagTable {
        LagTable { taps, lags: std::array::from_fn(|n| lag_samples(n.min(NOTE_NONE as usize - 1) as u8, taps)) }
    }

    /// The lags as the torch model indexes them by the note stream.
    pub fn as_i64(&self) -> [i64; NOTE_ROWS] {
        self.lags.map(|l| l as i64)
    }

    /// The taps for the sample after `history` (oldest first, at least [`LAG_HISTORY`] codes,
    /// or fewer with silence assumed before them) while `note` sounds, into `out` (one per tap).
    pub fn taps_into(&self, history: &[u8], note: u8, out: &mut [u8]) {
        debug_assert_eq!(out.len(), self.taps, "one slot per tap");
        if note >= NOTE_NONE {
            out.fill(SILENCE_CODE);
            return;
        }
        let start = history.len() as isize - self.lags[note as usize] as isize + first_offset(self.taps);
        for (k, o) in out.iter_mut().enumerate() {
            let at = start + k as isize;
            *o = if at < 0 { SILENCE_CODE } else { history[at as usize] };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_the_period_of_the_note() {
        // A4 = 440 Hz: 36.36 samples at 16 kHz. E2 = 82.4 Hz: 194.2.
        assert_eq!(lag_samples(69, 4), 36);
        assert_eq!(lag_samples(40, 4), 194);
        assert_eq!(lag_samples(0, 4), 1957);
        // So high that the period is shorter than the taps: every tap still lies in the past.
        assert_eq!(lag_samples(127, 4), 3);
        assert_eq!(lag_samples(127, 1), 1);
        assert_eq!(first_offset(4), -1);
        assert_eq!(first_offset(1), 0);
        assert_eq!(LagTable::new(4).as_i64()[NOTE_NONE as usize], lag_samples(127, 4) as i64);
    }

    #[test]
    fn taps_read_one_period_back() {
        let history: Vec<u8> = (0..300).map(|i| (i % 250) as u8).collect();
        let mut out = [0u8; 4];
        let table = LagTable::new(4);
        // Predicting sample 300 of note 69 (lag 36): samples 263, 264, 265, 266.
        table.taps_into(&history, 69, &mut out);
        assert_eq!(out, [13, 14, 15, 16]);
        // Before the start of the history: silence.
        table.taps_into(&history[..20], 69, &mut out);
        assert_eq!(out, [SILENCE_CODE; 4]);
        table.taps_into(&history, NOTE_NONE, &mut out);
        assert_eq!(out, [SILENCE_CODE; 4]);
        // The lowest note reaches exactly within the kept history.
        let long = vec![7u8; LAG_HISTORY];
        table.taps_into(&long, 0, &mut out);
        assert_eq!(out, [7; 4]);
    }
}
