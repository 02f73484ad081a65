//! Timed note events to voices, conditioning and a mixed 16 kHz signal, one top frame at a time:
//! the deterministic heart shared by the plugin's worker and an offline render.
//!
//! Lives in `sackbut-model` because both sides run it: the plugin's
//! offline bounce equals an offline render of the same events only because both run this code.
//!
//! # What it does, per top frame `[pos, pos + F)` (F = the engine's top frame)
//! 1. Applies, in time order, every staged event with `t < pos + 2F + lookahead`: note-ons are
//!    given a voice (one batch row) *as of their own time* `t` by the rule of
//!    [`crate::voice_alloc`] (retrigger the voice sounding the same key, else the free
//!    voice with the lowest index, else steal the earliest released, else the oldest held), and
//!    note-offs set the note-off of the note they end. Applying events ahead of time is what lets
//!    the conditioning know a note-off `lookahead` samples early, and a stolen note fade out
//!    during the frame before the new note's reset.
//! 2. Resets the row of every note whose reset boundary (the top-frame boundary at or before its
//!    onset, as the engine requires) is `pos`, with the seed `note_seed(seed, serial)` of that
//!    note, so every note starts from the voice's initial state with its own random stream.
//! 3. Generates the frame for the active rows only (a row is active from its note's reset until
//!    two frames after its sound ended), with each row's conditioning by the live rule of
//!    DESIGN.md: saturated `remaining` while the key is held, the countdown from the release R
//!    once the note-off is known (`lookahead` samples before it happens).
//! 4. Mixes the rows in index order (`out[i] += decode[code] * fade`), the fade being 1 except
//!    over the frame before a stolen or retriggered note's reset and after a choke.
//!
//! A note cut by a steal or a retrigger sounds until the new note's reset boundary and fades out
//! over the frame before it. A voice plays one note at a time; keys are matched by channel and
//! key for note-offs, by key alone for retriggers (as `voice_alloc` does).
//!
//! After [`LiveVoices::new`] nothing here allocates unless a queue outgrows its reserve (more
//! than [`STAGED_RESERVE`] events staged, or [`ROW_QUEUE_RESERVE`] notes planned on one row).

use std::collections::VecDeque;

use crate::conditioning::{Conditioning, NoteSpan, RemainingRule};
use crate::engine::{Engine, EngineError};

/// Note-off of a note whose key is still held (far enough to never be reached or overflow).
pub const HELD: u64 = u64::MAX / 4;
/// "Never" for hard stops and fades.
pub const NEVER: u64 = u64::MAX / 4;
/// Top frames a row keeps generating after its sound ended, so the model settles to silence.
pub const TAIL_FRAMES: u64 = 2;
/// Staged events reserved at construction.
pub const STAGED_RESERVE: usize = 4096;
/// Most rows (voices) a [`LiveVoices`] drives.
pub const MAX_ROWS: usize = 32;
/// Planned notes reserved per row at construction.
pub const ROW_QUEUE_RESERVE: usize = 64;

/// What happens at a point in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// A key goes down (velocity 1..=127).
    NoteOn { channel: u8, key: u8, velocity: u8 },
    /// A key's note ends (the pedal, if any, already resolved): its release starts.
    NoteOff { channel: u8, key: u8 },
    /// Notes of this channel and key stop now (CLAP note choke, all sound off); `None` matches
    /// every channel or key.
    Choke { channel: Option<u8>, key: Option<u8> },
    /// Sampling temperature from the frame containing `t` on.
    Temperature(f32),
    /// Voices available to notes starting from `t` on (1..=max rows).
    Polyphony(u8),
    /// Release length R in samples for notes starting from `t` on.
    Release(u32),
    /// Seed for notes starting from `t` on.
    Seed(u64),
}

/// An event at stream sample `t` (16 kHz, from the start of the render or the plugin's reset).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedEvent {
    /// Stream sample.
    pub t: u64,
    /// What happens.
    pub kind: EventKind,
}

impl TimedEvent {
    /// Order of events at one sample: endings and settings before note-ons, note-ons by key
    /// (what [`crate::voice_alloc::allocate`] does with a score).
    fn order_key(&self) -> (u64, u8, u8) {
        match self.kind {
            EventKind::NoteOn { key, .. } => (self.t, 1, key),
            _ => (self.t, 0, 0),
        }
    }
}

/// One note planned on one row.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Planned {
    channel: u8,
    key: u8,
    velocity: u8,
    onset: u64,
    /// [`HELD`] until known.
    note_off: u64,
    release: u32,
    /// Top-frame boundary at or before `onset` where the row is reset.
    reset_at: u64,
    seed: u64,
    /// Allocation order, for "oldest" in stealing.
    serial: u64,
    /// Conditioning is silent from here (a choke); [`NEVER`] if not.
    silent_from: u64,
    /// Output gain ramps to 0 over the frame ending here (a steal, a retrigger or a choke).
    fade_end: u64,
}

impl Planned {
    /// Where the note's sound ends as the allocation rule sees it (`end` of `voice_alloc`).
    fn sound_end(&self) -> u64 {
        let live = if self.note_off >= HELD { NEVER } else { self.note_off + self.release as u64 };
        live.min(self.silent_from).min(self.fade_end)
    }

    /// Released (its note-off at or before `t`).
    fn released_by(&self, t: u64) -> bool {
        self.note_off < HELD && self.note_off <= t
    }
}

/// One row (voice) of the engine.
#[derive(Clone, Debug, Default)]
struct Row {
    /// The note the row plays now (its reset has happened).
    current: Option<Planned>,
    /// Notes planned after it, in onset order.
    queue: VecDeque<Planned>,
}

impl Row {
    fn latest(&self) -> Option<&Planned> {
        self.queue.back().or(self.current.as_ref())
    }
    fn latest_mut(&mut self) -> Option<&mut Planned> {
        match self.queue.back_mut() {
            Some(p) => Some(p),
            None => self.current.as_mut(),
        }
    }
}

/// What one call of [`LiveVoices::render_frame`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameReport {
    /// Rows generated this frame.
    pub active_rows: usize,
    /// Notes started (rows reset) this frame.
    pub resets: usize,
}

/// Voices playing timed events: see the module docs.
pub struct LiveVoices {
    frame: u64,
    horizon: u32,
    lookahead: u32,
    polyphony: usize,
    release: u32,
    seed: u64,
    serial: u64,
    pos: u64,
    rows: Vec<Row>,
    staged: VecDeque<TimedEvent>,
    pending_temperature: Option<(u64, f32)>,
    temperature: f32,
    dropped_events: u64,
    // Per-frame scratch, sized at construction.
    active: Vec<usize>,
    is_active: [bool; MAX_ROWS],
    /// Row r's conditioning for the frame: `cond[r * frame..(r + 1) * frame]`.
    cond: Vec<Conditioning>,
    /// Row r's codes for the frame, laid out as `cond`.
    codes: Vec<u8>,
    fades: [Option<u64>; MAX_ROWS],
    /// Row r's gain for the frame: its note's velocity (`velocity_gain`).
    gains: [f32; MAX_ROWS],
}

/// Settings of a [`LiveVoices`] at its start (later changed by timed events).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveSettings {
    /// Rows the engine holds (the most voices ever).
    pub max_rows: usize,
    /// Samples per top frame of the engine.
    pub top_frame: usize,
    /// The voice's horizon H.
    pub horizon: u32,
    /// Samples by which note-offs are known ahead (`u32::MAX`-ish for a score: exact).
    pub lookahead: u32,
    /// Voices available (1..=max_rows).
    pub polyphony: usize,
    /// Release length R in samples.
    pub release: u32,
    /// Seed of the notes' random streams.
    pub seed: u64,
}

/// The seed of the `serial`-th note (from 0) of a performance seeded with `seed`.
pub fn note_seed(seed: u64, serial: u64) -> u64 {
    let mut z = seed ^ serial.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl LiveVoices {
    /// Voices at stream position 0 with nothing planned.
    pub fn new(s: LiveSettings) -> LiveVoices {
        let max_rows = s.max_rows.clamp(1, MAX_ROWS);
        let top_frame = s.top_frame.max(1);
        let mut rows = Vec::with_capacity(max_rows);
        for _ in 0..max_rows {
            rows.push(Row { current: None, queue: VecDeque::with_capacity(ROW_QUEUE_RESERVE) });
        }
        LiveVoices {
            frame: top_frame as u64,
            horizon: s.horizon.max(1),
            lookahead: s.lookahead,
            polyphony: s.polyphony.clamp(1, max_rows),
            release: s.release,
            seed: s.seed,
            serial: 0,
            pos: 0,
            rows,
            staged: VecDeque::with_capacity(STAGED_RESERVE),
            pending_temperature: None,
            temperature: 1.0,
            dropped_events: 0,
            active: Vec::with_capacity(max_rows),
            is_active: [false; MAX_ROWS],
            cond: vec![Conditioning::SILENT; top_frame * max_rows],
            codes: vec![0u8; top_frame * max_rows],
            fades: [None; MAX_ROWS],
            gains: [1.0; MAX_ROWS],
        }
    }

    /// Back to stream position 0 with nothing playing or planned, keeping the scratch.
    pub fn reset(&mut self, s: LiveSettings) {
        self.horizon = s.horizon.max(1);
        self.lookahead = s.lookahead;
        self.polyphony = s.polyphony.clamp(1, self.rows.len());
        self.release = s.release;
        self.seed = s.seed;
        self.serial = 0;
        self.pos = 0;
        for r in &mut self.rows {
            r.current = None;
            r.queue.clear();
        }
        self.staged.clear();
        self.pending_temperature = None;
    }

    /// Stream position of the next frame.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Samples per frame.
    pub fn top_frame(&self) -> usize {
        self.frame as usize
    }

    /// How far ahead of the frame being generated events must have been staged:
    /// `2 × top frame + lookahead` samples.
    pub fn event_lead(&self) -> u64 {
        2 * self.frame + self.lookahead as u64
    }

    /// Events dropped because they came earlier than the current position allows (too late).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Stages an event. Events may arrive in any order; ties are ordered as in
    /// [`TimedEvent::order_key`]. An event whose time has already been generated past is moved
    /// to the current frame's position (and counted in [`Self::dropped_events`] if it is a
    /// note-on that can no longer be given its reset boundary: it starts at the next one).
    pub fn stage(&mut self, mut ev: TimedEvent) {
        if ev.t < self.pos {
            self.dropped_events += 1;
            ev.t = self.pos;
        }
        let key = ev.order_key();
        // Usually in order: insert from the back.
        let mut at = self.staged.len();
        while at > 0 && self.staged[at - 1].order_key() > key {
            at -= 1;
        }
        self.staged.insert(at, ev);
    }

    /// Keys sounding now (for the editor): calls `f(row, key, held)` for each row's current note.
    pub fn for_each_sounding(&self, mut f: impl FnMut(usize, u8, bool)) {
        for (i, r) in self.rows.iter().enumerate() {
            if let Some(c) = &r.current {
                if self.pos >= c.onset && self.pos < c.sound_end() {
                    f(i, c.key, c.note_off >= HELD || c.note_off > self.pos);
                }
            }
        }
    }

    /// The temperature last given to the engine.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Sets the horizon H (a new voice).
    pub fn set_horizon(&mut self, horizon: u32) {
        self.horizon = horizon.max(1);
    }

    /// Hands every sounding note over to a new engine: the notes fade out over the frame at
    /// [`Self::position`] (still generated by the old engine) and start again, from a reset, at
    /// the next boundary (generated by the new one). Notes planned to start in this frame start
    /// at the next boundary instead.
    pub fn restart_sounding_notes(&mut self) {
        let next = self.pos + self.frame;
        for r in &mut self.rows {
            for p in r.queue.iter_mut() {
                if p.reset_at <= self.pos {
                    p.reset_at = next;
                }
            }
            if let Some(c) = r.current.as_mut() {
                let copy = *c;
                c.fade_end = c.fade_end.min(next);
                c.silent_from = c.silent_from.min(next);
                if copy.sound_end() > next && r.queue.front().is_none_or(|q| q.reset_at > next) {
                    r.queue.push_front(Planned { reset_at: next, ..copy });
                }
            }
        }
    }

    /// Applies every staged event due before the frame at `pos` (see the module docs).
    fn apply_due(&mut self) {
        let due = self.pos + self.event_lead();
        while let Some(ev) = self.staged.front().copied() {
            if ev.t >= due {
                break;
            }
            self.staged.pop_front();
            self.apply(ev);
        }
    }

    fn apply(&mut self, ev: TimedEvent) {
        let t = ev.t;
        match ev.kind {
            EventKind::NoteOn { channel, key, velocity } => self.note_on(t, channel, key.min(127), velocity.clamp(1, 127)),
            EventKind::NoteOff { channel, key } => {
                for r in &mut self.rows {
                    if let Some(p) = r.latest_mut() {
                        if p.channel == channel && p.key == key && p.note_off >= HELD && p.silent_from >= NEVER {
                            p.note_off = t.max(p.onset + 1);
                        }
                    }
                }
            }
            EventKind::Choke { channel, key } => {
                let frame = self.frame;
                for r in &mut self.rows {
                    // Every planned note of the row that is sounding or would start by `t`.
                    let choke = |p: &mut Planned| {
                        let hit = key.is_none_or(|k| k == p.key) && channel.is_none_or(|c| c == p.channel);
                        if hit && p.onset <= t && p.sound_end() > t {
                            p.silent_from = p.silent_from.min(t);
                            p.fade_end = p.fade_end.min(t + frame);
                            p.note_off = p.note_off.min(t.max(p.onset + 1));
                        }
                    };
                    if let Some(c) = r.current.as_mut() {
                        choke(c);
                    }
                    r.queue.iter_mut().for_each(choke);
                }
            }
            EventKind::Temperature(temp) => self.pending_temperature = Some((t, temp)),
            EventKind::Polyphony(p) => self.polyphony = (p as usize).clamp(1, self.rows.len()),
            EventKind::Release(r) => self.release = r,
            EventKind::Seed(s) => self.seed = s,
        }
    }

    /// The row a note-on at `t` goes to (the rule of `voice_alloc::allocate`).
    fn pick_row(&self, t: u64, key: u8) -> usize {
        let latest = |i: usize| self.rows[i].latest();
        // 1. The row sounding the same key (any row, even beyond a lowered polyphony).
        if let Some(i) = (0..self.rows.len()).find(|&i| latest(i).is_some_and(|p| p.key == key && p.sound_end() > t)) {
            return i;
        }
        let n = self.polyphony;
        // 2./3. The free row with the lowest index (unused rows are free).
        if let Some(i) = (0..n).find(|&i| latest(i).is_none_or(|p| p.sound_end() <= t)) {
            return i;
        }
        // 4. Steal: the earliest released, else the oldest.
        let released =
            (0..n).filter(|&i| latest(i).is_some_and(|p| p.released_by(t))).min_by_key(|&i| latest(i).map(|p| (p.note_off, p.serial)));
        released.unwrap_or_else(|| (0..n).min_by_key(|&i| latest(i).map_or(0, |p| p.serial)).unwrap_or(0))
    }

    fn note_on(&mut self, t: u64, channel: u8, key: u8, velocity: u8) {
        let row = self.pick_row(t, key);
        let frame = self.frame;
        // The boundary at or before the onset; never one already generated.
        let reset_at = (t / frame * frame).max(self.pos);
        let serial = self.serial;
        self.serial += 1;
        let new = Planned {
            channel,
            key,
            velocity,
            onset: t,
            note_off: HELD,
            release: self.release,
            reset_at,
            seed: note_seed(self.seed, serial),
            serial,
            silent_from: NEVER,
            fade_end: NEVER,
        };
        let r = &mut self.rows[row];
        // A planned note that would reset at the same boundary never sounds: replace it.
        while r.queue.back().is_some_and(|p| p.reset_at >= reset_at) {
            r.queue.pop_back();
        }
        if let Some(prev) = r.latest_mut() {
            // The previous note fades out over the frame before the reset.
            prev.fade_end = prev.fade_end.min(reset_at);
            prev.silent_from = prev.silent_from.min(reset_at);
        }
        r.queue.push_back(new);
    }

    /// Generates the frame at [`Self::position`] into `out` (length: the top frame) with `engine`
    /// (at a top-frame boundary) and advances by one frame. `decode` maps codes to samples.
    pub fn render_frame(&mut self, engine: &mut dyn Engine, decode: &[f32; 256], out: &mut [f32]) -> Result<FrameReport, EngineError> {
        let report = self.begin_frame(engine)?;
        let n = self.frame as usize;
        out.iter_mut().for_each(|o| *o = 0.0);
        if !self.active.is_empty() {
            let k = self.active.len();
            // Disjoint views of the rows' buffers, in `active` (ascending) order, on the stack.
            let mut cond_refs: [&[Conditioning]; MAX_ROWS] = [&[]; MAX_ROWS];
            let mut out_refs: [&mut [u8]; MAX_ROWS] = Default::default();
            let mut a = 0;
            for (row, (c, o)) in self.cond.chunks(n).zip(self.codes.chunks_mut(n)).enumerate() {
                if self.is_active[row] {
                    cond_refs[a] = c;
                    out_refs[a] = o;
                    a += 1;
                }
            }
            engine.generate(&self.active, &cond_refs[..k], &mut out_refs[..k])?;
            // Mix in row order, each row at its note's velocity gain.
            for &row in &self.active {
                let codes = &self.codes[row * n..(row + 1) * n];
                let gain = self.gains[row];
                match self.fades[row] {
                    None => {
                        for (o, &c) in out.iter_mut().zip(codes) {
                            *o += decode[c as usize] * gain;
                        }
                    }
                    Some(fade_end) => {
                        for (i, (o, &c)) in out.iter_mut().zip(codes).enumerate() {
                            let s = self.pos + i as u64;
                            let g = (fade_end.saturating_sub(s) as f32 / self.frame as f32).min(1.0);
                            *o += decode[c as usize] * (g * gain);
                        }
                    }
                }
            }
        }
        self.pos += self.frame;
        Ok(report)
    }

    /// Applies the frame's events and resets as [`Self::render_frame`] does, but generates
    /// nothing (the worker fell behind: the frame is skipped). The engine's clock does not move;
    /// rows that were active resume later from where they were.
    pub fn skip_frame(&mut self, engine: &mut dyn Engine) -> Result<(), EngineError> {
        self.begin_frame(engine)?;
        self.pos += self.frame;
        Ok(())
    }

    /// Events, resets, the list of active rows and their conditioning for the frame at `pos`.
    fn begin_frame(&mut self, engine: &mut dyn Engine) -> Result<FrameReport, EngineError> {
        self.apply_due();
        let (pos, frame) = (self.pos, self.frame);
        if let Some((t, temp)) = self.pending_temperature {
            if t < pos + frame {
                engine.set_temperature(temp);
                self.temperature = temp;
                self.pending_temperature = None;
            }
        }
        let mut report = FrameReport::default();
        self.active.clear();
        self.is_active = [false; MAX_ROWS];
        let n = frame as usize;
        for (i, r) in self.rows.iter_mut().enumerate() {
            while r.queue.front().is_some_and(|p| p.reset_at <= pos) {
                let p = r.queue.pop_front().expect("checked");
                engine.reset_row(i, p.seed)?;
                r.current = Some(p);
                report.resets += 1;
            }
            let Some(c) = r.current else { continue };
            let end = c.fade_end.min(c.sound_end().saturating_add(TAIL_FRAMES * frame));
            if pos >= end {
                r.current = None;
                continue;
            }
            self.active.push(i);
            self.is_active[i] = true;
            self.fades[i] = (c.fade_end < pos + 2 * frame && c.fade_end < NEVER).then_some(c.fade_end);
            self.gains[i] = crate::velocity_gain::gain(c.velocity);
            let rule = RemainingRule::Live { release: c.release, lookahead: self.lookahead };
            let span = NoteSpan { note: c.key, velocity: c.velocity, onset: c.onset, note_off: c.note_off, end: c.sound_end() };
            for (k, slot) in self.cond[i * n..(i + 1) * n].iter_mut().enumerate() {
                let s = pos + k as u64;
                *slot = if s < c.onset || s >= c.silent_from {
                    Conditioning::SILENT
                } else {
                    span.at(s, rule, self.horizon).unwrap_or(Conditioning::SILENT)
                };
            }
        }
        report.active_rows = self.active.len();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::ScoreNote;
    use crate::voice_alloc::allocate;

    /// An engine that records calls (at stream position `now`) and "generates" code 200 + row.
    struct FakeEngine {
        clock: u64,
        now: u64,
        resets: Vec<(u64, usize, u64)>,
        frames: Vec<(u64, Vec<usize>, Vec<Vec<Conditioning>>)>,
        temperature: f32,
    }

    impl FakeEngine {
        fn new() -> Self {
            FakeEngine { clock: 0, now: 0, resets: vec![], frames: vec![], temperature: 1.0 }
        }
    }

    impl Engine for FakeEngine {
        fn max_batch(&self) -> usize {
            8
        }
        fn top_frame(&self) -> usize {
            4
        }
        fn clock_samples(&self) -> u64 {
            self.clock
        }
        fn reset_row(&mut self, row: usize, seed: u64) -> Result<(), EngineError> {
            if !self.at_frame_boundary() {
                return Err(EngineError::NotAtFrameBoundary { clock_samples: self.clock, top_frame: 4 });
            }
            self.resets.push((self.now, row, seed));
            Ok(())
        }
        fn set_temperature(&mut self, t: f32) {
            self.temperature = t;
        }
        fn skip(&mut self, samples: usize) {
            self.clock += samples as u64;
        }
        fn generate(&mut self, rows: &[usize], cond: &[&[Conditioning]], out: &mut [&mut [u8]]) -> Result<(), EngineError> {
            for (o, &r) in out.iter_mut().zip(rows) {
                o.iter_mut().for_each(|c| *c = 200 + r as u8);
            }
            self.frames.push((self.now, rows.to_vec(), cond.iter().map(|c| c.to_vec()).collect()));
            self.clock += cond[0].len() as u64;
            Ok(())
        }
    }

    fn settings(polyphony: usize, release: u32, lookahead: u32) -> LiveSettings {
        LiveSettings { max_rows: 8, top_frame: 4, horizon: 100, lookahead, polyphony, release, seed: 7 }
    }

    /// At velocity 127 (gain 1), so mixed sums read as the rows' decoded codes.
    fn on(t: u64, key: u8) -> TimedEvent {
        TimedEvent { t, kind: EventKind::NoteOn { channel: 0, key, velocity: 127 } }
    }
    fn off(t: u64, key: u8) -> TimedEvent {
        TimedEvent { t, kind: EventKind::NoteOff { channel: 0, key } }
    }

    fn decode_rows() -> [f32; 256] {
        // Code 200 + r decodes to 10^r: sums show which rows were mixed.
        std::array::from_fn(|c| if c >= 200 { 10f32.powi(c as i32 - 200) } else { 0.0 })
    }

    fn run(lv: &mut LiveVoices, e: &mut FakeEngine, frames: usize) -> Vec<f32> {
        let decode = decode_rows();
        let mut all = vec![];
        let mut out = vec![0.0; 4];
        for _ in 0..frames {
            e.now = lv.position();
            lv.render_frame(e, &decode, &mut out).unwrap();
            all.extend_from_slice(&out);
        }
        all
    }

    #[test]
    fn a_note_resets_its_row_at_the_boundary_before_its_onset_and_counts_down_after_release() {
        let mut lv = LiveVoices::new(settings(8, 3, 0));
        let mut e = FakeEngine::new();
        lv.stage(on(6, 60));
        lv.stage(off(10, 60));
        let out = run(&mut lv, &mut e, 6);
        assert_eq!(e.resets, vec![(4, 0, note_seed(7, 0))]);
        // Row 0 active from 4 to its end (10 + 3 = 13) plus two frames: frames 4, 8, 12, 16, 20.
        let frame_starts: Vec<u64> = e.frames.iter().map(|f| f.0).collect();
        assert_eq!(frame_starts, vec![4, 8, 12, 16, 20]);
        let c = |f: usize, k: usize| e.frames[f].2[0][k];
        assert_eq!(c(0, 0), Conditioning::SILENT); // 4, 5: before the onset
        assert_eq!(c(0, 1), Conditioning::SILENT);
        assert_eq!((c(0, 2).note, c(0, 2).velocity, c(0, 2).remaining), (60, 127, 100)); // held: saturated
                                                                                         // Live rule, no lookahead: saturated until the note-off at 10, then 3, 2, 1.
        let rem: Vec<u32> = (8..12).map(|s| c(1, s - 8).remaining).collect();
        assert_eq!(rem, vec![100, 100, 3, 2]);
        assert_eq!(c(2, 0).remaining, 1);
        assert_eq!(c(2, 1), Conditioning::SILENT);
        assert_eq!(&out[..4], &[0.0; 4]);
        assert_eq!(&out[4..8], &[1.0; 4]);
    }

    #[test]
    fn each_note_is_mixed_at_its_velocity_gain() {
        let mut lv = LiveVoices::new(settings(8, 3, 0));
        let mut e = FakeEngine::new();
        lv.stage(TimedEvent { t: 0, kind: EventKind::NoteOn { channel: 0, key: 60, velocity: 40 } });
        lv.stage(TimedEvent { t: 0, kind: EventKind::NoteOn { channel: 0, key: 64, velocity: 127 } });
        let out = run(&mut lv, &mut e, 1);
        // Row 0 (key 60, codes 200 → 1.0) at −20 dB, row 1 (key 64, 201 → 10.0) at 0 dB.
        let want = crate::velocity_gain::gain(40) + 10.0;
        assert!(out.iter().all(|&v| (v - want).abs() < 1e-6), "{out:?}, want {want}");
        assert!((20.0 * crate::velocity_gain::gain(40).log10() + 20.07).abs() < 0.01);
    }

    #[test]
    fn lookahead_shows_the_countdown_early() {
        let mut lv = LiveVoices::new(settings(8, 3, 2));
        let mut e = FakeEngine::new();
        lv.stage(on(4, 60));
        lv.stage(off(10, 60));
        run(&mut lv, &mut e, 4);
        let rem: Vec<u32> = (0..4).map(|k| e.frames[1].2[0][k].remaining).collect();
        // Known 2 samples early: at 8, 8 + 2 >= 10: remaining = 13 - 8 = 5.
        assert_eq!(rem, vec![5, 4, 3, 2]);
    }

    #[test]
    fn a_steal_fades_the_old_note_over_the_frame_before_the_new_reset() {
        let mut lv = LiveVoices::new(settings(1, 1000, 0));
        let mut e = FakeEngine::new();
        lv.stage(on(0, 60));
        lv.stage(on(13, 62));
        let out = run(&mut lv, &mut e, 5);
        assert_eq!(e.resets, vec![(0, 0, note_seed(7, 0)), (12, 0, note_seed(7, 1))]);
        // Frame 8..12 fades row 0 out: gains 4/4, 3/4, 2/4, 1/4.
        assert_eq!(&out[8..12], &[1.0, 0.75, 0.5, 0.25]);
        assert_eq!(&out[12..16], &[1.0; 4]);
        // The conditioning of the new note starts at its onset.
        assert_eq!(e.frames[3].2[0][0], Conditioning::SILENT);
        assert_eq!(e.frames[3].2[0][1].note, 62);
    }

    #[test]
    fn notes_at_one_time_are_taken_in_key_order_and_offs_first() {
        let mut lv = LiveVoices::new(settings(8, 0, 0));
        let mut e = FakeEngine::new();
        lv.stage(on(8, 64));
        lv.stage(on(8, 60));
        lv.stage(on(0, 50));
        lv.stage(off(8, 50));
        run(&mut lv, &mut e, 4);
        // 50 on row 0 released at 8 with R = 0: free at 8, so 60 (lower key first) takes row 0.
        assert_eq!(e.resets, vec![(0, 0, note_seed(7, 0)), (8, 0, note_seed(7, 1)), (8, 1, note_seed(7, 2))]);
        assert!(e.frames[2].1 == vec![0, 1]);
        assert_eq!(e.frames[2].2[0][0].note, 60);
        assert_eq!(e.frames[2].2[1][0].note, 64);
    }

    #[test]
    fn choke_silences_and_fades_within_a_frame() {
        let mut lv = LiveVoices::new(settings(8, 1000, 0));
        let mut e = FakeEngine::new();
        lv.stage(on(0, 60));
        lv.stage(TimedEvent { t: 5, kind: EventKind::Choke { channel: None, key: None } });
        let out = run(&mut lv, &mut e, 4);
        assert_eq!(&out[..5], &[1.0; 5]);
        assert_eq!(&out[5..9], &[1.0, 0.75, 0.5, 0.25]);
        assert_eq!(&out[9..], &[0.0; 7]);
        assert_eq!(e.frames[1].2[0][1], Conditioning::SILENT);
    }

    #[test]
    fn temperature_applies_at_its_frame() {
        let mut lv = LiveVoices::new(settings(8, 0, 0));
        let mut e = FakeEngine::new();
        lv.stage(TimedEvent { t: 9, kind: EventKind::Temperature(0.5) });
        run(&mut lv, &mut e, 2);
        assert_eq!(e.temperature, 1.0);
        run(&mut lv, &mut e, 1);
        assert_eq!(e.temperature, 0.5);
    }

    #[test]
    fn a_new_engine_takes_over_sounding_notes_after_a_fade() {
        let mut lv = LiveVoices::new(settings(8, 1000, 0));
        let mut e = FakeEngine::new();
        lv.stage(on(0, 60));
        lv.stage(on(20, 62)); // planned for the frame after the hand-over
        run(&mut lv, &mut e, 2);
        lv.restart_sounding_notes();
        let out = run(&mut lv, &mut e, 2);
        // The old engine's frame fades 60 out; then 60 starts again from a reset at 12.
        assert_eq!(&out[..4], &[1.0, 0.75, 0.5, 0.25]);
        assert_eq!(&out[4..8], &[1.0; 4]);
        assert_eq!(e.resets, vec![(0, 0, note_seed(7, 0)), (12, 0, note_seed(7, 0))]);
        run(&mut lv, &mut e, 2);
        assert_eq!(e.resets.last(), Some(&(20, 1, note_seed(7, 1))));
    }

    /// The rows `allocate` gives a score equal the rows `LiveVoices` gives its events.
    #[test]
    fn allocation_mirrors_voice_alloc_on_a_random_score() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for polyphony in [1usize, 2, 3, 8] {
            // Notes 8 samples (two frames) apart, so every note gets its own boundary; a key is
            // never struck while it is held (as MIDI on one channel), but may be while it rings.
            let mut held_until = [0u64; 128];
            let notes: Vec<ScoreNote> = (0..300u64)
                .map(|i| {
                    let on = i * 8;
                    let len = 1 + rng.next_u64() % 60;
                    let mut key = 40 + (rng.next_u64() % 12) as u8;
                    while held_until[key as usize] > on {
                        key = 40 + (rng.next_u64() % 12) as u8;
                    }
                    held_until[key as usize] = on + len;
                    ScoreNote { key, velocity: 90, channel: 0, on_s: on as f64, off_s: (on + len) as f64 }
                })
                .collect();
            let release = 10;
            let spans = allocate(&notes, 1, release, polyphony);
            let mut lv = LiveVoices::new(LiveSettings { polyphony, release, ..settings(8, release, 0) });
            let mut e = FakeEngine::new();
            for n in &notes {
                lv.stage(on(n.on_s as u64, n.key));
                lv.stage(off(n.off_s as u64, n.key));
            }
            run(&mut lv, &mut e, 300 * 2 + 40);
            let mut onsets_by_row: Vec<Vec<u64>> = vec![vec![]; 8];
            for &(at, row, _) in &e.resets {
                onsets_by_row[row].push(at);
            }
            for (row, v) in spans.iter().enumerate() {
                let expected: Vec<u64> = v.iter().map(|s| s.onset / 4 * 4).collect();
                assert_eq!(onsets_by_row[row], expected, "polyphony {polyphony} row {row}");
            }
        }
    }
}
