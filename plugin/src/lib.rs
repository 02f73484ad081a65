//! Sackbut, the neural trombone: a VST3/CLAP instrument that generates its sound sample by
//! sample with a note-conditioned SampleRNN (DESIGN.md "Plugin real-time pipeline").
//!
//! This file holds only the plugin struct, its `Plugin`/`ClapPlugin`/`Vst3Plugin` impls and the
//! export macros. The audio thread runs [`audio::AudioSide`] alone; the worker thread
//! ([`worker`]) owns the engine and the voices ([`live_voices`]); [`timeline`] fixes the latency.

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nice_plug::prelude::*;
use ringbuf::traits::Split;
use ringbuf::HeapRb;

pub mod audio;
pub mod editor;
pub mod engine_choice;
pub mod file_dialog;
pub mod gpu_engine;
pub mod handoff;
pub mod key_routing;
pub mod keyboard;
pub use sackbut_model::live_voices;
pub mod load_governor;
pub mod loader;
pub mod params;
pub mod resampler;
pub mod shared;
pub mod timeline;
pub mod voice_source;
pub mod worker;

use audio::AudioSide;
use params::{ms_to_model_samples, SackbutParams};
use shared::{Link, Msg, Status, MODE_INACTIVE, MODE_OFFLINE, MODE_REALTIME};
use timeline::{RenderMode, Timeline};
use voice_source::{default_slot, resolve_persisted, VoiceSlot};
use worker::{DebugHooks, WorkerHandle, WorkerSetup};

/// Capacity of the audio → worker event queue (messages).
pub const EVENT_QUEUE_CAPACITY: usize = 8192;
/// Environment variable: a file the plugin writes its counters to (JSON) when deactivated.
pub const ENV_STATS_FILE: &str = "SACKBUT_STATS_FILE";
/// Environment variable: microseconds the worker sleeps after each frame (a slow engine, for tests).
pub const ENV_DEBUG_WORKER_SLEEP_US: &str = "SACKBUT_DEBUG_WORKER_SLEEP_US";
/// Environment variable: the worker sleeps rows² × this many microseconds after each frame (an
/// engine whose cost grows with the voices, for the load-shedding tests).
pub const ENV_DEBUG_ROW_COST_US: &str = "SACKBUT_DEBUG_ROW_COST_US";
/// Environment variable: the worker poisons its n-th frame with voices (from 0) with a NaN (for
/// the non-finite guard's test).
pub const ENV_DEBUG_NAN_FRAME: &str = "SACKBUT_DEBUG_NAN_FRAME";

/// A numeric environment variable, if set and valid.
fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The plugin.
pub struct Sackbut {
    params: Arc<SackbutParams>,
    status: Arc<Status>,
    audio: Option<AudioSide>,
    worker: Option<WorkerHandle>,
}

impl Default for Sackbut {
    fn default() -> Self {
        Sackbut { params: Arc::new(SackbutParams::default()), status: Arc::new(Status::default()), audio: None, worker: None }
    }
}

impl Sackbut {
    /// The voice an activation plays: the current one if it is what the persisted path asks
    /// for, else the persisted file (or the default voice, saying why).
    fn voice_for_activation(&self) -> Result<VoiceSlot, String> {
        let wanted = self.params.voice_path.read().clone();
        if let Some(slot) = self.status.voice.lock().clone() {
            if slot.origin.as_persisted() == wanted {
                return Ok(slot);
            }
        }
        let (slot, why) = resolve_persisted(&wanted)?;
        *self.status.voice_message.lock() = why.unwrap_or_default();
        self.status.set_voice(slot.clone());
        Ok(slot)
    }

    /// Says why the plugin cannot play (editor and log) and refuses the activation.
    fn fail(&self, why: String) -> bool {
        nice_error!("Sackbut: {why}");
        *self.status.voice_message.lock() = why;
        false
    }

    fn stop_worker(&mut self) {
        *self.status.control.lock() = None;
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
        self.audio = None;
    }

    fn write_stats(&self) {
        if let Ok(path) = std::env::var(ENV_STATS_FILE) {
            if let Err(e) = std::fs::write(&path, self.status.stats_json()) {
                nice_error!("Sackbut: cannot write {path}: {e}");
            }
        }
    }
}

impl Plugin for Sackbut {
    const NAME: &'static str = "Sackbut";
    const VENDOR: &'static str = "Sackbut";
    const URL: &'static str = "https://example.invalid/sackbut";
    const EMAIL: &'static str = "sackbut@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout { main_input_channels: None, main_output_channels: NonZeroU32::new(2), ..AudioIOLayout::const_default() },
        AudioIOLayout { main_input_channels: None, main_output_channels: NonZeroU32::new(1), ..AudioIOLayout::const_default() },
    ];
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    /// nice-plug's per-block event queue, preallocated: a host may send a chord of every key with
    /// its pedal and controllers in one block; beyond this the wrapper has to allocate on the
    /// audio thread (it permits that, with a warning). Our own queue to the worker holds 8192.
    const INPUT_EVENT_CAPACITY: usize = 4096;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::SackbutEditor>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn filter_state(state: &mut PluginState) {
        params::sanitize_state(state);
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.status.clone())
    }

    fn activate(&mut self, _layout: &AudioIOLayout, config: &BufferConfig, context: &mut impl ActivateContext<Self>) -> bool {
        self.stop_worker();
        let mode = match config.process_mode {
            ProcessMode::Offline => RenderMode::Offline,
            ProcessMode::Realtime | ProcessMode::Buffered => RenderMode::Realtime,
        };
        let mut slot = match self.voice_for_activation() {
            Ok(s) => s,
            Err(e) => return self.fail(e),
        };
        let choice = self.params.engine.value();
        let chosen = match engine_choice::build(choice, &slot.voice) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("{}: {e} — playing the default voice instead", slot.origin.as_persisted());
                slot = match default_slot() {
                    Ok(s) => s,
                    Err(e) => return self.fail(e),
                };
                *self.status.voice_message.lock() = why;
                self.status.set_voice(slot.clone());
                match engine_choice::build(choice, &slot.voice) {
                    Ok(c) => c,
                    Err(e) => return self.fail(format!("the default voice does not load: {e}")),
                }
            }
        };
        *self.status.engine_line.lock() = chosen.line;
        *self.status.engine_choice.lock() = Some(choice);
        let engine = chosen.engine;
        let rate_hz = config.sample_rate.round().max(1.0) as u32;
        let lookahead = ms_to_model_samples(self.params.lookahead_ms.value());
        let t = Timeline::plan(
            rate_hz,
            config.max_buffer_size.max(1) as usize,
            mode,
            engine.top_frame(),
            lookahead,
            slot.voice.meta.hparams.horizon,
        );
        let (ev_prod, ev_cons) = HeapRb::<Msg>::new(EVENT_QUEUE_CAPACITY).split();
        let (s_prod, s_cons) = HeapRb::<f32>::new(t.ring_capacity).split();
        let link = Arc::new(Link::default());
        let debug = DebugHooks {
            sleep: env_u64(ENV_DEBUG_WORKER_SLEEP_US).map_or(Duration::ZERO, Duration::from_micros),
            row_cost: env_u64(ENV_DEBUG_ROW_COST_US).map_or(Duration::ZERO, Duration::from_micros),
            nan_frame: env_u64(ENV_DEBUG_NAN_FRAME),
        };
        let setup = WorkerSetup {
            timeline: t,
            slot,
            engine,
            settings: AudioSide::initial_settings(&self.params),
            release_override: ms_to_model_samples(self.params.release_ms.value()),
            link: link.clone(),
            status: self.status.clone(),
            events: ev_cons,
            samples: s_prod,
            params: self.params.clone(),
            debug,
        };
        let worker = match WorkerHandle::spawn(setup) {
            Ok(w) => w,
            Err(e) => return self.fail(format!("cannot start the worker thread: {e}")),
        };
        let audio = match AudioSide::new(t, link, self.status.clone(), ev_prod, s_cons, worker.thread().cloned(), &self.params) {
            Ok(a) => a,
            Err(e) => return self.fail(e),
        };
        *self.status.control.lock() = Some(worker.control());
        self.worker = Some(worker);
        self.audio = Some(audio);
        let st = &self.status;
        st.latency_samples.store(t.latency_samples, Ordering::Relaxed);
        st.rate_hz.store(rate_hz, Ordering::Relaxed);
        st.ring_target.store(t.ring_target as u32, Ordering::Relaxed);
        st.mode.store(if mode == RenderMode::Offline { MODE_OFFLINE } else { MODE_REALTIME }, Ordering::Relaxed);
        st.restart_needed.store(false, Ordering::Relaxed);
        let counters = [
            &st.underruns,
            &st.underrun_samples,
            &st.audio_waits,
            &st.dropped_events,
            &st.generated_samples,
            &st.last_underrun_at,
            &st.nonfinite_frames,
            &st.nonfinite_samples,
            &st.shed_voices,
        ];
        for counter in counters {
            counter.store(0, Ordering::Relaxed);
        }
        context.set_latency_samples(t.latency_samples);
        true
    }

    fn reset(&mut self) {
        if let Some(a) = self.audio.as_mut() {
            a.reset();
        }
    }

    fn process(&mut self, buffer: &mut Buffer, _aux: &mut AuxiliaryBuffers, context: &mut impl ProcessContext<Self>) -> ProcessStatus {
        match self.audio.as_mut() {
            Some(a) => a.process(buffer, context, &self.params),
            None => {
                while context.next_event().is_some() {}
                for ch in buffer.as_slice().iter_mut() {
                    ch.iter_mut().for_each(|v| *v = 0.0);
                }
            }
        }
        ProcessStatus::KeepAlive
    }

    fn deactivate(&mut self) {
        self.stop_worker();
        self.write_stats();
        self.status.mode.store(MODE_INACTIVE, Ordering::Relaxed);
    }
}

impl Drop for Sackbut {
    fn drop(&mut self) {
        self.stop_worker();
    }
}

impl ClapPlugin for Sackbut {
    const CLAP_ID: &'static str = "org.sackbut.neural-trombone";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("A neural trombone: a note-conditioned SampleRNN, sample by sample");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::Instrument, ClapFeature::Synthesizer, ClapFeature::Mono, ClapFeature::Stereo];
}

impl Vst3Plugin for Sackbut {
    const VST3_CLASS_ID: [u8; 16] = *b"SackbutNeuralTbn";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
}

nice_export_clap!(Sackbut);
nice_export_vst3!(Sackbut);
