//! State shared between the audio thread, the worker, the editor and the host's main thread.
//!
//! - [`Link`] (in [`crate::handoff`]): one activation's lock-free handshake between the audio
//!   thread and the worker (atomics only; the sample ring and the event queue are `ringbuf` SPSC
//!   rings beside it).
//! - [`Status`]: what the editor shows, for the plugin's whole life: atomics written by the audio
//!   thread and the worker, and `parking_lot` mutexes that only non-realtime threads lock.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crossbeam_channel::Sender;
use nice_plug_egui::RepaintNotifier;
use parking_lot::Mutex;

use crate::engine_choice::DynEngine;
use crate::keyboard::KeyEvent;
use crate::live_voices::EventKind;
use crate::params::EngineChoice;
use crate::voice_source::VoiceSlot;

pub use crate::handoff::{pack, unpack, Link};

/// What the audio thread sends the worker, in time order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Msg {
    /// A key, pedal or channel-mode event at model sample `t`.
    Key { t: u64, ev: KeyEvent },
    /// A setting change at model sample `t`.
    Setting { t: u64, kind: EventKind },
    /// The host reset the plugin: silence everything, start stream position 0 of `epoch`.
    Reset { epoch: u32, settings: StreamSettings },
}

/// Settings a stream starts with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamSettings {
    /// Voices available.
    pub polyphony: u8,
    /// Release R (model samples).
    pub release: u32,
    /// Seed of the notes.
    pub seed: u64,
    /// Sampling temperature.
    pub temperature: f32,
}

/// A new voice for the running worker, built off the audio thread.
pub struct VoiceSwap {
    /// The voice.
    pub slot: VoiceSlot,
    /// Its engine, `MAX_VOICES` rows.
    pub engine: DynEngine,
}

/// Main thread / editor → worker.
pub enum Control {
    /// Play this voice from the next frame on.
    Swap(Box<VoiceSwap>),
    /// End the worker thread.
    Shutdown,
}

/// The voice card the editor shows.
#[derive(Clone, Debug, Default)]
pub struct VoiceCard {
    /// Voice name.
    pub name: String,
    /// "default (embedded)" or the path.
    pub origin: String,
    /// Trained notes, as "40–77".
    pub notes: String,
    /// Trained velocities, as "40, 80, 120".
    pub velocities: String,
    /// Model sample rate.
    pub sample_rate: u32,
    /// Test NLL (bits/sample), when the trainer measured it.
    pub test_nll_bits: Option<f64>,
    /// Valid NLL (bits/sample).
    pub valid_nll_bits: Option<f64>,
    /// Training steps.
    pub steps: u64,
    /// Release R in samples.
    pub release_samples: u32,
}

impl VoiceCard {
    /// The card of `slot`.
    pub fn of(slot: &VoiceSlot) -> VoiceCard {
        let m = &slot.voice.meta;
        let notes = match m.conditioning.note_range() {
            Some((lo, hi)) if m.conditioning.notes.len() == (hi - lo + 1) as usize => format!("{lo}–{hi}"),
            Some(_) => m.conditioning.notes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
            None => "none".into(),
        };
        VoiceCard {
            name: m.name.clone(),
            origin: match &slot.origin {
                crate::voice_source::VoiceOrigin::Default => "default (embedded)".into(),
                crate::voice_source::VoiceOrigin::File(p) => p.clone(),
            },
            notes,
            velocities: m.conditioning.velocities.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            sample_rate: m.sample_rate,
            test_nll_bits: m.training.test_nll_bits,
            valid_nll_bits: m.training.valid_nll_bits,
            steps: m.training.steps,
            release_samples: m.conditioning.release_samples,
        }
    }
}

/// Processing mode as the editor shows it.
pub const MODE_INACTIVE: u8 = 0;
/// Realtime.
pub const MODE_REALTIME: u8 = 1;
/// Offline.
pub const MODE_OFFLINE: u8 = 2;

/// What the editor shows; lives as long as the plugin instance.
pub struct Status {
    /// The voice the next activation plays (and the running worker plays, once swapped in).
    pub voice: Mutex<Option<VoiceSlot>>,
    /// Its card.
    pub card: Mutex<VoiceCard>,
    /// The last voice message (load error, fallback), empty if none.
    pub voice_message: Mutex<String>,
    /// The engine line ("CPU: native engine (avx2 kernels)", and why not the GPU).
    pub engine_line: Mutex<String>,
    /// The Engine parameter the playing engine was built for (`None` before the first
    /// activation): when the parameter changes, the worker has the engine rebuilt.
    pub engine_choice: Mutex<Option<EngineChoice>>,
    /// A voice file is being loaded.
    pub loading: AtomicBool,
    /// The running worker, for voice swaps.
    pub control: Mutex<Option<Sender<Control>>>,
    /// The loaded voice needs the host to restart processing (its frame size differs).
    pub restart_needed: AtomicBool,
    /// Compute time / audio time of the last second of generation, × 1000.
    pub rtf_milli: AtomicU32,
    /// Samples in the ring (model samples) after the last block.
    pub ring_fill: AtomicU32,
    /// The ring's target (model samples).
    pub ring_target: AtomicU32,
    /// Blocks that could not be filled in time (realtime).
    pub underruns: AtomicU64,
    /// Model samples output as silence because they were late.
    pub underrun_samples: AtomicU64,
    /// Times the audio thread slept waiting for the worker: only an offline render may (a
    /// realtime block that waited would be a glitch; the tests hold this at 0 there).
    pub audio_waits: AtomicU64,
    /// Events dropped (queue full or too late).
    pub dropped_events: AtomicU64,
    /// 1 + the host sample (since the last reset) of the last block with an underrun; 0: none.
    pub last_underrun_at: AtomicU64,
    /// Generated frames that were not finite: replaced by silence, their notes restarted.
    pub nonfinite_frames: AtomicU64,
    /// Output samples that were not finite after resampling and gain: output as 0.
    pub nonfinite_samples: AtomicU64,
    /// Voices stopped because the worker could not keep up with them (realtime load shedding).
    pub shed_voices: AtomicU64,
    /// Keys sounding now, a 128-bit set.
    pub sounding: [AtomicU64; 2],
    /// Voices (rows) generating now.
    pub active_voices: AtomicU32,
    /// Latency reported to the host (host samples).
    pub latency_samples: AtomicU32,
    /// Host sample rate.
    pub rate_hz: AtomicU32,
    /// [`MODE_INACTIVE`], [`MODE_REALTIME`] or [`MODE_OFFLINE`].
    pub mode: AtomicU8,
    /// Model samples generated since activation.
    pub generated_samples: AtomicU64,
    /// Asks the editor to repaint.
    pub repaint: RepaintNotifier,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            voice: Mutex::new(None),
            card: Mutex::new(VoiceCard::default()),
            voice_message: Mutex::new(String::new()),
            engine_line: Mutex::new(String::new()),
            engine_choice: Mutex::new(None),
            loading: AtomicBool::new(false),
            control: Mutex::new(None),
            restart_needed: AtomicBool::new(false),
            rtf_milli: AtomicU32::new(0),
            ring_fill: AtomicU32::new(0),
            ring_target: AtomicU32::new(0),
            underruns: AtomicU64::new(0),
            underrun_samples: AtomicU64::new(0),
            audio_waits: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            last_underrun_at: AtomicU64::new(0),
            nonfinite_frames: AtomicU64::new(0),
            nonfinite_samples: AtomicU64::new(0),
            shed_voices: AtomicU64::new(0),
            sounding: [AtomicU64::new(0), AtomicU64::new(0)],
            active_voices: AtomicU32::new(0),
            latency_samples: AtomicU32::new(0),
            rate_hz: AtomicU32::new(0),
            mode: AtomicU8::new(MODE_INACTIVE),
            generated_samples: AtomicU64::new(0),
            repaint: RepaintNotifier::new(),
        }
    }
}

impl Status {
    /// Makes `slot` the current voice and its card the one shown.
    pub fn set_voice(&self, slot: VoiceSlot) {
        *self.card.lock() = VoiceCard::of(&slot);
        *self.voice.lock() = Some(slot);
        self.repaint.request_repaint();
    }

    /// Keys sounding now.
    pub fn sounding_keys(&self) -> Vec<u8> {
        let bits = [self.sounding[0].load(Ordering::Relaxed), self.sounding[1].load(Ordering::Relaxed)];
        (0..128u8).filter(|&k| bits[(k / 64) as usize] >> (k % 64) & 1 == 1).collect()
    }

    /// The counters a test reads, as JSON.
    pub fn stats_json(&self) -> String {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let card = self.card.lock().clone();
        let mode = match self.mode.load(Ordering::Relaxed) {
            MODE_REALTIME => "realtime",
            MODE_OFFLINE => "offline",
            _ => "inactive",
        };
        serde_json::json!({
            "voice": card.name,
            "voice_origin": card.origin,
            "voice_message": self.voice_message.lock().clone(),
            "engine": self.engine_line.lock().clone(),
            "underruns": r(&self.underruns),
            "underrun_samples": r(&self.underrun_samples),
            "audio_waits": r(&self.audio_waits),
            "dropped_events": r(&self.dropped_events),
            "last_underrun_at_host_sample": r(&self.last_underrun_at).checked_sub(1),
            "nonfinite_frames": r(&self.nonfinite_frames),
            "nonfinite_samples": r(&self.nonfinite_samples),
            "shed_voices": r(&self.shed_voices),
            "latency_samples": self.latency_samples.load(Ordering::Relaxed),
            "rate_hz": self.rate_hz.load(Ordering::Relaxed),
            "mode": mode,
            "generated_samples": r(&self.generated_samples),
            "rtf": self.rtf_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        })
        .to_string()
    }
}
