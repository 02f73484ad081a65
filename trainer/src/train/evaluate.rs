//! Negative log-likelihood of a split, in bits per sample, teacher-forced.

use sackbut_model::torch::SampleRnn;
use tch::Device;

use super::examples::{Example, Pass, View};

/// How a split is walked for a teacher-forced NLL.
#[derive(Clone, Copy, Debug)]
pub struct NllSetup {
    /// Sequences evaluated together.
    pub batch: usize,
    /// Chunk length in samples (a multiple of the top frame).
    pub seq_len: usize,
    /// The voice's release R (for the live view; evaluation uses the exact one).
    pub release: u32,
    /// Whether the model was trained with conditioning (else it is fed silence).
    pub conditioned: bool,
    /// Where the model runs.
    pub device: Device,
}

/// Mean NLL in bits per sample of `examples` under `model` with the exact conditioning (or none
/// for an unconditioned model), at most `max_examples` of them; `None` for an empty split.
pub fn nll_bits(model: &SampleRnn, examples: &[Example], max_examples: usize, setup: NllSetup) -> Option<f64> {
    let NllSetup { batch, seq_len, release, conditioned, device } = setup;
    let examples = &examples[..examples.len().min(max_examples)];
    if examples.is_empty() {
        return None;
    }
    let view = if conditioned { View::Exact } else { View::Unconditioned };
    let _guard = tch::no_grad_guard();
    let (mut nats, mut count) = (0.0f64, 0usize);
    for group in examples.chunks(batch.max(1)) {
        let rows = group.iter().map(|e| (e, view)).collect();
        let mut pass = Pass::new(rows, release, model.hp, seq_len, 0);
        let mut states = model.initial_states(group.len() as i64);
        while let Some((codes, cond, t)) = pass.next_chunk(device) {
            let (logits, next) = model.forward(&codes, &cond, &states);
            let targets = model.targets(&codes);
            nats += SampleRnn::nll_sum(&logits, &targets).double_value(&[]);
            count += group.len() * t;
            states = next;
        }
    }
    Some(nats / count as f64 / std::f64::consts::LN_2)
}
