//! End-to-end tests of `trainer dataset`: command line → dataset directory → reader.

use super::manifest::Dataset;
use super::*;
use clap::Parser;
use sackbut_model::quantize::SILENCE_CODE;
use std::f32::consts::PI;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: DatasetArgs,
}

fn args(list: &[&str]) -> DatasetArgs {
    Cli::try_parse_from(std::iter::once("dataset").chain(list.iter().copied())).unwrap().args
}

/// A 16-bit WAV of a `freq_hz` tone at `rate` with `lead` samples of silence, `sound`
/// samples of tone (10 ms fades) and `tail` samples of silence.
fn write_tone(path: &Path, rate: u32, lead: usize, sound: usize, tail: usize, freq_hz: f32) {
    let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let fade = rate as usize / 100;
    for i in 0..lead + sound + tail {
        let v = if i < lead || i >= lead + sound {
            0.0
        } else {
            let k = (i - lead).min(lead + sound - 1 - i);
            let g = if k < fade { 0.5 - 0.5 * (PI * k as f32 / fade as f32).cos() } else { 1.0 };
            0.5 * g * (2.0 * PI * freq_hz * i as f32 / rate as f32).sin()
        };
        w.write_sample((v * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn no_leftovers(parent: &Path) {
    for e in fs::read_dir(parent).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".partial-") && !name.contains(".old-"), "left over: {name}");
    }
}

#[test]
fn note_lists_parse() {
    let p = |s: &str| s.parse::<NoteList>().map(|l| l.0);
    assert_eq!(p("40..=43").unwrap(), vec![40, 41, 42, 43]);
    assert_eq!(p("40..43").unwrap(), vec![40, 41, 42]);
    assert_eq!(p("60").unwrap(), vec![60]);
    assert_eq!(p("40,45,50").unwrap(), vec![40, 45, 50]);
    assert_eq!(p("A2..=B2, 60, 45").unwrap(), vec![45, 46, 47, 60]);
    assert!(p("50..=40").is_err());
    assert!(p("40..40").is_err());
    assert!(p("x").unwrap_err().contains("'x'"));
    assert!(p("128").is_err());
}

#[test]
fn default_options_are_the_designs() {
    let a = args(&["--out", "x"]);
    assert_eq!(a.notes.0, (40..=77).collect::<Vec<u8>>());
    assert_eq!(a.velocities, vec![40, 80, 120]);
    assert_eq!(a.durations, vec![0.15, 0.6, 2.5]);
    assert_eq!(a.preset, PresetId { bank: 0, program: 57 });
    assert_eq!(a.quantization, Quantization::MuLaw);
    assert_eq!((a.length, a.threshold, a.seed, a.valid, a.test), (4.0, 0.008, 0, 0.1, 0.1));
    assert!(a.soundfont.is_none() && a.wav_dir.is_none() && !a.force && a.hold_out_notes.is_empty());
    let a = args(&["--out", "x", "--hold-out-notes", "45,Bb2", "--velocities", "100", "--quantization", "linear"]);
    assert_eq!((a.hold_out_notes, a.velocities, a.quantization), (vec![45, 46], vec![100], Quantization::Linear));
    assert!(Cli::try_parse_from(["dataset", "--out", "x", "--velocities", "0"]).is_err());
    assert!(Cli::try_parse_from(["dataset", "--out", "x", "--midi", "a.mid"]).is_err());
}

#[test]
fn median_of_releases() {
    assert_eq!(median(vec![]), 0);
    assert_eq!(median(vec![5, 1, 3]), 3);
    assert_eq!(median(vec![4, 1, 2, 3]), 3); // (2 + 3) / 2 rounded up
}

#[test]
fn bad_wavs_are_skipped_with_reasons_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let wavs = tmp.path().join("wavs");
    fs::create_dir(&wavs).unwrap();
    write_tone(&wavs.join("A2_good.wav"), 44_100, 4410, 22_050, 4410, 110.0);
    write_tone(&wavs.join("C3_vel60_short.wav"), 22_050, 2000, 6000, 2000, 131.0);
    fs::write(wavs.join("B2_text.wav"), "not audio at all").unwrap();
    write_tone(&wavs.join("C3_empty.wav"), 16_000, 0, 0, 0, 0.0);
    write_tone(&wavs.join("D3_zero.wav"), 16_000, 1000, 0, 1000, 0.0);
    crate::audio::wav::tests::write_f64_wav(&wavs.join("E3_double.wav"), &[0.0, 0.5, -0.5, 0.0]);
    write_tone(&wavs.join("Track_01.wav"), 16_000, 100, 1000, 100, 440.0);
    let out = tmp.path().join("ds");
    let a = args(&["--out", out.to_str().unwrap(), "--wav-dir", wavs.to_str().unwrap(), "--length", "2", "--valid", "0", "--test", "0"]);
    run(&a).unwrap();
    no_leftovers(tmp.path());

    let ds = Dataset::open(&out).unwrap();
    let m = &ds.manifest;
    let kept: Vec<(u8, u8)> = m.examples.iter().map(|e| (e.span.note, e.span.velocity)).collect();
    assert_eq!(kept, vec![(45, 100), (48, 60)]);
    let reasons: Vec<&str> = m.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    for (file, why) in [
        ("B2_text.wav", "not a WAV file"),
        ("C3_empty.wav", "empty (0 samples)"),
        ("D3_zero.wav", "silent"),
        ("E3_double.wav", "unsupported format: 64-bit float"),
        ("Track_01.wav", "no note"),
    ] {
        assert!(reasons.iter().any(|r| r.contains(file) && r.contains(why)), "{file}: {why} not in {reasons:#?}");
        assert!(m.skipped.iter().any(|s| s.source.ends_with(file)));
    }
    // The good ones: 1 s of silence, onset right after (the margin), 2 s long.
    for e in &m.examples {
        let data = ds.load_example(e).unwrap();
        assert_eq!(data.len(), 32_000);
        assert!((16_000..16_100).contains(&e.span.onset), "onset {}", e.span.onset);
        assert!(data.codes[..16_000].iter().all(|&c| c == SILENCE_CODE));
        assert!(e.span.note_off < e.span.end);
    }
    // A2_good: 0.5 s (8000 samples at 16 kHz) of 110 Hz tone. The Hilbert envelope of a
    // low tone with 10 ms fades has skirts above 0.8 % for ~8 ms on each side; the
    // note-off is estimated where the envelope falls below half, in the fade-out.
    let a2 = &m.examples[0];
    let sounding = a2.span.end - a2.span.onset;
    assert!((8000..8400).contains(&sounding), "{:?}", a2.span);
    let release = a2.span.end - a2.span.note_off;
    assert!((50..400).contains(&release), "{:?}", a2.span);
    assert!(matches!(&m.sources[0], SourceInfo::WavNamed { files: 7, .. }));
}

#[test]
fn wavs_paired_with_a_midi_file() {
    use sackbut_model::score::{Score, ScoreNote};
    let tmp = tempfile::tempdir().unwrap();
    let wavs = tmp.path().join("wavs");
    fs::create_dir(&wavs).unwrap();
    // Three recordings whose sound starts at different places; the MIDI notes start
    // elsewhere again (only their durations and keys matter).
    write_tone(&wavs.join("take1.wav"), 48_000, 9600, 48_000, 9600, 110.0);
    write_tone(&wavs.join("take2.wav"), 48_000, 100, 24_000, 24_000, 220.0);
    write_tone(&wavs.join("take10.wav"), 48_000, 30_000, 40_000, 2000, 330.0);
    let notes = [(45u8, 90u8, 0.0, 0.8), (57, 70, 1.0, 1.25), (64, 50, 2.0, 2.5)];
    let score = Score {
        notes: notes.iter().map(|&(key, velocity, on_s, off_s)| ScoreNote { key, velocity, channel: 0, on_s, off_s }).collect(),
        end_s: 3.0,
    };
    let midi = tmp.path().join("takes.mid");
    fs::write(&midi, score.to_midi_bytes()).unwrap();
    let out = tmp.path().join("ds");
    let a = args(&[
        "--out",
        out.to_str().unwrap(),
        "--wav-dir",
        wavs.to_str().unwrap(),
        "--midi",
        midi.to_str().unwrap(),
        "--length",
        "3",
        "--valid",
        "0",
        "--test",
        "0",
    ]);
    run(&a).unwrap();
    let ds = Dataset::open(&out).unwrap();
    let m = &ds.manifest;
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
    for (e, (key, vel, on, off)) in m.examples.iter().zip(notes) {
        assert_eq!((e.span.note, e.span.velocity), (key, vel), "{}", e.source);
        // The note-on is aligned to the start of the sound: onset = 1 s + the margin.
        assert!((16_000..16_040).contains(&e.span.onset), "{}: onset {}", e.source, e.span.onset);
        let held = e.span.note_off - e.span.onset;
        let expected = ((off - on) * 16_000.0) as u64;
        assert!(held.abs_diff(expected) <= 1, "{}: held {held}, expected {expected}", e.source);
    }
    assert!(m.examples[0].source.ends_with("take1.wav") && m.examples[2].source.ends_with("take10.wav"));
    // R: the tones fade out over 10 ms after their note-offs (take2: the note is held
    // 0.25 s, as long as the sound: R ~ 0); the median is small.
    assert!(m.release_samples < 16_000, "R {}", m.release_samples);
}

#[test]
fn an_existing_dataset_is_replaced_only_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let wavs = tmp.path().join("wavs");
    fs::create_dir(&wavs).unwrap();
    write_tone(&wavs.join("A2.wav"), 16_000, 1000, 8000, 1000, 110.0);
    let out = tmp.path().join("ds");
    let base = ["--out", out.to_str().unwrap(), "--wav-dir", wavs.to_str().unwrap(), "--length", "2"];
    run(&args(&base)).unwrap();
    let before = fs::read(out.join(MANIFEST_FILE)).unwrap();

    let e = run(&args(&base)).unwrap_err().to_string();
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    // A failing --force run leaves the old dataset alone.
    let mut failing = base.to_vec();
    failing.extend(["--force", "--threshold", "2"]);
    assert!(run(&args(&failing)).is_err());
    assert_eq!(fs::read(out.join(MANIFEST_FILE)).unwrap(), before);

    let mut forced = base.to_vec();
    forced.extend(["--force", "--quantization", "linear"]);
    run(&args(&forced)).unwrap();
    assert_eq!(Dataset::open(&out).unwrap().manifest.quantization, Quantization::Linear);
    no_leftovers(tmp.path());

    // --force does not replace a directory that is not a dataset.
    let precious = tmp.path().join("precious");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("thesis.tex"), "...").unwrap();
    let mut over = base.to_vec();
    over[1] = precious.to_str().unwrap();
    over.push("--force");
    let e = run(&args(&over)).unwrap_err().to_string();
    assert!(e.contains("not a dataset directory"), "{e}");
    assert!(precious.join("thesis.tex").exists());
}

#[test]
fn a_run_that_keeps_nothing_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let wavs = tmp.path().join("wavs");
    fs::create_dir(&wavs).unwrap();
    write_tone(&wavs.join("A2.wav"), 16_000, 1000, 0, 1000, 0.0);
    fs::write(wavs.join("B2.wav"), "junk").unwrap();
    let out = tmp.path().join("ds");
    let e = format!("{:#}", run(&args(&["--out", out.to_str().unwrap(), "--wav-dir", wavs.to_str().unwrap()])).unwrap_err());
    assert!(e.contains("no examples kept") && e.contains("A2.wav") && e.contains("B2.wav"), "{e}");
    assert!(!out.exists());
    no_leftovers(tmp.path());
}

#[test]
fn a_small_soundfont_dataset() {
    if !Path::new(DEFAULT_SOUNDFONT).exists() {
        eprintln!("{DEFAULT_SOUNDFONT} not installed: skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sf");
    let base = [
        "--out",
        out.to_str().unwrap(),
        "--notes",
        "45,57,69",
        "--velocities",
        "100",
        "--durations",
        "0.5",
        "--length",
        "2",
        "--valid",
        "0",
        "--test",
        "0",
    ];
    run(&args(&base)).unwrap();
    let ds = Dataset::open(&out).unwrap();
    let m = &ds.manifest;
    assert_eq!(m.examples.len(), 3);
    assert!(m.skipped.is_empty());
    assert_eq!(m.length_samples, 32_000);
    assert_eq!(m.examples[1].source, "sf2:0:57 note 57 vel 100 hold 0.50s");
    let q = m.quantization;
    for e in &m.examples {
        let s = e.span;
        // Onsets about 1 s in; the note held 0.5 s; a release of a fraction of a second.
        assert!((15_800..16_200).contains(&s.onset), "{}: onset {}", e.source, s.onset);
        let held = s.note_off - s.onset;
        assert!((7900..8100).contains(&held), "{}: held {held}", e.source);
        assert!(s.end > s.note_off && s.end - s.note_off < 8000, "{}: {s:?}", e.source);
        let data = ds.load_example(e).unwrap();
        assert!(data.codes[..s.onset as usize - 200].iter().all(|&c| c == SILENCE_CODE), "{}: noise before the onset", e.source);
        let sounding: Vec<f32> = data.codes[s.onset as usize + 800..s.note_off as usize].iter().map(|&c| q.decode(c)).collect();
        let rms = (sounding.iter().map(|v| v * v).sum::<f32>() / sounding.len() as f32).sqrt();
        assert!(rms > 0.05, "{}: rms {rms}", e.source);
        assert!(data.codes[s.end as usize + 1000..].iter().all(|&c| c == SILENCE_CODE), "{}: sound after the end", e.source);
    }
    // FluidR3's trombone releases in ~0.1 s (DESIGN.md: 0.11–0.14 s to 0.8 %).
    let r_s = m.release_samples as f64 / 16_000.0;
    assert!((0.03..0.3).contains(&r_s), "R = {r_s} s");

    // Deterministic: the same options give the same bytes.
    let again = tmp.path().join("sf2");
    let mut b = base.to_vec();
    b[1] = again.to_str().unwrap();
    run(&args(&b)).unwrap();
    assert_eq!(fs::read(out.join(MANIFEST_FILE)).unwrap(), fs::read(again.join(MANIFEST_FILE)).unwrap());
    for e in &m.examples {
        assert_eq!(fs::read(out.join(&e.file)).unwrap(), fs::read(again.join(&e.file)).unwrap());
    }
}
