//! A tier's conditioning projection folded per note. The model computes
//! `W_c [emb(note); scalars] + b_c`; the note part takes 129 values, so it is precomputed
//! (with `b_c` and any other constant bias of the same sum) into a table, and only the
//! scalar features are multiplied per use: S · dim multiply-adds instead of dim · (E + S).

use super::aligned::{pad, AlignedBuf};
use crate::conditioning::{NOTE_NONE, NOTE_ROWS, SCALAR_FEATURES};

/// `table[note] + Σ_k scalar_k · column_k` is the projection of the conditioning.
#[derive(Clone, Debug)]
pub struct CondTable {
    dim_pad: usize,
    notes: AlignedBuf,
    /// The columns of `W_c` multiplying the scalar features (`Conditioning::scalar_features`),
    /// one after another, `dim_pad` apart.
    pub scalars: AlignedBuf,
}

impl CondTable {
    /// From the note embedding `[129, E]`, `W_c` `[dim, E + S]`, `b_c` `[dim]` and extra
    /// constant biases added into every row.
    pub fn new(note_emb: &[f32], emb_dim: usize, w: &[f32], b: &[f32], dim: usize, extra: &[&[f32]]) -> CondTable {
        let dim_pad = pad(dim);
        let cols = emb_dim + SCALAR_FEATURES;
        let mut notes = AlignedBuf::zeros(NOTE_ROWS * dim_pad);
        let mut scalars = AlignedBuf::zeros(SCALAR_FEATURES * dim_pad);
        for d in 0..dim {
            let wd = &w[d * cols..(d + 1) * cols];
            for k in 0..SCALAR_FEATURES {
                scalars[k * dim_pad + d] = wd[emb_dim + k];
            }
            let bias = b[d] as f64 + extra.iter().map(|e| e[d] as f64).sum::<f64>();
            for note in 0..NOTE_ROWS {
                let emb = &note_emb[note * emb_dim..(note + 1) * emb_dim];
                let dot: f64 = wd[..emb_dim].iter().zip(emb).map(|(a, b)| *a as f64 * *b as f64).sum();
                notes[note * dim_pad + d] = (dot + bias) as f32;
            }
        }
        CondTable { dim_pad, notes, scalars }
    }

    /// The folded row of `note` (out-of-range notes read as silence, [`NOTE_NONE`]).
    pub fn row(&self, note: u8) -> &[f32] {
        let note = if (note as usize) < NOTE_ROWS { note as usize } else { NOTE_NONE as usize };
        &self.notes[note * self.dim_pad..(note + 1) * self.dim_pad]
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.notes.len() + self.scalars.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_embedding_and_biases() {
        // E = 1, dim = 1: W_c = [2, 3, 4, 5, ..], b_c = 1, extra = 10; emb(note) = note.
        let emb: Vec<f32> = (0..NOTE_ROWS).map(|n| n as f32).collect();
        let w: Vec<f32> = (0..1 + SCALAR_FEATURES).map(|k| (k + 2) as f32).collect();
        let t = CondTable::new(&emb, 1, &w, &[1.0], 1, &[&[10.0]]);
        assert_eq!(t.row(60)[0], 2.0 * 60.0 + 11.0);
        let dp = t.dim_pad;
        for k in 0..SCALAR_FEATURES {
            assert_eq!(t.scalars[k * dp], (k + 3) as f32, "scalar column {k}");
        }
        assert_eq!(t.row(250)[0], t.row(NOTE_NONE)[0]);
    }
}
