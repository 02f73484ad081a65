//! A frame-level tier (`top` or `mid`) for a batch of rows: input projection of the frame's
//! samples, the folded conditioning, the tier above's output, the GRU layers, and the upsampling
//! into the next tier's per-sub-frame inputs — one matrix product per step, all rows at once.

use super::aligned::{pad, AlignedBuf};
use super::cond_table::CondTable;
use super::gru::GruLayer;
use super::isa::Dispatch;
use super::matmul::{matmul, Init};
use super::packed::PackedMatrix;
use super::vector_ops::{add, add_cond};
use super::weights::Weights;
use crate::conditioning::SCALAR_FEATURES;

/// Shape of a frame tier.
#[derive(Clone, Copy, Debug)]
pub struct TierShape {
    /// Samples per frame it reads.
    pub frame: usize,
    /// GRU width.
    pub dim: usize,
    /// GRU layers.
    pub layers: usize,
    /// Sub-frames per frame in the tier below.
    pub ratio: usize,
    /// Width of each sub-frame output (the next tier's width).
    pub out_dim: usize,
}

impl TierShape {
    /// `dim` rounded up to 16.
    pub fn dim_pad(&self) -> usize {
        pad(self.dim)
    }
    /// `out_dim` rounded up to 16: the stride of sub-frame outputs.
    pub fn out_pad(&self) -> usize {
        pad(self.out_dim)
    }
    /// Floats of GRU state per row.
    pub fn state_len(&self) -> usize {
        self.layers * self.dim_pad()
    }
    /// Floats of upsampled output per row.
    pub fn up_len(&self) -> usize {
        self.ratio * self.out_pad()
    }
}

/// Per-call scratch of a tier, sized for the engine's batch.
#[derive(Clone, Debug)]
pub struct TierScratch {
    x: AlignedBuf,
    gi: AlignedBuf,
    gh: AlignedBuf,
}

impl TierScratch {
    /// Scratch for `batch` rows of `shape`.
    pub fn new(shape: TierShape, batch: usize) -> TierScratch {
        let dp = shape.dim_pad();
        TierScratch { x: AlignedBuf::zeros(batch * dp), gi: AlignedBuf::zeros(batch * 3 * dp), gh: AlignedBuf::zeros(batch * 3 * dp) }
    }
}

/// What a tier step reads for its `n` rows (row-major, one row per active voice).
pub struct TierInputs<'a> {
    /// Frame inputs (`quantize::frame_input` of the frame's samples), stride `frames_stride`.
    pub frames: &'a [f32],
    /// Row stride of `frames` (≥ the frame length).
    pub frames_stride: usize,
    /// Note of each row's first predicted sample.
    pub notes: &'a [u8],
    /// Scalar features (`Conditioning::scalar_features`) of each row.
    pub feats: &'a [[f32; SCALAR_FEATURES]],
    /// The tier above's sub-frame output for this frame, `dim_pad` per row; `None` at the top.
    pub upper: Option<&'a [f32]>,
}

/// A packed frame tier.
#[derive(Clone, Debug)]
pub struct FrameTier {
    shape: TierShape,
    input: PackedMatrix,
    cond: CondTable,
    gru: Vec<GruLayer>,
    h0: AlignedBuf,
    upsample: PackedMatrix,
    up_bias: AlignedBuf,
}

impl FrameTier {
    /// Packs tier `name` ("top", "mid") of shape `shape`; `note_emb` is `[129, emb_dim]`.
    pub fn load(w: &Weights, name: &str, shape: TierShape, note_emb: &[f32], emb_dim: usize) -> FrameTier {
        let (dim, dp, op) = (shape.dim, shape.dim_pad(), shape.out_pad());
        let input = PackedMatrix::from_rows(w.get(&format!("{name}.input.weight")), dim, shape.frame);
        // The input projection's bias is constant: folded into the conditioning table.
        let cond = CondTable::new(
            note_emb,
            emb_dim,
            w.get(&format!("{name}.cond.weight")),
            w.get(&format!("{name}.cond.bias")),
            dim,
            &[w.get(&format!("{name}.input.bias"))],
        );
        let gru = (0..shape.layers).map(|l| GruLayer::load(w, &format!("{name}.gru"), l, dim)).collect();
        let mut h0 = AlignedBuf::zeros(shape.state_len());
        let h0_src = w.get(&format!("{name}.h0"));
        for l in 0..shape.layers {
            h0[l * dp..l * dp + dim].copy_from_slice(&h0_src[l * dim..(l + 1) * dim]);
        }
        // Sub-frame s's outputs are rows s·out_dim.. of the upsample weight; each sub-frame is
        // padded on its own so the next tier reads it at a 16-aligned stride.
        let up_w = w.get(&format!("{name}.upsample.weight"));
        let upsample = PackedMatrix::from_fn(shape.up_len(), dim, |o, i| {
            let (s, j) = (o / op, o % op);
            if j < shape.out_dim {
                up_w[(s * shape.out_dim + j) * dim + i]
            } else {
                0.0
            }
        });
        let up_b = w.get(&format!("{name}.upsample.bias"));
        let mut up_bias = AlignedBuf::zeros(shape.up_len());
        for s in 0..shape.ratio {
            up_bias[s * op..s * op + shape.out_dim].copy_from_slice(&up_b[s * shape.out_dim..(s + 1) * shape.out_dim]);
        }
        FrameTier { shape, input, cond, gru, h0, upsample, up_bias }
    }

    /// Its shape.
    pub fn shape(&self) -> TierShape {
        self.shape
    }

    /// The learned initial state, `layers × dim_pad`.
    pub fn h0(&self) -> &[f32] {
        &self.h0
    }

    /// One frame for `n` rows: `h` (`n × state_len`) advances in place, `up` (`n × up_len`)
    /// receives the sub-frame outputs for the tier below.
    pub fn step(&self, d: Dispatch, n: usize, inp: TierInputs, h: &mut [f32], s: &mut TierScratch, up: &mut [f32]) {
        let sh = self.shape;
        let (dp, hl) = (sh.dim_pad(), sh.state_len());
        let x = &mut s.x[..n * dp];
        matmul(d, &self.input, inp.frames, inp.frames_stride, n, x, dp, Init::Zero, false);
        for r in 0..n {
            let xr = &mut x[r * dp..(r + 1) * dp];
            add_cond(d, xr, self.cond.row(inp.notes[r]), &inp.feats[r], &self.cond.scalars, dp);
            if let Some(upper) = inp.upper {
                add(d, xr, &upper[r * dp..(r + 1) * dp]);
            }
        }
        for (l, layer) in self.gru.iter().enumerate() {
            if l > 0 {
                // Layer l reads layer l-1's new state; copied so `h` is borrowed once, mutably.
                for r in 0..n {
                    x[r * dp..(r + 1) * dp].copy_from_slice(&h[r * hl + (l - 1) * dp..r * hl + l * dp]);
                }
            }
            layer.step(d, n, x, dp, &mut h[l * dp..], hl, &mut s.gi, &mut s.gh);
        }
        let last = (sh.layers - 1) * dp;
        matmul(d, &self.upsample, &h[last..], hl, n, up, sh.up_len(), Init::Bias(&self.up_bias), false);
    }

    /// Bytes of packed weights and tables.
    pub fn bytes(&self) -> usize {
        self.input.bytes()
            + self.cond.bytes()
            + self.gru.iter().map(|g| g.bytes()).sum::<usize>()
            + self.upsample.bytes()
            + self.up_bias.len() * 4
    }
}
