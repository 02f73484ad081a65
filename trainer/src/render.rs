//! `trainer render`: a MIDI file through a voice to a WAV file; also the preview renders.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sackbut_model::conditioning::{fill, Conditioning, NoteSpan, RemainingRule};
use sackbut_model::engine::native::NativeEngine;
use sackbut_model::engine::Engine;
use sackbut_model::score::{read_midi, ScoreNote};
use sackbut_model::torch::{load_voice_into, parse_device, SampleRnn, TorchGenerator};
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
        let mut vs = nn::VarStore::new(device);
        let model = SampleRnn::new(&vs.root(), voice.meta.hparams);
        load_voice_into(&mut vs, &voice).map_err(|e| anyhow::anyhow!(e))?;
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

/// Renders each voice's spans with `engine` (one row per voice, `voices.len().max(1)` rows, all
/// reset with `seed` at the engine's current boundary) and mixes them: `len` samples at 16 kHz.
pub fn render_with(
    engine: &mut dyn Engine,
    voice: &Voice,
    voices: &[Vec<NoteSpan>],
    len: usize,
    seed: u64,
    temperature: f32,
) -> Vec<f32> {
    let rows = voices.len().max(1);
    assert!(engine.max_batch() >= rows, "the engine holds fewer rows than there are voices");
    let horizon = voice.meta.hparams.horizon;
    let decode = voice.meta.quantization.decode_table();
    let conditioned = voice.meta.training.conditioned;
    for r in 0..rows {
        engine.reset_row(r, seed).expect("a fresh engine is at a frame boundary");
    }
    engine.set_temperature(temperature);
    let row_ids: Vec<usize> = (0..rows).collect();
    let mut mix = vec![0f32; len];
    let mut cond = vec![vec![Conditioning::SILENT; BLOCK]; rows];
    let mut codes = vec![vec![0u8; BLOCK]; rows];
    let mut start = 0;
    while start < len {
        let n = BLOCK.min(len - start);
        for (r, c) in cond.iter_mut().enumerate() {
            let spans = voices.get(r).map_or(&[][..], |v| v.as_slice());
            c[..n].fill(Conditioning::SILENT);
            if conditioned {
                fill(spans, RemainingRule::Exact, horizon, start as u64, &mut c[..n]);
            }
        }
        let cond_refs: Vec<&[Conditioning]> = cond.iter().map(|c| &c[..n]).collect();
        let mut outs: Vec<&mut [u8]> = codes.iter_mut().map(|c| &mut c[..n]).collect();
        engine.generate(&row_ids, &cond_refs, &mut outs).expect("well-formed block");
        for row in &codes {
            for (m, &c) in mix[start..start + n].iter_mut().zip(&row[..n]) {
                *m += decode[c as usize];
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
                "warning: {}: {} notes lie outside the voice's trained range {lo}..={hi} (e.g. {}); they may not sound right",
                args.midi.display(),
                outside.len(),
                outside[0]
            );
        }
    }
    let (voices, len) = plan(&score.notes, meta.conditioning.release_samples, args.polyphony.max(1), args.tail_ms);
    let rows = voices.len().max(1);
    let mut audio = match args.engine {
        EngineKind::Native => {
            let mut engine = NativeEngine::new(&voice, rows).map_err(|e| anyhow::anyhow!("{}: {e}", args.voice.display()))?;
            render_with(&mut engine, &voice, &voices, len, args.seed, args.temperature as f32)
        }
        EngineKind::Torch => {
            if device == Device::Cpu {
                // One intra-op thread: per-sample ops are too small to share between threads.
                tch::set_num_threads(1);
            }
            let lv = LoadedVoice::new(voice.clone(), device)?;
            render_spans(&lv.model, &lv.voice, device, &voices, len, args.seed, args.temperature)
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
