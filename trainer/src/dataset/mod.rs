//! `trainer dataset`: single notes (SoundFont renders or WAV recordings) → a dataset of
//! fixed-length 16 kHz quantized examples with their conditioning streams
//! (DESIGN.md, "Data and conditioning").
//!
//! The output directory holds `manifest.json` ([`Manifest`]) and `examples/NNNNN.skbx`
//! ([`ExampleData`]); [`manifest::Dataset`] reads them back for training.

pub mod envelope;
pub mod example_file;
pub mod manifest;
pub mod note_name;
pub mod prepare;
pub mod soundfont;
pub mod sources;
pub mod split;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sackbut_model::quantize::Quantization;
use sackbut_model::MODEL_RATE_HZ;

pub use example_file::ExampleData;
pub use manifest::{ExampleEntry, Manifest, Parameters, Skipped, SourceInfo, Split, DATASET_FORMAT_VERSION, MANIFEST_FILE};

use prepare::{prepare, NoteSource, PrepareParams, NOTE_OFF_ESTIMATE_LEVEL};
use soundfont::{Instrument, PresetId};
use sources::Job;
use split::{assign_splits, SplitParams};

/// The SoundFont used when no `--wav-dir` is given.
pub const DEFAULT_SOUNDFONT: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
/// Directory of the example files inside a dataset.
pub const EXAMPLES_DIR: &str = "examples";

/// Options of `trainer dataset`.
#[derive(clap::Args, Clone, Debug)]
pub struct DatasetArgs {
    /// Output directory (written complete or not at all).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// SoundFont (.sf2) to render notes from. Used by default when no --wav-dir is given
    /// (default /usr/share/sounds/sf2/FluidR3_GM.sf2); given with --wav-dir, both are used.
    #[arg(long, value_name = "FILE")]
    pub soundfont: Option<PathBuf>,
    /// SoundFont preset BANK:PROGRAM (0:57 is General MIDI's Trombone).
    #[arg(long, default_value = "0:57", value_name = "BANK:PROGRAM")]
    pub preset: PresetId,
    /// SoundFont notes: ranges and lists of MIDI numbers or names, e.g. 40..=77, 40..78,
    /// 60, 40,45,50, A2..=F5.
    #[arg(long, default_value = "40..=77")]
    pub notes: NoteList,
    /// SoundFont velocities, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "40,80,120", value_parser = clap::value_parser!(u8).range(1..=127))]
    pub velocities: Vec<u8>,
    /// How long each SoundFont note is held, in seconds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.15,0.6,2.5")]
    pub durations: Vec<f64>,
    /// Directory of WAV recordings, one note each. Without --midi the note is read from
    /// each file's name (A2_01.wav, Bb2-3.wav, 45_x.wav; velocity from a v80 / ff token,
    /// else 100).
    #[arg(long, value_name = "DIR")]
    pub wav_dir: Option<PathBuf>,
    /// MIDI file whose notes, in time order, belong to the --wav-dir files in file-name order.
    #[arg(long, value_name = "FILE", requires = "wav_dir")]
    pub midi: Option<PathBuf>,
    /// Quantization of the audio: mu-law or linear.
    #[arg(long, default_value = "mu-law")]
    pub quantization: Quantization,
    /// Length of every example in seconds.
    #[arg(long, default_value_t = 4.0, value_name = "SECONDS")]
    pub length: f64,
    /// Start and end of a sound: this share of the Hilbert envelope's peak.
    #[arg(long, default_value_t = 0.008)]
    pub threshold: f32,
    /// Seed of the train/valid/test split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of examples for validation.
    #[arg(long, default_value_t = 0.1)]
    pub valid: f64,
    /// Share of examples for test.
    #[arg(long, default_value_t = 0.1)]
    pub test: f64,
    /// Notes whose examples all go to the test split (e.g. 45,47).
    #[arg(long, value_delimiter = ',', value_parser = parse_note_arg)]
    pub hold_out_notes: Vec<u8>,
    /// Replace an existing dataset at --out (only once the new one is complete).
    #[arg(long)]
    pub force: bool,
}

/// A list of MIDI notes from the command line: comma-separated items, each a note
/// (number or name) or a range `a..=b` / `a..b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteList(pub Vec<u8>);

impl FromStr for NoteList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut notes: Vec<u8> = Vec::new();
        for item in s.split(',').map(str::trim) {
            let (from, to) = if let Some((a, b)) = item.split_once("..=") {
                (parse_note_arg(a)?, parse_note_arg(b)?)
            } else if let Some((a, b)) = item.split_once("..") {
                let b = parse_note_arg(b)?;
                if b == 0 {
                    return Err(format!("empty note range '{item}'"));
                }
                (parse_note_arg(a)?, b - 1)
            } else {
                let n = parse_note_arg(item)?;
                (n, n)
            };
            if from > to {
                return Err(format!("empty note range '{item}'"));
            }
            for n in from..=to {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
        }
        Ok(NoteList(notes))
    }
}

/// One note on the command line: MIDI number 0..=127 or a name (A2, Bb2, C#4).
fn parse_note_arg(s: &str) -> Result<u8, String> {
    note_name::parse_note(s).ok_or_else(|| format!("'{}' is not a MIDI note (0..=127) or a note name like A2, Bb2, C#4", s.trim()))
}

/// What came of one job.
enum Outcome {
    Kept { entry: ExampleEntry, sound_cut: bool },
    Skipped(Skipped),
}

/// Runs `trainer dataset`.
pub fn run(args: &DatasetArgs) -> Result<()> {
    let t0 = Instant::now();
    let params = check_args(args)?;
    let split_params =
        SplitParams { valid_fraction: args.valid, test_fraction: args.test, seed: args.seed, hold_out_notes: args.hold_out_notes.clone() };
    split_params.validate()?;
    let out = args.out.as_path();
    check_output(out, args.force)?;
    warn_leftovers(out);

    // Plan: every source's jobs, in a fixed order.
    let mut jobs: Vec<Job> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut source_infos = Vec::new();
    let mut instrument: Option<Instrument> = None;
    let soundfont = match (&args.soundfont, &args.wav_dir) {
        (Some(sf), _) => Some(sf.clone()),
        (None, None) => Some(PathBuf::from(DEFAULT_SOUNDFONT)),
        (None, Some(_)) => None,
    };
    if let Some(sf) = &soundfont {
        let (inst, sf_jobs, info) = sources::plan_soundfont(sf, args.preset, &args.notes.0, &args.velocities, &args.durations)?;
        eprintln!("{}: preset {} \"{}\": {} notes to render", sf.display(), inst.preset, inst.name, sf_jobs.len());
        instrument = Some(inst);
        jobs.extend(sf_jobs);
        source_infos.push(info);
    }
    if let Some(dir) = &args.wav_dir {
        if let Some(midi) = &args.midi {
            let (wav_jobs, info) = sources::plan_wav_midi(dir, midi)?;
            eprintln!("{}: {} WAV files paired with the notes of {}", dir.display(), wav_jobs.len(), midi.display());
            jobs.extend(wav_jobs);
            source_infos.push(info);
        } else {
            let (wav_jobs, wav_skipped, info) = sources::plan_wav_named(dir)?;
            eprintln!("{}: {} WAV files named by their note", dir.display(), wav_jobs.len());
            for s in &wav_skipped {
                eprintln!("skipped {}", s.reason);
            }
            jobs.extend(wav_jobs);
            skipped.extend(wav_skipped);
            source_infos.push(info);
        }
    }

    // Build into DIR.partial-PID, then rename into place.
    let partial = sibling(out, &format!("partial-{}", std::process::id()));
    if partial.exists() {
        fs::remove_dir_all(&partial).with_context(|| format!("{}: cannot remove", partial.display()))?;
    }
    fs::create_dir_all(partial.join(EXAMPLES_DIR)).with_context(|| format!("{}: cannot create", partial.display()))?;
    let built = build(&partial, &jobs, instrument.as_ref(), &params)
        .and_then(|outcomes| finish(&partial, args, &params, &split_params, outcomes, skipped, source_infos));
    let summary = match built {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if let Err(e) = replace_dir(&partial, out, args.force) {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    eprint!("{summary}");
    eprintln!("wrote {} in {:.1} s", out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}

/// Checks the numeric options and turns them into [`PrepareParams`].
fn check_args(args: &DatasetArgs) -> Result<PrepareParams> {
    let defaults = PrepareParams::default();
    if !(args.length.is_finite() && args.length > defaults.silence_s) {
        bail!("--length {} s must be longer than the {} s of silence put before each note", args.length, defaults.silence_s);
    }
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        bail!("--threshold {} must be a share of the peak between 0 and 1 (e.g. 0.008)", args.threshold);
    }
    if let Some(d) = args.durations.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
        bail!("--durations: {d} s is not a positive duration");
    }
    if args.notes.0.is_empty() || args.velocities.is_empty() || args.durations.is_empty() {
        bail!("--notes, --velocities and --durations must not be empty");
    }
    Ok(PrepareParams {
        threshold: args.threshold,
        length_samples: (args.length * MODEL_RATE_HZ as f64).round() as usize,
        quantization: args.quantization,
        ..defaults
    })
}

/// `DIR` must not exist, or (with `--force`) be a dataset directory or empty.
fn check_output(out: &Path, force: bool) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !force {
        bail!("{} already exists (pass --force to replace it)", out.display());
    }
    if !out.is_dir() {
        bail!("{} exists and is not a directory: refusing to replace it", out.display());
    }
    let empty = fs::read_dir(out)?.next().is_none();
    if !empty && !out.join(MANIFEST_FILE).is_file() {
        bail!("{} is not a dataset directory (no {MANIFEST_FILE}): refusing to replace it", out.display());
    }
    Ok(())
}

/// Points at `DIR.partial-*` directories an interrupted run (killed before it could clean
/// up) left next to `DIR`; they are never read, only taking space.
fn warn_leftovers(out: &Path) {
    let Some(name) = out.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = format!("{name}.partial-");
    for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            eprintln!("note: {} is left over from an interrupted run; it can be deleted", entry.path().display());
        }
    }
}

/// `DIR.suffix` next to `DIR`.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    out.with_file_name(format!("{name}.{suffix}"))
}

/// Moves the finished `partial` to `out`, replacing an existing `out` only now (and only
/// with `force`: `out` is checked again, in case it appeared while the dataset was built).
fn replace_dir(partial: &Path, out: &Path, force: bool) -> Result<()> {
    check_output(out, force)?;
    if out.exists() && exchange(partial, out) {
        // `out` now holds the new dataset and `partial` the old one: at no moment was there none.
        if let Err(e) = fs::remove_dir_all(partial) {
            eprintln!("warning: could not remove the replaced dataset {}: {e}", partial.display());
        }
    } else if out.exists() {
        let old = sibling(out, &format!("old-{}", std::process::id()));
        fs::rename(out, &old).with_context(|| format!("{}: cannot move aside", out.display()))?;
        fs::rename(partial, out).with_context(|| format!("{}: cannot move into place", out.display()))?;
        if let Err(e) = fs::remove_dir_all(&old) {
            eprintln!("warning: could not remove the replaced dataset {}: {e}", old.display());
        }
    } else {
        fs::rename(partial, out).with_context(|| format!("{}: cannot move into place", out.display()))?;
    }
    Ok(())
}

/// Swaps two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); false where the system or
/// the file system cannot, and the caller falls back to two renames.
fn exchange(a: &Path, b: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let (Ok(ca), Ok(cb)) = (CString::new(a.as_os_str().as_bytes()), CString::new(b.as_os_str().as_bytes())) else {
            return false;
        };
        // SAFETY: both are valid NUL-terminated paths that live across the call.
        unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        false
    }
}

/// Runs every job on all cores, writing example files into `dir/examples`; outcomes in job
/// order. A failure to write stops the run; a source that cannot be used is skipped.
fn build(dir: &Path, jobs: &[Job], instrument: Option<&Instrument>, params: &PrepareParams) -> Result<Vec<Outcome>> {
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:8} [{bar:40}] {pos}/{len} {elapsed_precise} (eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("dataset");
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<Outcome>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let outcome = run_job(dir, i, &jobs[i], instrument, params);
                match &outcome {
                    Ok(Outcome::Skipped(s)) => bar.suspend(|| eprintln!("skipped {}", s.reason)),
                    Ok(Outcome::Kept { entry, sound_cut: true }) => {
                        bar.suspend(|| eprintln!("note: {}: the sound is longer than the example and was cut", entry.source))
                    }
                    Ok(_) => {}
                    Err(_) => failed.store(true, Ordering::Relaxed),
                }
                results.lock().unwrap()[i] = Some(outcome);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    results.into_inner().unwrap().into_iter().flatten().collect()
}

/// One job: load, prepare, write `examples/NNNNN.skbx`.
fn run_job(dir: &Path, index: usize, job: &Job, instrument: Option<&Instrument>, params: &PrepareParams) -> Result<Outcome> {
    let source = job.source(instrument);
    let skip = |reason: String| Ok(Outcome::Skipped(Skipped { source: source.clone(), reason }));
    let loaded = match job.load(instrument) {
        Ok(l) => l,
        Err(e) => return skip(format!("{e:#}")),
    };
    let src = NoteSource {
        samples: &loaded.samples,
        rate_hz: loaded.rate_hz,
        note: loaded.note,
        velocity: loaded.velocity,
        timing: loaded.timing,
    };
    let prepared = match prepare(&src, params) {
        Ok(p) => p,
        Err(reject) => return skip(format!("{source}: {reject}")),
    };
    let file = format!("{EXAMPLES_DIR}/{index:05}.skbx");
    ExampleData::new(prepared.codes, &prepared.span).write(&dir.join(&file))?;
    Ok(Outcome::Kept { entry: ExampleEntry { file, source, span: prepared.span, split: Split::Train }, sound_cut: prepared.sound_cut })
}

/// Splits, measures R, writes the manifest; returns the summary to print.
fn finish(
    dir: &Path,
    args: &DatasetArgs,
    params: &PrepareParams,
    split_params: &SplitParams,
    outcomes: Vec<Outcome>,
    mut skipped: Vec<Skipped>,
    sources: Vec<SourceInfo>,
) -> Result<String> {
    let mut examples = Vec::new();
    let mut cut = 0;
    for o in outcomes {
        match o {
            Outcome::Kept { entry, sound_cut } => {
                cut += sound_cut as usize;
                examples.push(entry);
            }
            Outcome::Skipped(s) => skipped.push(s),
        }
    }
    if examples.is_empty() {
        let mut msg = format!("no examples kept: all {} sources were skipped", skipped.len());
        for s in skipped.iter().take(10) {
            msg += &format!("\n  {}", s.reason);
        }
        bail!(msg);
    }
    let notes: Vec<u8> = examples.iter().map(|e| e.span.note).collect();
    for (e, s) in examples.iter_mut().zip(assign_splits(&notes, split_params)) {
        e.split = s;
    }
    let count = |s: Split| examples.iter().filter(|e| e.split == s).count();
    let (train, valid, test) = (count(Split::Train), count(Split::Valid), count(Split::Test));
    if train == 0 {
        bail!("no training examples: every kept note is held out (--hold-out-notes)");
    }
    let release_samples = median(examples.iter().map(|e| e.span.end - e.span.note_off).collect());
    let manifest = Manifest {
        format_version: DATASET_FORMAT_VERSION,
        sample_rate: MODEL_RATE_HZ,
        quantization: params.quantization,
        length_samples: params.length_samples,
        release_samples,
        sources,
        parameters: Parameters {
            threshold: params.threshold,
            margin_before_samples: params.margin_before,
            margin_after_samples: params.margin_after,
            silence_s: params.silence_s,
            length_s: args.length,
            note_off_estimate_level: NOTE_OFF_ESTIMATE_LEVEL,
            seed: split_params.seed,
            valid_fraction: split_params.valid_fraction,
            test_fraction: split_params.test_fraction,
            hold_out_notes: split_params.hold_out_notes.clone(),
        },
        examples,
        skipped,
    };
    manifest.validate().context("internal error: the manifest built is inconsistent")?;
    manifest.write(dir)?;

    let rate = MODEL_RATE_HZ as f64;
    let kept = manifest.examples.len();
    let sound_s: f64 = manifest.examples.iter().map(|e| (e.span.end - e.span.onset) as f64 / rate).sum();
    let mut s = format!("kept {kept} examples ({train} train / {valid} valid / {test} test), skipped {}\n", manifest.skipped.len());
    for sk in manifest.skipped.iter().take(20) {
        s += &format!("  skipped {}\n", sk.reason);
    }
    if manifest.skipped.len() > 20 {
        s += &format!("  … and {} more (see {MANIFEST_FILE})\n", manifest.skipped.len() - 20);
    }
    s += &format!(
        "audio: {:.1} s of sound (onset to end) in {:.1} s of examples ({kept} × {:.2} s)\n",
        sound_s,
        kept as f64 * params.length_samples as f64 / rate,
        params.length_samples as f64 / rate
    );
    s += &format!("release R = {:.1} ms ({release_samples} samples, median end − note-off)\n", release_samples as f64 * 1e3 / rate);
    if cut > 0 {
        s += &format!("{cut} sounds were longer than {:.2} s and were cut (their spans still end where the sound does)\n", args.length);
    }
    if let Some(missing) = split_params.hold_out_notes.iter().find(|n| !notes.contains(n)) {
        s += &format!("warning: held-out note {missing} has no examples\n");
    }
    Ok(s)
}

/// Median of `v` (mean of the two middle values, rounded, for an even count), saturated
/// to u32; 0 for none.
fn median(mut v: Vec<u64>) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let n = v.len();
    let m = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]).div_ceil(2) };
    m.min(u32::MAX as u64) as u32
}

#[cfg(test)]
mod tests;
