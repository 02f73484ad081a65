//! `trainer bench`: time per 16 kHz sample step of the native engine and the torch engine (CPU,
//! and CUDA when asked and available) on one voice, for several batch sizes, in one run.
//!
//! Engines and batch sizes are interleaved within each round, so a machine that is busier in one
//! moment slows every engine alike; each figure is the best and the median of the rounds. The
//! native engine runs on the calling thread only, the torch CPU engine with one intra-op thread
//! (both single-threaded; pin the process to one core with `taskset -c N` for steadier figures).

use std::path::PathBuf;
use std::time::Instant;

use crate::shape_args::ShapeArgs;
use anyhow::{bail, Context, Result};
use sackbut_model::conditioning::{Conditioning, NOTE_NONE};
use sackbut_model::engine::native::{Isa, NativeEngine};
use sackbut_model::engine::Engine;
use sackbut_model::quantize::Quantization;
use sackbut_model::torch::{model_on, voice_from_varstore, SampleRnn, TorchGenerator};
use sackbut_model::voice_file::{ConditioningMeta, TrainingSummary, Voice, VoiceMeta, VOICE_FORMAT_VERSION};
use sackbut_model::MODEL_RATE_HZ;
use tch::{nn, Device};

/// µs per sample at 16 kHz: a step slower than this is slower than real time.
const REAL_TIME_STEP_US: f64 = 1e6 / MODEL_RATE_HZ as f64;

/// Arguments of `trainer bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Voice file to time (default: a random-init voice of --preset).
    #[arg(long)]
    pub voice: Option<PathBuf>,
    /// Without --voice: the shape of the random-init voice.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Batch sizes (voices generated at once), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub batches: Vec<usize>,
    /// Rounds; each figure is the best and the median over them.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Samples timed per engine, batch size and round (a multiple of 64 keeps frames whole).
    #[arg(long, default_value_t = 2048)]
    pub samples: usize,
    /// Samples per generate call.
    #[arg(long, default_value_t = 256)]
    pub block: usize,
    /// Also time the torch engine on CUDA, when a CUDA device is available.
    #[arg(long)]
    pub cuda: bool,
    /// Engines to time, comma-separated: native, torch-cpu, torch-cuda (default: native and
    /// torch-cpu, plus torch-cuda with --cuda).
    #[arg(long, value_delimiter = ',')]
    pub engines: Vec<String>,
    /// Kernels of the native engine: avx512, avx2 or scalar (default: the fastest this CPU runs).
    #[arg(long)]
    pub isa: Option<String>,
    /// Print one JSON record per engine and batch size (JSON Lines) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the random-init voice and of sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The engines `trainer bench` can time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EngineId {
    Native,
    TorchCpu,
    TorchCuda,
}

impl EngineId {
    fn name(self) -> &'static str {
        match self {
            EngineId::Native => "native",
            EngineId::TorchCpu => "torch-cpu",
            EngineId::TorchCuda => "torch-cuda",
        }
    }

    fn parse(s: &str) -> Result<EngineId> {
        [EngineId::Native, EngineId::TorchCpu, EngineId::TorchCuda]
            .into_iter()
            .find(|e| e.name() == s)
            .with_context(|| format!("--engines: unknown engine '{s}' (expected native, torch-cpu or torch-cuda)"))
    }
}

/// One timed measurement series.
struct Series {
    engine: EngineId,
    batch: usize,
    step_us: Vec<f64>,
}

impl Series {
    fn best(&self) -> f64 {
        self.step_us.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn median(&self) -> f64 {
        let mut v = self.step_us.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// The voice to time: the file, or a random-init model of the preset.
fn bench_voice(args: &BenchArgs) -> Result<(Voice, String)> {
    if let Some(path) = &args.voice {
        if args.shape.overrides_any() {
            bail!("--frame-dim, --mlp-dim, --top-dim, --mid-dim, --top-ratio and --layers shape a random-init voice; they do not apply to --voice");
        }
        let voice = Voice::read(path)?;
        let label = format!("{} ({})", voice.meta.name, path.display());
        return Ok((voice, label));
    }
    let hp = args.shape.hparams()?;
    tch::manual_seed(args.seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = SampleRnn::new(&vs.root(), hp);
    let meta = VoiceMeta {
        format_version: VOICE_FORMAT_VERSION,
        name: format!("random-init {}", args.shape.preset),
        sample_rate: MODEL_RATE_HZ,
        quantization: Quantization::MuLaw,
        hparams: hp,
        conditioning: ConditioningMeta { release_samples: 2000, notes: (40..=77).collect(), velocities: vec![100] },
        training: TrainingSummary { conditioned: true, ..Default::default() },
    };
    let voice = voice_from_varstore(&vs, meta).map_err(|e| anyhow::anyhow!(e))?;
    let label = format!(
        "random-init {} (top {} over {} samples, mid {}, mlp {}, layers {})",
        args.shape.preset,
        hp.top_dim,
        hp.top_frame(),
        hp.mid_dim,
        hp.mlp_dim,
        hp.rnn_layers
    );
    Ok((voice, label))
}

/// Conditioning of row `r` for every sample: a held note (remaining saturated, as while a key
/// is held), a different note per row.
fn held_note(r: usize, horizon: u32) -> Conditioning {
    let note = 40 + (3 * r % 38) as u8;
    Conditioning { note: note.min(NOTE_NONE - 1), velocity: 100, remaining: horizon, age: horizon }
}

/// Times `samples` samples of `engine` on rows `0..batch` in blocks of `block`; µs per step.
fn time_engine(
    engine: &mut dyn Engine,
    cond: &[Vec<Conditioning>],
    batch: usize,
    samples: usize,
    block: usize,
    codes: &mut [Vec<u8>],
) -> f64 {
    let rows: Vec<usize> = (0..batch).collect();
    let cond_refs: Vec<&[Conditioning]> = cond[..batch].iter().map(|c| &c[..block]).collect();
    let start = Instant::now();
    let mut done = 0;
    while done < samples {
        let n = block.min(samples - done);
        let c: Vec<&[Conditioning]> = cond_refs.iter().map(|c| &c[..n]).collect();
        let mut out: Vec<&mut [u8]> = codes[..batch].iter_mut().map(|o| &mut o[..n]).collect();
        engine.generate(&rows, &c, &mut out).expect("well-formed block");
        done += n;
    }
    start.elapsed().as_secs_f64() * 1e6 / samples as f64
}

/// Runs `trainer bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rounds == 0 || args.samples == 0 || args.block == 0 {
        bail!("--rounds, --samples and --block must be at least 1");
    }
    if args.batches.is_empty() || args.batches.contains(&0) {
        bail!("--batches: give batch sizes of at least 1, e.g. 1,2,4,8,16");
    }
    let mut engines: Vec<EngineId> = if args.engines.is_empty() {
        let mut v = vec![EngineId::Native, EngineId::TorchCpu];
        if args.cuda {
            v.push(EngineId::TorchCuda);
        }
        v
    } else {
        args.engines.iter().map(|s| EngineId::parse(s)).collect::<Result<_>>()?
    };
    let cuda = tch::Cuda::is_available();
    let mut notes: Vec<String> = Vec::new();
    if engines.contains(&EngineId::TorchCuda) && !cuda {
        notes.push("torch-cuda: no CUDA device is available (libtorch sees none); not timed".into());
        engines.retain(|e| *e != EngineId::TorchCuda);
    }
    if engines.is_empty() {
        for n in &notes {
            eprintln!("bench: {n}");
        }
        bail!("no engine left to time");
    }
    let isa = match &args.isa {
        Some(s) => s.parse::<Isa>().map_err(|e| anyhow::anyhow!(e))?,
        None => Isa::detect(),
    };
    if !isa.is_available() {
        bail!("--isa {isa}: this CPU does not run it (it runs {})", Isa::detect());
    }
    // Single-threaded torch on the CPU: per-sample ops are too small to share between threads.
    tch::set_num_threads(1);
    tch::set_num_interop_threads(1);

    let (voice, label) = bench_voice(args)?;
    let hp = voice.meta.hparams;
    let max_b = *args.batches.iter().max().expect("non-empty");
    let cond: Vec<Vec<Conditioning>> = (0..max_b).map(|r| vec![held_note(r, hp.horizon); args.block]).collect();
    let mut codes = vec![vec![0u8; args.block]; max_b];

    // Build every engine once per batch size, outside the timed rounds.
    let torch_cpu = engines.contains(&EngineId::TorchCpu).then(|| load_torch(&voice, Device::Cpu)).transpose()?;
    let torch_cuda = engines.contains(&EngineId::TorchCuda).then(|| load_torch(&voice, Device::Cuda(0))).transpose()?;
    let mut natives: Vec<NativeEngine> = Vec::new();
    let mut cpus: Vec<TorchGenerator> = Vec::new();
    let mut gpus: Vec<TorchGenerator> = Vec::new();
    for &b in &args.batches {
        if engines.contains(&EngineId::Native) {
            let mut n = NativeEngine::with_isa(&voice, b, isa).map_err(|e| anyhow::anyhow!(e))?;
            for r in 0..b {
                n.reset_row(r, args.seed).expect("a new engine is at a frame boundary");
            }
            natives.push(n);
        }
        if let Some((_, m)) = &torch_cpu {
            cpus.push(TorchGenerator::new(m, Device::Cpu, b, args.seed, 1.0));
        }
        if let Some((_, m)) = &torch_cuda {
            gpus.push(TorchGenerator::new(m, Device::Cuda(0), b, args.seed, 1.0));
        }
    }
    let weight_mb = natives.first().map(|n| n.weight_bytes() as f64 / 1e6);
    eprintln!(
        "bench: {label}, {} parameters{}; native kernels {isa}; {} rounds of {} samples in blocks of {}",
        hp.parameter_count(),
        weight_mb.map_or(String::new(), |mb| format!(", {mb:.1} MB packed")),
        args.rounds,
        args.samples,
        args.block
    );

    let mut series: Vec<Series> = Vec::new();
    for (bi, &b) in args.batches.iter().enumerate() {
        for &e in &engines {
            series.push(Series { engine: e, batch: b, step_us: Vec::new() });
        }
        // Warm up (caches, libtorch's first-call costs) with one block each.
        let warm = args.block.min(args.samples);
        for e in engines.iter() {
            // Every engine starts with its rows reset (seeded by --seed) at clock 0.
            let engine = pick(*e, bi, &mut natives, &mut cpus, &mut gpus);
            time_engine(engine, &cond, b, warm, args.block, &mut codes);
        }
    }
    for round in 0..args.rounds {
        for (bi, &b) in args.batches.iter().enumerate() {
            for &e in &engines {
                let engine = pick(e, bi, &mut natives, &mut cpus, &mut gpus);
                let us = time_engine(engine, &cond, b, args.samples, args.block, &mut codes);
                let s = series.iter_mut().find(|s| s.engine == e && s.batch == b).expect("series made above");
                s.step_us.push(us);
            }
        }
        eprintln!("bench: round {}/{} done", round + 1, args.rounds);
    }

    if args.json {
        for s in &series {
            let record = serde_json::json!({
                "voice": label,
                "engine": s.engine.name(),
                "isa": if s.engine == EngineId::Native { isa.name() } else { "" },
                "batch": s.batch,
                "best_us_per_step": s.best(),
                "median_us_per_step": s.median(),
                "rtf_best": REAL_TIME_STEP_US / s.best(),
                "rtf_median": REAL_TIME_STEP_US / s.median(),
                "rounds": args.rounds,
                "samples": args.samples,
                "block": args.block,
                "hparams": hp,
            });
            println!("{record}");
        }
    } else {
        println!("voice: {label}");
        println!(
            "{:<14} {:>3} {:>13} {:>15} {:>9} {:>11} {:>10}",
            "engine", "B", "best µs/step", "median µs/step", "RTF best", "RTF median", "µs/voice"
        );
        for s in &series {
            println!(
                "{:<14} {:>3} {:>13.2} {:>15.2} {:>9.2} {:>11.2} {:>10.2}",
                if s.engine == EngineId::Native { format!("native/{isa}") } else { s.engine.name().to_string() },
                s.batch,
                s.best(),
                s.median(),
                REAL_TIME_STEP_US / s.best(),
                REAL_TIME_STEP_US / s.median(),
                s.best() / s.batch as f64
            );
        }
        for &b in &args.batches {
            let find = |e: EngineId| series.iter().find(|s| s.engine == e && s.batch == b);
            if let (Some(n), Some(t)) = (find(EngineId::Native), find(EngineId::TorchCpu)) {
                println!("B={b}: native is {:.1}x torch-cpu (best), {:.1}x (median)", t.best() / n.best(), t.median() / n.median());
            }
        }
    }
    for n in notes {
        eprintln!("bench: {n}");
    }
    Ok(())
}

/// The engine for `id` at batch index `bi`.
fn pick<'a, 'm: 'a>(
    id: EngineId,
    bi: usize,
    natives: &'a mut [NativeEngine],
    cpus: &'a mut [TorchGenerator<'m>],
    gpus: &'a mut [TorchGenerator<'m>],
) -> &'a mut (dyn Engine + 'a) {
    match id {
        EngineId::Native => &mut natives[bi],
        EngineId::TorchCpu => &mut cpus[bi],
        EngineId::TorchCuda => &mut gpus[bi],
    }
}

/// The tch model of `voice` on `device`.
fn load_torch(voice: &Voice, device: Device) -> Result<(nn::VarStore, SampleRnn)> {
    model_on(voice, device).map_err(|e| anyhow::anyhow!(e))
}
