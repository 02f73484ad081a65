//! The Hilbert envelope of a signal and where its sound starts and ends (DESIGN.md, "Data
//! and conditioning": the sound lies where the envelope is at least 0.8 % of its peak).

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// |analytic signal| of `x`: the magnitude of `x + i·H{x}`, computed by FFT.
///
/// The signal is zero-padded to at least twice its length (a power of two), so the
/// envelope at one end is not disturbed by the other end (the FFT is circular).
/// Non-finite input gives a non-finite envelope.
pub fn hilbert_envelope(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let len = (2 * n).next_power_of_two();
    let mut buf: Vec<Complex<f32>> = x.iter().map(|&v| Complex::new(v, 0.0)).collect();
    buf.resize(len, Complex::new(0.0, 0.0));
    let mut planner = FftPlanner::<f32>::new();
    planner.plan_fft_forward(len).process(&mut buf);
    // Analytic spectrum: keep DC and Nyquist, double the positive frequencies, zero the
    // negative ones; 1/len undoes the unnormalised inverse FFT.
    let half = len / 2;
    let scale = 1.0 / len as f32;
    buf[0] *= scale;
    buf[half] *= scale;
    for v in &mut buf[1..half] {
        *v *= 2.0 * scale;
    }
    for v in &mut buf[half + 1..] {
        *v = Complex::new(0.0, 0.0);
    }
    planner.plan_fft_inverse(len).process(&mut buf);
    buf[..n].iter().map(|c| c.norm()).collect()
}

/// Where the sound is: the first index where `env >= threshold · peak` and one past the
/// last such index, `peak` being the envelope's maximum. `None` for silence (an empty, all
/// zero or non-finite envelope).
pub fn sound_bounds(env: &[f32], threshold: f32) -> Option<(usize, usize)> {
    let peak = env.iter().try_fold(0.0f32, |m, &v| v.is_finite().then(|| m.max(v)))?;
    if peak <= 0.0 {
        return None;
    }
    let level = threshold * peak;
    let start = env.iter().position(|&v| v >= level)?;
    let last = env.iter().rposition(|&v| v >= level)?;
    Some((start, last + 1))
}

/// Peak of the envelope (0 for an empty one).
pub fn peak(env: &[f32]) -> f32 {
    env.iter().fold(0.0f32, |m, &v| m.max(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    /// A sine of `amp` at `freq_hz` (16 kHz rate) from `start` to `end` in `len` samples
    /// of silence.
    fn burst(len: usize, start: usize, end: usize, freq_hz: f32, amp: f32) -> Vec<f32> {
        let mut x = vec![0.0; len];
        for (i, v) in x.iter_mut().enumerate().take(end).skip(start) {
            *v = amp * (2.0 * PI * freq_hz * i as f32 / 16_000.0).sin();
        }
        x
    }

    #[test]
    fn the_envelope_of_a_sine_is_its_amplitude() {
        let x = burst(8000, 0, 8000, 441.0, 0.7);
        let env = hilbert_envelope(&x);
        assert_eq!(env.len(), x.len());
        for (i, &e) in env.iter().enumerate().skip(1000).take(6000) {
            assert!((e - 0.7).abs() < 0.01, "env[{i}] = {e}");
        }
    }

    /// Raised-cosine fades of `fade` samples at both ends of `x[start..end]`.
    fn fade(x: &mut [f32], start: usize, end: usize, fade: usize) {
        for k in 0..fade {
            let g = 0.5 - 0.5 * (PI * k as f32 / fade as f32).cos();
            x[start + k] *= g;
            x[end - 1 - k] *= g;
        }
    }

    #[test]
    fn bounds_of_a_burst_in_silence() {
        // A 440 Hz burst from 1000 to 5000 with 5 ms (80-sample) fades: the raised cosine
        // reaches 0.8 % 4.6 samples into each fade (acos(1 − 2·0.008)·80/π).
        let mut x = burst(8000, 1000, 5000, 440.0, 0.5);
        fade(&mut x, 1000, 5000, 80);
        let (start, end) = sound_bounds(&hilbert_envelope(&x), 0.008).unwrap();
        assert!((1000..=1008).contains(&start), "start {start}");
        assert!((4992..=5000).contains(&end), "end {end}");
    }

    #[test]
    fn an_abrupt_gate_leaks_into_the_silence() {
        // Without fades the Hilbert transform of the gated sine decays like
        // A / (π·ω·d) at d samples from the gate: 0.5 / (π · 0.1728 · d) = 0.8 % of 0.5
        // at d ≈ 230. The bounds lie that far out, never inside the burst.
        let x = burst(8000, 1000, 5000, 440.0, 0.5);
        let (start, end) = sound_bounds(&hilbert_envelope(&x), 0.008).unwrap();
        assert!((700..1000).contains(&start), "start {start}");
        assert!((5000..5300).contains(&end), "end {end}");
    }

    #[test]
    fn bounds_follow_a_linear_fade() {
        // Linear fade-in 2000..3000 and fade-out 6000..7000: 0.8 % of the peak is reached
        // 8 samples into each.
        let mut x = burst(10_000, 2000, 7000, 1000.0, 1.0);
        for i in 0..1000 {
            let g = i as f32 / 1000.0;
            x[2000 + i] *= g;
            x[6999 - i] *= g;
        }
        let (start, end) = sound_bounds(&hilbert_envelope(&x), 0.008).unwrap();
        assert!((2004..=2010).contains(&start), "start {start}");
        assert!((6990..=6996).contains(&end), "end {end}");
    }

    #[test]
    fn an_exponential_decay_ends_where_expected() {
        // env = exp(-(i-100)/500) from sample 100 (faded in over 50 samples, so the peak is
        // about exp(-50/500)); it falls to 10 % of its peak at 100 + 500·ln(10/peak).
        let mut x: Vec<f32> =
            (0..5000).map(|i| if i < 100 { 0.0 } else { (-(i as f32 - 100.0) / 500.0).exp() * (i as f32 * 0.5).sin() }).collect();
        for k in 0..50 {
            x[100 + k] *= 0.5 - 0.5 * (PI * k as f32 / 50.0).cos();
        }
        let env = hilbert_envelope(&x);
        let (_, end) = sound_bounds(&env, 0.1).unwrap();
        let expected = 100.0 + 500.0 * (10.0 / peak(&env)).ln();
        assert!((end as f32 - expected).abs() < 3.0, "end {end}, expected {expected}");
    }

    #[test]
    fn silence_has_no_bounds() {
        assert_eq!(sound_bounds(&hilbert_envelope(&[0.0; 100]), 0.008), None);
        assert_eq!(sound_bounds(&[], 0.008), None);
        assert_eq!(sound_bounds(&[0.0, f32::NAN, 1.0], 0.008), None);
        assert_eq!(sound_bounds(&[0.0, f32::INFINITY], 0.008), None);
        assert!(hilbert_envelope(&[0.0, f32::NAN]).iter().all(|v| !v.is_finite()));
    }

    #[test]
    fn a_single_sample_is_its_own_sound() {
        let mut env = vec![0.0; 10];
        env[4] = 2.0;
        assert_eq!(sound_bounds(&env, 0.008), Some((4, 5)));
    }
}
