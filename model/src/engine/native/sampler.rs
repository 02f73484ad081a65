//! Choosing a code from the logits: greedy (first largest), or inverse-CDF sampling with one
//! uniform — the same rule as the torch engine: the number of cumulative probabilities below
//! `u`, clamped to 255. Temperature is not applied here: it is folded into the output layer.

use super::isa::Dispatch;
use super::vector_ops;
use crate::quantize::Q_LEVELS;

/// Blocks of 16 in the 256 logits.
const BLOCKS: usize = Q_LEVELS / 16;

/// Scratch for [`inverse_cdf`], kept by the engine so sampling does not allocate.
#[derive(Clone, Debug)]
pub struct SampleScratch {
    exps: [f32; Q_LEVELS],
    blocks: [f32; BLOCKS],
}

impl Default for SampleScratch {
    fn default() -> Self {
        SampleScratch { exps: [0.0; Q_LEVELS], blocks: [0.0; BLOCKS] }
    }
}

/// The first index of the largest logit (as `argmax` in PyTorch).
pub fn greedy(d: Dispatch, logits: &[f32]) -> u8 {
    let m = vector_ops::max(d, &logits[..Q_LEVELS]);
    logits[..Q_LEVELS].iter().position(|&z| z == m).unwrap_or(0) as u8
}

/// Samples from softmax(`logits`) with the uniform `u` in [0, 1): the smallest code whose
/// cumulative probability reaches `u`, i.e. the count of cumulative probabilities below `u`,
/// clamped to 255. Unnormalised: compares running sums of e^(z − max) against `u · Σ`.
pub fn inverse_cdf(d: Dispatch, logits: &[f32], u: f32, s: &mut SampleScratch) -> u8 {
    let z = &logits[..Q_LEVELS];
    let m = vector_ops::max(d, z);
    vector_ops::exp_blocks(d, z, m, &mut s.exps, &mut s.blocks);
    let total: f32 = s.blocks.iter().sum();
    let target = u * total;
    let mut acc = 0.0f32;
    let mut b = 0;
    while b < BLOCKS && acc + s.blocks[b] < target {
        acc += s.blocks[b];
        b += 1;
    }
    for (i, e) in s.exps.iter().enumerate().skip(b * 16) {
        acc += e;
        if acc >= target {
            return i as u8;
        }
    }
    (Q_LEVELS - 1) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::isa::Isa;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let d = Dispatch::new(Isa::detect()).unwrap();
        let mut z = [0.0f32; 256];
        z[7] = 2.0;
        z[200] = 2.0;
        assert_eq!(greedy(d, &z), 7);
    }

    #[test]
    fn inverse_cdf_counts_cumulative_probabilities_below_u() {
        // Hand-worked: mass 1/4 on code 3, 3/4 on code 10 (others ~e^-80).
        let mut z = [-80.0f32; 256];
        z[3] = 0.0;
        z[10] = 3f32.ln();
        for isa in Isa::ALL {
            let Some(d) = Dispatch::new(isa) else { continue };
            let mut s = SampleScratch::default();
            assert_eq!(inverse_cdf(d, &z, 0.0, &mut s), 0, "u = 0: no cdf entry is below 0");
            assert_eq!(inverse_cdf(d, &z, 0.1, &mut s), 3);
            assert_eq!(inverse_cdf(d, &z, 0.24, &mut s), 3);
            assert_eq!(inverse_cdf(d, &z, 0.26, &mut s), 10);
            assert_eq!(inverse_cdf(d, &z, 0.999, &mut s), 10);
        }
    }

    #[test]
    fn uniform_logits_sample_uniformly() {
        let d = Dispatch::new(Isa::detect()).unwrap();
        let z = [0.5f32; 256];
        let mut s = SampleScratch::default();
        // Cumulative probability of code c is (c + 1) / 256.
        assert_eq!(inverse_cdf(d, &z, 0.5, &mut s), 127);
        assert_eq!(inverse_cdf(d, &z, 0.5 + 0.5 / 256.0, &mut s), 128);
        assert_eq!(inverse_cdf(d, &z, 1.0 - 1e-7, &mut s), 255);
    }
}
