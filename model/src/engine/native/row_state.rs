//! What each row (voice) carries between samples: its recent codes, GRU states, the frame
//! tiers' pending outputs and its random stream. Struct of arrays, one slot per row, all
//! allocated at load.

use super::aligned::AlignedBuf;
use crate::quantize::SILENCE_CODE;
use crate::rng::SplitMix64;

/// Codes kept per row beyond the history before the recent ones are moved back to the front
/// (amortised: at least as many again as the history).
const HISTORY_SLACK: usize = 1024;

/// The rows' state.
#[derive(Clone, Debug)]
pub struct RowStates {
    keep: usize,
    cap: usize,
    history: Vec<u8>,
    history_len: Vec<usize>,
    /// Top GRU states, `state_len` per row.
    pub h_top: AlignedBuf,
    /// Middle GRU states, `state_len` per row.
    pub h_mid: AlignedBuf,
    /// The top tier's outputs for the middle frames of the current top frame, per row.
    pub top_up: AlignedBuf,
    /// The middle tier's outputs for the samples of the current middle frame, per row.
    pub mid_up: AlignedBuf,
    /// Each row's random stream.
    pub rngs: Vec<SplitMix64>,
}

/// Lengths of the per-row float state.
#[derive(Clone, Copy, Debug)]
pub struct RowLens {
    /// Codes of history kept (`HParams::history_len`: the top frame, or the pitch lag's reach).
    pub history: usize,
    /// Top GRU state floats.
    pub h_top: usize,
    /// Middle GRU state floats.
    pub h_mid: usize,
    /// Top tier output floats.
    pub top_up: usize,
    /// Middle tier output floats.
    pub mid_up: usize,
}

impl RowStates {
    /// State for `batch` rows, every row silent with zero states (reset them before use).
    pub fn new(lens: RowLens, batch: usize) -> RowStates {
        let cap = lens.history + HISTORY_SLACK.max(lens.history);
        RowStates {
            keep: lens.history,
            cap,
            history: vec![SILENCE_CODE; batch * cap],
            history_len: vec![lens.history; batch],
            h_top: AlignedBuf::zeros(batch * lens.h_top),
            h_mid: AlignedBuf::zeros(batch * lens.h_mid),
            top_up: AlignedBuf::zeros(batch * lens.top_up),
            mid_up: AlignedBuf::zeros(batch * lens.mid_up),
            rngs: vec![SplitMix64::new(0); batch],
        }
    }

    /// Row `row` back to silence with states `h0_top`, `h0_mid` and stream `rng`.
    pub fn reset(&mut self, row: usize, h0_top: &[f32], h0_mid: &[f32], rng: SplitMix64) {
        let base = row * self.cap;
        self.history[base..base + self.keep].fill(SILENCE_CODE);
        self.history_len[row] = self.keep;
        let (lt, lm) = (h0_top.len(), h0_mid.len());
        self.h_top[row * lt..(row + 1) * lt].copy_from_slice(h0_top);
        self.h_mid[row * lm..(row + 1) * lm].copy_from_slice(h0_mid);
        let (ut, um) = (self.top_up.len() / self.rngs.len(), self.mid_up.len() / self.rngs.len());
        self.top_up[row * ut..(row + 1) * ut].fill(0.0);
        self.mid_up[row * um..(row + 1) * um].fill(0.0);
        self.rngs[row] = rng;
    }

    /// The last `n` codes of row `row` (n ≤ the history kept), oldest first.
    pub fn recent(&self, row: usize, n: usize) -> &[u8] {
        let end = row * self.cap + self.history_len[row];
        &self.history[end - n..end]
    }

    /// Appends `code` to row `row`'s history.
    pub fn push(&mut self, row: usize, code: u8) {
        let base = row * self.cap;
        let len = &mut self.history_len[row];
        self.history[base + *len] = code;
        *len += 1;
        if *len == self.cap {
            let keep = self.keep;
            self.history.copy_within(base + self.cap - keep..base + self.cap, base);
            *len = keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_codes_across_the_wrap() {
        let lens = RowLens { history: 4, h_top: 1, h_mid: 1, top_up: 1, mid_up: 1 };
        let mut s = RowStates::new(lens, 2);
        assert_eq!(s.recent(1, 4), &[128; 4]);
        for i in 0..3000u32 {
            s.push(1, (i % 251) as u8);
            let want: Vec<u8> = (0..4).map(|k| i as i64 - 3 + k).map(|v| if v < 0 { 128 } else { (v % 251) as u8 }).collect();
            assert_eq!(s.recent(1, 4), want.as_slice(), "after {i}");
        }
        assert_eq!(s.recent(0, 4), &[128; 4], "other rows untouched");
    }
}
