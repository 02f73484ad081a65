//! Pitch of a held note: YIN (de Cheveigné & Kawahara, JASA 2002) per frame, and the note's f0
//! as the median of its voiced frames, with a verdict on whether that f0 is stable.
//!
//! A note either has a stable f0 (a "hit", measured in cents against the note it should be)
//! or it is a "miss" (unvoiced, silent, noise, or wandering). Octave errors are not folded
//! back: a note sounding an octave up reads about +1200 cents.

use serde::Serialize;

/// YIN's absolute threshold on the cumulative-mean-normalised difference d′: the first dip
/// below it is the period. 0.15 is the paper's range (0.1–0.15), at its tolerant end.
pub const YIN_THRESHOLD: f64 = 0.15;
/// Frames quieter than this RMS (dBFS) are unvoiced without looking further.
pub const SILENT_FRAME_DBFS: f64 = -60.0;
/// A stable note has at least this share of voiced frames.
pub const MIN_VOICED_SHARE: f64 = 0.6;
/// A stable note's voiced frames lie within this median absolute deviation (cents) of their
/// median.
pub const MAX_SPREAD_CENTS: f64 = 50.0;
/// The search covers this factor below and above the expected f0 (two octaves each way), so
/// octave errors and slipped notes show as errors rather than as misses.
pub const SEARCH_FACTOR: f64 = 4.0;
/// Shortest integration window, samples (20 ms at 16 kHz).
pub const MIN_WINDOW_SAMPLES: usize = 320;

pub use sackbut_model::conditioning::note_hz;

/// `f_hz` against `ref_hz` in cents (positive: sharp).
pub fn cents(f_hz: f64, ref_hz: f64) -> f64 {
    1200.0 * (f_hz / ref_hz).log2()
}

/// YIN for one fixed lag range and window: build once, run on many frames.
#[derive(Clone, Debug)]
pub struct Yin {
    rate_hz: f64,
    min_lag: usize,
    max_lag: usize,
    window: usize,
    /// d(τ), reused across frames.
    diff: Vec<f64>,
    /// d′(τ), reused across frames.
    norm: Vec<f64>,
}

impl Yin {
    /// Searches f0 between `min_hz` and `max_hz` at `rate_hz`. The integration window is the
    /// longest period searched (at least [`MIN_WINDOW_SAMPLES`]).
    pub fn new(rate_hz: u32, min_hz: f64, max_hz: f64) -> Yin {
        let rate = rate_hz as f64;
        let min_lag = ((rate / max_hz).floor() as usize).max(2);
        let max_lag = ((rate / min_hz).ceil() as usize).max(min_lag + 2);
        let window = max_lag.max(MIN_WINDOW_SAMPLES);
        Yin { rate_hz: rate, min_lag, max_lag, window, diff: vec![0.0; max_lag + 2], norm: vec![1.0; max_lag + 2] }
    }

    /// Searches around `expected_hz`: from `expected_hz / SEARCH_FACTOR` to
    /// `expected_hz * SEARCH_FACTOR` (capped below Nyquist).
    pub fn around(rate_hz: u32, expected_hz: f64) -> Yin {
        let max_hz = (expected_hz * SEARCH_FACTOR).min(rate_hz as f64 / 4.0);
        Yin::new(rate_hz, expected_hz / SEARCH_FACTOR, max_hz)
    }

    /// Samples one frame needs: the window plus the longest lag (and one for interpolation).
    pub fn frame_len(&self) -> usize {
        self.window + self.max_lag + 1
    }

    /// f0 in Hz of the frame starting at `x[0]`, or `None` if unvoiced (too quiet, or no dip
    /// of d′ below [`YIN_THRESHOLD`]). `x` must hold at least [`Yin::frame_len`] samples.
    pub fn frame_f0(&mut self, x: &[f32]) -> Option<f64> {
        assert!(x.len() >= self.frame_len(), "a YIN frame needs {} samples", self.frame_len());
        let w = self.window;
        let energy: f64 = x[..w].iter().map(|&v| (v as f64) * (v as f64)).sum();
        if 10.0 * (energy / w as f64).max(1e-30).log10() < SILENT_FRAME_DBFS {
            return None;
        }
        // Step 1–2: the difference function d(τ) for τ in 1..=max_lag+1.
        for tau in 1..=self.max_lag + 1 {
            let mut d = 0.0f64;
            for j in 0..w {
                let e = (x[j] - x[j + tau]) as f64;
                d += e * e;
            }
            self.diff[tau] = d;
        }
        // Step 3: cumulative mean normalisation; step 4: the first dip below the threshold,
        // followed down to its local minimum.
        let mut running = 0.0f64;
        let lags = self.norm.iter_mut().zip(&self.diff).enumerate().skip(1);
        for (tau, (n, &d)) in lags {
            running += d;
            *n = if running > 0.0 { d * tau as f64 / running } else { 1.0 };
        }
        let norm = &self.norm;
        let mut tau = self.min_lag;
        while tau <= self.max_lag && norm[tau] >= YIN_THRESHOLD {
            tau += 1;
        }
        if tau > self.max_lag {
            return None;
        }
        while tau < self.max_lag && norm[tau + 1] < norm[tau] {
            tau += 1;
        }
        // Step 5: parabolic interpolation of the raw difference around the dip.
        let period = self.interpolate(tau);
        // Refinement: the dip at n periods (the largest n within the lags searched) lies as
        // close to n·period in samples as the first dip does to one period, so dividing by n
        // shrinks the interpolation error n times (a parabola fits d(τ) poorly where the
        // signal has strong harmonics near Nyquist or jumps).
        let n = (self.max_lag as f64 / period).floor();
        if n >= 2.0 {
            let center = (n * period).round() as usize;
            let best = (center.saturating_sub(1).max(1)..=(center + 1).min(self.max_lag))
                .min_by(|&a, &b| self.diff[a].total_cmp(&self.diff[b]))
                .expect("a non-empty range");
            let refined = self.interpolate(best) / n;
            if (refined - period).abs() < 0.5 {
                return Some(self.rate_hz / refined);
            }
        }
        Some(self.rate_hz / period)
    }

    /// The fractional lag of the minimum of a parabola through d(τ−1), d(τ), d(τ+1).
    fn interpolate(&self, tau: usize) -> f64 {
        let (a, b, c) = (self.diff[tau - 1], self.diff[tau], self.diff[tau + 1]);
        let den = a - 2.0 * b + c;
        let shift = if den > 0.0 { (0.5 * (a - c) / den).clamp(-0.5, 0.5) } else { 0.0 };
        tau as f64 + shift
    }
}

/// The pitch of one held note.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotePitch {
    /// Median f0 of the voiced frames, Hz (`None` when no frame was voiced).
    pub f0_hz: Option<f64>,
    /// Frames analysed.
    pub frames: usize,
    /// Share of the frames that were voiced.
    pub voiced_share: f64,
    /// Median absolute deviation of the voiced frames' f0 from their median, cents.
    pub spread_cents: Option<f64>,
    /// Enough voiced frames and a small spread: the note has an f0 (a hit).
    pub stable: bool,
}

/// Analyses `x` (the sustained part of a note) in frames `hop` samples apart, searching
/// around `expected_hz`. Too short a signal gives zero frames: a miss.
pub fn note_pitch(x: &[f32], rate_hz: u32, expected_hz: f64, hop: usize) -> NotePitch {
    let mut yin = Yin::around(rate_hz, expected_hz);
    let len = yin.frame_len();
    let mut f0s = Vec::new();
    let mut frames = 0;
    let mut start = 0;
    while start + len <= x.len() {
        frames += 1;
        if let Some(f) = yin.frame_f0(&x[start..start + len]) {
            f0s.push(f);
        }
        start += hop.max(1);
    }
    let voiced_share = if frames == 0 { 0.0 } else { f0s.len() as f64 / frames as f64 };
    let f0_hz = median(&f0s);
    let spread_cents = f0_hz.and_then(|m| median(&f0s.iter().map(|&f| cents(f, m).abs()).collect::<Vec<_>>()));
    let stable = voiced_share >= MIN_VOICED_SHARE && spread_cents.is_some_and(|s| s <= MAX_SPREAD_CENTS);
    NotePitch { f0_hz, frames, voiced_share, spread_cents, stable }
}

/// Median (mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const RATE: u32 = 16_000;
    const HOP: usize = 160;

    fn sine(hz: f64, amp: f64, len: usize) -> Vec<f32> {
        (0..len).map(|i| (amp * (2.0 * PI * hz * i as f64 / RATE as f64).sin()) as f32).collect()
    }

    /// A naive (aliasing) sawtooth: a jump every period, every harmonic folded back.
    fn naive_sawtooth(hz: f64, amp: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let phase = (hz * i as f64 / RATE as f64).fract();
                (amp * (2.0 * phase - 1.0)) as f32
            })
            .collect()
    }

    /// A band-limited sawtooth: harmonics k·hz below `max_hz`, amplitudes 1/k.
    fn sawtooth(hz: f64, amp: f64, len: usize, max_hz: f64) -> Vec<f32> {
        let harmonics = (max_hz / hz) as usize;
        (0..len)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                let v: f64 = (1..=harmonics).map(|k| (2.0 * PI * k as f64 * hz * t).sin() / k as f64).sum();
                (amp * 2.0 / PI * v) as f32
            })
            .collect()
    }

    /// Deterministic white noise in [−amp, amp] (xorshift).
    fn noise(amp: f64, len: usize) -> Vec<f32> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (amp * ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)) as f32
            })
            .collect()
    }

    #[test]
    fn note_frequencies() {
        assert_eq!(note_hz(69), 440.0);
        assert!((note_hz(45) - 110.0).abs() < 1e-9);
        assert!((note_hz(76) - 659.255).abs() < 1e-3);
        assert!((cents(880.0, 440.0) - 1200.0).abs() < 1e-9);
    }

    #[test]
    fn pure_sines_within_two_cents() {
        for hz in [110.0, 220.0, 659.0, 69.3, 830.6] {
            let x = sine(hz, 0.5, 13_600);
            let p = note_pitch(&x, RATE, hz, HOP);
            assert!(p.stable, "{hz} Hz: {p:?}");
            assert_eq!(p.voiced_share, 1.0);
            let c = cents(p.f0_hz.unwrap(), hz);
            assert!(c.abs() < 2.0, "{hz} Hz measured {:?} ({c:.3} cents)", p.f0_hz);
        }
    }

    #[test]
    fn a_sine_off_by_a_quarter_tone_reads_fifty_cents() {
        // Expected note 57 (220 Hz), played 50 cents sharp.
        let hz = 220.0 * 2f64.powf(50.0 / 1200.0);
        let p = note_pitch(&sine(hz, 0.3, 13_600), RATE, 220.0, HOP);
        let c = cents(p.f0_hz.unwrap(), 220.0);
        assert!((c - 50.0).abs() < 2.0, "{c}");
    }

    #[test]
    fn a_harmonic_rich_sawtooth_reads_its_fundamental() {
        for hz in [82.4, 146.8, 466.2] {
            // Every harmonic up to Nyquist: within 2 cents like a sine.
            let p = note_pitch(&sawtooth(hz, 0.5, 13_600, 7900.0), RATE, hz, HOP);
            assert!(p.stable, "{hz} Hz: {p:?}");
            let c = cents(p.f0_hz.unwrap(), hz);
            assert!(c.abs() < 2.0, "{hz} Hz band-limited sawtooth: {c:.2} cents");
            // The naive sawtooth jumps once a period and aliases; d(τ) is V-shaped at the
            // period, which a parabola fits less well (3.7 cents at 466 Hz without the
            // multi-period refinement, under 1 cent with it).
            let p = note_pitch(&naive_sawtooth(hz, 0.5, 13_600), RATE, hz, HOP);
            assert!(p.stable, "{hz} Hz: {p:?}");
            let c = cents(p.f0_hz.unwrap(), hz);
            assert!(c.abs() < 2.0, "{hz} Hz naive sawtooth: {c:.2} cents");
        }
    }

    #[test]
    fn silence_and_noise_are_misses() {
        let silent = note_pitch(&vec![0.0; 13_600], RATE, 110.0, HOP);
        assert!(!silent.stable && silent.f0_hz.is_none() && silent.voiced_share == 0.0, "{silent:?}");
        // A sine below the silent-frame gate (−70 dBFS peak) is silence too.
        let quiet = note_pitch(&sine(110.0, 10f64.powf(-70.0 / 20.0), 13_600), RATE, 110.0, HOP);
        assert!(!quiet.stable, "{quiet:?}");
        for hz in [82.4, 220.0, 659.0] {
            let p = note_pitch(&noise(0.5, 13_600), RATE, hz, HOP);
            assert!(!p.stable, "white noise read as {hz} Hz: {p:?}");
            assert!(p.voiced_share < MIN_VOICED_SHARE, "{p:?}");
        }
        // Too short for one frame: a miss with zero frames, not a panic.
        let short = note_pitch(&sine(110.0, 0.5, 100), RATE, 110.0, HOP);
        assert_eq!((short.frames, short.stable), (0, false));
    }

    #[test]
    fn an_octave_error_is_reported_not_folded() {
        // A 220 Hz tone where note 45 (110 Hz) was asked for: about +1200 cents.
        let p = note_pitch(&sine(220.0, 0.5, 13_600), RATE, note_hz(45), HOP);
        assert!(p.stable);
        let c = cents(p.f0_hz.unwrap(), note_hz(45));
        assert!((c - 1200.0).abs() < 2.0, "{c}");
        // And an octave below: about −1200 cents.
        let p = note_pitch(&sawtooth(110.0, 0.5, 13_600, 7900.0), RATE, note_hz(57), HOP);
        let c = cents(p.f0_hz.unwrap(), note_hz(57));
        assert!((c + 1200.0).abs() < 3.0, "{c}");
    }

    #[test]
    fn a_wandering_pitch_is_not_stable() {
        // Frequency jumping between 110 Hz and 155.6 Hz (+600 cents) every 40 ms.
        let mut x = Vec::new();
        for k in 0..12 {
            let hz = if k % 2 == 0 { 110.0 } else { 155.6 };
            x.extend(sine(hz, 0.5, 640));
        }
        let p = note_pitch(&x, RATE, 110.0, HOP);
        assert!(!p.stable, "{p:?}");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
