//! `trainer render`: a MIDI file through a voice to a WAV file; also the preview renders.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sackbut_model::conditioning::{fill, Conditioning, NoteSpan, RemainingRule};
use sackbut_model::engine::native::NativeEngine;
use sackbut_model::engine::Engine;
use sackbut_model::score::{read_midi, ScoreNote};
use sackbut_model::score_render::render_notes;
use sackbut_model::torch::{model_on, parse_device, SampleRnn, TorchGenerator};
use sackbut_model::velocity_gain;
use sackbut_model::voice_alloc::allocate;
use sackbut_model::voice_file::Voice;
use sackbut_model::MODEL_RATE_HZ;
use tch::{nn, Device};

use crate::audio::resample::resample;
use crate::audio::wav::write_wav_i16;

/// Samples generated per block: large enough to amortise per-block uploads.
const BLOCK: usize = 4096;

/// Arguments of `trainer render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Voice file (*.voice.safetensors).
    #[arg(long)]
    pub voice: PathBuf,
    /// Standard MIDI file (format 0 or 1).
    #[arg(long)]
    pub midi: PathBuf,
    /// Output WAV (16-bit PCM, mono).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the sampling: the same seed and inputs give the same WAV.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampling temperature (0 = always the most likely sample).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Output sample rate in Hz (the model runs at 16 kHz; other rates are resampled).
    #[arg(long, default_value_t = MODEL_RATE_HZ)]
    pub rate: u32,
    /// Most notes sounding at once; more steal the oldest released (then oldest held) voice.
    #[arg(long, default_value_t = 8)]
    pub polyphony: usize,
    /// Output gain in dB.
    #[arg(long, default_value_t = 0.0)]
    pub gain_db: f64,
    /// Silence kept after the last note's release, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub tail_ms: u32,
    /// Inference engine: native (pure Rust, CPU) or torch (the training model, CPU or CUDA).
    #[arg(long, default_value = "native")]
    pub engine: EngineKind,
    /// auto | cpu | cuda (for --engine torch; the native engine runs on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Which engine renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The native engine (pure Rust, CPU).
    Native,
    /// The torch engine (tch; CPU with one thread, or CUDA).
    Torch,
}

/// A voice ready to generate with the torch engine.
pub struct LoadedVoice {
    /// The file's contents.
    pub voice: Voice,
    /// The store the weights were loaded into; kept beside the model it was built for.
    _vs: nn::VarStore,
    /// The model.
    pub model: SampleRnn,
}

impl LoadedVoice {
    /// Builds the model for `voice` on `device`.
    pub fn new(voice: Voice, device: Device) -> Result<LoadedVoice> {
        let (vs, model) = model_on(&voice, device).map_err(|e| anyhow::anyhow!(e))?;
        Ok(LoadedVoice { voice, _vs: vs, model })
    }
}

/// Renders each voice's spans (one batch row per voice) with the torch engine and mixes them:
/// `len` samples at 16 kHz. `conditioned = false` feeds silence conditioning (for an
/// unconditioned baseline).
pub fn render_spans(
    model: &SampleRnn,
    voice: &Voice,
    device: Device,
    voices: &[Vec<NoteSpan>],
    len: usize,
    seed: u64,
    temperature: f64,
) -> Vec<f32> {
    let mut gen = TorchGenerator::new(model, device, voices.len().max(1), seed, temperature);
    render_with(&mut gen, voice, voices, len, seed, temperature as f32)
}

/// Renders each voice's spans with `engine` (one row per voice, `voices.len().max(1)` rows, each
/// reset with `seed` at the top-frame boundary at or before its first note, idle and exactly
/// silent before it, as a plugin voice) and mixes them: `len` samples at 16 kHz.
/// The engine's clock must be at a top-frame boundary (a fresh engine's is).
pub fn render_with(engine: &mut dyn Engine, voice: &Voice, voices: &[Vec<NoteSpan>], len: usize, seed: u64, temperature: f32) -> Vec<f32> {
    let rows = voices.len().max(1);
    assert!(engine.max_batch() >= rows, "the engine holds fewer rows than there are voices");
    assert!(engine.at_frame_boundary(), "render_with starts at a top-frame boundary");
    let horizon = voice.meta.hparams.horizon;
    let decode = voice.meta.quantization.decode_table();
    let conditioned = voice.meta.training.conditioned;
    let tf = engine.top_frame();
    // Where each row is reset and starts generating; rows without notes never do.
    let starts: Vec<Option<usize>> = (0..rows).map(|r| voices.get(r)?.first().map(|s| s.onset as usize / tf * tf)).collect();
    engine.set_temperature(temperature);
    let mut active: Vec<usize> = Vec::with_capacity(rows);
    let mut mix = vec![0f32; len];
    let mut cond = vec![vec![Conditioning::SILENT; BLOCK]; rows];
    let mut gains: Vec<f32> =
        (0..rows).map(|r| voices.get(r).and_then(|v| v.first()).map_or(1.0, |s| velocity_gain::gain(s.velocity))).collect();
    let mut codes = vec![vec![0u8; BLOCK]; rows];
    let mut start = 0;
    while start < len {
        for (r, s) in starts.iter().enumerate() {
            if *s == Some(start) {
                engine.reset_row(r, seed).expect("rows start at top-frame boundaries");
                active.push(r);
            }
        }
        active.sort_unstable(); // `generate` takes the rows in the order of their slices
                                // Blocks end where the next row starts, so it can be reset at its boundary.
        let next_start = starts.iter().flatten().copied().filter(|&s| s > start).min().unwrap_or(usize::MAX);
        let n = BLOCK.min(len - start).min(next_start - start);
        if active.is_empty() {
            engine.skip(n);
            start += n;
            continue;
        }
        for &r in &active {
            let c = &mut cond[r][..n];
            c.fill(Conditioning::SILENT);
            if conditioned {
                fill(&voices[r], RemainingRule::Exact, horizon, start as u64, c);
            }
        }
        let cond_refs: Vec<&[Conditioning]> = active.iter().map(|&r| &cond[r][..n]).collect();
        let mut outs: Vec<&mut [u8]> = codes.iter_mut().enumerate().filter(|(r, _)| active.contains(r)).map(|(_, c)| &mut c[..n]).collect();
        engine.generate(&active, &cond_refs, &mut outs).expect("well-formed block");
        // Each row at the velocity gain of its latest note (held through the silence after it).
        for &r in &active {
            for ((m, &c), k) in mix[start..start + n].iter_mut().zip(&codes[r][..n]).zip(&cond[r][..n]) {
                if k.velocity > 0 {
                    gains[r] = velocity_gain::gain(k.velocity);
                }
                *m += decode[c as usize] * gains[r];
            }
        }
        start += n;
    }
    mix
}

/// The spans of `notes` on voices, and the render length (last sound end + tail).
pub fn plan(notes: &[ScoreNote], release: u32, polyphony: usize, tail_ms: u32) -> (Vec<Vec<NoteSpan>>, usize) {
    let voices = allocate(notes, MODEL_RATE_HZ, release, polyphony);
    let last_end = voices.iter().flatten().map(|s| s.end).max().unwrap_or(0);
    let len = last_end as usize + (tail_ms as usize * MODEL_RATE_HZ as usize / 1000);
    (voices, len)
}

/// Runs `trainer render`.
pub fn run(args: &RenderArgs) -> Result<()> {
    if !(8_000..=384_000).contains(&args.rate) {
        bail!("--rate {}: expected a sample rate between 8000 and 384000 Hz", args.rate);
    }
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        bail!("--temperature {}: expected a number >= 0", args.temperature);
    }
    let device = parse_device(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    if args.engine == EngineKind::Native && device != Device::Cpu {
        bail!("--device {}: the native engine runs on the CPU (use --engine torch for CUDA)", args.device);
    }
    let t0 = Instant::now();
    let voice = Voice::read(&args.voice)?;
    let score = read_midi(&args.midi)?;
    let meta = &voice.meta;
    if let Some((lo, hi)) = meta.conditioning.note_range() {
        let outside: Vec<u8> = score.notes.iter().map(|n| n.key).filter(|k| !(lo..=hi).contains(k)).collect();
        if !outside.is_empty() {
            eprintln!(
                "note: {}: {} notes lie outside the voice's trained range {lo}..={hi} (e.g. {}); they play whole octaves into it, as in the plugin",
                args.midi.display(),
                outside.len(),
                outside[0]
            );
        }
    }
    let (voices, len) = plan(&score.notes, meta.conditioning.release_samples, args.polyphony.max(1), args.tail_ms);
    let polyphony = args.polyphony.max(1);
    let mut audio = match args.engine {
        EngineKind::Native => {
            let mut engine = NativeEngine::new(&voice, polyphony).map_err(|e| anyhow::anyhow!("{}: {e}", args.voice.display()))?;
            render_notes(&mut engine, &voice, &score.notes, len, args.seed, args.temperature as f32, polyphony)
        }
        EngineKind::Torch => {
            if device == Device::Cpu {
                // One intra-op thread: per-sample ops are too small to share between threads.
                tch::set_num_threads(1);
            }
            let lv = LoadedVoice::new(voice.clone(), device)?;
            let mut engine = TorchGenerator::new(&lv.model, device, polyphony, args.seed, args.temperature);
            render_notes(&mut engine, &lv.voice, &score.notes, len, args.seed, args.temperature as f32, polyphony)
        }
    };
    let gain = 10f64.powf(args.gain_db / 20.0) as f32;
    audio.iter_mut().for_each(|s| *s *= gain);
    let out = if args.rate == MODEL_RATE_HZ { audio } else { resample(&audio, MODEL_RATE_HZ, args.rate)? };
    write_wav_i16(&args.out, &out, args.rate).with_context(|| format!("writing {}", args.out.display()))?;
    let secs = len as f64 / MODEL_RATE_HZ as f64;
    let wall = t0.elapsed().as_secs_f64();
    eprintln!(
        "rendered {} notes on {} voices with the {:?} engine: {:.2} s of audio at {} Hz in {:.1} s ({:.2}x real time) -> {}",
        score.notes.len(),
        voices.len(),
        args.engine,
        secs,
        args.rate,
        wall,
        secs / wall,
        args.out.display()
    );
    Ok(())
}
