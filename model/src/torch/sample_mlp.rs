//! The sample-level tier: an MLP over the previous `window` samples (embedded), the middle
//! tier's per-sample output and the conditioning of the sample it predicts.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::quantize::Q_LEVELS;

/// The sample MLP (`mlp`).
#[derive(Debug)]
pub struct SampleMlp {
    /// Past samples it reads.
    pub window: i64,
    /// Hidden width.
    pub dim: i64,
    embedding: nn::Embedding,
    /// `[dim, emb, window]`: a Conv1d weight without bias, applied as one matmul when stepping.
    input: Tensor,
    /// `[dim, emb, taps]`: the same for the pitch-lag taps (`None` without a pitch lag).
    lag: Option<Tensor>,
    cond: nn::Linear,
    hidden1: nn::Linear,
    hidden2: nn::Linear,
    output: nn::Linear,
}

impl SampleMlp {
    /// Builds the MLP under `p / "mlp"`.
    pub fn new(p: &nn::Path, window: i64, lag_taps: i64, emb_dim: i64, dim: i64, cond_dim: i64) -> Self {
        let q = Q_LEVELS as i64;
        let fan_in = (emb_dim * (window + lag_taps)) as f64;
        let bound = 1.0 / fan_in.sqrt();
        let init = nn::Init::Uniform { lo: -bound, up: bound };
        SampleMlp {
            window,
            dim,
            embedding: nn::embedding(p / "embedding", q, emb_dim, Default::default()),
            input: (p / "input").var("weight", &[dim, emb_dim, window], init),
            lag: (lag_taps > 0).then(|| (p / "lag").var("weight", &[dim, emb_dim, lag_taps], init)),
            cond: nn::linear(p / "cond", cond_dim, dim, Default::default()),
            hidden1: nn::linear(p / "hidden1", dim, dim, Default::default()),
            hidden2: nn::linear(p / "hidden2", dim, dim, Default::default()),
            output: nn::linear(p / "output", dim, q, Default::default()),
        }
    }

    /// The conditioning projection, `[.., cond_dim]` → `[.., dim]`.
    pub fn project_cond(&self, cond: &Tensor) -> Tensor {
        self.cond.forward(cond)
    }

    /// Logits for `T` consecutive samples. `codes`: `[B, T + window - 1]` int64 (the window
    /// before each predicted sample); `lag`: the pitch-lag taps of each sample `[B, T, taps]`
    /// int64 (when the model has them); `upper`, `cond_proj`: `[B, T, dim]`. Returns `[B, T, 256]`.
    pub fn forward(&self, codes: &Tensor, lag: Option<&Tensor>, upper: &Tensor, cond_proj: &Tensor) -> Tensor {
        let emb = self.embedding.forward(codes).transpose(1, 2); // [B, E, T + w - 1]
        let mut x = emb.conv1d(&self.input, None::<Tensor>, [1], [0], [1], 1).transpose(1, 2);
        if let Some(w) = &self.lag {
            let lag = lag.expect("a model with a pitch lag is given its taps");
            let (b, t) = (lag.size()[0], lag.size()[1]);
            // [B, T, taps, E] -> [B, T, E, taps] -> [B, T, E*taps], as the weight [dim, E, taps].
            let emb = self.embedding.forward(lag).transpose(2, 3).reshape([b, t, -1]);
            x += emb.matmul(&w.view([self.dim, -1]).tr());
        }
        self.head(x + upper + cond_proj)
    }

    /// Logits for one sample per row: `window`: `[B, window]` int64, `lag`: `[B, taps]` int64
    /// (when the model has a pitch lag), `upper`, `cond_proj`: `[B, dim]`.
    pub fn step(&self, window: &Tensor, lag: Option<&Tensor>, upper: &Tensor, cond_proj: &Tensor) -> Tensor {
        // The window and the lag taps as one row of codes against both weights side by side.
        let (codes, weight) = match (&self.lag, lag) {
            (Some(w), Some(lag)) => (Tensor::cat(&[window, lag], 1), Tensor::cat(&[&self.input, w], 2)),
            (Some(_), None) => panic!("a model with a pitch lag is given its taps"),
            (None, _) => (window.shallow_clone(), self.input.shallow_clone()),
        };
        let b = codes.size()[0];
        // [B, n, E] -> [B, E, n] -> [B, E*n], matching the weight [dim, E, n] flattened.
        let emb = self.embedding.forward(&codes).transpose(1, 2).reshape([b, -1]);
        let x = emb.matmul(&weight.reshape([self.dim, -1]).tr());
        self.head(x + upper + cond_proj)
    }

    fn head(&self, x: Tensor) -> Tensor {
        let h = x.relu();
        let h = self.hidden1.forward(&h).relu();
        let h = self.hidden2.forward(&h).relu();
        self.output.forward(&h)
    }
}
