//! The torch engine: autoregressive generation with the training model's own layers, batched
//! across voices (one row each), on CPU or CUDA. Implements [`Engine`] (see its state contract).
//!
//! Work per block is arranged so the device never waits on the host inside the block: the
//! conditioning projections and the uniforms for sampling are uploaded once per block, and
//! the sampled codes stay on the device until the block ends. When only some rows are active,
//! their state is gathered into a smaller batch once per block and scattered back after it.

use tch::{Device, Kind, Tensor};

use super::cond_features::CondBatch;
use super::samplernn::{frame_input, SampleRnn, TierStates};
use crate::conditioning::Conditioning;
use crate::engine::{check_block, check_reset, Engine, EngineError, GREEDY_TEMPERATURE};
use crate::quantize::SILENCE_CODE;
use crate::rng::SplitMix64;

/// The per-row state of a batch of rows, as tensors on the model's device.
struct RowsState {
    states: TierStates,
    /// The last `hp.history_len()` codes of each row, `[B, H]` int64.
    history: Tensor,
    /// Pending top-tier outputs for the middle frames of the current top frame.
    top_up: Tensor,
    /// Pending middle-tier outputs for the samples of the current middle frame.
    mid_up: Tensor,
}

impl RowsState {
    fn shallow_clone(&self) -> RowsState {
        RowsState {
            states: TierStates { top: self.states.top.shallow_clone(), mid: self.states.mid.shallow_clone() },
            history: self.history.shallow_clone(),
            top_up: self.top_up.shallow_clone(),
            mid_up: self.mid_up.shallow_clone(),
        }
    }

    /// The rows `idx` (int64 on the device) of this state.
    fn select(&self, idx: &Tensor) -> RowsState {
        RowsState {
            states: TierStates { top: self.states.top.index_select(1, idx), mid: self.states.mid.index_select(1, idx) },
            history: self.history.index_select(0, idx),
            top_up: self.top_up.index_select(0, idx),
            mid_up: self.mid_up.index_select(0, idx),
        }
    }

    /// Writes `sub` back into rows `idx`.
    fn scatter(&mut self, idx: &Tensor, sub: &RowsState) {
        let _ = self.states.top.index_copy_(1, idx, &sub.states.top);
        let _ = self.states.mid.index_copy_(1, idx, &sub.states.mid);
        let _ = self.history.index_copy_(0, idx, &sub.history);
        let _ = self.top_up.index_copy_(0, idx, &sub.top_up);
        let _ = self.mid_up.index_copy_(0, idx, &sub.mid_up);
    }
}

/// Generation state for a batch of voices. Every row starts reset (seeded by `new`'s seed).
pub struct TorchGenerator<'m> {
    model: &'m SampleRnn,
    device: Device,
    batch: i64,
    temperature: f64,
    seed: u64,
    rngs: Vec<SplitMix64>,
    rows: RowsState,
    /// The states a row is reset to (`SampleRnn::warm_states`), batch 1.
    warm: TierStates,
    /// Samples generated since the reset (all rows in lock step).
    t: u64,
    seen: Vec<bool>,
}

impl<'m> TorchGenerator<'m> {
    /// A generator for `batch` voices starting from silence, row `r` drawing from
    /// `SplitMix64::for_row(seed, r)`.
    pub fn new(model: &'m SampleRnn, device: Device, batch: usize, seed: u64, temperature: f64) -> Self {
        // The warm-up is a forward pass over 2048 samples: once per generator, not per reset.
        let warm = tch::no_grad(|| model.warm_states(device));
        Self::from_warm(model, device, batch, seed, temperature, warm)
    }

    /// A generator whose rows start from (and reset to) `warm`.
    fn from_warm(model: &'m SampleRnn, device: Device, batch: usize, seed: u64, temperature: f64, warm: TierStates) -> Self {
        let b = batch as i64;
        let hp = model.hp;
        let _guard = tch::no_grad_guard();
        TorchGenerator {
            model,
            device,
            batch: b,
            temperature,
            seed,
            rngs: (0..batch as u64).map(|r| SplitMix64::for_row(seed, r)).collect(),
            rows: RowsState {
                states: warm.repeated(b),
                history: SampleRnn::silence(b, hp.history_len() as i64, device),
                top_up: Tensor::zeros([b, hp.top_ratio as i64, hp.mid_dim as i64], (Kind::Float, device)),
                mid_up: Tensor::zeros([b, hp.mid_frame as i64, hp.mlp_dim as i64], (Kind::Float, device)),
            },
            warm,
            t: 0,
            seen: vec![false; batch],
        }
    }

    /// Back to the state of `new`, every row and the clock.
    pub fn reset(&mut self) {
        let warm = TierStates { top: self.warm.top.shallow_clone(), mid: self.warm.mid.shallow_clone() };
        *self = TorchGenerator::from_warm(self.model, self.device, self.batch as usize, self.seed, self.temperature, warm);
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Generates `cond[b].len()` samples (the same for every row) for every row `b` of the
    /// batch, writing the codes to `out[b]`.
    ///
    /// # Panics
    /// If there is not one conditioning and one output row per voice, of one length.
    pub fn generate_all(&mut self, cond: &[&[Conditioning]], out: &mut [&mut [u8]]) {
        assert_eq!(cond.len() as i64, self.batch, "one conditioning row per voice");
        let rows: Vec<usize> = (0..self.batch as usize).collect();
        self.generate(&rows, cond, out).expect("one row of each length per voice");
    }

    /// Generates `n` samples for the rows in `state` (which follow `rngs`), returning the codes
    /// `[b, n]` on the device.
    fn run(&self, state: &mut RowsState, rngs: &mut [SplitMix64], cond: &[&[Conditioning]], n: usize) -> Tensor {
        let m = self.model;
        let hp = m.hp;
        let b = rngs.len() as i64;
        let (tf, mf, w) = (hp.top_frame() as u64, hp.mid_frame as u64, m.mlp.window);
        let h = hp.history_len() as i64;
        let batch = CondBatch::from_rows(cond, &hp, self.device);
        let c = m.cond_features(&batch);
        // Where each step's pitch-lag taps lie in the history (which ends right before the
        // sample), and which steps are silent; uploaded once per block.
        let lag = (hp.pitch_lag_taps > 0).then(|| {
            let taps = hp.pitch_lag_taps;
            let table = &m.lags;
            let first = crate::pitch_lag::first_offset(taps) as i64;
            let idx: Vec<i64> = cond
                .iter()
                .flat_map(|row| row[..n].iter())
                .flat_map(|c| (0..taps as i64).map(move |k| h - table[c.note as usize] + first + k))
                .collect();
            let idx = Tensor::from_slice(&idx).view([b, n as i64, taps as i64]).to_device(self.device);
            (idx, batch.note.ge(crate::conditioning::NOTE_NONE as i64).unsqueeze(2))
        });
        let top_cp = m.top.project_cond(&c);
        let mid_cp = m.mid.project_cond(&c);
        let mlp_cp = m.mlp.project_cond(&c);
        let uniforms: Vec<f32> = rngs.iter_mut().flat_map(|r| (0..n).map(|_| r.next_f32()).collect::<Vec<_>>()).collect();
        let uniforms = Tensor::from_slice(&uniforms).view([b, n as i64]).to_device(self.device);
        let mut codes = Vec::with_capacity(n);
        for (i, t) in (0..n as i64).zip(self.t..) {
            let (phase, sub) = (t % tf, t % mf);
            if phase == 0 {
                let frames = frame_input(&state.history.narrow(1, h - tf as i64, tf as i64)).unsqueeze(1);
                let (up, h) = m.top.forward(&frames, &top_cp.narrow(1, i, 1), None, &state.states.top);
                state.top_up = up;
                state.states.top = h;
            }
            if sub == 0 {
                let k = (phase / mf) as i64;
                let frames = frame_input(&state.history.narrow(1, h - mf as i64, mf as i64)).unsqueeze(1);
                let upper = state.top_up.narrow(1, k, 1);
                let (up, h) = m.mid.forward(&frames, &mid_cp.narrow(1, i, 1), Some(&upper), &state.states.mid);
                state.mid_up = up;
                state.states.mid = h;
            }
            let window = state.history.narrow(1, h - w, w);
            let taps = lag.as_ref().map(|(idx, silent)| {
                state.history.gather(1, &idx.select(1, i), false).masked_fill(&silent.select(1, i), SILENCE_CODE as i64)
            });
            let upper = state.mid_up.select(1, sub as i64);
            let logits = m.mlp.step(&window, taps.as_ref(), &upper, &mlp_cp.select(1, i));
            let code = sample(&logits, self.temperature, &uniforms.narrow(1, i, 1));
            state.history = Tensor::cat(&[state.history.narrow(1, 1, h - 1), code.unsqueeze(1)], 1);
            codes.push(code);
        }
        Tensor::stack(&codes, 1)
    }
}

impl Engine for TorchGenerator<'_> {
    fn max_batch(&self) -> usize {
        self.batch as usize
    }

    fn top_frame(&self) -> usize {
        self.model.hp.top_frame()
    }

    fn clock_samples(&self) -> u64 {
        self.t
    }

    fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError> {
        check_reset(self.batch as usize, self.t, self.top_frame(), row)?;
        let _guard = tch::no_grad_guard();
        let r = row as i64;
        let s = &mut self.rows;
        s.states.top.narrow(1, r, 1).copy_(&self.warm.top);
        s.states.mid.narrow(1, r, 1).copy_(&self.warm.mid);
        let _ = s.history.narrow(0, r, 1).fill_(SILENCE_CODE as i64);
        let _ = s.top_up.narrow(0, r, 1).zero_();
        let _ = s.mid_up.narrow(0, r, 1).zero_();
        self.rngs[row] = SplitMix64::for_row(seed, row as u64);
        Ok(())
    }

    fn set_temperature(&mut self, temperature: f32) {
        self.temperature = if temperature.is_nan() { 0.0 } else { temperature.max(0.0) as f64 };
    }

    fn skip(&mut self, samples: usize) {
        self.t += samples as u64;
    }

    fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError> {
        let n = check_block(self.batch as usize, rows, cond, out.iter().map(|o| o.len()), 1, &mut self.seen)?;
        if n == 0 || rows.is_empty() {
            self.t += n as u64;
            return Ok(());
        }
        let _guard = tch::no_grad_guard();
        let all = rows.len() == self.batch as usize && rows.iter().enumerate().all(|(i, &r)| i == r);
        let idx = (!all).then(|| Tensor::from_slice(&rows.iter().map(|&r| r as i64).collect::<Vec<_>>()).to_device(self.device));
        let mut state = match &idx {
            None => self.rows.shallow_clone(),
            Some(idx) => self.rows.select(idx),
        };
        // Row i of the sub-batch follows row rows[i]'s stream (copied out and back).
        let mut rngs: Vec<SplitMix64> = rows.iter().map(|&r| self.rngs[r]).collect();
        let block = self.run(&mut state, &mut rngs, cond, n);
        for (&r, rng) in rows.iter().zip(rngs) {
            self.rngs[r] = rng;
        }
        match &idx {
            None => self.rows = state,
            Some(idx) => self.rows.scatter(idx, &state),
        }
        self.t += n as u64;
        let block = block.to_device(Device::Cpu).to_kind(Kind::Uint8);
        let flat: Vec<u8> = Vec::<u8>::try_from(block.view([-1])).expect("uint8 codes");
        for (row, chunk) in out.iter_mut().zip(flat.chunks(n)) {
            row.copy_from_slice(chunk);
        }
        Ok(())
    }
}

/// Inverse-CDF sampling from `softmax(logits / temperature)` with one uniform per row
/// (`u`: `[B, 1]`), avoiding `multinomial`'s per-call overhead: the count of cumulative
/// probabilities below `u`, clamped to 255. Temperature ≤ [`GREEDY_TEMPERATURE`] is greedy.
pub(crate) fn sample(logits: &Tensor, temperature: f64, u: &Tensor) -> Tensor {
    if temperature <= GREEDY_TEMPERATURE as f64 {
        return logits.argmax(-1, false);
    }
    let cdf = (logits / temperature).softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
    let last = logits.size()[1] - 1;
    cdf.lt_tensor(u).sum_dim_intlist(-1, false, Kind::Int64).clamp_max(last)
}
