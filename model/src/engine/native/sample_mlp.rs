//! The sample-level MLP for a batch of rows, with its first layer folded into a table.
//!
//! The model embeds each of the `window` previous codes (`[256, E]`) and applies a conv
//! `[dim, E, window]` — `dim · E · window` multiply-adds per sample. Since each code takes only
//! 256 values, `lut[pos][code] = W[:, :, pos] · emb(code)` is precomputed, and the first layer
//! becomes `window` table rows added up. The pitch-lag taps (`mlp.lag.weight`, the same shape
//! over `taps` codes) fold into the same table after the window's positions. The output layer keeps a temperature-scaled copy, so
//! sampling never divides logits.

use super::aligned::{pad, AlignedBuf};
use super::cond_table::CondTable;
use super::isa::Dispatch;
use super::matmul::{matmul, Init};
use super::packed::PackedMatrix;
use super::vector_ops::mlp_input;
use super::weights::Weights;
use crate::conditioning::SCALAR_FEATURES;
use crate::engine::GREEDY_TEMPERATURE;
use crate::quantize::Q_LEVELS;

/// A packed sample MLP.
#[derive(Clone, Debug)]
pub struct SampleMlp {
    window: usize,
    taps: usize,
    dim_pad: usize,
    lut: AlignedBuf,
    cond: CondTable,
    hidden1: PackedMatrix,
    bias1: AlignedBuf,
    hidden2: PackedMatrix,
    bias2: AlignedBuf,
    output: PackedMatrix,
    out_bias: AlignedBuf,
    scaled: PackedMatrix,
    scaled_bias: AlignedBuf,
}

/// Per-call scratch of the MLP, sized for the engine's batch.
#[derive(Clone, Debug)]
pub struct MlpScratch {
    /// First-layer activations, `dim_pad` per row.
    pub x0: AlignedBuf,
    h1: AlignedBuf,
    h2: AlignedBuf,
    /// Logits, 256 per row.
    pub logits: AlignedBuf,
}

impl MlpScratch {
    /// Scratch for `batch` rows of an MLP `dim` wide.
    pub fn new(dim: usize, batch: usize) -> MlpScratch {
        let dp = pad(dim);
        MlpScratch {
            x0: AlignedBuf::zeros(batch * dp),
            h1: AlignedBuf::zeros(batch * dp),
            h2: AlignedBuf::zeros(batch * dp),
            logits: AlignedBuf::zeros(batch * Q_LEVELS),
        }
    }
}

impl SampleMlp {
    /// Packs `mlp.*` for a window of `window` codes and `taps` pitch-lag taps, `dim` wide,
    /// sample embedding `emb_dim`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(w: &Weights, window: usize, taps: usize, dim: usize, emb_dim: usize, note_emb: &[f32], note_emb_dim: usize) -> SampleMlp {
        let dp = pad(dim);
        let emb = w.get("mlp.embedding.weight");
        let mut lut = AlignedBuf::zeros((window + taps) * Q_LEVELS * dp);
        let mut parts = vec![(w.get("mlp.input.weight"), window, 0)];
        if taps > 0 {
            parts.push((w.get("mlp.lag.weight"), taps, window));
        }
        for (conv, width, offset) in parts {
            for pos in 0..width {
                for code in 0..Q_LEVELS {
                    let e = &emb[code * emb_dim..(code + 1) * emb_dim];
                    let row = &mut lut[((offset + pos) * Q_LEVELS + code) * dp..][..dim];
                    for (d, out) in row.iter_mut().enumerate() {
                        let wd = &conv[d * emb_dim * width..];
                        let s: f64 = (0..emb_dim).map(|k| wd[k * width + pos] as f64 * e[k] as f64).sum();
                        *out = s as f32;
                    }
                }
            }
        }
        let cond = CondTable::new(note_emb, note_emb_dim, w.get("mlp.cond.weight"), w.get("mlp.cond.bias"), dim, &[]);
        let bias = |name: &str, len: usize| {
            let mut b = AlignedBuf::zeros(pad(len));
            b[..len].copy_from_slice(w.get(name));
            b
        };
        let output = PackedMatrix::from_rows(w.get("mlp.output.weight"), Q_LEVELS, dim);
        let out_bias = bias("mlp.output.bias", Q_LEVELS);
        SampleMlp {
            window,
            taps,
            dim_pad: dp,
            lut,
            cond,
            hidden1: PackedMatrix::from_rows(w.get("mlp.hidden1.weight"), dim, dim),
            bias1: bias("mlp.hidden1.bias", dim),
            hidden2: PackedMatrix::from_rows(w.get("mlp.hidden2.weight"), dim, dim),
            bias2: bias("mlp.hidden2.bias", dim),
            scaled: output.clone(),
            scaled_bias: out_bias.clone(),
            output,
            out_bias,
        }
    }

    /// Past codes it reads.
    pub fn window(&self) -> usize {
        self.window
    }

    /// `dim` rounded up to 16: the stride of the mid tier's per-sample outputs.
    pub fn dim_pad(&self) -> usize {
        self.dim_pad
    }

    /// Rescales the copy of the output layer by 1 / `temperature` (allocation-free). At or below
    /// [`GREEDY_TEMPERATURE`] the copy is left alone: greedy sampling uses the raw logits.
    pub fn set_temperature(&mut self, temperature: f32) {
        if temperature > GREEDY_TEMPERATURE {
            self.output.scaled_into(1.0 / temperature, &mut self.scaled);
            for (s, b) in self.scaled_bias.iter_mut().zip(self.out_bias.iter()) {
                *s = b / temperature;
            }
        }
    }

    /// The first layer of row `r` into `s.x0`: the table rows of `codes` (the window, then the
    /// pitch-lag taps), the mid tier's output `up` for this sample, and the conditioning; then
    /// ReLU.
    #[allow(clippy::too_many_arguments)]
    pub fn first_layer(
        &self,
        d: Dispatch,
        s: &mut MlpScratch,
        r: usize,
        codes: &[u8],
        up: &[f32],
        note: u8,
        feats: &[f32; SCALAR_FEATURES],
    ) {
        debug_assert_eq!(codes.len(), self.window + self.taps);
        let dp = self.dim_pad;
        let c = &self.cond;
        mlp_input(d, &mut s.x0[r * dp..(r + 1) * dp], &self.lut, codes, up, c.row(note), feats, &c.scalars, dp);
    }

    /// The hidden and output layers for `n` rows from `s.x0` into `s.logits`; `scaled`: with
    /// the temperature folded in.
    pub fn head(&self, d: Dispatch, n: usize, s: &mut MlpScratch, scaled: bool) {
        let dp = self.dim_pad;
        matmul(d, &self.hidden1, &s.x0, dp, n, &mut s.h1, dp, Init::Bias(&self.bias1), true);
        matmul(d, &self.hidden2, &s.h1, dp, n, &mut s.h2, dp, Init::Bias(&self.bias2), true);
        let (w, b) = if scaled { (&self.scaled, &self.scaled_bias) } else { (&self.output, &self.out_bias) };
        matmul(d, w, &s.h2, dp, n, &mut s.logits, Q_LEVELS, Init::Bias(b), false);
    }

    /// Bytes of packed weights and tables (the temperature copy included).
    pub fn bytes(&self) -> usize {
        self.lut.len() * 4
            + self.cond.bytes()
            + self.hidden1.bytes()
            + self.hidden2.bytes()
            + 2 * (self.output.bytes() + self.out_bias.len() * 4)
            + (self.bias1.len() + self.bias2.len()) * 4
    }
}
