//! The three sources of notes (DESIGN.md, "Data and conditioning"):
//! (a) a SoundFont preset rendered over notes × velocities × held durations;
//! (b) a directory of WAV files whose names carry the note (and maybe the velocity);
//! (c) a directory of WAV files paired, in file-name order, with the notes of a MIDI file.
//!
//! Planning (listing files, reading the MIDI file, loading the SoundFont) happens first and
//! its errors stop the run; each [`Job`] then loads one note's audio, and its errors only
//! skip that note.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sackbut_model::score::read_midi;

use super::manifest::{Skipped, SourceInfo};
use super::note_name::{note_from_file_name, velocity_from_file_name};
use super::prepare::NoteTiming;
use super::soundfont::{Instrument, PresetId, RENDER_RATE_HZ};
use crate::audio::read_wav_mono;

/// Velocity of a WAV file whose name does not give one.
pub const DEFAULT_WAV_VELOCITY: u8 = 100;

/// One note to turn into an example.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// Render `note` at `velocity` from the SoundFont, held `hold_s` seconds.
    SoundFont { note: u8, velocity: u8, hold_s: f64 },
    /// A WAV file named by its note.
    WavNamed { path: PathBuf, note: u8, velocity: u8 },
    /// A WAV file paired with a MIDI note: its key, velocity and held duration.
    WavMidi { path: PathBuf, note: u8, velocity: u8, held_s: f64 },
}

/// A job's audio and what is known of its note.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Mono samples.
    pub samples: Vec<f32>,
    /// Their rate.
    pub rate_hz: u32,
    /// MIDI note.
    pub note: u8,
    /// MIDI velocity.
    pub velocity: u8,
    /// Note-on and note-off as far as known.
    pub timing: NoteTiming,
}

impl Job {
    /// How the manifest names this job's source: the WAV file, or
    /// `sf2:0:57 note 45 vel 80 hold 0.60s`.
    pub fn source(&self, instrument: Option<&Instrument>) -> String {
        match self {
            Job::SoundFont { note, velocity, hold_s } => {
                let preset = instrument.map_or_else(|| "?".into(), |i| i.preset.to_string());
                format!("sf2:{preset} note {note} vel {velocity} hold {hold_s:.2}s")
            }
            Job::WavNamed { path, .. } | Job::WavMidi { path, .. } => path.display().to_string(),
        }
    }

    /// Loads (or renders) the audio. The error is one line naming the source.
    pub fn load(&self, instrument: Option<&Instrument>) -> Result<Loaded> {
        match self {
            Job::SoundFont { note, velocity, hold_s } => {
                let Some(inst) = instrument else { bail!("{}: no SoundFont loaded", self.source(None)) };
                let r = inst.render_note(*note, *velocity, *hold_s)?;
                Ok(Loaded {
                    samples: r.samples,
                    rate_hz: r.rate_hz,
                    note: *note,
                    velocity: *velocity,
                    timing: NoteTiming::Known { note_on: r.note_on, note_off: r.note_off },
                })
            }
            Job::WavNamed { path, note, velocity } => {
                let (samples, rate_hz) = read_wav_mono(path)?;
                Ok(Loaded { samples, rate_hz, note: *note, velocity: *velocity, timing: NoteTiming::Unknown })
            }
            Job::WavMidi { path, note, velocity, held_s } => {
                let (samples, rate_hz) = read_wav_mono(path)?;
                let held_samples = (held_s * rate_hz as f64).round() as usize;
                Ok(Loaded { samples, rate_hz, note: *note, velocity: *velocity, timing: NoteTiming::HeldFromStart { held_samples } })
            }
        }
    }
}

/// Source (a): loads the SoundFont preset and lists notes × velocities × durations (in that
/// nesting order).
pub fn plan_soundfont(
    path: &Path,
    preset: PresetId,
    notes: &[u8],
    velocities: &[u8],
    durations_s: &[f64],
) -> Result<(Instrument, Vec<Job>, SourceInfo)> {
    let instrument = Instrument::open(path, preset)?;
    let mut jobs = Vec::with_capacity(notes.len() * velocities.len() * durations_s.len());
    for &note in notes {
        for &velocity in velocities {
            for &hold_s in durations_s {
                jobs.push(Job::SoundFont { note, velocity, hold_s });
            }
        }
    }
    let info = SourceInfo::SoundFont {
        file: path.display().to_string(),
        preset: preset.to_string(),
        preset_name: instrument.name.clone(),
        notes: notes.to_vec(),
        velocities: velocities.to_vec(),
        durations_s: durations_s.to_vec(),
        render_rate_hz: RENDER_RATE_HZ,
    };
    Ok((instrument, jobs, info))
}

/// Source (b): every `.wav` in `dir` (not recursive, in natural file-name order) whose
/// name starts with a note; the others are skipped with a reason. Velocity from the name
/// ([`velocity_from_file_name`]) or [`DEFAULT_WAV_VELOCITY`].
pub fn plan_wav_named(dir: &Path) -> Result<(Vec<Job>, Vec<Skipped>, SourceInfo)> {
    let files = list_wavs(dir)?;
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for path in &files {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match note_from_file_name(&stem) {
            Some(note) => {
                let velocity = velocity_from_file_name(&stem).unwrap_or(DEFAULT_WAV_VELOCITY);
                jobs.push(Job::WavNamed { path: path.clone(), note, velocity });
            }
            None => skipped.push(Skipped {
                source: path.display().to_string(),
                reason: format!(
                    "{}: no note at the start of the file name (expected e.g. A2_01.wav, Bb2-3.wav or 45_x.wav; or pass --midi)",
                    path.display()
                ),
            }),
        }
    }
    let info = SourceInfo::WavNamed { dir: dir.display().to_string(), files: files.len(), default_velocity: DEFAULT_WAV_VELOCITY };
    Ok((jobs, skipped, info))
}

/// Source (c): the notes of `midi`, in time order (ties by key), paired one to one with
/// the `.wav` files of `dir` in natural file-name order. Different counts are an error, and
/// so is a MIDI file without notes.
pub fn plan_wav_midi(dir: &Path, midi: &Path) -> Result<(Vec<Job>, SourceInfo)> {
    let files = list_wavs(dir)?;
    let score = read_midi(midi)?;
    if score.notes.is_empty() {
        bail!("{}: the MIDI file has no notes", midi.display());
    }
    let mut notes = score.notes.clone();
    notes.sort_by(|a, b| a.on_s.total_cmp(&b.on_s).then(a.key.cmp(&b.key)));
    if notes.len() != files.len() {
        bail!(
            "{} has {} notes but {} has {} WAV files: pairing them one to one needs equal counts",
            midi.display(),
            notes.len(),
            dir.display(),
            files.len()
        );
    }
    let jobs = files
        .iter()
        .zip(&notes)
        .map(|(path, n)| Job::WavMidi {
            path: path.clone(),
            note: n.key,
            velocity: n.velocity.clamp(1, 127),
            held_s: (n.off_s - n.on_s).max(0.0),
        })
        .collect();
    let info = SourceInfo::WavMidi { dir: dir.display().to_string(), midi: midi.display().to_string(), files: files.len() };
    Ok((jobs, info))
}

/// The `.wav` files (any case) directly in `dir`, hidden files excluded, in natural
/// file-name order (digit runs compare as numbers: `take2` before `take10`).
pub fn list_wavs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| format!("{}: cannot list the WAV directory", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list the WAV directory", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_wav = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        if is_wav && !name.starts_with('.') && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("{}: no .wav files", dir.display());
    }
    files.sort_by(|a, b| natural_cmp(&a.file_name().unwrap().to_string_lossy(), &b.file_name().unwrap().to_string_lossy()));
    Ok(files)
}

/// Compares names with their digit runs as numbers ("x2" < "x10"); ties by plain order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let end = rest.find(|ch: char| ch.is_ascii_digit() != digit).unwrap_or(rest.len());
            out.push((digit, &rest[..end]));
            rest = &rest[end..];
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, dx), (true, dy)) => {
                let (tx, ty) = (dx.trim_start_matches('0'), dy.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then(tx.cmp(ty))
            }
            ((_, sx), (_, sy)) => sx.cmp(sy),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sackbut_model::score::{Score, ScoreNote};

    fn touch_wav(dir: &Path, name: &str) {
        let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(dir.join(name), spec).unwrap();
        w.write_sample(1i16).unwrap();
        w.finalize().unwrap();
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["take10.wav", "take2.wav", "Take1.wav", "take02.wav", "a.wav"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["Take1.wav", "a.wav", "take02.wav", "take2.wav", "take10.wav"]);
    }

    #[test]
    fn lists_wavs_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b10.wav", "b9.WAV", ".hidden.wav", "notes.txt"] {
            touch_wav(dir.path(), name);
        }
        fs::create_dir(dir.path().join("sub.wav")).unwrap();
        let names: Vec<String> =
            list_wavs(dir.path()).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["b9.WAV", "b10.wav"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(list_wavs(empty.path()).unwrap_err().to_string().contains("no .wav files"));
    }

    #[test]
    fn named_wavs_give_notes_and_velocities() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["A2_017.wav", "Bb2-ff.wav", "Track_01.wav"] {
            touch_wav(dir.path(), name);
        }
        let (jobs, skipped, info) = plan_wav_named(dir.path()).unwrap();
        let got: Vec<(u8, u8)> = jobs
            .iter()
            .map(|j| match j {
                Job::WavNamed { note, velocity, .. } => (*note, *velocity),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, vec![(45, 100), (46, 112)]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.contains("Track_01.wav: no note"), "{}", skipped[0].reason);
        assert!(matches!(info, SourceInfo::WavNamed { files: 3, .. }));
    }

    fn midi_file(dir: &Path, notes: &[(u8, u8, f64, f64)]) -> PathBuf {
        let score = Score {
            notes: notes.iter().map(|&(key, velocity, on_s, off_s)| ScoreNote { key, velocity, channel: 0, on_s, off_s }).collect(),
            end_s: notes.iter().fold(0.0, |m, n| m.max(n.3)),
        };
        let path = dir.join("take.mid");
        fs::write(&path, score.to_midi_bytes()).unwrap();
        path
    }

    #[test]
    fn midi_notes_pair_with_wavs_in_order() {
        let wavs = tempfile::tempdir().unwrap();
        for name in ["n1.wav", "n2.wav", "n10.wav"] {
            touch_wav(wavs.path(), name);
        }
        let other = tempfile::tempdir().unwrap();
        // Written out of time order on purpose: pairing follows time.
        let midi = midi_file(other.path(), &[(50, 60, 2.0, 2.5), (45, 80, 0.0, 0.75), (47, 100, 1.0, 1.25)]);
        let (jobs, _) = plan_wav_midi(wavs.path(), &midi).unwrap();
        let got: Vec<(String, u8, u8, f64)> = jobs
            .iter()
            .map(|j| match j {
                Job::WavMidi { path, note, velocity, held_s } => {
                    (path.file_name().unwrap().to_string_lossy().into_owned(), *note, *velocity, *held_s)
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, vec![("n1.wav".into(), 45, 80, 0.75), ("n2.wav".into(), 47, 100, 0.25), ("n10.wav".into(), 50, 60, 0.5)]);
        // Count mismatch and a MIDI file without notes are errors naming the file.
        let two = midi_file(other.path(), &[(45, 80, 0.0, 0.5), (47, 80, 1.0, 1.5)]);
        let e = plan_wav_midi(wavs.path(), &two).unwrap_err().to_string();
        assert!(e.contains("take.mid has 2 notes") && e.contains("3 WAV files"), "{e}");
        let none = midi_file(other.path(), &[]);
        let e = plan_wav_midi(wavs.path(), &none).unwrap_err().to_string();
        assert!(e.contains("take.mid") && e.contains("no notes"), "{e}");
    }
}
