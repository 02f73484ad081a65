//! The conditioning streams the model sees for every audio sample: `note`, `velocity`,
//! `remaining` (DESIGN.md "Data and conditioning") and `age`, built from a voice's note spans.
//!
//! `age` (samples since the note-on) is not in the thesis. Without it, a held note's
//! conditioning is constant from the onset until `remaining` drops below the horizon, so the
//! moment a note starts is visible only in the model's own (still silent) audio: a model
//! trained that way often failed to leave silence at all. The plugin knows note-on times
//! exactly, so `age` costs nothing live.
//!
//! The phase features (sin and cos of the first [`PHASE_HARMONICS`] harmonics of an ideal
//! oscillator at the note's equal-tempered frequency, started at the note-on) are not in the
//! thesis either. A note embedding alone leaves the model to build its own oscillator inside
//! a GRU that only ticks once per frame; small models then drift a few semitones or settle on
//! a neighbouring note. Given the phase, the sample MLP only has to shape a waveform that is
//! already periodic at the right pitch. The phase is a pure function of `note` and `age`, so
//! it adds no stream to the dataset or to the plugin.

use serde::{Deserialize, Serialize};

/// The note stream's value in silence: its own embedding row after the 128 MIDI notes.
pub const NOTE_NONE: u8 = 128;
/// Rows of the note embedding (128 MIDI notes + NONE).
pub const NOTE_ROWS: usize = 129;
/// Default horizon H in samples: `remaining` saturates here.
pub const DEFAULT_HORIZON: u32 = 8192;
/// Default age horizon in samples (256 ms at 16 kHz): `age` saturates here, past the attack.
pub const DEFAULT_AGE_HORIZON: u32 = 4096;
/// Harmonics of the note oscillator given to the model as (sin, cos) pairs.
pub const PHASE_HARMONICS: usize = 4;
/// Scalar features per sample besides the note embedding: velocity, remaining, age, then
/// sin and cos of each harmonic's phase.
pub const SCALAR_FEATURES: usize = 3 + 2 * PHASE_HARMONICS;

/// One note on one voice's timeline, in samples at the model rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSpan {
    /// MIDI note number 0..=127.
    pub note: u8,
    /// MIDI velocity 1..=127.
    pub velocity: u8,
    /// First sample of the note (note-on).
    pub onset: u64,
    /// The note-off sample (the key is released; the sound goes on into its release).
    pub note_off: u64,
    /// First sample after the note's sound has ended (release included).
    pub end: u64,
}

/// How much of a note's future the conditioning knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemainingRule {
    /// Offline truth: the sound ends at `end`, known from the start.
    Exact,
    /// What a live plugin knows: the note-off is seen `lookahead` samples before it happens
    /// (0 when playing live), the sound is taken to end `release` samples after the note-off,
    /// and until the note-off is seen `remaining` stays saturated at the horizon.
    Live { release: u32, lookahead: u32 },
}

/// The three streams for a run of samples, as the model reads them. `repr(C)`: the GPU engine
/// library reads it across its C ABI (`engine::gpu_abi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Conditioning {
    /// Sounding note or [`NOTE_NONE`].
    pub note: u8,
    /// Velocity of the sounding note, 0 in silence.
    pub velocity: u8,
    /// Samples until the sound ends, saturated at the horizon; 0 in silence.
    pub remaining: u32,
    /// Samples since the note-on; 0 in silence.
    pub age: u32,
}

impl Conditioning {
    /// Silence: no note.
    pub const SILENT: Conditioning = Conditioning { note: NOTE_NONE, velocity: 0, remaining: 0, age: 0 };

    /// The scalar features the model sees besides the note embedding: velocity / 127,
    /// min(remaining, H) / H, min(age, A) / A (A = `age_horizon`), then sin and cos of
    /// k·θ for k = 1..=[`PHASE_HARMONICS`], θ the note oscillator's phase (all zero in silence).
    pub fn scalar_features(self, horizon: u32, age_horizon: u32) -> [f32; SCALAR_FEATURES] {
        let mut f = [0.0; SCALAR_FEATURES];
        f[0] = self.velocity as f32 / 127.0;
        f[1] = self.remaining.min(horizon) as f32 / horizon as f32;
        f[2] = self.age.min(age_horizon) as f32 / age_horizon as f32;
        if self.note < NOTE_NONE {
            let (s1, c1) = self.phase().sin_cos();
            // Higher harmonics by the angle-addition recurrence: one sin_cos per sample.
            let (mut s, mut c) = (s1, c1);
            for k in 0..PHASE_HARMONICS {
                f[3 + 2 * k] = s as f32;
                f[4 + 2 * k] = c as f32;
                (s, c) = (s * c1 + c * s1, c * c1 - s * s1);
            }
        }
        f
    }

    /// The phase in radians, in [0, 2π), of an oscillator at the note's equal-tempered
    /// frequency (A4 = 440 Hz) that started at 0 on the note-on, `age` model samples ago.
    pub fn phase(self) -> f64 {
        let cycles = note_hz(self.note) / crate::MODEL_RATE_HZ as f64 * self.age as f64;
        std::f64::consts::TAU * cycles.fract()
    }
}

/// The equal-tempered frequency of MIDI `note` in Hz (A4 = 69 = 440 Hz).
pub fn note_hz(note: u8) -> f64 {
    440.0 * 2f64.powf((note as f64 - 69.0) / 12.0)
}

impl NoteSpan {
    /// Where this note's sound ends under `rule`.
    pub fn sound_end(&self, rule: RemainingRule) -> u64 {
        match rule {
            RemainingRule::Exact => self.end,
            RemainingRule::Live { release, .. } => self.note_off + release as u64,
        }
    }

    /// The conditioning at sample `t` if this note is the one sounding there, else `None`.
    pub fn at(&self, t: u64, rule: RemainingRule, horizon: u32) -> Option<Conditioning> {
        let end = self.sound_end(rule);
        if t < self.onset || t >= end {
            return None;
        }
        let known = match rule {
            RemainingRule::Exact => true,
            RemainingRule::Live { lookahead, .. } => t + lookahead as u64 >= self.note_off,
        };
        let remaining = if known { (end - t).min(horizon as u64) as u32 } else { horizon };
        // Saturated far beyond any age horizon, so a u32 never wraps.
        let age = (t - self.onset).min(u32::MAX as u64) as u32;
        Some(Conditioning { note: self.note, velocity: self.velocity, remaining, age })
    }
}

/// Fills `out[i]` with the conditioning at sample `start + i` for a voice playing `spans`.
///
/// `spans` are in onset order. Where two spans overlap (a note retriggered or stolen before
/// its release ended) the later onset wins: the voice plays one note at a time.
/// Allocation-free, so the plugin's worker can call it per block.
pub fn fill(spans: &[NoteSpan], rule: RemainingRule, horizon: u32, start: u64, out: &mut [Conditioning]) {
    let horizon = horizon.max(1);
    // First span that can still sound at `start`; spans before it ended earlier.
    let mut first = spans.partition_point(|s| s.onset <= start).saturating_sub(1);
    for (i, slot) in out.iter_mut().enumerate() {
        let t = start + i as u64;
        while first + 1 < spans.len() && spans[first + 1].onset <= t {
            first += 1;
        }
        *slot = spans.get(first).and_then(|s| s.at(t, rule, horizon)).unwrap_or(Conditioning::SILENT);
    }
}

/// [`fill`] into three separate streams (the dataset's on-disk layout).
pub fn fill_streams(spans: &[NoteSpan], rule: RemainingRule, horizon: u32, len: usize) -> (Vec<u8>, Vec<u8>, Vec<u32>) {
    let mut c = vec![Conditioning::SILENT; len];
    fill(spans, rule, horizon, 0, &mut c);
    (c.iter().map(|c| c.note).collect(), c.iter().map(|c| c.velocity).collect(), c.iter().map(|c| c.remaining).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: NoteSpan = NoteSpan { note: 60, velocity: 100, onset: 2, note_off: 5, end: 8 };

    fn streams(spans: &[NoteSpan], rule: RemainingRule, horizon: u32, len: usize) -> (Vec<u8>, Vec<u8>, Vec<u32>) {
        fill_streams(spans, rule, horizon, len)
    }

    #[test]
    fn exact_counts_down_to_the_end_of_sound() {
        let (note, vel, rem) = streams(&[SPAN], RemainingRule::Exact, 100, 10);
        let n = NOTE_NONE;
        assert_eq!(note, vec![n, n, 60, 60, 60, 60, 60, 60, n, n]);
        assert_eq!(vel, vec![0, 0, 100, 100, 100, 100, 100, 100, 0, 0]);
        assert_eq!(rem, vec![0, 0, 6, 5, 4, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn exact_saturates_at_the_horizon() {
        let (_, _, rem) = streams(&[SPAN], RemainingRule::Exact, 4, 10);
        assert_eq!(rem, vec![0, 0, 4, 4, 4, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn live_rule_saturates_until_note_off_then_counts_from_release() {
        // Release 2: the sound is taken to end at 5 + 2 = 7, one sample before the truth.
        let rule = RemainingRule::Live { release: 2, lookahead: 0 };
        let (note, _, rem) = streams(&[SPAN], rule, 100, 10);
        let n = NOTE_NONE;
        assert_eq!(note, vec![n, n, 60, 60, 60, 60, 60, n, n, n]);
        assert_eq!(rem, vec![0, 0, 100, 100, 100, 2, 1, 0, 0, 0]);
    }

    #[test]
    fn lookahead_reveals_the_countdown_early() {
        let rule = RemainingRule::Live { release: 2, lookahead: 2 };
        let (_, _, rem) = streams(&[SPAN], rule, 100, 10);
        assert_eq!(rem, vec![0, 0, 100, 4, 3, 2, 1, 0, 0, 0]);
        // A lookahead beyond the horizon gives the exact countdown of the live end.
        let rule = RemainingRule::Live { release: 3, lookahead: 1000 };
        assert_eq!(streams(&[SPAN], rule, 100, 10), streams(&[SPAN], RemainingRule::Exact, 100, 10));
    }

    #[test]
    fn age_counts_from_the_note_on_and_is_zero_in_silence() {
        let mut c = vec![Conditioning::SILENT; 10];
        fill(&[SPAN], RemainingRule::Live { release: 2, lookahead: 0 }, 100, 0, &mut c);
        let age: Vec<u32> = c.iter().map(|c| c.age).collect();
        assert_eq!(age, vec![0, 0, 0, 1, 2, 3, 4, 0, 0, 0]);
    }

    #[test]
    fn a_later_onset_cuts_the_earlier_note() {
        let second = NoteSpan { note: 62, velocity: 50, onset: 4, note_off: 6, end: 7 };
        let (note, vel, rem) = streams(&[SPAN, second], RemainingRule::Exact, 100, 9);
        let n = NOTE_NONE;
        assert_eq!(note, vec![n, n, 60, 60, 62, 62, 62, n, n]);
        assert_eq!(vel, vec![0, 0, 100, 100, 50, 50, 50, 0, 0]);
        assert_eq!(rem, vec![0, 0, 6, 5, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn filling_in_blocks_equals_filling_at_once() {
        let spans = [SPAN, NoteSpan { note: 40, velocity: 1, onset: 9, note_off: 12, end: 20 }];
        let rule = RemainingRule::Live { release: 3, lookahead: 1 };
        let mut whole = vec![Conditioning::SILENT; 25];
        fill(&spans, rule, 6, 0, &mut whole);
        for block in [1, 3, 7] {
            let mut pieces = vec![Conditioning::SILENT; 25];
            for (k, chunk) in pieces.chunks_mut(block).enumerate() {
                fill(&spans, rule, 6, (k * block) as u64, chunk);
            }
            assert_eq!(pieces, whole, "block {block}");
        }
    }

    #[test]
    fn scalar_features_are_normalised() {
        let c = Conditioning { note: 60, velocity: 127, remaining: 10_000, age: 9_000 };
        assert_eq!(c.scalar_features(8192, 4096)[..3], [1.0, 1.0, 1.0]);
        let c = Conditioning { note: 60, velocity: 0, remaining: 2048, age: 1024 };
        assert_eq!(c.scalar_features(8192, 4096)[..3], [0.0, 0.25, 0.25]);
    }

    #[test]
    fn phase_features_follow_the_note_frequency() {
        // A4 = 440 Hz at 16 kHz: 40 samples are 1.1 cycles, so θ = 0.2π.
        let c = Conditioning { note: 69, velocity: 100, remaining: 100, age: 40 };
        let f = c.scalar_features(8192, 4096);
        let theta = 0.2 * std::f64::consts::PI;
        for k in 0..PHASE_HARMONICS {
            let kt = (k + 1) as f64 * theta;
            assert!((f[3 + 2 * k] as f64 - kt.sin()).abs() < 1e-5, "sin harmonic {}", k + 1);
            assert!((f[4 + 2 * k] as f64 - kt.cos()).abs() < 1e-5, "cos harmonic {}", k + 1);
        }
        // One octave up is twice the phase: 2.2 cycles.
        let up = Conditioning { note: 81, ..c }.phase();
        assert!((up - 2.0 * theta).abs() < 1e-9, "{up}");
        // At the note-on the oscillator starts at zero.
        let on = Conditioning { age: 0, ..c }.scalar_features(8192, 4096);
        assert_eq!(on[3..], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn silence_has_no_phase() {
        assert_eq!(Conditioning::SILENT.scalar_features(8192, 4096), [0.0; SCALAR_FEATURES]);
    }
}
