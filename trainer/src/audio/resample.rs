//! Band-limited sample-rate conversion of whole signals (rubato's FFT resampler), with the
//! resampler's delay removed so that sample positions map exactly between the two rates.

use anyhow::{bail, Context, Result};
use rubato::{FftFixedInOut, Resampler};

/// Input chunk the FFT resampler is asked for; it rounds up to a multiple of
/// `from / gcd(from, to)`. The anti-aliasing filter is one chunk long, so this also sets
/// its sharpness: 1024 samples at 44.1 kHz is a 23 ms filter with a narrow transition band.
const CHUNK_IN: usize = 1024;

/// The length [`resample`] returns for `len` input samples: round(len · to / from).
pub fn resampled_len(len: usize, from_hz: u32, to_hz: u32) -> usize {
    ((len as u128 * to_hz as u128 + from_hz as u128 / 2) / from_hz as u128) as usize
}

/// Resamples `x` from `from_hz` to `to_hz` with a band-limited (windowed-sinc, applied by
/// FFT) filter. Returns exactly [`resampled_len`] samples; the filter delay is compensated,
/// so an event at input index `i` lands at output index `i · to / from` (±1 sample).
/// Equal rates return `x` unchanged. The signal is taken to be silent outside `x`.
pub fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>> {
    if from_hz == 0 || to_hz == 0 {
        bail!("cannot resample from {from_hz} Hz to {to_hz} Hz: rates must be positive");
    }
    if from_hz == to_hz {
        return Ok(x.to_vec());
    }
    let out_len = resampled_len(x.len(), from_hz, to_hz);
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, CHUNK_IN, 1)
        .with_context(|| format!("cannot resample from {from_hz} Hz to {to_hz} Hz"))?;
    let chunk_in = r.input_frames_next();
    let chunk_out = r.output_frames_next();
    let delay = r.output_delay();
    let wanted = out_len + delay;

    let mut out = Vec::with_capacity(wanted + chunk_out);
    let mut input = [vec![0.0f32; chunk_in]];
    let mut output = [vec![0.0f32; chunk_out]];
    let mut pos = 0;
    while out.len() < wanted {
        // Past the end of `x` the input is zeros: they flush the filter's tail.
        let rest = x.get(pos..).unwrap_or(&[]);
        let n = rest.len().min(chunk_in);
        input[0][..n].copy_from_slice(&rest[..n]);
        input[0][n..].fill(0.0);
        let (_, produced) = r.process_into_buffer(&input, &mut output, None)?;
        out.extend_from_slice(&output[0][..produced]);
        pos += chunk_in;
    }
    out.drain(..delay);
    out.truncate(out_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(freq_hz: f32, rate_hz: u32, len: usize) -> Vec<f32> {
        (0..len).map(|i| (2.0 * PI * freq_hz * i as f32 / rate_hz as f32).sin()).collect()
    }

    /// Frequency from the rising zero crossings between the first and last one, away from
    /// the edges (`skip` samples at each end).
    fn zero_crossing_hz(x: &[f32], rate_hz: u32, skip: usize) -> f32 {
        let rising: Vec<f32> = (skip..x.len() - skip)
            .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
            .map(|i| (i - 1) as f32 + x[i - 1] / (x[i - 1] - x[i]))
            .collect();
        let periods = (rising.len() - 1) as f32;
        periods * rate_hz as f32 / (rising[rising.len() - 1] - rising[0])
    }

    #[test]
    fn equal_rates_are_the_identity() {
        let x = sine(440.0, 16_000, 1000);
        assert_eq!(resample(&x, 16_000, 16_000).unwrap(), x);
    }

    #[test]
    fn lengths_are_exact() {
        assert_eq!(resampled_len(44_100, 44_100, 16_000), 16_000);
        assert_eq!(resampled_len(441, 44_100, 16_000), 160);
        // 1000 · 16000 / 44100 = 362.8 -> 363.
        assert_eq!(resample(&vec![0.1; 1000], 44_100, 16_000).unwrap().len(), 363);
        assert_eq!(resample(&[0.1; 7], 16_000, 48_000).unwrap().len(), 21);
        assert_eq!(resample(&vec![0.1; 100_003], 22_050, 16_000).unwrap().len(), 72_565);
        assert!(resample(&[], 44_100, 16_000).unwrap().is_empty());
        assert!(resample(&[1.0], 0, 16_000).is_err());
    }

    #[test]
    fn a_sine_keeps_its_frequency_and_level() {
        for (from, to) in [(44_100, 16_000), (16_000, 48_000), (48_000, 16_000), (22_050, 16_000)] {
            let x = sine(440.0, from, from as usize);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(y.len(), to as usize);
            let f = zero_crossing_hz(&y, to, to as usize / 20);
            assert!((f - 440.0).abs() < 0.05, "{from}->{to}: {f} Hz");
            // Away from the edges the amplitude is unchanged.
            let mid = &y[to as usize / 4..3 * to as usize / 4];
            let peak = mid.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((peak - 1.0).abs() < 0.01, "{from}->{to}: peak {peak}");
        }
    }

    #[test]
    fn content_above_the_new_nyquist_is_removed() {
        // 10 kHz at 44.1 kHz would alias to 6 kHz at 16 kHz without the filter.
        let x = sine(10_000.0, 44_100, 44_100);
        let y = resample(&x, 44_100, 16_000).unwrap();
        let mid = &y[4000..12_000];
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms < 1e-3, "aliased rms {rms}");
    }

    #[test]
    fn an_impulse_keeps_its_position() {
        for (from, to, at) in [(44_100, 16_000, 22_050usize), (16_000, 48_000, 5_001), (44_100, 16_000, 441 * 7 + 5), (48_000, 16_000, 30)]
        {
            let mut x = vec![0.0f32; from as usize];
            x[at] = 1.0;
            let y = resample(&x, from, to).unwrap();
            let peak = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
            let expected = at as f64 * to as f64 / from as f64;
            assert!((peak as f64 - expected).abs() <= 1.0, "{from}->{to}: impulse at {at} -> {peak}, expected {expected:.2}");
        }
    }

    #[test]
    fn a_step_onset_keeps_its_position() {
        // A burst that starts at input 10_000 starts at output 10_000 · 16/44.1 = 3628.1.
        let mut x = vec![0.0f32; 44_100];
        for (i, v) in x.iter_mut().enumerate().skip(10_000) {
            *v = (2.0 * PI * 440.0 * (i - 10_000) as f32 / 44_100.0).cos();
        }
        let y = resample(&x, 44_100, 16_000).unwrap();
        let first = y.iter().position(|v| v.abs() > 0.5).unwrap();
        assert!((3627..=3630).contains(&first), "onset at {first}");
    }
}
