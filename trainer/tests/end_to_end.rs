//! The trainer as a user runs it: a SoundFont dataset, a tiny voice trained on CPU, MIDI renders,
//! resume, and clear errors for bad input. Uses the real binary, the real FluidR3 SoundFont
//! (Debian's fluid-soundfont-gm, installed by scripts/setup.sh) and real files throughout.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{ok, ok_args, s, small_dataset, stderr, tiny_train_args, train_tiny, trainer};
use sackbut_model::score::{Score, ScoreNote};
use sackbut_model::voice_file::Voice;

/// One dataset and one trained tiny run shared by the tests (training is the slow part).
struct Trained {
    _dir: tempfile::TempDir,
    data: PathBuf,
    run: PathBuf,
}

impl Trained {
    fn voice(&self) -> PathBuf {
        self.run.join("best.voice.safetensors")
    }
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = small_dataset(dir.path());
        let run = dir.path().join("run");
        train_tiny(&data, &run, 600, 200, &[]);
        Trained { _dir: dir, data, run }
    })
}

fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16));
    (r.samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect(), spec.sample_rate)
}

fn rms_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * ms.max(1e-20).log10()
}

fn two_note_midi(dir: &Path) -> (PathBuf, Score) {
    let score = Score {
        notes: vec![
            ScoreNote { key: 55, velocity: 110, channel: 0, on_s: 0.5, off_s: 1.0 },
            ScoreNote { key: 60, velocity: 70, channel: 0, on_s: 0.9, off_s: 1.4 },
        ],
        end_s: 1.4,
    };
    let path = dir.join("two.mid");
    std::fs::write(&path, score.to_midi_bytes()).unwrap();
    (path, score)
}

#[test]
fn training_lowers_valid_nll_far_below_uniform() {
    let t = trained();
    let log = std::fs::read_to_string(t.run.join("log.csv")).unwrap();
    let rows: Vec<Vec<&str>> = log.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), ["200", "400", "600"]);
    let valid: Vec<f64> = rows.iter().map(|r| r[4].parse().unwrap()).collect();
    // Uniform over 256 classes is 8 bits per sample.
    assert!(*valid.last().unwrap() < 4.0, "valid NLL {valid:?} bits/sample");
    assert!(t.run.join("loss.png").exists(), "loss plot drawn");
    assert!(t.run.join("previews/step-000600.wav").exists());
    let best = Voice::read(&t.voice()).unwrap();
    let test_bits = best.meta.training.test_nll_bits.expect("final test NLL recorded");
    assert!(test_bits < 4.0, "test NLL {test_bits}");
    assert_eq!(best.meta.conditioning.notes, vec![50, 55, 60]);
    assert!(best.meta.training.conditioned);
}

#[test]
fn voice_file_round_trips_byte_for_byte() {
    let t = trained();
    let bytes = std::fs::read(t.voice()).unwrap();
    let voice = Voice::read(&t.voice()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.voice.safetensors");
    voice.write(&copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
}

#[test]
fn render_has_the_planned_length_and_is_silent_before_the_first_note() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let (midi, score) = two_note_midi(dir.path());
    let voice = Voice::read(&t.voice()).unwrap();
    let release = voice.meta.conditioning.release_samples as usize;
    let voice_path = t.voice();
    let render = |name: &str, extra: &[&str]| {
        let wav = dir.path().join(name);
        let mut args = vec!["render", "--voice", s(&voice_path), "--midi", s(&midi), "--out", s(&wav)];
        args.extend_from_slice(extra);
        ok(&args);
        wav
    };
    let wav = render("out.wav", &["--seed", "7"]);
    let (audio, rate) = read_wav(&wav);
    assert_eq!(rate, 16_000);
    // Last note-off at 1.4 s = sample 22400, then the release R, then the 250 ms tail.
    let expected = 22_400 + release + 4_000;
    assert_eq!(audio.len(), expected);
    let first_onset = (score.notes[0].on_s * 16_000.0) as usize;
    let before = rms_db(&audio[..first_onset]);
    assert!(before < -50.0, "{before:.1} dBFS before the first note");
    let during = rms_db(&audio[first_onset..first_onset + 8000]);
    assert!(during > before + 20.0, "the note sounds: {during:.1} dBFS vs {before:.1} before");

    // Same seed, same bytes; another seed, other audio.
    let again = render("again.wav", &["--seed", "7"]);
    assert_eq!(std::fs::read(&wav).unwrap(), std::fs::read(&again).unwrap());
    let other = render("other.wav", &["--seed", "8"]);
    assert_ne!(std::fs::read(&wav).unwrap(), std::fs::read(&other).unwrap());

    // At 48 kHz: three times the samples.
    let hi = render("hi.wav", &["--seed", "7", "--rate", "48000"]);
    let (audio48, rate48) = read_wav(&hi);
    assert_eq!(rate48, 48_000);
    assert_eq!(audio48.len(), 3 * expected);
}

#[test]
fn resume_continues_from_the_last_checkpoint() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut base = tiny_train_args(&t.data, &run, 4);
    base.extend(["--eval-every", "20", "--no-preview", "--keep-checkpoints"].map(String::from));
    let mut first = base.clone();
    first.extend(["--steps", "40"].map(String::from));
    ok_args(&first);
    // A second start without --resume refuses to overwrite the run.
    let refused = trainer(&first.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--resume"), "{}", stderr(&refused));
    let mut second = base;
    second.extend(["--steps", "60", "--resume"].map(String::from));
    let out = ok_args(&second);
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    let log = std::fs::read_to_string(run.join("log.csv")).unwrap();
    let steps: Vec<&str> = log.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(steps, ["20", "40", "60"]);
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 60);
    // --keep-checkpoints: one loadable voice per evaluated step, holding that step.
    let kept = run.join("checkpoints");
    let mut names: Vec<String> = std::fs::read_dir(&kept).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["step-000020.voice.safetensors", "step-000040.voice.safetensors", "step-000060.voice.safetensors"]);
    for (name, step) in names.iter().zip([20, 40, 60]) {
        let voice = Voice::read(&kept.join(name)).unwrap();
        assert_eq!(voice.meta.training.steps, step, "{name}");
    }
}

#[test]
fn bad_voice_and_midi_files_are_named_in_the_error() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let (midi, _) = two_note_midi(dir.path());
    let out_wav = dir.path().join("x.wav");
    let render = |voice: &Path, midi: &Path| trainer(&["render", "--voice", s(voice), "--midi", s(midi), "--out", s(&out_wav)]);

    let fake_voice = dir.path().join("fake.voice.safetensors");
    std::fs::write(&fake_voice, b"this is not a voice").unwrap();
    let out = render(&fake_voice, &midi);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("fake.voice.safetensors") && stderr(&out).contains("not a safetensors"), "{}", stderr(&out));

    let bytes = std::fs::read(t.voice()).unwrap();
    let cut = dir.path().join("cut.voice.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = render(&cut, &midi);
    assert!(stderr(&out).contains("cut.voice.safetensors") && stderr(&out).contains("truncated"), "{}", stderr(&out));

    let bad_midi = dir.path().join("bad.mid");
    std::fs::write(&bad_midi, b"MThd garbage").unwrap();
    let out = render(&t.voice(), &bad_midi);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.mid") && stderr(&out).contains("not a MIDI file"), "{}", stderr(&out));
    assert!(!out_wav.exists(), "no output written on failure");
}

#[test]
fn training_on_a_missing_dataset_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = trainer(&["train", "--data", s(&missing), "--out", s(&dir.path().join("r")), "--preset", "tiny"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nothing-here"), "{}", stderr(&out));
}

#[test]
fn a_dataset_of_only_bad_wavs_fails_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let wavs = dir.path().join("wavs");
    std::fs::create_dir(&wavs).unwrap();
    std::fs::write(wavs.join("A2_1.wav"), b"not a wav at all").unwrap();
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(wavs.join("C3_1.wav"), spec).unwrap();
    for _ in 0..16_000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let out_dir = dir.path().join("ds");
    let out = trainer(&["dataset", "--out", s(&out_dir), "--wav-dir", s(&wavs)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("A2_1.wav") && err.contains("C3_1.wav"), "{err}");
    assert!(!out_dir.exists(), "no half dataset left behind");
}
