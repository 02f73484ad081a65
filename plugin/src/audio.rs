//! The audio thread's side of the pipeline: the only code `process()` and `reset()` run.
//!
//! **Allocation-free, lock-free, I/O-free and panic-free.** Everything it touches is allocated
//! in [`AudioSide::new`] (on the main thread, at activation): the two SPSC rings, the resampler
//! and the scratch buffers, sized by the activation's largest block. It moves the host's note
//! events to the worker as timestamped messages, takes generated 16 kHz samples from the ring,
//! resamples them to the host rate and applies the smoothed gain.
//! - Realtime: a sample the worker has not generated in time is output as silence and counted;
//!   the audio thread never waits (and later drops that sample when it arrives).
//! - Offline: it waits for the worker, so the bounce is complete whatever the machine's speed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use nice_plug::prelude::*;
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};

use crate::keyboard::KeyEvent;
use crate::live_voices::EventKind;
use crate::params::{ms_to_model_samples, SackbutParams};
use crate::resampler::OutputResampler;
use crate::shared::{Link, Msg, Status, StreamSettings};
use crate::timeline::{RenderMode, Timeline};

/// An offline render gives up waiting for a worker that made no progress for this long.
const OFFLINE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The settings last sent to the worker.
#[derive(Clone, Copy, PartialEq)]
struct Sent {
    temperature: f32,
    polyphony: i32,
    release: u32,
    seed: i32,
}

impl Sent {
    fn of(p: &SackbutParams) -> Sent {
        Sent {
            temperature: p.temperature.value(),
            polyphony: p.polyphony.value(),
            release: ms_to_model_samples(p.release_ms.value()),
            seed: p.seed.value(),
        }
    }

    /// The settings a stream starts with.
    pub fn stream(&self) -> StreamSettings {
        StreamSettings {
            polyphony: self.polyphony.clamp(1, 255) as u8,
            release: self.release,
            seed: self.seed as u64,
            temperature: self.temperature,
        }
    }
}

/// See the module docs.
pub struct AudioSide {
    t: Timeline,
    link: Arc<Link>,
    status: Arc<Status>,
    events: HeapProd<Msg>,
    samples: HeapCons<f32>,
    worker: Option<Thread>,
    resampler: OutputResampler,
    /// Scratch: one block's 16 kHz input.
    input: Vec<f32>,
    /// Scratch: one block's mono output.
    out: Vec<f32>,
    host_pos: u64,
    model_pos: u64,
    items_popped: u64,
    owed: u64,
    epoch: u32,
    awaiting_ack: bool,
    reset_pending: bool,
    sent: Sent,
    latency_change_requested: bool,
}

impl AudioSide {
    /// Builds the audio side of an activation (main thread).
    pub fn new(
        t: Timeline,
        link: Arc<Link>,
        status: Arc<Status>,
        events: HeapProd<Msg>,
        samples: HeapCons<f32>,
        worker: Option<Thread>,
        params: &SackbutParams,
    ) -> Result<AudioSide, String> {
        let resampler = OutputResampler::new(t.resampler, t.rate_hz, t.max_block)?;
        Ok(AudioSide {
            input: vec![0.0; t.max_input_per_block()],
            out: vec![0.0; t.max_block],
            t,
            link,
            status,
            events,
            samples,
            worker,
            resampler,
            host_pos: 0,
            model_pos: 0,
            items_popped: 0,
            owed: 0,
            epoch: 0,
            awaiting_ack: false,
            reset_pending: false,
            sent: Sent::of(params),
            latency_change_requested: false,
        })
    }

    /// The settings the worker starts with.
    pub fn initial_settings(params: &SackbutParams) -> StreamSettings {
        Sent::of(params).stream()
    }

    /// The timeline of this activation.
    pub fn timeline(&self) -> &Timeline {
        &self.t
    }

    fn wake_worker(&self) {
        if let Some(w) = &self.worker {
            w.unpark();
        }
    }

    /// Silences every voice and starts the stream again (host `reset()`). Allocation-free.
    pub fn reset(&mut self) {
        self.epoch = (self.epoch + 1) & 0xFFFF;
        self.host_pos = 0;
        self.model_pos = 0;
        self.owed = 0;
        self.resampler.reset();
        self.awaiting_ack = true;
        self.reset_pending = true;
        self.link.publish_reset(self.epoch);
        self.send_reset();
        self.wake_worker();
    }

    fn send_reset(&mut self) {
        if self.reset_pending {
            let msg = Msg::Reset { epoch: self.epoch, settings: self.sent.stream() };
            if self.events.try_push(msg).is_ok() {
                self.reset_pending = false;
            }
        }
    }

    /// The reset handshake: once the worker has started the new epoch, drop what it had
    /// pushed before. True when the stream is live.
    fn try_ack(&mut self) -> bool {
        if !self.awaiting_ack {
            return true;
        }
        let samples = &mut self.samples;
        if !self.link.try_ack(self.epoch, &mut self.items_popped, |n| samples.skip(n)) {
            return false;
        }
        self.awaiting_ack = false;
        true
    }

    fn push(&mut self, msg: Msg) {
        if self.events.try_push(msg).is_err() {
            self.status.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends setting changes, timed at the start of the block.
    fn send_settings(&mut self, params: &SackbutParams) {
        let now = Sent::of(params);
        if now == self.sent {
            return;
        }
        let t = self.t.event_time(self.host_pos);
        if now.temperature != self.sent.temperature {
            self.push(Msg::Setting { t, kind: EventKind::Temperature(now.temperature) });
        }
        if now.polyphony != self.sent.polyphony {
            self.push(Msg::Setting { t, kind: EventKind::Polyphony(now.polyphony.clamp(1, 255) as u8) });
        }
        if now.release != self.sent.release {
            self.push(Msg::Setting { t, kind: EventKind::Release(now.release) });
        }
        if now.seed != self.sent.seed {
            self.push(Msg::Setting { t, kind: EventKind::Seed(now.seed as u64) });
        }
        self.sent = now;
    }

    fn key_event(ev: &NoteEvent<()>) -> Option<KeyEvent> {
        let vel = |v: f32| (v * 127.0).round().clamp(0.0, 127.0) as u8;
        Some(match *ev {
            NoteEvent::NoteOn { channel, key, velocity, .. } => {
                KeyEvent::On { channel: channel.number().unwrap_or(0), key: key.number()?, velocity: vel(velocity) }
            }
            NoteEvent::NoteOff { channel, key, .. } => KeyEvent::Off { channel: channel.number().unwrap_or(0), key: key.number()? },
            NoteEvent::Choke { channel, key, .. } => KeyEvent::Choke { channel: channel.number(), key: key.number() },
            NoteEvent::MidiCC { channel, cc, value, .. } => {
                let v = vel(value);
                match cc {
                    64 => KeyEvent::Pedal { channel, down: v >= 64 },
                    120 => KeyEvent::AllSoundOff { channel },
                    121 => KeyEvent::ResetControllers { channel },
                    123..=127 => KeyEvent::AllNotesOff { channel },
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// One host block: events in, audio out. Allocation-free, never waits in realtime mode.
    pub fn process(&mut self, buffer: &mut Buffer, context: &mut impl ProcessContext<crate::Sackbut>, params: &SackbutParams) {
        self.send_reset();
        self.send_settings(params);
        if !self.latency_change_requested {
            let look = ms_to_model_samples(params.lookahead_ms.value());
            if self.t.mode == RenderMode::Realtime && look != self.t.lookahead {
                // The latency follows the lookahead: ask the host to restart with the new one.
                let planned = Timeline::plan(self.t.rate_hz, self.t.max_block, self.t.mode, self.t.top_frame, look, 0);
                context.set_latency_samples(planned.latency_samples);
                self.latency_change_requested = true;
            }
        }
        while let Some(ev) = context.next_event() {
            if let Some(k) = Self::key_event(&ev) {
                let t = self.t.event_time(self.host_pos + ev.timing() as u64);
                self.push(Msg::Key { t, ev: k });
            }
        }
        let total = buffer.samples();
        let mut done = 0;
        while done < total {
            let n = (total - done).min(self.t.max_block);
            self.render(n, params);
            for channel in buffer.as_slice().iter_mut() {
                channel[done..done + n].copy_from_slice(&self.out[..n]);
            }
            done += n;
        }
        self.status.ring_fill.store(self.samples.occupied_len() as u32, Ordering::Relaxed);
    }

    /// Renders `n` host samples into `self.out[..n]`.
    fn render(&mut self, n: usize, params: &SackbutParams) {
        let offline = self.t.mode == RenderMode::Offline;
        if !self.try_ack() {
            if offline {
                self.wait_for(|s| s.try_ack());
            }
            if self.awaiting_ack {
                // The worker has not started the new stream yet: silence (not an underrun).
                self.out[..n].iter_mut().for_each(|v| *v = 0.0);
                self.host_pos += n as u64;
                return;
            }
        }
        let need = self.resampler.input_needed(n).min(self.input.len());
        if self.owed > 0 {
            let k = self.samples.skip(self.owed.min(usize::MAX as u64) as usize) as u64;
            self.items_popped += k;
            self.owed -= k;
        }
        let mut got = if self.owed == 0 { self.samples.pop_slice(&mut self.input[..need]) } else { 0 };
        if got < need && offline {
            self.wake_worker();
            let mut last_progress = Instant::now();
            while got < need && self.link.worker_alive() {
                let k = self.samples.pop_slice(&mut self.input[got..need]);
                if k > 0 {
                    got += k;
                    last_progress = Instant::now();
                    continue;
                }
                if last_progress.elapsed() > OFFLINE_STALL_TIMEOUT {
                    break;
                }
                self.nap();
            }
        }
        self.items_popped += got as u64;
        if got < need {
            self.input[got..need].iter_mut().for_each(|v| *v = 0.0);
            self.owed += (need - got) as u64;
            // Stream positions before the event delay are silent whatever the worker does (no
            // note can start there): missing them at the start of a stream is no underrun.
            let late_from = (self.model_pos + got as u64).max(self.t.event_delay);
            let late = (self.model_pos + need as u64).saturating_sub(late_from);
            if late > 0 {
                self.status.underruns.fetch_add(1, Ordering::Relaxed);
                self.status.underrun_samples.fetch_add(late, Ordering::Relaxed);
                self.status.last_underrun_at.store(self.host_pos + 1, Ordering::Relaxed);
            }
        }
        self.model_pos += need as u64;
        self.link.publish_consumed(self.epoch, self.model_pos);
        self.wake_worker();
        self.resampler.process(&self.input[..need], &mut self.out[..n]);
        let smoother = &params.gain_db.smoothed;
        if smoother.is_smoothing() {
            for v in &mut self.out[..n] {
                *v *= util::db_to_gain(smoother.next());
            }
        } else {
            let g = util::db_to_gain(smoother.next());
            if g != 1.0 {
                self.out[..n].iter_mut().for_each(|v| *v *= g);
            }
        }
        // The last guard: whatever happened upstream, the host never gets a NaN or an infinity
        // (the worker already silences non-finite frames; both resamplers are finite filters, so
        // a bad sample that got this far would flush out of their history within one chunk).
        let mut bad = 0u64;
        for v in &mut self.out[..n] {
            if !v.is_finite() {
                *v = 0.0;
                bad += 1;
            }
        }
        if bad > 0 {
            self.status.nonfinite_samples.fetch_add(bad, Ordering::Relaxed);
        }
        self.host_pos += n as u64;
    }

    /// Offline only: waits (sleeping briefly) until `ready` or the worker is gone or stalled.
    fn wait_for(&mut self, mut ready: impl FnMut(&mut Self) -> bool) {
        let start = Instant::now();
        while !ready(self) && self.link.worker_alive() && start.elapsed() < OFFLINE_STALL_TIMEOUT {
            self.nap();
        }
    }

    /// Offline only: wakes the worker and sleeps briefly, counted in `Status::audio_waits`.
    fn nap(&self) {
        self.status.audio_waits.fetch_add(1, Ordering::Relaxed);
        self.wake_worker();
        std::thread::sleep(Duration::from_micros(50));
    }
}
