//! The whole conditioned SampleRNN, run over sequences (training, teacher-forced evaluation).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::cond_features::CondBatch;
use super::frame_tier::FrameTier;
use super::sample_mlp::SampleMlp;
use crate::conditioning::{NOTE_NONE, NOTE_ROWS};
use crate::hparams::HParams;
use crate::pitch_lag::{first_offset, LagTable};
use crate::quantize::SILENCE_CODE;

/// The model: note embedding, top and middle frame tiers, sample MLP.
#[derive(Debug)]
pub struct SampleRnn {
    /// Its shape.
    pub hp: HParams,
    pub(crate) note_emb: nn::Embedding,
    pub(crate) top: FrameTier,
    pub(crate) mid: FrameTier,
    pub(crate) mlp: SampleMlp,
    /// The pitch lag of every note (`LagTable::as_i64`), computed once for its tap count.
    pub(crate) lags: [i64; NOTE_ROWS],
}

/// Hidden states carried between chunks of a sequence (truncated BPTT) or between blocks.
pub struct TierStates {
    /// Top GRU state `[layers, B, top_dim]`.
    pub top: Tensor,
    /// Middle GRU state `[layers, B, mid_dim]`.
    pub mid: Tensor,
}

impl TierStates {
    /// The same states cut from the graph (the truncation of truncated BPTT).
    pub fn detach(&self) -> TierStates {
        TierStates { top: self.top.detach(), mid: self.mid.detach() }
    }

    /// States of one sequence (`[layers, 1, dim]`) repeated for `batch` rows.
    pub fn repeated(&self, batch: i64) -> TierStates {
        let expand = |t: &Tensor| t.expand([-1, batch, -1], true).contiguous();
        TierStates { top: expand(&self.top), mid: expand(&self.mid) }
    }
}

impl SampleRnn {
    /// Builds the model in `vs` (root path): names equal `hp.tensor_shapes()`.
    pub fn new(vs: &nn::Path, hp: HParams) -> Self {
        let cond = hp.cond_dim() as i64;
        let (mf, tr) = (hp.mid_frame as i64, hp.top_ratio as i64);
        let layers = hp.rnn_layers as i64;
        SampleRnn {
            hp,
            note_emb: nn::embedding(vs / "note_emb", NOTE_ROWS as i64, hp.note_emb_dim as i64, Default::default()),
            top: FrameTier::new(&(vs / "top"), mf * tr, hp.top_dim as i64, layers, cond, tr, hp.mid_dim as i64),
            mid: FrameTier::new(&(vs / "mid"), mf, hp.mid_dim as i64, layers, cond, mf, hp.mlp_dim as i64),
            mlp: SampleMlp::new(&(vs / "mlp"), mf, hp.pitch_lag_taps as i64, hp.sample_emb_dim as i64, hp.mlp_dim as i64, cond),
            lags: LagTable::new(hp.pitch_lag_taps).as_i64(),
        }
    }

    /// Learned initial states for `batch` sequences.
    pub fn initial_states(&self, batch: i64) -> TierStates {
        TierStates { top: self.top.initial_state(batch), mid: self.mid.initial_state(batch) }
    }

    /// The states a generator resets a row to: the learned initial states after
    /// `engine::WARMUP_SAMPLES` (rounded up to top frames) of silence, `[layers, 1, dim]` each.
    pub fn warm_states(&self, device: tch::Device) -> TierStates {
        let tf = self.hp.top_frame();
        let k = crate::engine::WARMUP_SAMPLES.div_ceil(tf) * tf;
        let codes = Self::silence(1, (self.hp.history_len() + k) as i64, device);
        let silent = vec![crate::conditioning::Conditioning::SILENT; k];
        let cond = CondBatch::from_rows(&[&silent], &self.hp, device);
        let _guard = tch::no_grad_guard();
        self.forward(&codes, &cond, &self.initial_states(1)).1
    }

    /// [`Self::warm_states`] for `batch` rows.
    pub fn warm_batch(&self, batch: i64, device: tch::Device) -> TierStates {
        self.warm_states(device).repeated(batch)
    }

    /// The conditioning vectors `[B, T, cond_dim]`: note embedding, velocity, remaining.
    pub fn cond_features(&self, cond: &CondBatch) -> Tensor {
        Tensor::cat(&[self.note_emb.forward(&cond.note), cond.scalars.shallow_clone()], 2)
    }

    /// Teacher-forced logits for `T` samples (T a multiple of the top frame).
    ///
    /// `codes`: `[B, H + T]` int64 with H = `hp.history_len()`: the H samples before the chunk
    /// (silence before the start of a sequence), then the chunk's own samples (targets; the
    /// last one is never an input). `cond`: the conditioning of the T predicted samples.
    /// Returns logits `[B, T, 256]` and the states after the chunk.
    pub fn forward(&self, codes: &Tensor, cond: &CondBatch, states: &TierStates) -> (Tensor, TierStates) {
        let (b, total) = (codes.size()[0], codes.size()[1]);
        let tf = self.top.frame;
        let mf = self.mid.frame;
        let h = self.hp.history_len() as i64;
        let t = total - h;
        assert!(t > 0 && t % tf == 0, "chunk length {t} must be a positive multiple of {tf}");
        let c = self.cond_features(cond);
        let input = frame_input(codes);

        // Top tier: frame j reads the top_frame samples before its first predicted sample.
        let top_frames = input.narrow(1, h - tf, t).view([b, t / tf, tf]);
        let top_cond = self.top.project_cond(&c.slice(1, 0, t, tf));
        let (top_up, top_h) = self.top.forward(&top_frames, &top_cond, None, &states.top);

        // Middle tier: frame i reads the mid_frame samples before its first predicted sample.
        let mid_frames = input.narrow(1, h - mf, t).view([b, t / mf, mf]);
        let mid_cond = self.mid.project_cond(&c.slice(1, 0, t, mf));
        let (mid_up, mid_h) = self.mid.forward(&mid_frames, &mid_cond, Some(&top_up), &states.mid);

        // Sample MLP: sample s reads the window samples before it, and the pitch-lag taps.
        let w = self.mlp.window;
        let window_codes = codes.narrow(1, h - w, t + w - 1);
        let lag = self.lag_taps(codes, &cond.note, h);
        let logits = self.mlp.forward(&window_codes, lag.as_ref(), &mid_up, &self.mlp.project_cond(&c));
        (logits, TierStates { top: top_h, mid: mid_h })
    }

    /// The pitch-lag taps `[B, n, taps]` (see `pitch_lag`) of the `n` samples whose notes are
    /// `note` `[B, n]`, sample i following `codes[.., first + i]` (`codes`: `[B, first + n]` or
    /// longer, at least `LAG_HISTORY` before each); `None` for a model without a pitch lag.
    pub fn lag_taps(&self, codes: &Tensor, note: &Tensor, first: i64) -> Option<Tensor> {
        let taps = self.hp.pitch_lag_taps;
        if taps == 0 {
            return None;
        }
        let device = codes.device();
        let (b, n) = (note.size()[0], note.size()[1]);
        let table = Tensor::from_slice(&self.lags).to_device(device);
        let lag = table.index_select(0, &note.reshape([-1])).view([b, n, 1]);
        let offsets = Tensor::arange(taps as i64, (Kind::Int64, device)) + first_offset(taps) as i64;
        let at = Tensor::arange(n, (Kind::Int64, device)).view([1, n, 1]) + first - lag + offsets.view([1, 1, -1]);
        let read = codes.gather(1, &at.reshape([b, -1]), false).view([b, n, taps as i64]);
        let silent = note.ge(NOTE_NONE as i64).unsqueeze(2);
        Some(read.masked_fill(&silent, SILENCE_CODE as i64))
    }

    /// The targets of a chunk given to [`Self::forward`]: its codes after the history, `[B, T]`.
    pub fn targets(&self, codes: &Tensor) -> Tensor {
        let h = self.hp.history_len() as i64;
        codes.narrow(1, h, codes.size()[1] - h)
    }

    /// Mean negative log-likelihood in nats of `targets` `[B, T]` under `logits` `[B, T, 256]`.
    pub fn nll(logits: &Tensor, targets: &Tensor) -> Tensor {
        let q = logits.size()[2];
        logits.reshape([-1, q]).cross_entropy_for_logits(&targets.reshape([-1]))
    }

    /// Summed NLL in nats (for exact averages over uneven chunks).
    pub fn nll_sum(logits: &Tensor, targets: &Tensor) -> Tensor {
        let q = logits.size()[2];
        logits.reshape([-1, q]).log_softmax(-1, Kind::Float).g_nll_loss::<Tensor>(&targets.reshape([-1]), None, tch::Reduction::Sum, -100)
    }

    /// A `[B, n]` int64 tensor of silence codes (the history before a sequence starts).
    pub fn silence(batch: i64, n: i64, device: tch::Device) -> Tensor {
        Tensor::full([batch, n], SILENCE_CODE as i64, (Kind::Int64, device))
    }
}

/// The frame tiers' input for codes: (code − 128) / 64, as `quantize::frame_input`.
pub(crate) fn frame_input(codes: &Tensor) -> Tensor {
    (codes.to_kind(Kind::Float) - SILENCE_CODE as f64) / 64.0
}
