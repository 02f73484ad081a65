//! `trainer train`: truncated-BPTT training of a conditioned SampleRNN on a dataset.

mod checkpoint;
pub(crate) mod evaluate;
pub(crate) mod examples;
mod interrupt;
pub(crate) mod loss_log;
mod lr_schedule;
mod preview;
mod run_state;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sackbut_model::hparams::HParams;
use sackbut_model::torch::{device_name, load_voice_into, parse_device, voice_from_varstore, SampleRnn};
use sackbut_model::voice_file::{write_atomically, ConditioningMeta, TrainingSummary, Voice, VoiceMeta, VOICE_FORMAT_VERSION};
use sackbut_model::MODEL_RATE_HZ;
use tch::nn::{self, OptimizerConfig};

use crate::dataset::manifest::{Dataset, Split};
use crate::shape_args::ShapeArgs;
use examples::{crop_start, epoch_order, load_split, onset_lead_for, view_for, Pass};
use loss_log::LogRow;
use lr_schedule::LrSchedule;
use run_state::RunState;

/// Silence kept before the earliest onset when a training pass is cropped (100 ms).
const MIN_SILENCE_SAMPLES: usize = 1600;

/// Arguments of `trainer train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Dataset directory made by `trainer dataset`.
    #[arg(long)]
    pub data: PathBuf,
    /// Run directory: checkpoints, best voice, log, plot, previews.
    #[arg(long)]
    pub out: PathBuf,
    /// The model's shape.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Stop after this many optimizer steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Stop after this many epochs, if that comes first.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Truncated BPTT length in samples (a multiple of the 64-sample top frame).
    #[arg(long, default_value_t = 1024)]
    pub seq_len: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Decay the learning rate along a cosine to this value at --steps (default: constant).
    #[arg(long)]
    pub lr_final: Option<f64>,
    /// Gradient clipping (global norm).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Share of sequences trained with the live view of the conditioning.
    #[arg(long, default_value_t = 0.5)]
    pub live_share: f64,
    /// Each sequence hears its note-on up to this many ms (uniform, seeded) before the
    /// recorded sound starts, so the model learns that silence early in a note still ends.
    #[arg(long, default_value_t = 16.0)]
    pub onset_lead_ms: f64,
    /// Train without conditioning (the baseline the conditioning is measured against).
    #[arg(long)]
    pub unconditioned: bool,
    /// Evaluate, checkpoint and preview every this many steps.
    #[arg(long, default_value_t = 250)]
    pub eval_every: u64,
    /// At most this many valid/test examples per periodic evaluation (the final test uses all).
    #[arg(long, default_value_t = 48)]
    pub eval_examples: usize,
    /// Skip the audio previews.
    #[arg(long)]
    pub no_preview: bool,
    /// Also keep every evaluated step's weights as `checkpoints/step-NNNNNN.voice.safetensors`,
    /// to pick a checkpoint later with `trainer eval` (the lowest NLL is not always the best
    /// sounding voice).
    #[arg(long)]
    pub keep_checkpoints: bool,
    /// auto (CUDA when available) | cpu | cuda.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CPU threads for libtorch (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Seed of initialisation, shuffling and the live/exact choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Voice name written into the voice files (default: the run directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// Voice metadata for the current weights.
fn meta(args: &TrainArgs, ds: &Dataset, hp: HParams, summary: TrainingSummary) -> VoiceMeta {
    let mut notes: Vec<u8> = ds.manifest.examples.iter().filter(|e| e.split == Split::Train).map(|e| e.span.note).collect();
    notes.sort();
    notes.dedup();
    let mut velocities: Vec<u8> = ds.manifest.examples.iter().filter(|e| e.split == Split::Train).map(|e| e.span.velocity).collect();
    velocities.sort();
    velocities.dedup();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| args.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "voice".into()));
    VoiceMeta {
        format_version: VOICE_FORMAT_VERSION,
        name,
        sample_rate: ds.manifest.sample_rate,
        quantization: ds.manifest.quantization,
        hparams: hp,
        conditioning: ConditioningMeta { release_samples: ds.manifest.release_samples, notes, velocities },
        training: summary,
    }
}

/// Runs `trainer train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let started = Instant::now();
    let device = parse_device(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    tch::set_num_threads(threads.max(1));
    let hp = args.shape.hparams()?;
    let tf = hp.top_frame();
    if args.seq_len == 0 || !args.seq_len.is_multiple_of(tf) {
        bail!("--seq-len {}: must be a positive multiple of the {tf}-sample top frame", args.seq_len);
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if let Some(f) = args.lr_final {
        if !(f.is_finite() && f > 0.0 && f <= args.lr) {
            bail!("--lr-final {f}: expected a rate above 0 and at most --lr {}", args.lr);
        }
    }
    if !(0.0..=100.0).contains(&args.onset_lead_ms) {
        bail!("--onset-lead-ms {}: expected 0 to 100 ms", args.onset_lead_ms);
    }
    if !(0.0..=1.0).contains(&args.live_share) {
        bail!("--live-share {}: expected a share between 0 and 1", args.live_share);
    }
    let ds = Dataset::open(&args.data)?;
    let (train, mut damaged) = load_split(&ds, Split::Train, tf)?;
    let (valid, d) = load_split(&ds, Split::Valid, tf)?;
    damaged.extend(d);
    let (test, d) = load_split(&ds, Split::Test, tf)?;
    damaged.extend(d);
    if !damaged.is_empty() {
        eprintln!(
            "warning: skipping {} of {} examples of {} that cannot be read (rebuild the dataset to get them back):",
            damaged.len(),
            ds.manifest.examples.len(),
            args.data.display()
        );
        for reason in &damaged {
            eprintln!("  {reason}");
        }
    }
    if train.is_empty() {
        bail!("{}: the dataset has no usable training examples", args.data.display());
    }
    let release = ds.manifest.release_samples;
    let conditioned = !args.unconditioned;

    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create the run directory", args.out.display()))?;
    let out = args.out.as_path();
    let checkpoint_path = out.join(checkpoint::CHECKPOINT_FILE);
    let best_path = out.join(checkpoint::BEST_FILE);
    let log_path = out.join("log.csv");

    tch::manual_seed(args.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let model = SampleRnn::new(&vs.root(), hp);
    let mut state = RunState::default();
    if args.resume {
        state = RunState::read(out)?;
        for note in checkpoint::settle(out, Some(&state))? {
            eprintln!("note: {note}");
        }
        let voice = Voice::read(&checkpoint_path)?;
        if voice.meta.hparams != hp {
            bail!(
                "{}: cannot resume: the checkpoint's model shape {:?} differs from this command's {:?}",
                checkpoint_path.display(),
                voice.meta.hparams,
                hp
            );
        }
        load_voice_into(&mut vs, &voice).map_err(|e| anyhow::anyhow!(e))?;
        eprintln!("resuming {} at step {} (epoch {})", out.display(), state.step, state.epoch);
    } else if state_exists(out) {
        bail!("{}: already holds a run (state.json); pass --resume to continue it or choose another --out", out.display());
    } else {
        checkpoint::settle(out, None)?;
    }
    // The step whose checkpoint is on disk (what an error or an interruption leaves).
    let mut committed = args.resume.then_some(state.step);
    let mut log = loss_log::read(&log_path, state.step)?;
    let mut opt = nn::Adam::default().build(&vs, args.lr)?;
    let schedule = LrSchedule { start: args.lr, end: args.lr_final, steps: args.steps };
    let config_path = out.join("config.json");
    let config = serde_json::to_string_pretty(&serde_json::json!({
        "data": args.data, "hparams": hp, "parameters": hp.parameter_count(), "batch": args.batch, "seq_len": args.seq_len,
        "lr": args.lr, "lr_final": args.lr_final, "clip": args.clip, "live_share": args.live_share, "onset_lead_ms": args.onset_lead_ms, "conditioned": conditioned,
        "device": device_name(device), "threads": threads, "seed": args.seed,
    }))?;
    write_atomically(&config_path, config.as_bytes())
        .with_context(|| format!("{}: cannot write", config_path.display()))
        .map_err(|e| save_failed(e, "the run's configuration", committed))?;
    interrupt::install();

    eprintln!(
        "training {} parameters ({:?}) on {} with {} thread(s): {} train / {} valid / {} test examples of {:.2} s",
        hp.parameter_count(),
        args.shape.preset,
        device_name(device),
        threads,
        train.len(),
        valid.len(),
        test.len(),
        train[0].codes.len() as f64 / 16_000.0
    );
    let bar = ProgressBar::new(args.steps);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_position(state.step.min(args.steps));

    let batch = args.batch.min(train.len());
    let passes_per_epoch = (train.len() / batch) as u64;
    let setup = evaluate::NllSetup { batch: 16, seq_len: args.seq_len, release, conditioned, device };
    let (mut window_nats, mut window_samples) = (0.0f64, 0u64);
    let mut rate_clock = (Instant::now(), 0u64);
    let mut quiet_clock = Instant::now();
    let wall_before = state.wall_s;
    let run_clock = Instant::now();
    let summary = |state: &RunState, valid_bits: Option<f64>, test_bits: Option<f64>| TrainingSummary {
        dataset: args.data.display().to_string(),
        steps: state.step,
        samples_seen: state.samples_seen,
        valid_nll_bits: valid_bits,
        test_nll_bits: test_bits,
        conditioned,
        device: device_name(device),
        wall_s: state.wall_s,
    };

    'training: while state.step < args.steps && args.epochs.is_none_or(|e| state.epoch < e) {
        let order = epoch_order(train.len(), args.seed, state.epoch);
        while state.pass_in_epoch < passes_per_epoch {
            let first = state.pass_in_epoch as usize * batch;
            let rows: Vec<_> = order[first..first + batch]
                .iter()
                .enumerate()
                .map(|(r, &i)| (&train[i], view_for(args.seed, state.passes, r, args.live_share, conditioned)))
                .collect();
            let start = crop_start(&rows, args.seed, state.passes, MIN_SILENCE_SAMPLES, tf);
            let max_lead = (args.onset_lead_ms * MODEL_RATE_HZ as f64 / 1000.0).round() as u32;
            let leads = (0..rows.len()).map(|r| onset_lead_for(args.seed, state.passes, r, max_lead)).collect();
            let mut pass = Pass::new(rows, release, hp, args.seq_len, start).with_onset_leads(leads);
            let mut states = model.initial_states(batch as i64);
            while let Some((codes, cond, t)) = pass.next_chunk(device) {
                let (logits, next) = model.forward(&codes, &cond, &states);
                let targets = model.targets(&codes);
                let loss = SampleRnn::nll(&logits, &targets);
                opt.set_lr(schedule.at(state.step));
                opt.backward_step_clip_norm(&loss, args.clip);
                states = next.detach();
                let nats = loss.double_value(&[]);
                if !nats.is_finite() {
                    bail!("training diverged at step {} (loss {nats}); try a lower --lr", state.step);
                }
                let n = (batch * t) as u64;
                window_nats += nats * n as f64;
                window_samples += n;
                state.samples_seen += n;
                state.step += 1;
                let elapsed = rate_clock.0.elapsed().as_secs_f64();
                if elapsed > 2.0 {
                    let rate = (state.samples_seen - rate_clock.1) as f64 / elapsed;
                    let best = state.best_valid_bits.map_or(String::from("-"), |b| format!("{b:.3}"));
                    let msg = format!("loss {:.3} bits  best valid {best}  {:.0} samples/s", nats / std::f64::consts::LN_2, rate);
                    // Without a terminal (a log file, CI) the bar is hidden: print a line now and then.
                    if bar.is_hidden() && quiet_clock.elapsed().as_secs() >= 30 {
                        eprintln!("step {:>6}/{}  {msg}", state.step, args.steps);
                        quiet_clock = Instant::now();
                    }
                    bar.set_message(msg);
                    rate_clock = (Instant::now(), state.samples_seen);
                }
                bar.set_position(state.step.min(args.steps));
                let last = state.step >= args.steps;
                if state.step % args.eval_every == 0 || last {
                    state.wall_s = wall_before + run_clock.elapsed().as_secs_f64();
                    let eval = |set: &[examples::Example]| evaluate::nll_bits(&model, set, args.eval_examples, setup);
                    let valid_bits = eval(&valid);
                    let test_bits = eval(&test);
                    let train_bits = window_nats / window_samples.max(1) as f64 / std::f64::consts::LN_2;
                    (window_nats, window_samples) = (0.0, 0);
                    log.push(LogRow {
                        step: state.step,
                        epoch: state.epoch,
                        samples: state.samples_seen,
                        train_bits,
                        valid_bits,
                        test_bits,
                        elapsed_s: state.wall_s,
                    });
                    let improved = match (valid_bits, state.best_valid_bits) {
                        (Some(v), Some(b)) => v < b,
                        (Some(_), None) => true,
                        (None, _) => true, // no validation split: the latest is the best we know
                    };
                    let voice =
                        voice_from_varstore(&vs, meta(args, &ds, hp, summary(&state, valid_bits, None))).map_err(|e| anyhow::anyhow!(e))?;
                    let saved = (|| -> Result<()> {
                        // The log first: rows after the committed step are dropped on resume.
                        loss_log::write(&log_path, &log)?;
                        if improved {
                            state.best_valid_bits = valid_bits;
                        }
                        // The pass in progress is not marked done: a resume restarts it from its start.
                        checkpoint::save(out, &voice, improved, &state)
                    })();
                    if let Err(e) = saved {
                        return Err(save_failed(e, &format!("step {}", state.step), committed));
                    }
                    committed = Some(state.step);
                    if args.keep_checkpoints {
                        checkpoint::keep(out, &voice, state.step)
                            .map_err(|e| save_failed(e, &format!("step {}", state.step), committed))?;
                    }
                    // The plot and the preview are for people: a failure to write them is no
                    // reason to stop the run (the checkpoint is saved).
                    let title = format!("{} — NLL per sample", out.file_name().map_or("run".into(), |n| n.to_string_lossy()));
                    match loss_log::plot(&out.join("loss.png"), &log, &title) {
                        Ok(false) if state.step == args.eval_every => {
                            bar.suspend(|| eprintln!("warning: no font found (install fonts-dejavu-core): loss.png not drawn"))
                        }
                        Err(e) => bar.suspend(|| eprintln!("warning: {e:#}")),
                        Ok(_) => {}
                    }
                    if !args.no_preview {
                        let dir = out.join("previews");
                        let wav = dir.join(format!("step-{:06}.wav", state.step));
                        let written = std::fs::create_dir_all(&dir)
                            .with_context(|| format!("{}: cannot create", dir.display()))
                            .and_then(|_| preview::write_preview(&model, &voice, device, &wav));
                        if let Err(e) = written {
                            bar.suspend(|| eprintln!("warning: preview not written: {e:#}"));
                        }
                    }
                    // `suspend` rather than `println`: println prints nothing when the bar is hidden.
                    bar.suspend(|| {
                        eprintln!(
                            "step {:>6}  train {:.3}  valid {}  test {}  bits/sample{}",
                            state.step,
                            train_bits,
                            valid_bits.map_or("-".into(), |v| format!("{v:.3}")),
                            test_bits.map_or("-".into(), |v| format!("{v:.3}")),
                            if improved { "  (best)" } else { "" }
                        )
                    });
                }
                if last {
                    break 'training;
                }
                if let Some(signal) = interrupt::requested() {
                    bar.finish_and_clear();
                    if committed != Some(state.step) {
                        state.wall_s = wall_before + run_clock.elapsed().as_secs_f64();
                        let voice =
                            voice_from_varstore(&vs, meta(args, &ds, hp, summary(&state, None, None))).map_err(|e| anyhow::anyhow!(e))?;
                        checkpoint::save(out, &voice, false, &state)
                            .map_err(|e| save_failed(e, &format!("step {}", state.step), committed))?;
                    }
                    bail!(
                        "interrupted by {signal} at step {}: the checkpoint of step {} is saved in {}; run the same command with --resume to continue",
                        state.step,
                        state.step,
                        out.display()
                    );
                }
            }
            state.pass_in_epoch += 1;
            state.passes += 1;
        }
        state.pass_in_epoch = 0;
        state.epoch += 1;
    }
    bar.finish_and_clear();
    if let Some(signal) = interrupt::requested() {
        bail!("interrupted by {signal} before the final test: the checkpoint of step {} is saved in {}", state.step, out.display());
    }
    state.wall_s = wall_before + run_clock.elapsed().as_secs_f64();
    finish(args, &test, &state, &best_path, device, release, conditioned, started)
}

fn state_exists(out: &Path) -> bool {
    out.join("state.json").exists()
}

/// The error of a failed save, saying why in words (a full disk) and what is left on disk.
fn save_failed(e: anyhow::Error, what: &str, committed: Option<u64>) -> anyhow::Error {
    let why = checkpoint::write_failure_hint(&e).map_or(String::new(), |h| format!(" ({h})"));
    let left = match committed {
        Some(step) => format!(
            "the checkpoint of step {step} is intact; once the cause is fixed, run the same command with --resume to continue from it"
        ),
        None => "no checkpoint was saved yet".into(),
    };
    e.context(format!("cannot save {what}{why}; {left}"))
}

/// Final test NLL of the best voice over the whole test split, written into its metadata.
#[allow(clippy::too_many_arguments)]
fn finish(
    args: &TrainArgs,
    test: &[examples::Example],
    state: &RunState,
    best_path: &Path,
    device: tch::Device,
    release: u32,
    conditioned: bool,
    started: Instant,
) -> Result<()> {
    let mut best = Voice::read(best_path)?;
    let lv = crate::render::LoadedVoice::new(best.clone(), device)?;
    let setup = evaluate::NllSetup { batch: 16, seq_len: args.seq_len, release, conditioned, device };
    let test_bits = evaluate::nll_bits(&lv.model, test, usize::MAX, setup);
    best.meta.training.test_nll_bits = test_bits;
    best.meta.training.wall_s = state.wall_s;
    best.write(best_path)?;
    eprintln!(
        "done: {} steps, {} samples in {:.1} min ({:.0} samples/s); best valid {} bits/sample, test {} bits/sample -> {}",
        state.step,
        state.samples_seen,
        started.elapsed().as_secs_f64() / 60.0,
        state.samples_seen as f64 / state.wall_s.max(1e-9),
        state.best_valid_bits.map_or("-".into(), |v| format!("{v:.3}")),
        test_bits.map_or("-".into(), |v| format!("{v:.3}")),
        best_path.display()
    );
    Ok(())
}
