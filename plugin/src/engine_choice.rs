//! Which engine plays a voice, from the Engine parameter, and the line that says why.
//!
//! - **CPU**: the native engine.
//! - **GPU**: the torch engine on CUDA from the GPU engine library ([`crate::gpu_engine`]); when
//!   the library is missing, cannot load, or libtorch sees no CUDA device, the native engine
//!   plays and the line says why.
//! - **Auto**: the GPU engine when an NVIDIA driver is present, the library loads, CUDA is
//!   available *and* the engine measured here keeps up with real time with room to spare;
//!   otherwise the native engine. Why measured: on an H100 the torch engine takes ~260–330 µs
//!   per sample step at any batch (one kernel launch per layer per sample), 5× slower than the
//!   62.5 µs real time allows, while the native engine takes 17–34 µs on that machine's CPU.
//!   Picking the GPU because one is present would make every note underrun.
//!
//! Building may take seconds (libtorch, a CUDA context): it runs at activation or on the voice
//! loader thread, never on the audio thread.

use std::sync::OnceLock;
use std::time::Instant;

use sackbut_model::conditioning::Conditioning;
use sackbut_model::engine::gpu_client::GpuEngine;
use sackbut_model::engine::native::NativeEngine;
use sackbut_model::engine::Engine;
use sackbut_model::voice_file::Voice;
use sackbut_model::MODEL_RATE_HZ;

use crate::gpu_engine::{nvidia_driver_present, shared_library};
use crate::params::EngineChoice;
use crate::voice_source::MAX_VOICES;

/// An engine the worker can own.
pub type DynEngine = Box<dyn Engine + Send>;

/// Auto takes the GPU engine only if it generates a sample step in at most this share of real
/// time: the rest is for the worker's mixing and resampling, and for jitter.
pub const AUTO_GPU_MAX_LOAD: f64 = 0.5;

/// Rows the Auto probe generates at once: the default polyphony.
const PROBE_ROWS: usize = 8;

/// An engine and the line the editor shows for it.
pub struct ChosenEngine {
    /// The engine, [`MAX_VOICES`] rows.
    pub engine: DynEngine,
    /// "CPU: native engine (avx2 kernels)", "GPU: …", or why the GPU was not used.
    pub line: String,
}

/// The engine `choice` asks for, for `voice`. Errors only when the native engine cannot take the
/// voice (then no engine can).
pub fn build(choice: EngineChoice, voice: &Voice) -> Result<ChosenEngine, String> {
    let cpu = || -> Result<(DynEngine, String), String> {
        let e = NativeEngine::new(voice, MAX_VOICES).map_err(|e| e.to_string())?;
        let line = cpu_line(&e);
        Ok((Box::new(e), line))
    };
    let (engine, line) = match choice {
        EngineChoice::Cpu => cpu()?,
        EngineChoice::Gpu => match gpu(voice) {
            Ok(e) => (e, gpu_line()),
            Err(why) => {
                let (e, line) = cpu()?;
                (e, format!("GPU asked for, but {why}; playing on {line}"))
            }
        },
        EngineChoice::Auto => match auto_gpu(voice) {
            Ok(e) => (e, format!("Auto: {}", gpu_line())),
            Err(why) => {
                let (e, line) = cpu()?;
                (e, format!("Auto: {line} ({why})"))
            }
        },
    };
    Ok(ChosenEngine { engine, line })
}

/// The line for the native engine.
fn cpu_line(engine: &NativeEngine) -> String {
    format!("CPU: native engine ({} kernels)", engine.isa())
}

fn gpu_line() -> String {
    let lib = shared_library().map(|l| l.path().display().to_string()).unwrap_or_default();
    format!("GPU: torch engine on CUDA ({lib})")
}

/// The GPU engine on CUDA, or why not.
fn gpu(voice: &Voice) -> Result<DynEngine, String> {
    let lib = shared_library()?;
    lib.cuda()?;
    let e = GpuEngine::cuda(lib, voice, MAX_VOICES).map_err(|e| format!("the GPU engine failed to start: {e}"))?;
    Ok(Box::new(e))
}

/// The GPU engine if it is there and fast enough, or why not.
fn auto_gpu(voice: &Voice) -> Result<DynEngine, String> {
    if !nvidia_driver_present() {
        return Err("no NVIDIA driver here".into());
    }
    // One measurement per process: a CUDA context and a probe cost seconds, and the verdict
    // depends on the machine far more than on the voice.
    static VERDICT: OnceLock<Result<f64, String>> = OnceLock::new();
    let verdict = VERDICT.get_or_init(|| probe_us_per_step(gpu(voice)?.as_mut()));
    fast_enough(verdict.clone()?)?;
    // The voice starts on a fresh engine, not on the one the probe ran.
    gpu(voice)
}

/// Whether a GPU engine measured at `us` microseconds per sample step is fast enough for Auto.
fn fast_enough(us: f64) -> Result<(), String> {
    let budget = 1e6 / MODEL_RATE_HZ as f64;
    if us > AUTO_GPU_MAX_LOAD * budget {
        return Err(format!(
            "the GPU engine measured {us:.0} µs per sample step here at {PROBE_ROWS} notes; Auto takes it under {:.0} (real time: {budget:.1})",
            AUTO_GPU_MAX_LOAD * budget
        ));
    }
    Ok(())
}

/// Microseconds per sample step with [`PROBE_ROWS`] rows, the best of three top frames after a
/// warm-up frame (the first launches compile and allocate).
fn probe_us_per_step(e: &mut dyn Engine) -> Result<f64, String> {
    let frame = e.top_frame();
    let rows: Vec<usize> = (0..PROBE_ROWS.min(e.max_batch())).collect();
    for &r in &rows {
        e.reset_row(r, 0).map_err(|err| err.to_string())?;
    }
    let cond = vec![Conditioning::SILENT; frame];
    let conds: Vec<&[Conditioning]> = rows.iter().map(|_| cond.as_slice()).collect();
    let mut outs = vec![vec![0u8; frame]; rows.len()];
    let mut best = f64::INFINITY;
    for round in 0..4 {
        let mut out: Vec<&mut [u8]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        let started = Instant::now();
        e.generate(&rows, &conds, &mut out).map_err(|err| e_failure(e, err))?;
        if round > 0 {
            best = best.min(started.elapsed().as_secs_f64() * 1e6 / frame as f64);
        }
    }
    Ok(best)
}

fn e_failure(e: &dyn Engine, err: sackbut_model::engine::EngineError) -> String {
    e.failure().map_or_else(|| err.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice_source::default_voice;

    #[test]
    fn auto_refuses_an_engine_slower_than_half_of_real_time_and_says_by_how_much() {
        // The H100's torch engine at 8 voices (README, Inference engines).
        let why = fast_enough(260.1).unwrap_err();
        assert_eq!(why, "the GPU engine measured 260 µs per sample step here at 8 notes; Auto takes it under 31 (real time: 62.5)");
        assert!(fast_enough(31.25).is_ok());
        assert!(fast_enough(20.0).is_ok());
        assert!(fast_enough(31.3).is_err());
    }

    #[test]
    fn the_probe_measures_a_real_engine() {
        let voice = default_voice().unwrap();
        let mut e = NativeEngine::new(&voice, MAX_VOICES).unwrap();
        let us = probe_us_per_step(&mut e).unwrap();
        assert!(us.is_finite() && us > 0.0, "{us}");
        assert_eq!(e.clock_samples(), 4 * e.top_frame() as u64, "a warm-up frame and three measured ones");
    }

    #[test]
    fn cpu_plays_the_native_engine_and_says_so() {
        let voice = default_voice().unwrap();
        let cpu = build(EngineChoice::Cpu, &voice).unwrap();
        assert!(cpu.line.starts_with("CPU: native engine ("), "{}", cpu.line);
        assert_eq!(cpu.engine.max_batch(), MAX_VOICES);
    }
}
