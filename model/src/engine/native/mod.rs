//! The native engine: the conditioned SampleRNN in pure Rust, for the plugin's worker thread.
//!
//! Loading ([`NativeEngine::new`]) validates the voice, packs every weight matrix into the
//! kernels' layout, folds the note embedding into per-note tables, the sample embedding and
//! the MLP's first layer into a lookup table, and allocates all state and scratch for
//! `max_batch` rows. After that, [`Engine::generate`], [`NativeEngine::teacher_force`],
//! [`Engine::reset_row`] and [`Engine::set_temperature`] never allocate, never lock and never
//! panic on well-formed calls (malformed ones return an [`EngineError`] first); they run on
//! the calling thread only. See `README.md` beside this file for the budget reasoning.
//!
//! The state contract is the [`Engine`] trait's: reset a row before its first block, at a
//! top-frame boundary; frame tiers of all active rows run together at global frame
//! boundaries; idle rows cost nothing.

mod aligned;
mod cond_table;
mod frame_tier;
mod gru;
mod isa;
mod matmul;
#[cfg(target_arch = "x86_64")]
mod matmul_avx2;
#[cfg(target_arch = "x86_64")]
mod matmul_avx512;
mod packed;
mod row_state;
mod sample_mlp;
mod sampler;
mod vector_ops;
mod weights;

pub use isa::Isa;

use aligned::{pad, AlignedBuf};
use frame_tier::{FrameTier, TierInputs, TierScratch, TierShape};
use isa::Dispatch;
use row_state::{RowLens, RowStates};
use sample_mlp::{MlpScratch, SampleMlp};
use sampler::SampleScratch;
use weights::Weights;

use super::{check_block, check_reset, Engine, EngineError, GREEDY_TEMPERATURE};
use crate::conditioning::{Conditioning, SCALAR_FEATURES};
use crate::hparams::HParams;
use crate::pitch_lag;
use crate::quantize::{frame_input, Q_LEVELS};
use crate::rng::SplitMix64;
use crate::voice_file::Voice;

/// Scratch for one block, sized for `max_batch` rows at load.
struct Scratch {
    seen: Vec<bool>,
    notes: Vec<u8>,
    feats: Vec<[f32; SCALAR_FEATURES]>,
    /// The codes the sample MLP reads for one row: its window, then its pitch-lag taps.
    mlp_codes: Vec<u8>,
    /// Frame inputs, `top_frame` rounded up to 16 per row.
    frames: AlignedBuf,
    frames_stride: usize,
    /// Gathered GRU states of the active rows.
    h: AlignedBuf,
    /// Gathered top-tier outputs for the middle tier.
    upper: AlignedBuf,
    /// Upsampled outputs of the active rows, before they are scattered to the rows.
    up: AlignedBuf,
    top: TierScratch,
    mid: TierScratch,
    mlp: MlpScratch,
    sample: SampleScratch,
}

/// The native engine for one voice and up to `max_batch` voices at once.
pub struct NativeEngine {
    hp: HParams,
    d: Dispatch,
    max_batch: usize,
    top: FrameTier,
    mid: FrameTier,
    mlp: SampleMlp,
    frame_inputs: [f32; Q_LEVELS],
    rows: RowStates,
    s: Scratch,
    clock: u64,
    temperature: f32,
    /// The GRU states a row is reset to: the learned initial states after
    /// [`crate::engine::WARMUP_SAMPLES`] of silence (see there).
    warm_top: Vec<f32>,
    warm_mid: Vec<f32>,
    /// The pitch lag of every note, computed at load.
    lags: pitch_lag::LagTable,
}

/// Where the codes come from after each sample's logits: sampling or teacher forcing.
trait CodeSource {
    /// Whether the logits should carry the temperature.
    fn scaled(&self) -> bool;
    /// The code of active row `a` at block sample `i`, given its logits.
    fn take(&mut self, d: Dispatch, a: usize, i: usize, logits: &[f32], rng: &mut SplitMix64, s: &mut SampleScratch) -> u8;
}

/// Sampling into the output slices.
struct Sampling<'a, 'b> {
    out: &'a mut [&'b mut [u8]],
    greedy: bool,
}

impl CodeSource for Sampling<'_, '_> {
    fn scaled(&self) -> bool {
        !self.greedy
    }
    fn take(&mut self, d: Dispatch, a: usize, i: usize, logits: &[f32], rng: &mut SplitMix64, s: &mut SampleScratch) -> u8 {
        // One uniform per sample per row, also when greedy, so streams stay aligned.
        let u = rng.next_f32();
        let code = if self.greedy { sampler::greedy(d, logits) } else { sampler::inverse_cdf(d, logits, u, s) };
        self.out[a][i] = code;
        code
    }
}

/// Teacher forcing: given codes, logits out.
struct TeacherForcing<'a, 'b, 'c> {
    codes: &'a [&'b [u8]],
    logits: &'a mut [&'c mut [f32]],
}

impl CodeSource for TeacherForcing<'_, '_, '_> {
    fn scaled(&self) -> bool {
        false
    }
    fn take(&mut self, _: Dispatch, a: usize, i: usize, logits: &[f32], _: &mut SplitMix64, _: &mut SampleScratch) -> u8 {
        self.logits[a][i * Q_LEVELS..(i + 1) * Q_LEVELS].copy_from_slice(&logits[..Q_LEVELS]);
        self.codes[a][i]
    }
}

impl NativeEngine {
    /// Loads `voice` for up to `max_batch` rows, with the fastest kernels this CPU runs.
    /// Every row starts reset with seed 0; temperature 1.
    pub fn new(voice: &Voice, max_batch: usize) -> Result<NativeEngine, String> {
        Self::with_isa(voice, max_batch, Isa::detect())
    }

    /// As [`NativeEngine::new`] with the kernels of `isa` (tests and benchmarks); an error if
    /// this CPU does not run it.
    pub fn with_isa(voice: &Voice, max_batch: usize, isa: Isa) -> Result<NativeEngine, String> {
        let d = Dispatch::new(isa).ok_or_else(|| format!("this CPU does not run the {isa} kernels"))?;
        if max_batch == 0 {
            return Err("max_batch must be at least 1".into());
        }
        let w = Weights::new(voice)?;
        let hp = voice.meta.hparams;
        let note_emb = w.get("note_emb.weight");
        let top_shape =
            TierShape { frame: hp.top_frame(), dim: hp.top_dim, layers: hp.rnn_layers, ratio: hp.top_ratio, out_dim: hp.mid_dim };
        let mid_shape = TierShape { frame: hp.mid_frame, dim: hp.mid_dim, layers: hp.rnn_layers, ratio: hp.mid_frame, out_dim: hp.mlp_dim };
        let top = FrameTier::load(&w, "top", top_shape, note_emb, hp.note_emb_dim);
        let mid = FrameTier::load(&w, "mid", mid_shape, note_emb, hp.note_emb_dim);
        let mlp = SampleMlp::load(&w, hp.mid_frame, hp.pitch_lag_taps, hp.mlp_dim, hp.sample_emb_dim, note_emb, hp.note_emb_dim);
        let lens = RowLens {
            history: hp.history_len(),
            h_top: top_shape.state_len(),
            h_mid: mid_shape.state_len(),
            top_up: top_shape.up_len(),
            mid_up: mid_shape.up_len(),
        };
        let b = max_batch;
        let frames_stride = pad(hp.top_frame());
        let s = Scratch {
            seen: vec![false; b],
            notes: vec![0; b],
            feats: vec![[0.0; SCALAR_FEATURES]; b],
            mlp_codes: vec![0; hp.mid_frame + hp.pitch_lag_taps],
            frames: AlignedBuf::zeros(b * frames_stride),
            frames_stride,
            h: AlignedBuf::zeros(b * lens.h_top.max(lens.h_mid)),
            upper: AlignedBuf::zeros(b * mid_shape.dim_pad()),
            up: AlignedBuf::zeros(b * lens.top_up.max(lens.mid_up)),
            top: TierScratch::new(top_shape, b),
            mid: TierScratch::new(mid_shape, b),
            mlp: MlpScratch::new(hp.mlp_dim, b),
            sample: SampleScratch::default(),
        };
        let mut engine = NativeEngine {
            hp,
            d,
            max_batch,
            top,
            mid,
            mlp,
            frame_inputs: std::array::from_fn(|c| frame_input(c as u8)),
            rows: RowStates::new(lens, b),
            s,
            clock: 0,
            temperature: 1.0,
            warm_top: Vec::new(),
            warm_mid: Vec::new(),
            lags: pitch_lag::LagTable::new(hp.pitch_lag_taps),
        };
        engine.warm_up();
        for row in 0..b {
            engine.reset_row(row, 0).expect("the clock starts at a boundary");
        }
        engine.set_temperature(1.0);
        Ok(engine)
    }

    /// Finds the reset states: row 0 from the learned initial states, teacher-forced with
    /// silence (silent conditioning) for [`crate::engine::WARMUP_SAMPLES`]; then the clock back
    /// to 0. Runs once, at load (it allocates a frame of logits).
    fn warm_up(&mut self) {
        self.warm_top = self.top.h0().to_vec();
        self.warm_mid = self.mid.h0().to_vec();
        self.rows.reset(0, &self.warm_top, &self.warm_mid, SplitMix64::new(0));
        let tf = self.hp.top_frame();
        let codes = vec![crate::quantize::SILENCE_CODE; tf];
        let cond = vec![Conditioning::SILENT; tf];
        let mut logits = vec![0f32; tf * Q_LEVELS];
        for _ in 0..crate::engine::WARMUP_SAMPLES.div_ceil(tf) {
            self.teacher_force(&[0], &[&codes], &[&cond], &mut [&mut logits]).expect("a well-formed frame");
        }
        let (lt, lm) = (self.warm_top.len(), self.warm_mid.len());
        self.warm_top.copy_from_slice(&self.rows.h_top[..lt]);
        self.warm_mid.copy_from_slice(&self.rows.h_mid[..lm]);
        self.clock = 0;
    }

    /// The kernels in use.
    pub fn isa(&self) -> Isa {
        self.d.isa()
    }

    /// The voice's shape.
    pub fn hparams(&self) -> HParams {
        self.hp
    }

    /// The sampling temperature.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Bytes of packed weights and folded tables (what generation streams through).
    pub fn weight_bytes(&self) -> usize {
        self.top.bytes() + self.mid.bytes() + self.mlp.bytes()
    }

    /// Teacher forcing: runs the rows in `rows` over the block, feeding `codes[i]` as row
    /// `rows[i]`'s samples instead of sampling, and writes the logits of every sample (256 per
    /// sample, without temperature) to `logits[i]` (length 256 × block). The rows' state and
    /// the clock advance as in [`Engine::generate`]; no uniforms are drawn. Allocation-free.
    pub fn teacher_force(
        &mut self,
        rows: &[usize],
        codes: &[&[u8]],
        cond: &[&[Conditioning]],
        logits: &mut [&mut [f32]],
    ) -> Result<(), EngineError> {
        let n = check_block(self.max_batch, rows, cond, logits.iter().map(|l| l.len()), Q_LEVELS, &mut self.s.seen)?;
        check_block(self.max_batch, rows, cond, codes.iter().map(|c| c.len()), 1, &mut self.s.seen)?;
        self.run_block(rows, cond, n, &mut TeacherForcing { codes, logits });
        Ok(())
    }

    /// Advances the clock with every row idle (see [`Engine::skip`]).
    fn skip_samples(&mut self, samples: usize) {
        self.clock += samples as u64;
    }

    /// The block loop shared by sampling and teacher forcing.
    fn run_block<S: CodeSource>(&mut self, rows: &[usize], cond: &[&[Conditioning]], n: usize, src: &mut S) {
        if rows.is_empty() {
            self.clock += n as u64;
            return;
        }
        let (tf, mf) = (self.hp.top_frame(), self.hp.mid_frame);
        for i in 0..n {
            let phase = (self.clock % tf as u64) as usize;
            let sub = phase % mf;
            if phase == 0 {
                self.top_step(rows, cond, i);
            }
            if sub == 0 {
                self.mid_step(rows, cond, i, phase / mf);
            }
            self.mlp_step(rows, cond, i, sub, src);
            self.clock += 1;
        }
    }

    /// Gathers each active row's conditioning at block sample `i` and its last `frame` samples.
    fn gather_inputs(&mut self, rows: &[usize], cond: &[&[Conditioning]], i: usize, frame: usize) {
        let s = &mut self.s;
        for (a, &row) in rows.iter().enumerate() {
            let c = cond[a][i];
            (s.notes[a], s.feats[a]) = (c.note, c.scalar_features(self.hp.horizon, self.hp.age_horizon));
            let f = &mut s.frames[a * s.frames_stride..a * s.frames_stride + frame];
            for (x, &code) in f.iter_mut().zip(self.rows.recent(row, frame)) {
                *x = self.frame_inputs[code as usize];
            }
        }
    }

    /// The top tier for every active row (at a top-frame boundary).
    fn top_step(&mut self, rows: &[usize], cond: &[&[Conditioning]], i: usize) {
        let shape = self.top.shape();
        self.gather_inputs(rows, cond, i, shape.frame);
        let (hl, ul, n) = (shape.state_len(), shape.up_len(), rows.len());
        let Self { d, top, rows: st, s, .. } = self;
        for (a, &row) in rows.iter().enumerate() {
            s.h[a * hl..(a + 1) * hl].copy_from_slice(&st.h_top[row * hl..(row + 1) * hl]);
        }
        let inp = TierInputs { frames: &s.frames, frames_stride: s.frames_stride, notes: &s.notes, feats: &s.feats, upper: None };
        top.step(*d, n, inp, &mut s.h, &mut s.top, &mut s.up);
        for (a, &row) in rows.iter().enumerate() {
            st.h_top[row * hl..(row + 1) * hl].copy_from_slice(&s.h[a * hl..(a + 1) * hl]);
            st.top_up[row * ul..(row + 1) * ul].copy_from_slice(&s.up[a * ul..(a + 1) * ul]);
        }
    }

    /// The middle tier for every active row (at a middle-frame boundary), reading sub-frame
    /// `k` of the top tier's output.
    fn mid_step(&mut self, rows: &[usize], cond: &[&[Conditioning]], i: usize, k: usize) {
        let shape = self.mid.shape();
        self.gather_inputs(rows, cond, i, shape.frame);
        let (hl, ul, n, dp) = (shape.state_len(), shape.up_len(), rows.len(), shape.dim_pad());
        let top_ul = self.top.shape().up_len();
        let Self { d, mid, rows: st, s, .. } = self;
        for (a, &row) in rows.iter().enumerate() {
            s.h[a * hl..(a + 1) * hl].copy_from_slice(&st.h_mid[row * hl..(row + 1) * hl]);
            s.upper[a * dp..(a + 1) * dp].copy_from_slice(&st.top_up[row * top_ul + k * dp..][..dp]);
        }
        let inp = TierInputs { frames: &s.frames, frames_stride: s.frames_stride, notes: &s.notes, feats: &s.feats, upper: Some(&s.upper) };
        mid.step(*d, n, inp, &mut s.h, &mut s.mid, &mut s.up);
        for (a, &row) in rows.iter().enumerate() {
            st.h_mid[row * hl..(row + 1) * hl].copy_from_slice(&s.h[a * hl..(a + 1) * hl]);
            st.mid_up[row * ul..(row + 1) * ul].copy_from_slice(&s.up[a * ul..(a + 1) * ul]);
        }
    }

    /// The sample MLP for every active row at block sample `i`, sub-frame position `j`, then
    /// the next code of each row from `src`.
    fn mlp_step<S: CodeSource>(&mut self, rows: &[usize], cond: &[&[Conditioning]], i: usize, j: usize, src: &mut S) {
        let Self { d, mlp, rows: st, s, hp, lags, .. } = self;
        let (w, mp) = (mlp.window(), mlp.dim_pad());
        let mid_ul = hp.mid_frame * mp;
        let history = hp.history_len();
        for (a, &row) in rows.iter().enumerate() {
            let c = cond[a][i];
            let feats = c.scalar_features(hp.horizon, hp.age_horizon);
            let up = &st.mid_up[row * mid_ul + j * mp..][..mp];
            let (window, taps) = s.mlp_codes.split_at_mut(w);
            window.copy_from_slice(st.recent(row, w));
            if !taps.is_empty() {
                lags.taps_into(st.recent(row, history), c.note, taps);
            }
            mlp.first_layer(*d, &mut s.mlp, a, &s.mlp_codes, up, c.note, &feats);
        }
        let scaled = src.scaled();
        mlp.head(*d, rows.len(), &mut s.mlp, scaled);
        for (a, &row) in rows.iter().enumerate() {
            let logits = &s.mlp.logits[a * Q_LEVELS..(a + 1) * Q_LEVELS];
            let code = src.take(*d, a, i, logits, &mut st.rngs[row], &mut s.sample);
            st.push(row, code);
        }
    }
}

impl Engine for NativeEngine {
    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn top_frame(&self) -> usize {
        self.hp.top_frame()
    }

    fn clock_samples(&self) -> u64 {
        self.clock
    }

    fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError> {
        check_reset(self.max_batch, self.clock, self.hp.top_frame(), row)?;
        self.rows.reset(row, &self.warm_top, &self.warm_mid, SplitMix64::for_row(seed, row as u64));
        Ok(())
    }

    fn set_temperature(&mut self, temperature: f32) {
        let t = if temperature.is_nan() { 0.0 } else { temperature.max(0.0) };
        self.temperature = t;
        self.mlp.set_temperature(t);
    }

    fn skip(&mut self, samples: usize) {
        self.skip_samples(samples);
    }

    fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError> {
        let n = check_block(self.max_batch, rows, cond, out.iter().map(|o| o.len()), 1, &mut self.s.seen)?;
        let greedy = self.temperature <= GREEDY_TEMPERATURE;
        self.run_block(rows, cond, n, &mut Sampling { out, greedy });
        Ok(())
    }
}
