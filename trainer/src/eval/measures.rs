//! The level and time measures of a rendered note: clipping, silence, onset delay and end of
//! sound, and RMS for the velocity spread.
//!
//! Levels are dBFS of RMS against full scale 1.0 (so a full-scale sine reads −3.01 dBFS);
//! exact silence reads [`FLOOR_DBFS`].
//!
//! Onset and end of sound are read from the rectified signal |x| against its peak, unsmoothed:
//! a smoothing window moves onsets earlier by up to half its width, and the Hilbert envelope
//! (which the dataset uses on clean recordings) spreads any DC offset of a generated note far
//! past its end (measured on a 500-step voice: one note's end read +803 ms, the whole tail,
//! from a smoothed Hilbert envelope, and +1.9 ms from |x|; its samples were below −70 dBFS
//! from 3 ms after the expected end). |x| crosses a level up to a quarter period after a
//! smooth envelope would.

use sackbut_model::quantize::Quantization;
use serde::Serialize;

/// The lowest level reported, dBFS: exact digital silence reads this rather than −∞.
pub const FLOOR_DBFS: f64 = -120.0;
/// A decoded sample this close to the extreme code's value counts as that code.
pub const CLIP_EPS: f32 = 1e-6;
/// The onset is where |x| first reaches this level below the note's peak, dB.
pub const ONSET_LEVEL_DB: f64 = -20.0;
/// The sound ends where |x| last reaches this level below the note's peak, dB.
pub const END_LEVEL_DB: f64 = -40.0;
/// A note whose peak stays below this (dBFS) made no sound: it has no onset or end.
pub const NO_SOUND_DBFS: f64 = -50.0;
/// Silence is measured from this long after the sound should have ended, ms.
pub const SILENCE_GUARD_MS: f64 = 300.0;

/// RMS of `x` in dBFS, floored at [`FLOOR_DBFS`]; the floor for an empty slice.
pub fn rms_dbfs(x: &[f32]) -> f64 {
    if x.is_empty() {
        return FLOOR_DBFS;
    }
    let ms = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64;
    (10.0 * ms.log10()).max(FLOOR_DBFS)
}

/// The decoded value of the extreme codes: code 255 decodes to +1 and codes 0 and 1 to −1
/// (the decoder clamps), so a single voice's render is clipped exactly where |x| reaches it.
pub fn clip_level(q: Quantization) -> f32 {
    q.decode(255).min(-q.decode(0))
}

/// Samples of `x` at the extreme codes (|x| ≥ `level` − [`CLIP_EPS`]). Exact for a render of
/// one voice, whose samples are decoded codes; a mix of voices would also count sums.
pub fn clipped_samples(x: &[f32], level: f32) -> usize {
    x.iter().filter(|v| v.abs() >= level - CLIP_EPS).count()
}

/// When a note sounded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NoteTiming {
    /// Peak |x| from note-on to the end of the render, dBFS.
    pub peak_dbfs: f64,
    /// Note-on to the first |x| at [`ONSET_LEVEL_DB`] of the peak, ms (`None`: no sound).
    pub onset_delay_ms: Option<f64>,
    /// One past the last |x| at [`END_LEVEL_DB`] of the peak, minus where the conditioning
    /// says the sound ends (note-off + R), ms; positive: it rang on too long. A note that never
    /// falls silent reads the whole tail of the render.
    pub end_error_ms: Option<f64>,
}

/// Timing of the note starting at sample `onset` of the render `x` whose sound should end at
/// `expected_end`.
pub fn note_timing(x: &[f32], onset: usize, expected_end: usize, rate_hz: u32) -> NoteTiming {
    let ms = |samples: f64| samples * 1000.0 / rate_hz as f64;
    let after = x.get(onset..).unwrap_or(&[]);
    let peak = after.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let peak_dbfs = if peak > 0.0 { (20.0 * (peak as f64).log10()).max(FLOOR_DBFS) } else { FLOOR_DBFS };
    if peak_dbfs < NO_SOUND_DBFS {
        return NoteTiming { peak_dbfs, onset_delay_ms: None, end_error_ms: None };
    }
    let level = |db: f64| peak * 10f32.powf(db as f32 / 20.0);
    let on = after.iter().position(|&v| v.abs() >= level(ONSET_LEVEL_DB)).expect("the peak itself qualifies");
    let last = after.iter().rposition(|&v| v.abs() >= level(END_LEVEL_DB)).expect("the peak itself qualifies");
    let end = onset + last + 1;
    NoteTiming { peak_dbfs, onset_delay_ms: Some(ms(on as f64)), end_error_ms: Some(ms(end as f64 - expected_end as f64)) }
}

/// Silence around one note's render: before its note-on, and from [`SILENCE_GUARD_MS`] after
/// its sound should have ended to the end of the render. `None` where the window is empty.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NoteSilence {
    /// RMS before note-on, dBFS.
    pub before_dbfs: Option<f64>,
    /// RMS from the guard after the expected end of sound to the end of the render, dBFS.
    pub after_dbfs: Option<f64>,
}

/// [`NoteSilence`] of `x` with note-on at `onset` and the sound due to end at `expected_end`.
pub fn note_silence(x: &[f32], onset: usize, expected_end: usize, rate_hz: u32) -> NoteSilence {
    let guard = (SILENCE_GUARD_MS * rate_hz as f64 / 1000.0).round() as usize;
    let before = &x[..onset.min(x.len())];
    let after = x.get(expected_end + guard..).unwrap_or(&[]);
    NoteSilence { before_dbfs: (!before.is_empty()).then(|| rms_dbfs(before)), after_dbfs: (!after.is_empty()).then(|| rms_dbfs(after)) }
}

/// How much louder the loud render is than the soft one over the same window, dB.
pub fn spread_db(soft: &[f32], loud: &[f32]) -> f64 {
    rms_dbfs(loud) - rms_dbfs(soft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const RATE: u32 = 16_000;

    fn sine(hz: f64, amp: f64, len: usize) -> Vec<f32> {
        (0..len).map(|i| (amp * (2.0 * PI * hz * i as f64 / RATE as f64).sin()) as f32).collect()
    }

    #[test]
    fn levels_in_dbfs() {
        assert!((rms_dbfs(&sine(440.0, 1.0, 16_000)) + 3.0103).abs() < 1e-3);
        assert_eq!(rms_dbfs(&[0.0; 100]), FLOOR_DBFS);
        assert_eq!(rms_dbfs(&[]), FLOOR_DBFS);
        assert!((rms_dbfs(&[0.5; 10]) + 6.0206).abs() < 1e-3);
    }

    #[test]
    fn clipping_counts_exactly_the_extreme_codes() {
        for q in [Quantization::MuLaw, Quantization::Linear] {
            let level = clip_level(q);
            assert_eq!(level, 1.0);
            // 7 samples at code 0, 5 at code 1 (both decode to −1), 11 at 255; the others
            // anywhere in 2..=254, code 254 (the loudest unclipped one) included.
            let mut codes = vec![0u8; 7];
            codes.extend([1u8; 5]);
            codes.extend([255u8; 11]);
            codes.extend((2..=254u8).cycle().take(1000));
            codes.extend([254u8, 2, 254, 2]);
            let x: Vec<f32> = codes.iter().map(|&c| q.decode(c)).collect();
            assert_eq!(clipped_samples(&x, level), 23, "{q:?}");
        }
        // Quantizing a sine 20 % over full scale clips where |sin| ≥ 1/1.2 at least, i.e.
        // 1 − (2/π)·asin(1/1.2) = 36.9 % of samples, plus those that round to the end codes.
        let q = Quantization::MuLaw;
        let x: Vec<f32> = sine(441.0, 1.2, 16_000).iter().map(|&v| q.decode(q.encode(v))).collect();
        let share = clipped_samples(&x, clip_level(q)) as f64 / x.len() as f64;
        assert!((0.365..0.45).contains(&share), "{share}");
    }

    #[test]
    fn silence_of_a_quiet_sine() {
        // A sine whose RMS is −70 dBFS: amplitude √2 · 10^(−70/20).
        let amp = 2f64.sqrt() * 10f64.powf(-70.0 / 20.0);
        let onset = 8000;
        let end = 20_000;
        let mut x = sine(300.0, amp, 40_000);
        for v in &mut x[onset..end + 4800] {
            *v *= 1000.0;
        }
        let s = note_silence(&x, onset, end, RATE);
        assert!((s.before_dbfs.unwrap() + 70.0).abs() < 0.05, "{s:?}");
        assert!((s.after_dbfs.unwrap() + 70.0).abs() < 0.05, "{s:?}");
        // The window after is empty when the render stops within the guard.
        assert_eq!(note_silence(&x[..end + 100], onset, end, RATE).after_dbfs, None);
    }

    /// 440 Hz at 0.5 with linear attack of `attack` samples from `onset`, linear release of
    /// `release` samples from `off`, in `len` samples.
    fn burst(len: usize, onset: usize, attack: usize, off: usize, release: usize) -> Vec<f32> {
        let x = sine(440.0, 0.5, len);
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let g = if i < onset {
                    0.0
                } else if i < onset + attack {
                    (i - onset) as f32 / attack as f32
                } else if i < off {
                    1.0
                } else if i < off + release {
                    1.0 - (i - off) as f32 / release as f32
                } else {
                    0.0
                };
                v * g
            })
            .collect()
    }

    #[test]
    fn onset_delay_and_end_of_a_burst_with_a_known_envelope() {
        // Attack 20 ms (320 samples) from sample 8000: −20 dB of the peak is 10 % of the ramp,
        // 2 ms in (|x| gets there up to a quarter period of 440 Hz, 0.57 ms, and a sample later).
        // Release 2000 samples from 24000: −40 dB is 1 % before its end, 1.25 ms before the
        // 26000 where the sound is due to end (|x| leaves it up to 0.57 ms and a sample earlier).
        let x = burst(40_000, 8000, 320, 24_000, 2000);
        let t = note_timing(&x, 8000, 26_000, RATE);
        assert!((t.peak_dbfs - 20.0 * 0.5f64.log10()).abs() < 0.01, "{t:?}");
        let on = t.onset_delay_ms.unwrap();
        assert!((2.0..=2.7).contains(&on), "onset delay {on} ms");
        let end = t.end_error_ms.unwrap();
        assert!((-2.0..=-1.2).contains(&end), "end error {end} ms");

        // The same burst 100 ms (1600 samples) late ends 100 ms late.
        let late = burst(40_000, 9600, 320, 25_600, 2000);
        let t = note_timing(&late, 8000, 26_000, RATE);
        assert!((102.0..=102.7).contains(&t.onset_delay_ms.unwrap()), "{t:?}");
        assert!((98.0..=98.8).contains(&t.end_error_ms.unwrap()), "{t:?}");
    }

    #[test]
    fn a_dc_offset_does_not_stretch_the_end() {
        // A note with a DC offset (as a generated note may have), then exact silence: the
        // sound ends where the samples do (the Hilbert envelope would ring on for seconds).
        let mut x = vec![0.0f32; 40_000];
        for (i, v) in x.iter_mut().enumerate().take(24_000).skip(8000) {
            *v = 0.1 + 0.3 * (i as f32 * 0.1).sin();
        }
        let t = note_timing(&x, 8000, 24_000, RATE);
        assert_eq!(t.onset_delay_ms, Some(0.0));
        assert!(t.end_error_ms.unwrap().abs() < 0.5, "{t:?}");
    }

    #[test]
    fn a_silent_note_has_no_timing() {
        let x = vec![0.0f32; 20_000];
        let t = note_timing(&x, 8000, 12_000, RATE);
        assert_eq!((t.onset_delay_ms, t.end_error_ms, t.peak_dbfs), (None, None, FLOOR_DBFS));
        // A −60 dBFS hum is below the no-sound level too.
        let hum = sine(100.0, 1e-3, 20_000);
        assert_eq!(note_timing(&hum, 8000, 12_000, RATE).onset_delay_ms, None);
    }

    #[test]
    fn velocity_spread_of_two_sines_six_db_apart() {
        let soft = sine(220.0, 0.25, 16_000);
        let loud = sine(220.0, 0.25 * 10f64.powf(6.0 / 20.0), 16_000);
        assert!((spread_db(&soft, &loud) - 6.0).abs() < 1e-3);
        assert!((spread_db(&loud, &soft) + 6.0).abs() < 1e-3);
    }
}
