//! One GRU layer (PyTorch's `nn.GRU` layer `l`), stepped for a batch of rows.

use super::aligned::{pad, AlignedBuf};
use super::isa::Dispatch;
use super::matmul::{matmul, Init};
use super::packed::PackedMatrix;
use super::vector_ops::gru_update;
use super::weights::Weights;

/// Packed `W_ih`, `W_hh` (`[3 dim, dim]`, gates r, z, n, each padded to `dim_pad`) and biases.
#[derive(Clone, Debug)]
pub struct GruLayer {
    dim_pad: usize,
    w_ih: PackedMatrix,
    b_ih: AlignedBuf,
    w_hh: PackedMatrix,
    b_hh: AlignedBuf,
}

/// Packs a `[3 dim, k]` gate matrix with each gate's rows padded to `dim_pad`.
fn pack_gates(w: &[f32], dim: usize, k: usize) -> PackedMatrix {
    let dp = pad(dim);
    PackedMatrix::from_fn(3 * dp, k, |o, i| {
        let (gate, j) = (o / dp, o % dp);
        if j < dim {
            w[(gate * dim + j) * k + i]
        } else {
            0.0
        }
    })
}

/// A `[3 dim]` gate bias padded per gate.
fn pad_gates(b: &[f32], dim: usize) -> AlignedBuf {
    let dp = pad(dim);
    let mut out = AlignedBuf::zeros(3 * dp);
    for gate in 0..3 {
        out[gate * dp..gate * dp + dim].copy_from_slice(&b[gate * dim..(gate + 1) * dim]);
    }
    out
}

impl GruLayer {
    /// Layer `l` of the GRU at `prefix` (`"top.gru"`), `dim` wide.
    pub fn load(w: &Weights, prefix: &str, l: usize, dim: usize) -> GruLayer {
        GruLayer {
            dim_pad: pad(dim),
            w_ih: pack_gates(w.get(&format!("{prefix}.weight_ih_l{l}")), dim, dim),
            b_ih: pad_gates(w.get(&format!("{prefix}.bias_ih_l{l}")), dim),
            w_hh: pack_gates(w.get(&format!("{prefix}.weight_hh_l{l}")), dim, dim),
            b_hh: pad_gates(w.get(&format!("{prefix}.bias_hh_l{l}")), dim),
        }
    }

    /// Steps `n` rows: inputs `x` (row stride `xs`), states `h` (row stride `hs`, updated in
    /// place in the first `dim_pad` values of each row); `gi`, `gh`: scratch of `n · 3 dim_pad`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(&self, d: Dispatch, n: usize, x: &[f32], xs: usize, h: &mut [f32], hs: usize, gi: &mut [f32], gh: &mut [f32]) {
        let g = 3 * self.dim_pad;
        matmul(d, &self.w_ih, x, xs, n, gi, g, Init::Bias(&self.b_ih), false);
        matmul(d, &self.w_hh, h, hs, n, gh, g, Init::Bias(&self.b_hh), false);
        for r in 0..n {
            gru_update(d, &gi[r * g..(r + 1) * g], &gh[r * g..(r + 1) * g], &mut h[r * hs..r * hs + self.dim_pad]);
        }
    }

    /// Bytes of weights.
    pub fn bytes(&self) -> usize {
        self.w_ih.bytes() + self.w_hh.bytes() + (self.b_ih.len() + self.b_hh.len()) * 4
    }
}
