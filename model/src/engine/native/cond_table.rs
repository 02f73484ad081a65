//! A tier's conditioning projection folded per note. The model computes
//! `W_c [emb(note); vel; rem] + b_c`; the note part takes 129 values, so it is precomputed
//! (with `b_c` and any other constant bias of the same sum) into a table, and only the two
//! scalar features are multiplied per use: 2 · dim multiply-adds instead of dim · (E + 2).

use super::aligned::{pad, AlignedBuf};
use crate::conditioning::{NOTE_NONE, NOTE_ROWS};

/// `table[note] + vel · vel_w + rem · rem_w` is the projection of the conditioning.
#[derive(Clone, Debug)]
pub struct CondTable {
    dim_pad: usize,
    notes: AlignedBuf,
    /// The column of `W_c` multiplying velocity / 127.
    pub vel: AlignedBuf,
    /// The column of `W_c` multiplying min(remaining, H) / H.
    pub rem: AlignedBuf,
}

impl CondTable {
    /// From the note embedding `[129, E]`, `W_c` `[dim, E + 2]`, `b_c` `[dim]` and extra
    /// constant biases added into every row.
    pub fn new(note_emb: &[f32], emb_dim: usize, w: &[f32], b: &[f32], dim: usize, extra: &[&[f32]]) -> CondTable {
        let dim_pad = pad(dim);
        let cols = emb_dim + 2;
        let mut notes = AlignedBuf::zeros(NOTE_ROWS * dim_pad);
        let (mut vel, mut rem) = (AlignedBuf::zeros(dim_pad), AlignedBuf::zeros(dim_pad));
        for d in 0..dim {
            let wd = &w[d * cols..(d + 1) * cols];
            vel[d] = wd[emb_dim];
            rem[d] = wd[emb_dim + 1];
            let bias = b[d] as f64 + extra.iter().map(|e| e[d] as f64).sum::<f64>();
            for note in 0..NOTE_ROWS {
                let emb = &note_emb[note * emb_dim..(note + 1) * emb_dim];
                let dot: f64 = wd[..emb_dim].iter().zip(emb).map(|(a, b)| *a as f64 * *b as f64).sum();
                notes[note * dim_pad + d] = (dot + bias) as f32;
            }
        }
        CondTable { dim_pad, notes, vel, rem }
    }

    /// The folded row of `note` (out-of-range notes read as silence, [`NOTE_NONE`]).
    pub fn row(&self, note: u8) -> &[f32] {
        let note = if (note as usize) < NOTE_ROWS { note as usize } else { NOTE_NONE as usize };
        &self.notes[note * self.dim_pad..(note + 1) * self.dim_pad]
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.notes.len() + 2 * self.dim_pad) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_embedding_and_biases() {
        // E = 1, dim = 1: W_c = [2, 3, 5], b_c = 1, extra = 10; emb(note) = note.
        let emb: Vec<f32> = (0..NOTE_ROWS).map(|n| n as f32).collect();
        let t = CondTable::new(&emb, 1, &[2.0, 3.0, 5.0], &[1.0], 1, &[&[10.0]]);
        assert_eq!(t.row(60)[0], 2.0 * 60.0 + 11.0);
        assert_eq!((t.vel[0], t.rem[0]), (3.0, 5.0));
        assert_eq!(t.row(250)[0], t.row(NOTE_NONE)[0]);
    }
}
