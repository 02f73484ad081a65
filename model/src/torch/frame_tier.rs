//! A frame-level tier: a GRU over frames of past samples, conditioned on the tier above and on
//! the note features, upsampled by one linear map into the next tier's per-sub-frame inputs.

use tch::nn::{self, Module, RNN};
use tch::Tensor;

/// One frame tier (`top` or `mid`).
#[derive(Debug)]
pub struct FrameTier {
    /// Samples per frame this tier reads.
    pub frame: i64,
    /// Sub-frames per frame in the tier below.
    pub ratio: i64,
    /// Width of each sub-frame output.
    pub out_dim: i64,
    input: nn::Linear,
    cond: nn::Linear,
    gru: nn::GRU,
    h0: Tensor,
    upsample: nn::Linear,
}

impl FrameTier {
    /// Builds the tier under `p` (`p / "top"` or `p / "mid"`).
    pub fn new(p: &nn::Path, frame: i64, dim: i64, layers: i64, cond_dim: i64, ratio: i64, out_dim: i64) -> Self {
        let cfg = nn::RNNConfig { num_layers: layers, batch_first: true, ..Default::default() };
        FrameTier {
            frame,
            ratio,
            out_dim,
            input: nn::linear(p / "input", frame, dim, Default::default()),
            cond: nn::linear(p / "cond", cond_dim, dim, Default::default()),
            gru: nn::gru(p / "gru", dim, dim, cfg),
            h0: p.var("h0", &[layers, dim], nn::Init::Const(0.0)),
            upsample: nn::linear(p / "upsample", dim, ratio * out_dim, Default::default()),
        }
    }

    /// The learned initial state for `batch` sequences, `[layers, B, dim]`.
    pub fn initial_state(&self, batch: i64) -> Tensor {
        self.h0.unsqueeze(1).expand([-1, batch, -1], true).contiguous()
    }

    /// The conditioning projection, applied to `[B, N, cond_dim]` → `[B, N, dim]`.
    /// Separate so generation can project a whole block at once.
    pub fn project_cond(&self, cond: &Tensor) -> Tensor {
        self.cond.forward(cond)
    }

    /// Runs `N` frames. `frames`: `[B, N, frame]` frame inputs (see `quantize::frame_input`);
    /// `cond_proj`: `[B, N, dim]` from [`Self::project_cond`]; `upper`: the tier above's
    /// `[B, N, dim]` or `None` for the top tier; `h`: `[layers, B, dim]`.
    /// Returns the sub-frame outputs `[B, N * ratio, out_dim]` and the new state.
    pub fn forward(&self, frames: &Tensor, cond_proj: &Tensor, upper: Option<&Tensor>, h: &Tensor) -> (Tensor, Tensor) {
        let mut x = self.input.forward(frames) + cond_proj;
        if let Some(u) = upper {
            x += u;
        }
        let (out, state) = self.gru.seq_init(&x, &nn::GRUState(h.shallow_clone()));
        let (b, n) = (out.size()[0], out.size()[1]);
        let up = self.upsample.forward(&out).view([b, n * self.ratio, self.out_dim]);
        (up, state.0)
    }
}
