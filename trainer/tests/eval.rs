//! `trainer eval` as a user runs it, on a tiny voice trained here (three SoundFont notes, a
//! few hundred steps): the report has every measure, the notes beyond the trained range are
//! listed apart, the files are written, and bad input is refused clearly. The tiny voice's
//! quality is not asserted: eval measures, it does not judge.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{ok, s, small_dataset, train_tiny, trainer};
use serde_json::Value;

/// A dataset and a tiny voice trained on it, shared by the tests.
struct Trained {
    dir: tempfile::TempDir,
    data: PathBuf,
    voice: PathBuf,
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = small_dataset(dir.path());
        let run = dir.path().join("run");
        train_tiny(&data, &run, 200, 200, &["--no-preview"]);
        // A copy beside which the default output directory will be made.
        let voice = dir.path().join("tiny.voice.safetensors");
        std::fs::copy(run.join("best.voice.safetensors"), &voice).unwrap();
        Trained { dir, data, voice }
    })
}

/// `trainer eval --json` with --data, into `out`: the printed JSON.
fn eval_json(t: &Trained, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["eval", "--voice", s(&t.voice), "--data", s(&t.data), "--json", "--out", s(out)];
    args.extend_from_slice(extra);
    let o = ok(&args);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", String::from_utf8_lossy(&o.stdout)))
}

fn notes_of(group: &Value) -> Vec<u64> {
    group["notes"].as_array().unwrap().iter().map(|n| n["note"].as_u64().unwrap()).collect()
}

fn is_num_or_null(v: &Value) -> bool {
    v.is_number() || v.is_null()
}

#[test]
fn eval_json_has_every_measure_and_the_files_are_written() {
    let t = trained();
    let out = t.dir.path().join("eval-json");
    let r = eval_json(t, &out, &["--seed", "5"]);

    assert_eq!(r["format_version"], 1);
    assert_eq!(r["voice"]["trained_notes"], serde_json::json!([50, 60]));
    // NLL on the 3 test examples: a number of bits (the tiny voice's value is not judged).
    assert!(r["nll"]["test_bits"].as_f64().unwrap() > 0.0, "{}", r["nll"]);
    assert_eq!(r["nll"]["test_examples"], 3);

    // Every note of the range, and 3 beyond each end apart from them.
    assert_eq!(notes_of(&r["in_range"]), (50..=60).collect::<Vec<_>>());
    assert_eq!(notes_of(&r["beyond_range"]), vec![47, 48, 49, 61, 62, 63]);
    for group in ["in_range", "beyond_range"] {
        let g = &r[group];
        for n in g["notes"].as_array().unwrap() {
            let note = n["note"].as_u64().unwrap();
            assert_eq!(n["in_range"].as_bool().unwrap(), group == "in_range");
            // A miss has null cents but is listed, never absent.
            for key in ["f0_hz", "cents", "spread_cents"] {
                assert!(is_num_or_null(&n[key]), "note {note}: {key} = {}", n[key]);
            }
            assert!(n["stable"].is_boolean() && n["within_25_cents"].is_boolean() && n["octave_error"].is_boolean());
            assert_eq!(n["stable"].as_bool().unwrap(), !n["cents"].is_null(), "note {note}");
            assert!(n["voiced_share"].is_number() && n["frames"].as_u64().unwrap() > 50, "note {note}");
            for key in ["onset_delay_ms", "end_error_ms", "peak_dbfs"] {
                assert!(is_num_or_null(&n["timing"][key]), "note {note}: {key}");
            }
            assert!(n["silence"]["before_dbfs"].is_number() && n["silence"]["after_dbfs"].is_number(), "note {note}");
            assert!(n["clipped_samples"].is_u64() && n["samples"].as_u64().unwrap() > 16_000 * 2);
            let wav = out.join(n["wav"].as_str().unwrap());
            assert_eq!(wav, out.join(format!("renders/note-{note:03}.wav")));
            assert!(wav.exists(), "{}", wav.display());
        }
        let p = &g["pitch"];
        let count = g["notes"].as_array().unwrap().len() as u64;
        assert_eq!(p["hits"].as_u64().unwrap() + p["misses"].as_u64().unwrap(), count);
        assert!((0.0..=1.0).contains(&p["within_25_cents_share"].as_f64().unwrap()));
        assert!(p["abs_cents"].is_null() || p["abs_cents"]["median"].is_number());
        assert!(g["timing"]["onset_delay_ms"].is_null() || g["timing"]["onset_delay_ms"]["worst"].is_number());
        assert!(g["silence"]["worst_after_dbfs"].is_number());
        assert!(g["clipping"]["share"].is_number());
    }
    // Clipping over all renders: 17 notes and the velocity pair.
    let c = &r["clipping"];
    let per_note: u64 = ["in_range", "beyond_range"]
        .iter()
        .flat_map(|g| r[g]["notes"].as_array().unwrap().iter().map(|n| n["samples"].as_u64().unwrap()))
        .sum();
    assert!(c["samples"].as_u64().unwrap() > per_note, "the velocity renders count too");
    assert!((0.0..=1.0).contains(&c["share"].as_f64().unwrap()));
    let v = &r["velocity"];
    assert_eq!((v["note"].as_u64(), v["soft_velocity"].as_u64(), v["loud_velocity"].as_u64()), (Some(55), Some(40), Some(127)));
    assert!(v["spread_db"].is_number());

    // The goals of issue 5, each marked; the exit code was 0 whatever they say.
    let goals = r["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 11, "{goals:?}");
    for g in goals {
        assert!(g["pass"].is_boolean() && g["name"].is_string() && g["target"].is_string(), "{g}");
    }

    // Files: the same report on disk, the sheet, the renders.
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(on_disk, r);
    assert_eq!(r["files"]["sheet"], "sheet.png");
    let png = std::fs::read(out.join("sheet.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    for wav in v["wavs"].as_array().unwrap() {
        assert!(out.join(wav.as_str().unwrap()).exists(), "{wav}");
    }

    // The same seed renders the same audio.
    let again = t.dir.path().join("eval-again");
    eval_json(t, &again, &["--seed", "5"]);
    for f in ["renders/note-047.wav", "renders/note-055.wav", "renders/velocity-127.wav"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f}");
    }
}

#[test]
fn eval_table_and_files_go_beside_the_voice_by_default() {
    let t = trained();
    let o = ok(&["eval", "--voice", s(&t.voice)]);
    let table = String::from_utf8_lossy(&o.stdout);
    let dir = t.dir.path().join("tiny.eval");
    assert!(dir.join("report.json").exists() && dir.join("sheet.png").exists(), "{}", dir.display());
    assert!(dir.join("renders/note-050.wav").exists());
    for line in ["trained range:", "beyond the trained range", "clipping over all renders", "velocity: note 55", "goals (issue 5"] {
        assert!(table.contains(line), "no '{line}' in:\n{table}");
    }
    assert!(table.contains("test NLL: not measured"), "{table}");
    assert!(table.contains("[pass]") || table.contains("[FAIL]"), "{table}");
    // Without --data there is no NLL in the report and no NLL goal.
    let r: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(r["nll"].is_null());
    assert_eq!(r["goals"].as_array().unwrap().len(), 10);
}

#[test]
fn eval_compares_a_baseline_on_the_same_split() {
    let t = trained();
    // The voice against itself: same NLL, so the conditioning "buys" nothing and that goal fails.
    let out = t.dir.path().join("eval-baseline");
    let r = eval_json(t, &out, &["--baseline", s(&t.voice)]);
    let n = &r["nll"];
    let (a, b) = (n["test_bits"].as_f64().unwrap(), n["baseline"]["test_bits"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    assert_eq!(n["baseline"]["conditioned"], true);
    let last = r["goals"].as_array().unwrap().last().unwrap().clone();
    assert!(last["name"].as_str().unwrap().contains("baseline") && last["pass"] == false, "{last}");
}

#[test]
fn eval_refuses_bad_arguments_clearly() {
    let t = trained();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.voice.safetensors");
    let o = trainer(&["eval", "--voice", s(&missing), "--out", s(&dir.path().join("o"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nope.voice.safetensors"), "{err}");

    let o = trainer(&["eval", "--voice", s(&t.voice), "--baseline", s(&t.voice)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--baseline needs --data"), "{err}");

    let o = trainer(&["eval", "--voice", s(&t.voice), "--data", s(dir.path()), "--out", s(&dir.path().join("o"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("manifest.json: missing"), "{err}");
}
