//! The worker thread: owns the engine and the voices, turns the audio thread's events into
//! conditioning, generates one top frame at a time for the active voices as one batch, and keeps
//! the sample ring at its target fill (see [`crate::timeline`] for why that fill, and
//! [`crate::live_voices`] for what a frame does).
//!
//! It never blocks the audio thread: it only pushes to the sample ring and pops from the event
//! ring (both lock-free SPSC). When it has nothing to do it parks; the audio thread unparks it
//! after each block. A panic inside is caught, logged, and ends the worker: the audio thread then
//! outputs silence.
//!
//! Under abuse and overload:
//! - **Keys outside the voice's trained notes** are played an octave (or several) up or down, into
//!   the trained range (clamped to its ends if the range is under an octave): the note embedding
//!   of an untrained key is noise, and a player would rather hear the right pitch class than
//!   whatever the model makes of it. The key a note is played as is remembered until its
//!   note-off, so a voice swap in between cannot leave it stuck.
//! - **A frame that is not finite** (a voice whose state blew up, or a bad voice file) is replaced
//!   by silence, counted (`Status::nonfinite_frames`), and the notes sounding are restarted from
//!   their rows' initial state, so the fault does not persist.
//! - **Load shedding (realtime only)**: see [`crate::load_governor`]; each voice stopped is
//!   counted (`Status::shed_voices`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};
use sackbut_model::engine::EngineError;
use sackbut_model::MODEL_RATE_HZ;

use crate::engine_choice::{self, DynEngine};
use crate::handoff::position_in;
use crate::key_routing::KeyRouting;
use crate::keyboard::Keyboard;
use crate::live_voices::{EventKind, LiveSettings, LiveVoices, TimedEvent};
use crate::load_governor::{LoadGovernor, Verdict};
use crate::params::{EngineChoice, SackbutParams};
use crate::shared::{Control, Link, Msg, Status, StreamSettings};
use crate::timeline::{RenderMode, Timeline};
use crate::voice_source::{VoiceSlot, MAX_VOICES};

/// Test hooks that make the worker misbehave on purpose (read from the environment at
/// activation; all off in normal use).
#[derive(Clone, Copy, Debug, Default)]
pub struct DebugHooks {
    /// Sleep after each frame: an engine slower than real time whatever it generates.
    pub sleep: Duration,
    /// Sleep `rows² ×` this after each frame: an engine whose cost grows with the voices it
    /// generates (8 rows cost 64 units, 1 row one), so load shedding can be shown deterministically.
    pub row_cost: Duration,
    /// Poison the n-th frame (from 0) that has voices with a NaN, as a voice whose state blew up
    /// would: proves the non-finite guard.
    pub nan_frame: Option<u64>,
}

/// Everything a worker starts with.
pub struct WorkerSetup {
    /// This activation's timing.
    pub timeline: Timeline,
    /// The voice.
    pub slot: VoiceSlot,
    /// Its engine, [`MAX_VOICES`] rows.
    pub engine: DynEngine,
    /// Settings at the start of the stream.
    pub settings: StreamSettings,
    /// Release override in model samples (0: the voice's own).
    pub release_override: u32,
    /// The handshake with the audio thread.
    pub link: Arc<Link>,
    /// What the editor shows.
    pub status: Arc<Status>,
    /// Events from the audio thread.
    pub events: HeapCons<Msg>,
    /// Samples to the audio thread.
    pub samples: HeapProd<f32>,
    /// The parameters: the worker watches the persisted voice path, so a state restored while
    /// playing (a preset, an undo) loads its voice without a restart.
    pub params: Arc<SackbutParams>,
    /// Test hooks (all off in normal use).
    pub debug: DebugHooks,
}

/// A running worker thread.
pub struct WorkerHandle {
    thread: Option<JoinHandle<()>>,
    control: Sender<Control>,
}

impl WorkerHandle {
    /// Starts the worker. The engine must be at a top-frame boundary (fresh engines are).
    pub fn spawn(setup: WorkerSetup) -> std::io::Result<WorkerHandle> {
        let (tx, rx) = crossbeam_channel::unbounded();
        setup.link.start_worker();
        let link = setup.link.clone();
        let status = setup.status.clone();
        let thread = thread::Builder::new().name("sackbut-worker".into()).spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| Worker::new(setup, rx).run()));
            if let Err(panic) = result {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                nice_plug::nice_error!("Sackbut worker crashed: {what}");
                *status.engine_line.lock() = format!("the generator crashed ({what}): output is silent until the host restarts the plugin");
            }
            link.worker_ended();
        })?;
        Ok(WorkerHandle { thread: Some(thread), control: tx })
    }

    /// The thread, to unpark it.
    pub fn thread(&self) -> Option<&thread::Thread> {
        self.thread.as_ref().map(|t| t.thread())
    }

    /// A sender for voice swaps.
    pub fn control(&self) -> Sender<Control> {
        self.control.clone()
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.control.send(Control::Shutdown);
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    t: Timeline,
    slot: VoiceSlot,
    engine: DynEngine,
    decode: [f32; 256],
    live: LiveVoices,
    keyboard: Keyboard,
    release_override: u32,
    link: Arc<Link>,
    status: Arc<Status>,
    events: HeapCons<Msg>,
    samples: HeapProd<f32>,
    control: Receiver<Control>,
    params: Arc<SackbutParams>,
    /// The voice path last asked for (loaded, or tried and failed: not retried).
    asked_path: String,
    debug: DebugHooks,
    /// Frames with voices generated so far (for [`DebugHooks::nan_frame`]).
    voiced_frames: u64,
    /// Keys into the voice's range, note-offs to where their note-ons went.
    keys: KeyRouting,
    /// Polyphony the user asked for.
    user_polyphony: u8,
    /// Most voices the worker keeps up with (realtime load shedding).
    governor: LoadGovernor,
    epoch: u32,
    items_pushed: u64,
    frame: Vec<f32>,
    zeros: Vec<f32>,
    pending_swap: Option<Box<crate::shared::VoiceSwap>>,
    // Statistics over the current window.
    window_start: Instant,
    window_compute: Duration,
    window_samples: u64,
}

fn live_settings(t: &Timeline, slot: &VoiceSlot, s: &StreamSettings, release_override: u32) -> LiveSettings {
    let meta = &slot.voice.meta;
    LiveSettings {
        max_rows: MAX_VOICES,
        top_frame: t.top_frame,
        horizon: meta.hparams.horizon,
        lookahead: t.lookahead,
        polyphony: s.polyphony as usize,
        release: if release_override > 0 { release_override } else { meta.conditioning.release_samples },
        seed: s.seed,
    }
}

impl Worker {
    fn new(s: WorkerSetup, control: Receiver<Control>) -> Worker {
        let mut engine = s.engine;
        engine.set_temperature(s.settings.temperature);
        let frame = s.timeline.top_frame;
        let mut live = LiveVoices::new(live_settings(&s.timeline, &s.slot, &s.settings, s.release_override));
        live.stage(TimedEvent { t: 0, kind: EventKind::Temperature(s.settings.temperature) });
        // What the activation already tried (it falls back to the default voice on a bad file).
        let asked_path = s.params.voice_path.read().clone();
        Worker {
            asked_path,
            keys: KeyRouting::new(s.slot.voice.meta.conditioning.key_map()),
            user_polyphony: s.settings.polyphony,
            governor: LoadGovernor::new(Duration::from_secs_f64(frame as f64 / MODEL_RATE_HZ as f64)),
            params: s.params,
            debug: s.debug,
            voiced_frames: 0,
            decode: s.slot.voice.meta.quantization.decode_table(),
            t: s.timeline,
            slot: s.slot,
            engine,
            live,
            keyboard: Keyboard::default(),
            release_override: s.release_override,
            link: s.link,
            status: s.status,
            events: s.events,
            samples: s.samples,
            control,
            epoch: 0,
            items_pushed: 0,
            frame: vec![0.0; frame],
            zeros: vec![0.0; frame],
            pending_swap: None,
            window_start: Instant::now(),
            window_compute: Duration::ZERO,
            window_samples: 0,
        }
    }

    fn run(mut self) {
        let frame = self.t.top_frame as u64;
        loop {
            while let Ok(c) = self.control.try_recv() {
                match c {
                    Control::Shutdown => return,
                    Control::Swap(s) => self.pending_swap = Some(s),
                }
            }
            // The audio thread's position and what the ring holds first, then the events: every
            // event it sent before taking the samples seen gone is then in the queue (it sends a
            // block's events before it takes the block's samples).
            let consumed = self.link.consumed();
            let fill = self.samples.occupied_len() as u64;
            while let Some(msg) = self.events.try_pop() {
                self.handle(msg);
            }
            let audio_pos = position_in(consumed, self.epoch);
            let pos = self.live.position();
            if self.samples.vacant_len() >= frame as usize {
                if pos + frame <= audio_pos {
                    // Behind: the audio thread already played silence here. Skip the frame
                    // (events and resets still apply) and push placeholders it will discard.
                    if self.live.skip_frame(self.engine.as_mut()).is_err() {
                        nice_plug::nice_error!("Sackbut: an engine reset was refused while skipping");
                    }
                    self.samples.push_slice(&self.zeros);
                    self.items_pushed += frame;
                    continue;
                }
                if fill + frame <= self.t.ring_target as u64 {
                    self.generate_frame();
                    continue;
                }
            }
            self.publish_stats(fill);
            thread::park_timeout(Duration::from_millis(2));
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Key { t, ev } => {
                let (live, keys) = (&mut self.live, &mut self.keys);
                // Keys move into the trained range (see `key_routing`).
                self.keyboard.handle(t, ev, |e| keys.route(e.kind, |kind| live.stage(TimedEvent { t: e.t, kind })));
            }
            Msg::Setting { t, kind } => {
                let kind = match kind {
                    EventKind::Release(r) => {
                        self.release_override = r;
                        EventKind::Release(self.release())
                    }
                    EventKind::Polyphony(p) => {
                        self.user_polyphony = p;
                        EventKind::Polyphony(p.min(self.governor.cap()))
                    }
                    k => k,
                };
                self.live.stage(TimedEvent { t, kind });
            }
            Msg::Reset { epoch, settings } => {
                self.keyboard.reset();
                self.keys.reset();
                self.user_polyphony = settings.polyphony;
                self.governor.reset();
                let s = live_settings(&self.t, &self.slot, &settings, self.release_override);
                self.live.reset(s);
                self.live.stage(TimedEvent { t: 0, kind: EventKind::Temperature(settings.temperature) });
                self.epoch = epoch;
                self.link.ack_reset(epoch, self.items_pushed);
            }
        }
    }

    fn release(&self) -> u32 {
        if self.release_override > 0 {
            self.release_override
        } else {
            self.slot.voice.meta.conditioning.release_samples
        }
    }

    fn generate_frame(&mut self) {
        let started = Instant::now();
        let swap = self.pending_swap.take();
        if let Some(s) = &swap {
            if s.engine.top_frame() != self.t.top_frame {
                // Frames of another size need a new timeline: the host must restart processing.
                self.status.restart_needed.store(true, Ordering::Release);
            } else {
                self.live.restart_sounding_notes();
            }
        }
        let mut result = self.live.render_frame(self.engine.as_mut(), &self.decode, &mut self.frame);
        if result.as_ref().err() == Some(&EngineError::DeviceFailed) && self.fall_back_to_cpu() {
            result = self.live.render_frame(self.engine.as_mut(), &self.decode, &mut self.frame);
        }
        let rows = match result {
            Ok(report) => report.active_rows,
            Err(e) => {
                // Never expected (frames are whole and rows in range); keep the stream going.
                nice_plug::nice_error!("Sackbut: engine refused a frame: {e}");
                self.frame.iter_mut().for_each(|v| *v = 0.0);
                0
            }
        };
        if rows > 0 {
            if self.debug.nan_frame == Some(self.voiced_frames) {
                self.frame[0] = f32::NAN;
            }
            self.voiced_frames += 1;
        }
        if !self.frame.iter().all(|v| v.is_finite()) {
            // Never let a NaN or an infinity reach the host: this frame is silence, and the notes
            // start again from their rows' initial state so the fault does not carry on.
            self.frame.iter_mut().for_each(|v| *v = 0.0);
            self.live.restart_sounding_notes();
            self.status.nonfinite_frames.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(s) = swap {
            if s.engine.top_frame() == self.t.top_frame {
                let s = *s;
                let temperature = self.live.temperature();
                self.engine = s.engine;
                self.engine.set_temperature(temperature);
                self.decode = s.slot.voice.meta.quantization.decode_table();
                self.keys.set_map(s.slot.voice.meta.conditioning.key_map());
                self.live.set_horizon(s.slot.voice.meta.hparams.horizon);
                self.slot = s.slot;
                let pos = self.live.position();
                self.live.stage(TimedEvent { t: pos, kind: EventKind::Release(self.release()) });
            }
        }
        if !self.debug.sleep.is_zero() {
            // A deliberately slow engine: the frame is ready only after the sleep.
            thread::sleep(self.debug.sleep);
        }
        if !self.debug.row_cost.is_zero() && rows > 0 {
            thread::sleep(self.debug.row_cost * (rows * rows) as u32);
        }
        let cost = started.elapsed();
        self.samples.push_slice(&self.frame);
        self.items_pushed += self.frame.len() as u64;
        if self.t.mode == RenderMode::Realtime {
            self.adapt_to_load(cost, rows);
        }
        self.window_compute += started.elapsed();
        self.window_samples += self.frame.len() as u64;
        if self.window_start.elapsed() > Duration::from_millis(250) {
            self.publish_stats(self.samples.occupied_len() as u64);
        }
    }

    /// Realtime load shedding ([`LoadGovernor`]): `cost` is what the frame just made took,
    /// with `rows` voices.
    fn adapt_to_load(&mut self, cost: Duration, rows: usize) {
        let draining = self.samples.occupied_len() < self.t.ring_target / 2;
        let verdict = self.governor.after_frame(cost, rows, draining, Instant::now(), self.user_polyphony);
        let cap = match verdict {
            Verdict::Keep => return,
            Verdict::Shed(cap) => {
                self.shed_beyond(cap as usize);
                cap
            }
            Verdict::Regrow(cap) => cap,
        };
        let pos = self.live.position();
        self.live.stage(TimedEvent { t: pos, kind: EventKind::Polyphony(self.user_polyphony.min(cap).max(1)) });
    }

    /// Stops the notes sounding beyond `cap`: released ones first, then the oldest held.
    fn shed_beyond(&mut self, cap: usize) {
        let mut notes = [(false, 0u64, 0u8); MAX_VOICES * 2];
        let mut n = 0;
        let keys = &self.keys;
        self.live.for_each_sounding(|_, key, held| {
            if n < notes.len() {
                notes[n] = (held, keys.struck(key), key);
                n += 1;
            }
        });
        if n <= cap {
            return;
        }
        // Released (held = false) sort first, then by note-on order.
        notes[..n].sort_unstable();
        let pos = self.live.position();
        for &(_, _, key) in &notes[..n - cap] {
            self.live.stage(TimedEvent { t: pos, kind: EventKind::Choke { channel: None, key: Some(key) } });
        }
        self.status.shed_voices.fetch_add((n - cap) as u64, Ordering::Relaxed);
    }

    /// The GPU engine failed (a CUDA error): the native engine takes the same voice over, and
    /// the notes sounding fade out over this frame and start again at the next one (a fresh
    /// engine's rows hold none of their state). Whether the engine was replaced.
    fn fall_back_to_cpu(&mut self) -> bool {
        let why = self.engine.failure().unwrap_or("unknown failure").to_string();
        nice_plug::nice_error!("Sackbut: the GPU engine failed: {why}");
        match engine_choice::build(EngineChoice::Cpu, &self.slot.voice) {
            Ok(cpu) => {
                *self.status.engine_line.lock() = format!("the GPU engine failed ({why}); playing on {}", cpu.line);
                let temperature = self.live.temperature();
                self.engine = cpu.engine;
                self.engine.set_temperature(temperature);
                self.live.restart_sounding_notes();
                true
            }
            Err(e) => {
                *self.status.engine_line.lock() = format!("the GPU engine failed ({why}) and the CPU engine cannot start ({e})");
                false
            }
        }
    }

    /// A state restored while playing may name another voice: load it as the editor does. A
    /// change of the Engine parameter rebuilds the engine for the voice playing.
    fn follow_voice_path(&mut self) {
        if self.status.loading.load(Ordering::Acquire) {
            return;
        }
        if *self.status.engine_choice.lock() != Some(self.params.engine.value()) {
            crate::loader::rebuild_engine(self.params.clone(), self.status.clone());
            return;
        }
        let wanted = self.params.voice_path.read();
        if *wanted == self.asked_path {
            return;
        }
        let playing = self.status.voice.lock().as_ref().is_some_and(|s| s.origin.as_persisted() == wanted.as_str());
        self.asked_path = wanted.clone();
        drop(wanted);
        if !playing {
            crate::loader::load_voice(self.params.clone(), self.status.clone(), self.asked_path.clone());
        }
    }

    fn publish_stats(&mut self, fill: u64) {
        let st = &self.status;
        st.ring_fill.store(fill.min(u32::MAX as u64) as u32, Ordering::Relaxed);
        if self.window_start.elapsed() < Duration::from_millis(250) {
            return;
        }
        if self.window_samples > 0 {
            let audio_s = self.window_samples as f64 / MODEL_RATE_HZ as f64;
            let compute = self.window_compute.as_secs_f64();
            st.rtf_milli.store((compute / audio_s * 1000.0).min(u32::MAX as f64) as u32, Ordering::Relaxed);
        }
        st.generated_samples.fetch_add(self.window_samples, Ordering::Relaxed);
        let mut bits = [0u64; 2];
        let mut active = 0;
        self.live.for_each_sounding(|_, key, _| {
            bits[(key / 64) as usize] |= 1 << (key % 64);
            active += 1;
        });
        st.sounding[0].store(bits[0], Ordering::Relaxed);
        st.sounding[1].store(bits[1], Ordering::Relaxed);
        st.active_voices.store(active, Ordering::Relaxed);
        st.dropped_events.fetch_max(self.live.dropped_events(), Ordering::Relaxed);
        st.repaint.request_repaint();
        self.follow_voice_path();
        self.window_start = Instant::now();
        self.window_compute = Duration::ZERO;
        self.window_samples = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyboard::KeyEvent;
    use crate::shared::VoiceSwap;
    use crate::timeline::RenderMode;
    use crate::voice_source::default_slot;
    use ringbuf::traits::Split;
    use ringbuf::HeapRb;
    use sackbut_model::conditioning::Conditioning;
    use sackbut_model::engine::native::NativeEngine;
    use sackbut_model::engine::Engine;

    /// Drives a worker on `engine` as a stand-in audio thread would: a note at the start, 16 000
    /// samples consumed, `each(samples so far, worker)` after every read. Returns the samples and
    /// the note-on's sample; the worker is stopped.
    fn play(engine: DynEngine, status: Arc<Status>, mut each: impl FnMut(usize, &WorkerHandle)) -> (Vec<f32>, usize) {
        let slot = default_slot().unwrap();
        let hp = slot.voice.meta.hparams;
        let t = Timeline::plan(48_000, 512, RenderMode::Realtime, engine.top_frame(), 0, hp.horizon);
        let (mut events, ev_cons) = HeapRb::<Msg>::new(64).split();
        let (s_prod, mut samples) = HeapRb::<f32>::new(t.ring_capacity).split();
        let link = Arc::new(Link::default());
        let settings = StreamSettings { polyphony: 8, release: 0, seed: 1, temperature: 1.0 };
        let mut worker = WorkerHandle::spawn(WorkerSetup {
            timeline: t,
            slot,
            engine,
            settings,
            release_override: 0,
            link: link.clone(),
            status,
            events: ev_cons,
            samples: s_prod,
            params: Arc::new(SackbutParams::default()),
            debug: DebugHooks::default(),
        })
        .unwrap();
        let on = t.event_delay;
        events.try_push(Msg::Key { t: on, ev: KeyEvent::On { channel: 0, key: 72, velocity: 100 } }).unwrap();
        let mut got = Vec::new();
        let mut buf = [0f32; 256];
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 16_000 && Instant::now() < deadline {
            let n = samples.pop_slice(&mut buf);
            got.extend_from_slice(&buf[..n]);
            link.publish_consumed(0, got.len() as u64);
            each(got.len(), &worker);
            worker.thread().unwrap().unpark();
            if n == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(got.len() >= 16_000, "the worker stalled at {} samples", got.len());
        assert!(got.iter().all(|v| v.is_finite()));
        worker.stop();
        assert!(!link.worker_alive());
        (got, on as usize)
    }

    /// The worker driven by a stand-in audio thread: a note plays, a new voice takes over half
    /// way without a gap, and the worker stops when asked.
    #[test]
    fn the_worker_plays_a_note_swaps_the_voice_and_stops() {
        let slot = default_slot().unwrap();
        let engine = Box::new(NativeEngine::new(&slot.voice, MAX_VOICES).unwrap());
        let mut swapped = false;
        let (got, on) = play(engine, Arc::new(Status::default()), |n, worker| {
            if n >= 8_000 && !swapped {
                let engine = Box::new(NativeEngine::new(&slot.voice, MAX_VOICES).unwrap());
                worker.control().send(Control::Swap(Box::new(VoiceSwap { slot: slot.clone(), engine }))).unwrap();
                swapped = true;
            }
        });
        assert!(got[..on].iter().all(|&v| v == 0.0), "sound before the note");
        assert!(got[on..8_000].iter().any(|&v| v != 0.0), "the note does not sound");
        assert!(got[8_400..16_000].iter().any(|&v| v != 0.0), "the note stops at the voice swap");
    }

    /// The native engine until its `fail_at`-th block with voices, then a device failure, as
    /// the GPU engine reports a CUDA error (no CUDA fault can be caused on purpose here).
    struct FailsAt {
        inner: NativeEngine,
        blocks: usize,
        fail_at: usize,
    }

    impl Engine for FailsAt {
        fn max_batch(&self) -> usize {
            self.inner.max_batch()
        }
        fn top_frame(&self) -> usize {
            self.inner.top_frame()
        }
        fn clock_samples(&self) -> u64 {
            self.inner.clock_samples()
        }
        fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError> {
            self.inner.reset_row(row, seed)
        }
        fn set_temperature(&mut self, temperature: f32) {
            self.inner.set_temperature(temperature)
        }
        fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError> {
            if !rows.is_empty() {
                self.blocks += 1;
                if self.blocks >= self.fail_at {
                    return Err(EngineError::DeviceFailed);
                }
            }
            self.inner.generate(rows, cond, out)
        }
        fn skip(&mut self, samples: usize) {
            self.inner.skip(samples)
        }
        fn failure(&self) -> Option<&str> {
            (self.blocks >= self.fail_at).then_some("device lost")
        }
    }

    /// A GPU engine that fails mid-note hands the voice to the native engine: the note goes on,
    /// the engine line says what happened.
    #[test]
    fn a_failed_gpu_engine_hands_the_notes_to_the_cpu_engine() {
        let slot = default_slot().unwrap();
        let inner = NativeEngine::new(&slot.voice, MAX_VOICES).unwrap();
        let status = Arc::new(Status::default());
        let (got, on) = play(Box::new(FailsAt { inner, blocks: 0, fail_at: 20 }), status.clone(), |_, _| {});
        let line = status.engine_line.lock().clone();
        assert!(line.starts_with("the GPU engine failed (device lost); playing on CPU: native engine ("), "{line}");
        let frame = slot.voice.meta.hparams.top_frame();
        // 20 frames from the note-on at 16 kHz, 3 output samples each at 48 kHz; then two more
        // frames for the hand-over: the note sounds again after it.
        let handed_over = on + 22 * 3 * frame;
        assert!(handed_over < 14_000);
        assert!(got[on..handed_over].iter().any(|&v| v != 0.0), "the note does not sound");
        assert!(got[handed_over..16_000].iter().any(|&v| v != 0.0), "the note stops when the GPU engine fails");
    }
}
