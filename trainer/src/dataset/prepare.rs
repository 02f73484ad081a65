//! One recorded or rendered note → one training example, following DESIGN.md ("Data and
//! conditioning") step by step: normalize to the peak; find the start and end of the sound
//! where the Hilbert envelope crosses 0.8 % of its peak; keep 100 samples before the start
//! and 400 after the end; put 1 s of silence before the kept audio; fix the length (4 s);
//! resample to 16 kHz; quantize. The note's span is mapped through the same steps.

use sackbut_model::conditioning::NoteSpan;
use sackbut_model::quantize::Quantization;
use sackbut_model::MODEL_RATE_HZ;

use super::envelope::{hilbert_envelope, peak, sound_bounds};
use crate::audio::resample;

/// Where the note's note-off is taken to be when nothing says (a WAV named by its note):
/// the last sample where the envelope is still at least this share of its peak. For a
/// sustained instrument that is where the release begins to fall.
pub const NOTE_OFF_ESTIMATE_LEVEL: f32 = 0.5;
/// A sound shorter than this is rejected: measured from the first to the last sample at
/// or above the threshold (not by the envelope, whose 1/t skirts make even a click last
/// several milliseconds).
pub const MIN_SOUND_S: f64 = 0.01;

/// How examples are cut and coded; the defaults are DESIGN.md's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrepareParams {
    /// Share of the envelope's peak where the sound starts and ends (0.008).
    pub threshold: f32,
    /// Samples (at the source rate) kept before the start of the sound (100).
    pub margin_before: usize,
    /// Samples (at the source rate) kept after the end of the sound (400).
    pub margin_after: usize,
    /// Silence put before the kept audio, in seconds (1.0).
    pub silence_s: f64,
    /// Length of every example in samples at 16 kHz (4 s = 64 000).
    pub length_samples: usize,
    /// How samples become codes.
    pub quantization: Quantization,
}

impl Default for PrepareParams {
    fn default() -> Self {
        PrepareParams {
            threshold: 0.008,
            margin_before: 100,
            margin_after: 400,
            silence_s: 1.0,
            length_samples: 4 * MODEL_RATE_HZ as usize,
            quantization: Quantization::MuLaw,
        }
    }
}

/// What is known of a source's note timing, in sample indices at the source rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteTiming {
    /// Both known (a SoundFont render).
    Known { note_on: usize, note_off: usize },
    /// Only how long the key was held (a WAV paired with a MIDI note): the note-on is put
    /// at the detected start of the sound and the note-off `held_samples` later.
    HeldFromStart { held_samples: usize },
    /// Nothing (a WAV named by its note): the note-on is the start of the sound, the
    /// note-off is estimated by [`NOTE_OFF_ESTIMATE_LEVEL`].
    Unknown,
}

/// One note's audio and what is known about it.
#[derive(Clone, Copy, Debug)]
pub struct NoteSource<'a> {
    /// Mono samples.
    pub samples: &'a [f32],
    /// Their rate.
    pub rate_hz: u32,
    /// MIDI note 0..=127.
    pub note: u8,
    /// MIDI velocity 1..=127.
    pub velocity: u8,
    /// Note-on and note-off, if known.
    pub timing: NoteTiming,
}

/// A prepared example: `length_samples` codes at 16 kHz and the note's span on them.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Quantized audio, exactly `length_samples` long.
    pub codes: Vec<u8>,
    /// The note in 16 kHz samples. When the sound is longer than the example
    /// (`sound_cut`), `end` (and maybe `note_off`) lie beyond the last sample: the
    /// conditioning streams still count down truthfully to where the sound really ends.
    pub span: NoteSpan,
    /// The sound did not fit in the fixed length and was cut.
    pub sound_cut: bool,
}

/// Why a source cannot become an example.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Reject {
    #[error("empty (0 samples)")]
    Empty,
    #[error("{count} non-finite samples (NaN or infinity)")]
    NonFinite { count: usize },
    #[error("silent (every sample is zero)")]
    Silent,
    #[error("no silence: the envelope never falls below {threshold_pct} % of its peak, so the start and end of the sound are unknown")]
    NoSilence { threshold_pct: f32 },
    #[error("too short: the sound lasts {ms:.1} ms (less than {min_ms:.0} ms)")]
    TooShort { ms: f64, min_ms: f64 },
    #[error("the note-on ({note_on_s:.3} s) comes after the end of the sound ({end_s:.3} s)")]
    NoteOnAfterEnd { note_on_s: f64, end_s: f64 },
    #[error("the note-on falls after the example's length ({length_s:.2} s)")]
    NoteOnBeyondLength { length_s: f64 },
    #[error("invalid note {note} or velocity {velocity}")]
    BadNote { note: u8, velocity: u8 },
    #[error("cannot resample: {0}")]
    Resample(String),
}

/// Prepares one example (see the module doc). Deterministic.
pub fn prepare(src: &NoteSource<'_>, p: &PrepareParams) -> Result<Prepared, Reject> {
    if src.note > 127 || !(1..=127).contains(&src.velocity) {
        return Err(Reject::BadNote { note: src.note, velocity: src.velocity });
    }
    let x = src.samples;
    if x.is_empty() {
        return Err(Reject::Empty);
    }
    let non_finite = x.iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(Reject::NonFinite { count: non_finite });
    }
    let signal_peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if signal_peak == 0.0 {
        return Err(Reject::Silent);
    }
    let gain = 1.0 / signal_peak;
    let xn: Vec<f32> = x.iter().map(|v| v * gain).collect();
    let env = hilbert_envelope(&xn);
    let (start, end) = sound_bounds(&env, p.threshold).ok_or(Reject::Silent)?;
    if start == 0 && end == xn.len() {
        return Err(Reject::NoSilence { threshold_pct: p.threshold * 100.0 });
    }
    let rate = src.rate_hz as f64;
    let loud = |v: &f32| v.abs() >= p.threshold;
    let first_loud = xn.iter().position(loud).unwrap_or(0);
    let last_loud = xn.iter().rposition(loud).unwrap_or(0);
    let sound_s = (last_loud + 1 - first_loud) as f64 / rate;
    if sound_s < MIN_SOUND_S {
        return Err(Reject::TooShort { ms: sound_s * 1e3, min_ms: MIN_SOUND_S * 1e3 });
    }

    // Note-on and note-off in source samples.
    let (note_on, note_off) = match src.timing {
        NoteTiming::Known { note_on, note_off } => (note_on, note_off.max(note_on)),
        NoteTiming::HeldFromStart { held_samples } => (start, start + held_samples),
        NoteTiming::Unknown => {
            let level = NOTE_OFF_ESTIMATE_LEVEL * peak(&env);
            let last_loud = env.iter().rposition(|&v| v >= level).unwrap_or(start);
            (start, last_loud.max(start))
        }
    };
    if note_on >= end {
        return Err(Reject::NoteOnAfterEnd { note_on_s: note_on as f64 / rate, end_s: end as f64 / rate });
    }

    // Source signal: silence, then the kept audio.
    let kept_from = start.saturating_sub(p.margin_before);
    let kept_to = (end + p.margin_after).min(xn.len());
    let silence = (p.silence_s * rate).round() as usize;
    // Only what can reach the fixed length is resampled (plus room for the filter).
    let needed = ((p.length_samples as f64 * rate / MODEL_RATE_HZ as f64).ceil() as usize) + src.rate_hz as usize / 10;
    let mut staged = vec![0.0f32; silence];
    staged.extend_from_slice(&xn[kept_from..kept_to]);
    staged.truncate(needed);
    let mut y = resample(&staged, src.rate_hz, MODEL_RATE_HZ).map_err(|e| Reject::Resample(format!("{e:#}")))?;
    y.resize(p.length_samples, 0.0);

    // A source index -> its 16 kHz index in the example (before the kept audio: negative,
    // clamped to 0).
    let to_model = |i: usize| -> u64 {
        let staged_pos = silence as f64 + i as f64 - kept_from as f64;
        (staged_pos * MODEL_RATE_HZ as f64 / rate).round().max(0.0) as u64
    };
    let onset = to_model(note_on);
    if onset >= p.length_samples as u64 {
        return Err(Reject::NoteOnBeyondLength { length_s: p.length_samples as f64 / MODEL_RATE_HZ as f64 });
    }
    let end16 = to_model(end).max(onset + 1);
    let note_off16 = to_model(note_off).clamp(onset, end16);
    let span = NoteSpan { note: src.note, velocity: src.velocity, onset, note_off: note_off16, end: end16 };
    let codes = y.iter().map(|&v| p.quantization.encode(v)).collect();
    Ok(Prepared { codes, span, sound_cut: end16 > p.length_samples as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sackbut_model::quantize::SILENCE_CODE;
    use std::f32::consts::PI;

    /// A 220 Hz tone at `rate` from `start` to `stop` (10 ms raised-cosine fades) in `len`
    /// samples of silence, peak `amp`.
    fn tone(rate: u32, len: usize, start: usize, stop: usize, amp: f32) -> Vec<f32> {
        let fade = rate as usize / 100;
        (0..len)
            .map(|i| {
                if i < start || i >= stop {
                    return 0.0;
                }
                let k = (i - start).min(stop - 1 - i);
                let g = if k < fade { 0.5 - 0.5 * (PI * k as f32 / fade as f32).cos() } else { 1.0 };
                amp * g * (2.0 * PI * 220.0 * i as f32 / rate as f32).sin()
            })
            .collect()
    }

    fn src(x: &[f32], rate: u32, timing: NoteTiming) -> NoteSource<'_> {
        NoteSource { samples: x, rate_hz: rate, note: 57, velocity: 90, timing }
    }

    #[test]
    fn a_known_note_lands_one_second_in() {
        // At 16 kHz nothing is resampled, so positions are exact: the tone starts at 3000,
        // its envelope crosses 0.8 % a few samples later (the fade), the note-on is 3000.
        let x = tone(16_000, 40_000, 3000, 19_000, 0.3);
        let prepared = prepare(&src(&x, 16_000, NoteTiming::Known { note_on: 3000, note_off: 18_000 }), &PrepareParams::default()).unwrap();
        let env = hilbert_envelope(&x);
        let (start, end) = sound_bounds(&env, 0.008).unwrap();
        assert!((3000..3020).contains(&start) && (18_980..=19_005).contains(&end), "{start}..{end}");
        let kept_from = start - 100;
        let s = prepared.span;
        assert_eq!(s.onset as usize, 16_000 + 3000 - kept_from);
        assert_eq!(s.note_off as usize, 16_000 + 18_000 - kept_from);
        assert_eq!(s.end as usize, 16_000 + end - kept_from);
        assert_eq!((s.note, s.velocity), (57, 90));
        assert!(!prepared.sound_cut);
        assert_eq!(prepared.codes.len(), 64_000);
        // Silence before the note-on (the margin holds the fade's first samples), and
        // after the 400-sample tail.
        assert!(prepared.codes[..s.onset as usize].iter().all(|&c| c == SILENCE_CODE));
        assert!(prepared.codes[s.onset as usize + 1..s.onset as usize + 100].iter().any(|&c| c != SILENCE_CODE));
        assert!(prepared.codes[s.end as usize + 400..].iter().all(|&c| c == SILENCE_CODE));
        // Normalised to the peak: the loudest code is (nearly) full scale.
        assert!(prepared.codes.iter().any(|&c| c >= 254));
    }

    #[test]
    fn positions_map_through_resampling() {
        // At 44.1 kHz: onset 441·10 = 4410 (0.1 s), note-off at 0.6 s, tone until 0.7 s.
        let rate = 44_100;
        let x = tone(rate, 44_100, 4410, 30_870, 0.8);
        let prepared = prepare(&src(&x, rate, NoteTiming::Known { note_on: 4410, note_off: 26_460 }), &PrepareParams::default()).unwrap();
        let (start, end) = sound_bounds(&hilbert_envelope(&x), 0.008).unwrap();
        let kept_from = start - 100;
        let at16 = |i: usize| ((44_100 + i - kept_from) as f64 * 16_000.0 / 44_100.0).round() as u64;
        let s = prepared.span;
        assert_eq!((s.onset, s.note_off, s.end), (at16(4410), at16(26_460), at16(end)));
        // Onset about 1 s + margin in: the 441-sample fade reaches 0.8 % 25 samples in, so
        // start ≈ 4435 and the onset is 16 000 + (100 − 25) · 16/44.1 ≈ 16 027.
        assert!((16_020..16_036).contains(&s.onset), "onset {}", s.onset);
        assert_eq!(prepared.codes.len(), 64_000);
        assert!(prepared.codes[..s.onset as usize].iter().all(|&c| c == SILENCE_CODE), "noise before the onset");
        assert!(prepared.codes[s.onset as usize + 400..s.note_off as usize].iter().any(|&c| c != SILENCE_CODE));
    }

    #[test]
    fn an_unknown_note_off_is_where_the_envelope_falls_below_half() {
        // A tone that decays linearly from sample 2000 to 10 000: half its peak at 6000.
        let mut x = tone(16_000, 12_000, 2000, 10_000, 1.0);
        for (i, v) in x.iter_mut().enumerate().skip(2000).take(8000) {
            *v *= 1.0 - (i - 2000) as f32 / 8000.0;
        }
        let prepared = prepare(&src(&x, 16_000, NoteTiming::Unknown), &PrepareParams::default()).unwrap();
        let (start, _) = sound_bounds(&hilbert_envelope(&x), 0.008).unwrap();
        let s = prepared.span;
        assert_eq!(s.onset as usize, 16_000 + 100);
        let note_off = s.note_off as i64 - (16_000 + 100) + start as i64;
        // The peak is 1 − 160/8000 = 0.98, at the end of the 160-sample fade-in; half of
        // it is reached at 2000 + 8000 · (1 − 0.49) = 6080.
        assert!((note_off - 6080).abs() <= 5, "note-off at {note_off}");
    }

    #[test]
    fn held_from_start_puts_the_note_off_after_the_detected_start() {
        let x = tone(16_000, 20_000, 5000, 15_000, 0.5);
        let prepared = prepare(&src(&x, 16_000, NoteTiming::HeldFromStart { held_samples: 8000 }), &PrepareParams::default()).unwrap();
        let s = prepared.span;
        assert_eq!(s.onset, 16_100);
        assert_eq!(s.note_off, 16_100 + 8000);
        // Held longer than it sounds: the note-off is clamped to the end of the sound.
        let prepared = prepare(&src(&x, 16_000, NoteTiming::HeldFromStart { held_samples: 30_000 }), &PrepareParams::default()).unwrap();
        assert_eq!(prepared.span.note_off, prepared.span.end);
    }

    #[test]
    fn a_long_sound_is_cut_but_its_span_stays_true() {
        // 5 s of tone in a 2 s example: the end lies beyond the example.
        let x = tone(16_000, 16_000 * 6, 1000, 16_000 * 5, 0.5);
        let params = PrepareParams { length_samples: 32_000, ..PrepareParams::default() };
        let prepared = prepare(&src(&x, 16_000, NoteTiming::Known { note_on: 1000, note_off: 16_000 * 4 }), &params).unwrap();
        assert!(prepared.sound_cut);
        assert_eq!(prepared.codes.len(), 32_000);
        assert!(prepared.span.end > 32_000 && prepared.span.note_off > 32_000);
        // The span still measures the whole sound: 1000..80 000 (the fades shorten it a little).
        let sounding = (prepared.span.end - prepared.span.onset) as i64;
        assert!((sounding - 79_000).abs() < 20, "sounding {sounding}");
    }

    #[test]
    fn gain_does_not_matter() {
        let quiet = tone(16_000, 20_000, 5000, 15_000, 0.01);
        let loud: Vec<f32> = quiet.iter().map(|v| v * 90.0).collect();
        let t = NoteTiming::Known { note_on: 5000, note_off: 14_000 };
        let a = prepare(&src(&quiet, 16_000, t), &PrepareParams::default()).unwrap();
        let b = prepare(&src(&loud, 16_000, t), &PrepareParams::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn linear_quantization_is_selectable() {
        let x = tone(16_000, 20_000, 5000, 15_000, 0.5);
        let params = PrepareParams { quantization: Quantization::Linear, ..PrepareParams::default() };
        let lin = prepare(&src(&x, 16_000, NoteTiming::Unknown), &params).unwrap();
        let mu = prepare(&src(&x, 16_000, NoteTiming::Unknown), &PrepareParams::default()).unwrap();
        assert_eq!(lin.span, mu.span);
        assert_ne!(lin.codes, mu.codes);
    }

    #[test]
    fn rejects_with_reasons() {
        let p = PrepareParams::default();
        let u = NoteTiming::Unknown;
        assert_eq!(prepare(&src(&[], 16_000, u), &p), Err(Reject::Empty));
        assert_eq!(prepare(&src(&[0.0; 1000], 16_000, u), &p), Err(Reject::Silent));
        let mut nan = tone(16_000, 20_000, 5000, 15_000, 0.5);
        nan[7] = f32::NAN;
        nan[9] = f32::INFINITY;
        assert_eq!(prepare(&src(&nan, 16_000, u), &p), Err(Reject::NonFinite { count: 2 }));
        // A tone filling the whole file: no start or end to find.
        let full: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.1).sin()).collect();
        assert!(matches!(prepare(&src(&full, 16_000, u), &p), Err(Reject::NoSilence { .. })));
        // A click: 3 samples in silence.
        let mut click = vec![0.0; 16_000];
        click[8000..8003].copy_from_slice(&[0.5, -0.5, 0.25]);
        let Err(e) = prepare(&src(&click, 16_000, u), &p) else { panic!("a click was kept") };
        assert!(matches!(e, Reject::TooShort { .. }), "{e}");
        assert!(e.to_string().starts_with("too short"), "{e}");
        // A note-on after the sound.
        let x = tone(16_000, 20_000, 5000, 10_000, 0.5);
        let late = NoteTiming::Known { note_on: 15_000, note_off: 16_000 };
        assert!(matches!(prepare(&src(&x, 16_000, late), &p), Err(Reject::NoteOnAfterEnd { .. })));
        let bad = NoteSource { velocity: 0, ..src(&x, 16_000, u) };
        assert!(matches!(prepare(&bad, &p), Err(Reject::BadNote { .. })));
    }
}
