//! `trainer eval`: how good a voice is, in the measures of DESIGN.md ("Measures of quality")
//! and issue 5 — NLL on the test split, pitch, clipping, silence, timing and velocity.
//!
//! Every note of the trained range, and [`BEYOND`] notes past each end (reported apart), is
//! rendered alone with the native engine: [`PRE_ROLL_MS`] of silence, note-on, held
//! [`HOLD_MS`] at velocity [`PITCH_VELOCITY`], note-off, the release R, and [`TAIL_MS`]. Each
//! render resets the voice with the same seed. The middle trained note is rendered again at
//! velocities [`SOFT_VELOCITY`] and [`LOUD_VELOCITY`]. Measures:
//! - pitch ([`yin`]): YIN over the sustained part (from [`SUSTAIN_FROM_MS`] after note-on to
//!   note-off); a note without a stable f0 is a miss;
//! - clipping ([`measures::clipped_samples`]): samples at the extreme codes over all renders
//!   (a render of one voice holds decoded codes, so this is exact);
//! - silence: RMS before note-on (exact silence: as in the plugin, a voice is idle until the
//!   frame of its note) and from 300 ms after note-off + R to the end of the render;
//! - timing: onset delay and end-of-sound error from the rectified signal against its peak;
//! - velocity: RMS of the sustained part at the two velocities, as played: the mix applies the
//!   note's velocity gain (`sackbut_model::velocity_gain`, the DLS curve), since the data is
//!   peak-normalised and the model learns velocity only as timbre.
//!
//! It measures and reports; it does not judge: the exit code is 0 whatever the goals say.

pub mod measures;
pub mod report;
pub mod sheet;
pub mod yin;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sackbut_model::conditioning::NoteSpan;
use sackbut_model::engine::native::NativeEngine;
use sackbut_model::engine::Engine;
use sackbut_model::score::ScoreNote;
use sackbut_model::torch::parse_device;
use sackbut_model::voice_file::Voice;
use sackbut_model::MODEL_RATE_HZ;

use crate::audio::wav::write_wav_i16;
use crate::dataset::manifest::{Dataset, Split};
use crate::render::{plan, render_with, LoadedVoice};
use crate::train::evaluate::{nll_bits, NllSetup};
use crate::train::examples::load_split;
use report::{BaselineNll, Clipping, EvalReport, Files, Group, NllReport, NoteReport, Settings, VelocityReport, VoiceInfo};

/// Notes rendered past each end of the trained range.
pub const BEYOND: u8 = 3;
/// Silence before note-on in every render, ms: 8192 samples, so the note-on falls on a top-frame
/// boundary (of any power-of-two frame up to 8192), the hardest start for a voice: its row is
/// reset right at the note-on and meets the note in its very first frame. The plugin starts
/// notes there whenever a note-on lands on a boundary, and always when it arrives late.
pub const PRE_ROLL_MS: u32 = 512;
/// Note-on to note-off, ms.
pub const HOLD_MS: u32 = 1000;
/// Render kept after note-off + R, ms: the 300 ms guard and 500 ms of measured silence.
pub const TAIL_MS: u32 = 800;
/// The sustained part (pitch, velocity RMS) starts this long after note-on, ms.
pub const SUSTAIN_FROM_MS: u32 = 150;
/// Velocity of the pitch renders.
pub const PITCH_VELOCITY: u8 = 100;
/// The soft render of the velocity pair.
pub const SOFT_VELOCITY: u8 = 40;
/// The loud render of the velocity pair.
pub const LOUD_VELOCITY: u8 = 127;
/// YIN frame hop, samples (10 ms).
pub const PITCH_HOP: usize = 160;
/// Truncated-BPTT chunk and batch of the NLL pass (as `trainer train` measures it).
const NLL_SEQ_LEN: usize = 1024;
const NLL_BATCH: usize = 16;

/// Arguments of `trainer eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Voice file (*.voice.safetensors).
    #[arg(long)]
    pub voice: PathBuf,
    /// Dataset directory: also report the NLL on its test split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// An unconditioned voice of the same architecture: also report its test NLL (needs --data).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Output directory for report.json, sheet.png and the renders (default: beside the voice
    /// file, `<voice>.eval/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the sampling: every render resets its voice with it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Device of the NLL pass: cpu | cuda | auto (renders use the native engine on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU threads for the NLL pass.
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
}

/// `<dir>/<stem>.eval` for `<dir>/<stem>.voice.safetensors` (or any other name).
pub fn default_out_dir(voice: &Path) -> PathBuf {
    let name = voice.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "voice".into());
    let stem = name.strip_suffix(".voice.safetensors").or_else(|| name.strip_suffix(".safetensors")).unwrap_or(&name);
    voice.with_file_name(format!("{stem}.eval"))
}

/// One note rendered alone: its span and its samples.
struct Render {
    span: NoteSpan,
    audio: Vec<f32>,
}

impl Render {
    /// Where the extreme codes land in this render: `level` (see `measures::clip_level`) at
    /// the note's velocity gain, applied at mixing.
    fn clip_level(&self, level: f32) -> f32 {
        level * sackbut_model::velocity_gain::gain(self.span.velocity)
    }
}

/// Renders `key` at `velocity` alone, on row 0 of `engine`, reset with `seed`.
fn render_note(engine: &mut NativeEngine, voice: &Voice, key: u8, velocity: u8, seed: u64, temperature: f32) -> Render {
    let on_s = PRE_ROLL_MS as f64 / 1000.0;
    let note = ScoreNote { key, velocity, channel: 0, on_s, off_s: on_s + HOLD_MS as f64 / 1000.0 };
    let (voices, len) = plan(&[note], voice.meta.conditioning.release_samples, 1, TAIL_MS);
    // Whole top frames, so the engine is back at a frame boundary for the next note's reset.
    let tf = engine.top_frame();
    let len = len.div_ceil(tf) * tf;
    let span = voices[0][0];
    // As the plugin plays it: the row is reset (the warm reset state, silent history) at the
    // top-frame boundary at or before the note-on and is idle before. The note-on, 512 ms in,
    // lies on a boundary, so the note starts from the reset state in its first frame: a voice
    // that fails to start there fails here as it fails in the plugin.
    let audio = render_with(engine, voice, &voices, len, seed, temperature);
    Render { span, audio }
}

fn ms_to_samples(ms: u32) -> usize {
    ms as usize * MODEL_RATE_HZ as usize / 1000
}

/// The sustained part of a render: from [`SUSTAIN_FROM_MS`] after note-on to note-off.
fn sustained(r: &Render) -> &[f32] {
    let from = r.span.onset as usize + ms_to_samples(SUSTAIN_FROM_MS);
    &r.audio[from.min(r.audio.len())..(r.span.note_off as usize).min(r.audio.len())]
}

/// Measures one note's render.
fn measure(r: &Render, in_range: bool, clip_level: f32, wav: String) -> NoteReport {
    let expected_end = r.span.end as usize;
    let onset = r.span.onset as usize;
    let pitch = yin::note_pitch(sustained(r), MODEL_RATE_HZ, yin::note_hz(r.span.note), PITCH_HOP);
    let timing = measures::note_timing(&r.audio, onset, expected_end, MODEL_RATE_HZ);
    let silence = measures::note_silence(&r.audio, onset, expected_end, MODEL_RATE_HZ);
    let clipped = measures::clipped_samples(&r.audio, r.clip_level(clip_level));
    NoteReport::new(r.span.note, in_range, pitch, timing, silence, (clipped, r.audio.len()), wav)
}

/// NLL of `voice` (and of the baseline) on the test split of `data`.
fn nll(args: &EvalArgs, voice: &Voice, data: &Path) -> Result<NllReport> {
    let device = parse_device(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    tch::set_num_threads(args.threads.max(1));
    let ds = Dataset::open(data)?;
    let release = ds.manifest.release_samples;
    let measure = |v: &Voice, path: &Path| -> Result<(Option<f64>, usize)> {
        if v.meta.quantization != ds.manifest.quantization {
            bail!(
                "{}: the voice is {} but the dataset {} is {}: their NLLs are not comparable",
                path.display(),
                v.meta.quantization.name(),
                data.display(),
                ds.manifest.quantization.name()
            );
        }
        let (test, damaged) = load_split(&ds, Split::Test, v.meta.hparams.top_frame())?;
        for reason in &damaged {
            eprintln!("warning: test example skipped: {reason}");
        }
        let lv = LoadedVoice::new(v.clone(), device)?;
        let bits = nll_bits(
            &lv.model,
            &test,
            usize::MAX,
            NllSetup { batch: NLL_BATCH, seq_len: NLL_SEQ_LEN, release, conditioned: v.meta.training.conditioned, device },
        );
        Ok((bits, test.len()))
    };
    let (test_bits, test_examples) = measure(voice, &args.voice)?;
    let baseline = match &args.baseline {
        None => None,
        Some(path) => {
            let b = Voice::read(path)?;
            if b.meta.training.conditioned {
                eprintln!(
                    "warning: --baseline {}: this voice is conditioned; the baseline should be trained with --unconditioned",
                    path.display()
                );
            }
            let (bits, _) = measure(&b, path)?;
            Some(BaselineNll { voice: path.display().to_string(), conditioned: b.meta.training.conditioned, test_bits: bits })
        }
    };
    Ok(NllReport { data: data.display().to_string(), test_examples, test_bits, baseline })
}

/// Runs `trainer eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let started = Instant::now();
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        bail!("--temperature {}: expected a number >= 0", args.temperature);
    }
    if args.baseline.is_some() && args.data.is_none() {
        bail!("--baseline needs --data: the baseline is compared on the dataset's test split");
    }
    let voice = Voice::read(&args.voice)?;
    let meta = &voice.meta;
    let Some((lo, hi)) = meta.conditioning.note_range() else {
        bail!("{}: the voice lists no trained notes, so there is no range to evaluate", args.voice.display());
    };
    let out = args.out.clone().unwrap_or_else(|| default_out_dir(&args.voice));
    let renders_dir = out.join("renders");
    std::fs::create_dir_all(&renders_dir).with_context(|| format!("{}: cannot create", renders_dir.display()))?;

    // NLL first: a wrong --data fails before any rendering.
    let nll = match &args.data {
        Some(d) => {
            eprintln!("measuring the test NLL on {} ...", d.display());
            Some(nll(args, &voice, d)?)
        }
        None => None,
    };

    let keys: Vec<u8> = (lo.saturating_sub(BEYOND)..=hi.saturating_add(BEYOND).min(127)).collect();
    let mut engine = NativeEngine::new(&voice, 1).map_err(|e| anyhow::anyhow!("{}: {e}", args.voice.display()))?;
    let clip_level = measures::clip_level(meta.quantization);
    let temperature = args.temperature as f32;
    let bar = ProgressBar::new(keys.len() as u64 + 2);
    bar.set_style(ProgressStyle::with_template("rendering {bar:30} {pos}/{len} {msg}").expect("valid template"));
    let mut renders = Vec::with_capacity(keys.len());
    let (mut in_range, mut beyond) = (Vec::new(), Vec::new());
    for &key in &keys {
        bar.set_message(format!("note {key}"));
        let r = render_note(&mut engine, &voice, key, PITCH_VELOCITY, args.seed, temperature);
        let wav = format!("renders/note-{key:03}.wav");
        write_wav_i16(&out.join(&wav), &r.audio, MODEL_RATE_HZ)?;
        let inside = (lo..=hi).contains(&key);
        let m = measure(&r, inside, clip_level, wav);
        if inside {
            in_range.push(m)
        } else {
            beyond.push(m)
        }
        renders.push(r);
        bar.inc(1);
    }

    let mid = meta.conditioning.notes[meta.conditioning.notes.len() / 2];
    let mut pair = Vec::new();
    for vel in [SOFT_VELOCITY, LOUD_VELOCITY] {
        bar.set_message(format!("note {mid} at velocity {vel}"));
        let r = render_note(&mut engine, &voice, mid, vel, args.seed, temperature);
        let wav = format!("renders/velocity-{vel:03}.wav");
        write_wav_i16(&out.join(&wav), &r.audio, MODEL_RATE_HZ)?;
        pair.push((r, wav));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let velocity = VelocityReport {
        note: mid,
        soft_velocity: SOFT_VELOCITY,
        loud_velocity: LOUD_VELOCITY,
        soft_rms_dbfs: measures::rms_dbfs(sustained(&pair[0].0)),
        loud_rms_dbfs: measures::rms_dbfs(sustained(&pair[1].0)),
        spread_db: measures::spread_db(sustained(&pair[0].0), sustained(&pair[1].0)),
        wavs: [pair[0].1.clone(), pair[1].1.clone()],
    };

    let in_range = Group::new(in_range);
    let beyond_range = Group::new(beyond);
    let clipping = Clipping::total(
        renders
            .iter()
            .chain(pair.iter().map(|p| &p.0))
            .map(|r| (measures::clipped_samples(&r.audio, r.clip_level(clip_level)), r.audio.len())),
    );

    let title = format!("{} — {} steps — pitch error per note (filled: trained range; x: miss)", meta.name, meta.training.steps);
    let report_of = |key: u8| in_range.notes.iter().chain(&beyond_range.notes).find(|n| n.note == key).expect("every render was measured");
    let sheet_notes: Vec<sheet::SheetNote> = renders
        .iter()
        .map(|r| (r, report_of(r.span.note)))
        .map(|(r, n)| sheet::SheetNote {
            note: n.note,
            label: format!(
                "{} {}  {}{}",
                n.note,
                n.name,
                n.cents.map_or("miss".into(), |c| format!("{c:+.1} c")),
                if n.in_range { "" } else { "  (beyond range)" }
            ),
            in_range: n.in_range,
            cents: n.cents,
            audio: &r.audio,
            marks: [r.span.onset as usize, r.span.note_off as usize, r.span.end as usize],
        })
        .collect();
    let sheet_path = out.join("sheet.png");
    let sheet = if sheet::draw(&sheet_path, &title, &sheet_notes)? {
        Some("sheet.png".to_string())
    } else {
        eprintln!("warning: no font found (install fonts-dejavu-core): sheet.png not drawn");
        None
    };

    let goals = report::goals(&in_range, &clipping, &velocity, nll.as_ref());
    let settings = Settings {
        engine: "native".into(),
        seed: args.seed,
        temperature: args.temperature,
        velocity: PITCH_VELOCITY,
        pre_roll_ms: PRE_ROLL_MS as f64,
        hold_ms: HOLD_MS as f64,
        sustain_from_ms: SUSTAIN_FROM_MS as f64,
        tail_ms: TAIL_MS as f64,
        pitch_hop_ms: PITCH_HOP as f64 * 1000.0 / MODEL_RATE_HZ as f64,
        yin_threshold: yin::YIN_THRESHOLD,
        min_voiced_share: yin::MIN_VOICED_SHARE,
        max_spread_cents: yin::MAX_SPREAD_CENTS,
        onset_level_db: measures::ONSET_LEVEL_DB,
        end_level_db: measures::END_LEVEL_DB,
        silence_guard_ms: measures::SILENCE_GUARD_MS,
    };
    let report = EvalReport {
        format_version: report::REPORT_FORMAT_VERSION,
        voice: VoiceInfo {
            path: args.voice.display().to_string(),
            name: meta.name.clone(),
            steps: meta.training.steps,
            conditioned: meta.training.conditioned,
            quantization: meta.quantization.name().into(),
            trained_notes: [lo, hi],
            release_samples: meta.conditioning.release_samples,
            valid_nll_bits: meta.training.valid_nll_bits,
        },
        settings,
        nll,
        in_range,
        beyond_range,
        clipping,
        velocity,
        goals,
        files: Files { dir: out.display().to_string(), report: "report.json".into(), sheet, renders: "renders".into() },
        wall_s: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    let report_path = out.join("report.json");
    sackbut_model::voice_file::write_atomically(&report_path, (json.clone() + "\n").as_bytes())
        .with_context(|| format!("{}: cannot write", report_path.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_output_sits_beside_the_voice() {
        assert_eq!(default_out_dir(Path::new("assets/trombone.voice.safetensors")), PathBuf::from("assets/trombone.eval"));
        assert_eq!(default_out_dir(Path::new("/r/best.safetensors")), PathBuf::from("/r/best.eval"));
        assert_eq!(default_out_dir(Path::new("v")), PathBuf::from("v.eval"));
    }
}

/// The measures on real trombone audio: the SoundFont notes the default voice learns from
/// (rendered directly, not by a voice) are what a perfect voice would sound like.
#[cfg(test)]
mod soundfont_reference {
    use super::*;
    use crate::dataset::soundfont::{Instrument, PresetId, RENDER_RATE_HZ};
    use crate::dataset::DEFAULT_SOUNDFONT;

    #[test]
    fn the_soundfont_trombone_reads_in_tune_and_on_time() {
        assert!(Path::new(DEFAULT_SOUNDFONT).exists(), "{DEFAULT_SOUNDFONT} missing: run scripts/setup.sh");
        assert_eq!(RENDER_RATE_HZ, MODEL_RATE_HZ, "the notes are rendered at the model rate");
        let inst = Instrument::open(Path::new(DEFAULT_SOUNDFONT), "0:57".parse::<PresetId>().unwrap()).unwrap();
        // The FluidR3 trombone's release (to −40 dB) is 110–140 ms: take R = 130 ms.
        let release = 2080;
        for key in 37..=80u8 {
            let n = inst.render_note(key, 100, HOLD_MS as f64 / 1000.0).unwrap();
            let (on, off) = (n.note_on as u64, n.note_off as u64);
            let span = NoteSpan { note: key, velocity: 100, onset: on, note_off: off, end: off + release };
            let r = Render { span, audio: n.samples };
            // Its samples are the SoundFont's own, not mixed at a velocity gain: clipped at ±1.
            let m = measure(&r, true, 1.0 / sackbut_model::velocity_gain::gain(100), String::new());
            // Measured: within 2.4 cents, every frame voiced, onsets 3–31 ms, ends within 25 ms.
            let c = m.cents.unwrap_or_else(|| panic!("note {key} missed: {:?}", m.pitch));
            assert!(c.abs() < 5.0 && !m.octave_error, "note {key}: {c:.2} cents");
            assert!(m.pitch.voiced_share > 0.95, "note {key}: {:?}", m.pitch);
            let t = m.timing;
            assert!((0.0..=40.0).contains(&t.onset_delay_ms.unwrap()), "note {key}: {t:?}");
            assert!(t.end_error_ms.unwrap().abs() <= 40.0, "note {key}: {t:?}");
            assert_eq!(m.silence.before_dbfs, Some(measures::FLOOR_DBFS), "note {key}");
            assert_eq!(m.clipped_samples, 0);
        }
    }
}
