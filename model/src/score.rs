//! A standard MIDI file as a score: the list of its timed notes, in seconds.
//!
//! Reading follows what a player of the file would hear:
//! - Formats 0 and 1 merge all tracks by absolute tick. Format 2 ("sequential") plays its
//!   tracks one after another: each track starts where the previous one ended, at the default
//!   tempo, and any note still sounding at the end of a track ends there.
//! - The tempo map (FF 51) of any track applies to all of them; the default is 500 000
//!   µs per quarter (120 bpm). Seconds are computed exactly: the tick·µs products are summed
//!   in integers and divided once. SMPTE timing (`Timing::Timecode`) uses fps × ticks per
//!   frame ticks per second (29 means 30 drop-frame, 30000/1001 fps) and ignores tempo.
//! - A note-on with velocity 0 is a note-off; a note-off without a note-on is ignored; a
//!   note-on on a key already sounding on the same channel ends the earlier note and starts a
//!   new one. Sequencers often write that new note-on before the earlier note's note-off at
//!   the same tick: that note-off is taken as the earlier note's and ignored.
//! - Sustain pedal (CC64 >= 64 = down): a key released while the pedal is down sounds until
//!   the pedal lifts (CC64 < 64, or CC121 "reset all controllers") or the key is struck again.
//!   CC123 "all notes off" (and CC124–127, which imply it) releases every key of the channel,
//!   respecting the pedal; CC120 "all sound off" ends every note of the channel at once.
//! - Notes still sounding at the end of the file end with it; zero-length notes are dropped;
//!   channel 10 (drums) is not special.

use std::fmt;
use std::path::{Path, PathBuf};

use midly::{Format, Fps, Header, MetaMessage, MidiMessage, Timing, TrackEvent, TrackEventKind};

/// Most notes [`parse_midi`] accepts before giving up with [`ScoreError::TooManyNotes`].
pub const MAX_NOTES: usize = 1_000_000;
/// Most note and controller events [`parse_midi`] keeps before giving up with
/// [`ScoreError::TooManyEvents`] (bounds its memory whatever the file).
pub const MAX_EVENTS: usize = 8 * MAX_NOTES;
/// Largest MIDI file [`read_midi`] reads: far above what [`MAX_EVENTS`] lets through, so only a
/// file that is no MIDI file at all (or a device such as `/dev/zero`) is refused for its size.
pub const MAX_MIDI_BYTES: u64 = 256 << 20;
/// Tempo before any tempo event: 500 000 µs per quarter note (120 bpm).
pub const DEFAULT_TEMPO_US: u32 = 500_000;
/// Resolution of [`Score::to_midi_bytes`]: ticks per quarter note.
pub const WRITE_TICKS_PER_QUARTER: u16 = 480;

/// One note of a score, in seconds from the start of the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreNote {
    /// MIDI key 0..=127.
    pub key: u8,
    /// Note-on velocity 1..=127.
    pub velocity: u8,
    /// MIDI channel 0..=15 (channel "10" of the drums is 9).
    pub channel: u8,
    /// When the note starts (note-on), in seconds.
    pub on_s: f64,
    /// When the key is released (note-off, or pedal lift), in seconds; after `on_s`.
    pub off_s: f64,
}

/// All notes of a MIDI file in onset order (ties: by key), and where the file ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// The notes, sorted by `on_s`, then `key` (then `channel`, then `off_s`).
    pub notes: Vec<ScoreNote>,
    /// Time of the file's last event of any track (end-of-track included), in seconds.
    pub end_s: f64,
}

/// Why a MIDI file could not be read as a score. The message is complete on its own (it
/// includes any underlying reason), so the variants carry no `source` chain.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The bytes are not a standard MIDI file (midly's reason in brackets).
    #[error("not a MIDI file ({0})")]
    NotMidi(midly::Error),
    /// The header's time division cannot give seconds.
    #[error("unusable MIDI timing: {0}")]
    BadTiming(&'static str),
    /// The file parses but contains no note (of non-zero length).
    #[error("the MIDI file has no notes")]
    NoNotes,
    /// More notes than [`MAX_NOTES`].
    #[error("the MIDI file has more than {max} notes, too many to load")]
    TooManyNotes {
        /// The limit that was hit.
        max: usize,
    },
    /// More note and controller events than [`MAX_EVENTS`].
    #[error("the MIDI file has more than {max} note and controller events, too many to load")]
    TooManyEvents {
        /// The limit that was hit.
        max: usize,
    },
    /// The file could not be read from disk.
    #[error("{}: cannot read the file ({error})", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The file was read but could not be parsed: `error` says why.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with its contents.
        error: Box<ScoreError>,
    },
}

/// Parses a standard MIDI file (or an RIFF RMID wrapping one) into its notes.
///
/// Never panics; memory is bounded by [`MAX_EVENTS`] and [`MAX_NOTES`]. A track that breaks
/// off in the middle of an event is read up to the break (midly's lenient mode).
pub fn parse_midi(bytes: &[u8]) -> Result<Score, ScoreError> {
    parse_midi_capped(bytes, MAX_NOTES, MAX_EVENTS)
}

/// Reads and parses; the error message starts with the file's path, e.g. "clip.mid: not a MIDI file (...)"
pub fn read_midi(path: &Path) -> Result<Score, ScoreError> {
    let bytes = crate::user_file::read_user_file(path, MAX_MIDI_BYTES, "a MIDI file")
        .map_err(|error| ScoreError::Read { path: path.to_path_buf(), error })?;
    parse_midi(&bytes).map_err(|error| ScoreError::InFile { path: path.to_path_buf(), error: Box::new(error) })
}

impl Score {
    /// A format-0 SMF, 480 ticks per quarter, one tempo event (120 bpm) at tick 0, notes rounded to the nearest tick. For tests and demo assets.
    ///
    /// At 120 bpm a tick is 1/960 s. A note shorter than half a tick keeps one tick; negative
    /// or NaN times count as 0; keys and velocities are clamped to 0..=127 and 1..=127,
    /// channels taken modulo 16. At one tick, note-offs come before note-ons, so notes that
    /// follow each other on one key survive the round trip (overlapping notes of one key and
    /// channel come back cut, as [`parse_midi`] retriggers them). The end-of-track event sits
    /// at `end_s` (or the last note-off if later).
    ///
    /// # Panics
    /// Only if the track would exceed the SMF limit of 4 GiB (hundreds of millions of notes).
    pub fn to_midi_bytes(&self) -> Vec<u8> {
        const ORDER_TEMPO: u8 = 0;
        const ORDER_OFF: u8 = 1;
        const ORDER_ON: u8 = 2;
        let ticks_per_s = f64::from(WRITE_TICKS_PER_QUARTER) * 1e6 / f64::from(DEFAULT_TEMPO_US);
        let to_tick = |s: f64| -> u64 {
            let t = (s * ticks_per_s).round();
            // `as` saturates and maps NaN to 0; cap at u32::MAX ticks (about 52 days).
            (t as u64).min(u64::from(u32::MAX))
        };

        let mut events: Vec<(u64, u8, TrackEventKind<'static>)> = Vec::with_capacity(2 * self.notes.len() + 1);
        events.push((0, ORDER_TEMPO, TrackEventKind::Meta(MetaMessage::Tempo(DEFAULT_TEMPO_US.into()))));
        for n in &self.notes {
            let on = to_tick(n.on_s);
            let off = to_tick(n.off_s).max(on + 1);
            let channel = (n.channel & 0x0F).into();
            let key = n.key.min(127).into();
            let vel = n.velocity.clamp(1, 127).into();
            let message = MidiMessage::NoteOn { key, vel };
            events.push((on, ORDER_ON, TrackEventKind::Midi { channel, message }));
            let message = MidiMessage::NoteOff { key, vel: 64.into() };
            events.push((off, ORDER_OFF, TrackEventKind::Midi { channel, message }));
        }
        events.sort_by_key(|&(tick, order, _)| (tick, order));

        let last = events.last().map_or(0, |e| e.0);
        let end = to_tick(self.end_s).max(last);
        let max_delta = u64::from(midly::num::u28::max_value().as_int());
        let mut track: Vec<TrackEvent<'static>> = Vec::with_capacity(events.len() + 1);
        let mut now = 0u64;
        let mut emit = |tick: u64, kind: TrackEventKind<'static>, track: &mut Vec<TrackEvent<'static>>| {
            let mut delta = tick - now;
            // A delta wider than 28 bits is bridged with empty markers.
            while delta > max_delta {
                track.push(TrackEvent { delta: midly::num::u28::max_value(), kind: TrackEventKind::Meta(MetaMessage::Marker(b"")) });
                delta -= max_delta;
            }
            track.push(TrackEvent { delta: (delta as u32).into(), kind });
            now = tick;
        };
        for (tick, _, kind) in events {
            emit(tick, kind, &mut track);
        }
        emit(end, TrackEventKind::Meta(MetaMessage::EndOfTrack), &mut track);

        let header = Header::new(Format::SingleTrack, Timing::Metrical(WRITE_TICKS_PER_QUARTER.into()));
        let mut smf = midly::Smf::new(header);
        smf.tracks.push(track);
        let mut bytes = Vec::new();
        smf.write_std(&mut bytes).expect("an in-memory SMF under 4 GiB always writes");
        bytes
    }
}

impl fmt::Display for ScoreNote {
    /// "key 60 vel 100 ch 0 1.000-1.500 s"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {} vel {} ch {} {:.3}-{:.3} s", self.key, self.velocity, self.channel, self.on_s, self.off_s)
    }
}

/// What the parser keeps of a MIDI event.
#[derive(Clone, Copy, Debug)]
enum Ev {
    On {
        ch: u8,
        key: u8,
        vel: u8,
    },
    Off {
        ch: u8,
        key: u8,
    },
    Pedal {
        ch: u8,
        down: bool,
    },
    /// CC120: end every note of the channel now.
    SoundOff {
        ch: u8,
    },
    /// CC123..=127: release every key of the channel (the pedal still holds them).
    NotesOff {
        ch: u8,
    },
    /// CC121: reset all controllers, i.e. the pedal lifts.
    ResetControllers {
        ch: u8,
    },
    Tempo(u32),
    /// Format 2 track boundary: every note of every channel ends, pedals lift.
    EndAll,
}

/// Ticks to seconds under the tempo map so far (events are fed in tick order).
enum Clock {
    Metrical {
        ticks_per_quarter: u64,
        /// Tick where the current tempo began.
        seg_tick: u64,
        /// Sum of ticks × µs-per-quarter up to `seg_tick` (exact).
        seg_tick_us: u128,
        tempo_us: u64,
    },
    Timecode {
        ticks_per_s: f64,
    },
}

impl Clock {
    fn new(timing: Timing) -> Result<Clock, ScoreError> {
        match timing {
            Timing::Metrical(tpq) => {
                let tpq = u64::from(tpq.as_int());
                if tpq == 0 {
                    return Err(ScoreError::BadTiming("0 ticks per quarter note"));
                }
                Ok(Clock::Metrical { ticks_per_quarter: tpq, seg_tick: 0, seg_tick_us: 0, tempo_us: u64::from(DEFAULT_TEMPO_US) })
            }
            Timing::Timecode(fps, ticks_per_frame) => {
                if ticks_per_frame == 0 {
                    return Err(ScoreError::BadTiming("0 ticks per SMPTE frame"));
                }
                let fps = match fps {
                    Fps::Fps29 => 30_000.0 / 1_001.0,
                    other => f64::from(other.as_int()),
                };
                Ok(Clock::Timecode { ticks_per_s: fps * f64::from(ticks_per_frame) })
            }
        }
    }

    /// Seconds at `tick`, which is at or after the last tempo change.
    fn seconds(&self, tick: u64) -> f64 {
        match *self {
            Clock::Metrical { ticks_per_quarter, seg_tick, seg_tick_us, tempo_us } => {
                let tick_us = seg_tick_us + u128::from(tick.saturating_sub(seg_tick)) * u128::from(tempo_us);
                tick_us as f64 / (ticks_per_quarter as f64 * 1e6)
            }
            Clock::Timecode { ticks_per_s } => tick as f64 / ticks_per_s,
        }
    }

    fn set_tempo(&mut self, tick: u64, new_tempo_us: u32) {
        if let Clock::Metrical { seg_tick, seg_tick_us, tempo_us, .. } = self {
            *seg_tick_us += u128::from(tick.saturating_sub(*seg_tick)) * u128::from(*tempo_us);
            *seg_tick = tick;
            *tempo_us = u64::from(new_tempo_us);
        }
    }
}

/// A note that has started and not yet ended.
#[derive(Clone, Copy, Debug)]
struct Open {
    on_tick: u64,
    on_s: f64,
    velocity: u8,
    /// The key is up but the pedal holds the note.
    released: bool,
}

/// Per-channel playing state.
#[derive(Clone, Copy)]
struct Channel {
    keys: [Option<Open>; 128],
    /// Tick at which a held note of this key was retriggered: a note-off at that same tick
    /// belongs to the earlier note and is ignored.
    swallow_off_at: [Option<u64>; 128],
    pedal_down: bool,
}

impl Default for Channel {
    fn default() -> Self {
        Channel { keys: [None; 128], swallow_off_at: [None; 128], pedal_down: false }
    }
}

/// Collects the finished notes, enforcing the note cap.
struct Notes {
    notes: Vec<ScoreNote>,
    max: usize,
}

impl Notes {
    fn end(&mut self, ch: u8, key: u8, open: Open, off_s: f64) -> Result<(), ScoreError> {
        if off_s > open.on_s {
            if self.notes.len() >= self.max {
                return Err(ScoreError::TooManyNotes { max: self.max });
            }
            self.notes.push(ScoreNote { key, velocity: open.velocity, channel: ch, on_s: open.on_s, off_s });
        }
        Ok(())
    }

    /// Ends every note of `chan` (all of them, or only those the pedal holds).
    fn end_all(&mut self, ch: u8, chan: &mut Channel, only_released: bool, s: f64) -> Result<(), ScoreError> {
        for key in 0..128u8 {
            if let Some(open) = chan.keys[key as usize] {
                if !only_released || open.released {
                    chan.keys[key as usize] = None;
                    self.end(ch, key, open, s)?;
                }
            }
        }
        Ok(())
    }
}

/// The time-division word of every `MThd` chunk midly may parse: the file's chunks, or those of
/// the `data` chunk of an RIFF RMID file. midly reads a header chunk met among the tracks too
/// (a second crash input had one), so all are listed. A chunk running past the end is cut there.
fn header_divisions(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    /// (id, data, rest) of the chunk at the start of `b`; `le` for RIFF's little-endian lengths.
    fn chunk(b: &[u8], le: bool) -> Option<(&[u8], &[u8], &[u8])> {
        let len: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        let len = if le { u32::from_le_bytes(len) } else { u32::from_be_bytes(len) } as usize;
        let body = &b[8..];
        let (data, rest) = body.split_at(len.min(body.len()));
        // RIFF pads odd-length chunks to even.
        let rest = if le && len % 2 == 1 { rest.get(1..).unwrap_or(&[]) } else { rest };
        Some((&b[..4], data, rest))
    }
    let smf: &[u8] = match bytes.get(..4) {
        Some(b"MThd") => bytes,
        Some(b"RIFF") => (|| {
            let (_, riff, _) = chunk(bytes, true)?;
            if riff.get(..4)? != b"RMID" {
                return None;
            }
            let mut rest = &riff[4..];
            loop {
                let (id, data, next) = chunk(rest, true)?;
                if id == b"data" {
                    return Some(data);
                }
                rest = next;
            }
        })()
        .unwrap_or(&[]),
        _ => &[],
    };
    let mut rest = smf;
    std::iter::from_fn(move || loop {
        let (id, data, next) = chunk(rest, false)?;
        rest = next;
        if id == b"MThd" {
            if let Some(d) = data.get(4..6) {
                return Some(u16::from_be_bytes([d[0], d[1]]));
            }
        }
    })
}

/// [`parse_midi`] with explicit limits (tests use small ones).
fn parse_midi_capped(bytes: &[u8], max_notes: usize, max_events: usize) -> Result<Score, ScoreError> {
    // midly 0.5.3 negates the SMPTE frame-rate byte as an i8, which overflows (a panic in builds
    // with overflow checks, such as `cargo test`) for 0x80; found by fuzz/fuzz_targets/midi.rs.
    if header_divisions(bytes).any(|d| d >> 8 == 0x80) {
        return Err(ScoreError::BadTiming("SMPTE frame rate -128"));
    }
    let (header, tracks) = midly::parse(bytes).map_err(ScoreError::NotMidi)?;
    let mut clock = Clock::new(header.timing)?;
    let sequential = header.format == Format::Sequential;

    // Gather the events that matter, each with its absolute tick.
    let mut events: Vec<(u64, Ev)> = Vec::new();
    let push = |tick: u64, ev: Ev, events: &mut Vec<(u64, Ev)>| {
        if events.len() >= max_events {
            return Err(ScoreError::TooManyEvents { max: max_events });
        }
        events.push((tick, ev));
        Ok(())
    };
    let mut track_start = 0u64;
    let mut last_tick = 0u64;
    for (index, track) in tracks.enumerate() {
        let track = track.map_err(ScoreError::NotMidi)?;
        if sequential && index > 0 {
            push(track_start, Ev::Tempo(DEFAULT_TEMPO_US), &mut events)?;
        }
        let mut tick = track_start;
        for event in track {
            let event = event.map_err(ScoreError::NotMidi)?;
            tick = tick.saturating_add(u64::from(event.delta.as_int()));
            last_tick = last_tick.max(tick);
            let ev = match event.kind {
                TrackEventKind::Midi { channel, message } => {
                    let ch = channel.as_int();
                    match message {
                        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => Ev::On { ch, key: key.as_int(), vel: vel.as_int() },
                        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => Ev::Off { ch, key: key.as_int() },
                        MidiMessage::Controller { controller, value } => match controller.as_int() {
                            64 => Ev::Pedal { ch, down: value.as_int() >= 64 },
                            120 => Ev::SoundOff { ch },
                            121 => Ev::ResetControllers { ch },
                            123..=127 => Ev::NotesOff { ch },
                            _ => continue,
                        },
                        _ => continue,
                    }
                }
                TrackEventKind::Meta(MetaMessage::Tempo(us)) => Ev::Tempo(us.as_int()),
                _ => continue,
            };
            push(tick, ev, &mut events)?;
        }
        if sequential {
            push(tick, Ev::EndAll, &mut events)?;
            track_start = tick;
        }
    }
    // Merge the tracks by tick; stable, so one tick keeps track order, then file order.
    events.sort_by_key(|&(tick, _)| tick);

    // On the heap: 16 channels × 128 keys of state is ~100 KiB.
    let mut channels = vec![Channel::default(); 16];
    let mut notes = Notes { notes: Vec::new(), max: max_notes };
    for (tick, ev) in events {
        let s = clock.seconds(tick);
        match ev {
            Ev::Tempo(us) => clock.set_tempo(tick, us),
            Ev::On { ch, key, vel } => {
                let chan = &mut channels[ch as usize];
                if let Some(open) = chan.keys[key as usize].take() {
                    if !open.released && open.on_tick < tick {
                        chan.swallow_off_at[key as usize] = Some(tick);
                    }
                    notes.end(ch, key, open, s)?;
                }
                chan.keys[key as usize] = Some(Open { on_tick: tick, on_s: s, velocity: vel, released: false });
            }
            Ev::Off { ch, key } => {
                let chan = &mut channels[ch as usize];
                let swallow = chan.swallow_off_at[key as usize].take() == Some(tick);
                let Some(open) = chan.keys[key as usize] else { continue };
                if (swallow && open.on_tick == tick) || open.released {
                    continue;
                }
                if chan.pedal_down {
                    chan.keys[key as usize] = Some(Open { released: true, ..open });
                } else {
                    chan.keys[key as usize] = None;
                    notes.end(ch, key, open, s)?;
                }
            }
            Ev::Pedal { ch, down } => {
                let chan = &mut channels[ch as usize];
                if chan.pedal_down && !down {
                    notes.end_all(ch, chan, true, s)?;
                }
                chan.pedal_down = down;
            }
            Ev::ResetControllers { ch } => {
                let chan = &mut channels[ch as usize];
                notes.end_all(ch, chan, true, s)?;
                chan.pedal_down = false;
            }
            Ev::SoundOff { ch } => notes.end_all(ch, &mut channels[ch as usize], false, s)?,
            Ev::NotesOff { ch } => {
                let chan = &mut channels[ch as usize];
                if chan.pedal_down {
                    for open in chan.keys.iter_mut().flatten() {
                        open.released = true;
                    }
                } else {
                    notes.end_all(ch, chan, false, s)?;
                }
            }
            Ev::EndAll => {
                for (ch, chan) in channels.iter_mut().enumerate() {
                    notes.end_all(ch as u8, chan, false, s)?;
                    chan.pedal_down = false;
                }
            }
        }
    }
    let end_s = clock.seconds(last_tick);
    for (ch, chan) in channels.iter_mut().enumerate() {
        notes.end_all(ch as u8, chan, false, end_s)?;
    }

    let mut notes = notes.notes;
    if notes.is_empty() {
        return Err(ScoreError::NoNotes);
    }
    notes.sort_by(|a, b| {
        a.on_s.total_cmp(&b.on_s).then(a.key.cmp(&b.key)).then(a.channel.cmp(&b.channel)).then(a.off_s.total_cmp(&b.off_s))
    });
    Ok(Score { notes, end_s })
}

#[cfg(test)]
mod tests {
    use super::*;
    use midly::num::{u15, u28, u4, u7};

    type Timed = (u32, TrackEventKind<'static>);

    fn on(ch: u8, key: u8, vel: u8) -> TrackEventKind<'static> {
        TrackEventKind::Midi { channel: u4::from(ch), message: MidiMessage::NoteOn { key: u7::from(key), vel: u7::from(vel) } }
    }
    fn off(ch: u8, key: u8) -> TrackEventKind<'static> {
        TrackEventKind::Midi { channel: u4::from(ch), message: MidiMessage::NoteOff { key: u7::from(key), vel: u7::from(64) } }
    }
    fn cc(ch: u8, controller: u8, value: u8) -> TrackEventKind<'static> {
        TrackEventKind::Midi {
            channel: u4::from(ch),
            message: MidiMessage::Controller { controller: u7::from(controller), value: u7::from(value) },
        }
    }
    fn tempo(us: u32) -> TrackEventKind<'static> {
        TrackEventKind::Meta(MetaMessage::Tempo(us.into()))
    }
    fn eot() -> TrackEventKind<'static> {
        TrackEventKind::Meta(MetaMessage::EndOfTrack)
    }

    /// An SMF from tracks of (absolute tick, event), events of a track in tick order.
    fn smf(format: Format, timing: Timing, tracks: Vec<Vec<Timed>>) -> Vec<u8> {
        let mut file = midly::Smf::new(Header::new(format, timing));
        for events in tracks {
            let mut now = 0;
            let track = events
                .into_iter()
                .map(|(tick, kind)| {
                    let delta = u28::from(tick - now);
                    now = tick;
                    TrackEvent { delta, kind }
                })
                .collect();
            file.tracks.push(track);
        }
        let mut bytes = Vec::new();
        file.write_std(&mut bytes).unwrap();
        bytes
    }

    fn tpq480() -> Timing {
        Timing::Metrical(u15::from(480))
    }

    fn note(key: u8, velocity: u8, channel: u8, on_s: f64, off_s: f64) -> ScoreNote {
        ScoreNote { key, velocity, channel, on_s, off_s }
    }

    #[test]
    fn tempo_change_mid_file_gives_exact_seconds() {
        // 480 tpq: 120 bpm (1/960 s per tick) until tick 960 = 1.0 s, then 60 bpm
        // (1/480 s per tick), then 150 bpm (400 000 µs: 1/1200 s per tick) from tick 1440.
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, tempo(500_000)),
                (0, on(0, 60, 100)),
                (960, off(0, 60)),
                (960, tempo(1_000_000)),
                (960, on(0, 62, 90)),
                (1440, off(0, 62)),
                (1440, tempo(400_000)),
                (1440, on(0, 64, 80)),
                (2040, off(0, 64)),
                (2640, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(
            score.notes,
            vec![
                note(60, 100, 0, 0.0, 1.0),
                note(62, 90, 0, 1.0, 2.0),
                note(64, 80, 0, 2.0, 2.5), // 600 ticks / 1200
            ]
        );
        assert_eq!(score.end_s, 3.0);
    }

    #[test]
    fn format1_tempo_track_applies_to_note_track() {
        // Track 0: 240 bpm (250 000 µs) then 60 bpm at tick 480 (0.25 s).
        // Track 1: a note across the change, 0..960 → 0..1.25 s; then 960..1200 → 1.25..1.75 s.
        let bytes = smf(
            Format::Parallel,
            tpq480(),
            vec![
                vec![(0, tempo(250_000)), (480, tempo(1_000_000)), (480, eot())],
                vec![(0, on(1, 60, 100)), (960, off(1, 60)), (960, on(1, 67, 50)), (1200, off(1, 67)), (1200, eot())],
            ],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(score.notes, vec![note(60, 100, 1, 0.0, 1.25), note(67, 50, 1, 1.25, 1.75)]);
        assert_eq!(score.end_s, 1.75);
    }

    #[test]
    fn velocity_zero_is_note_off_and_stray_note_off_is_ignored() {
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, on(0, 60, 100)),
                (240, off(0, 61)), // never started: ignored
                (480, on(0, 60, 0)),
                (960, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(score.notes, vec![note(60, 100, 0, 0.0, 0.5)]);
        assert_eq!(score.end_s, 1.0);
    }

    #[test]
    fn retrigger_ends_the_earlier_note() {
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, on(0, 60, 100)),
                (0, on(0, 62, 70)),
                (0, on(3, 60, 10)), // same key, another channel: another note
                // Key 60: struck again at 480 while held, released at 960.
                (480, on(0, 60, 90)),
                // Key 62: the new note-on comes before the old note-off at the same tick;
                // that note-off belongs to the first note.
                (480, on(0, 62, 71)),
                (480, off(0, 62)),
                (960, off(0, 60)),
                (960, off(0, 62)),
                (960, off(3, 60)),
                (960, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(
            score.notes,
            vec![
                note(60, 100, 0, 0.0, 0.5),
                note(60, 10, 3, 0.0, 1.0),
                note(62, 70, 0, 0.0, 0.5),
                note(60, 90, 0, 0.5, 1.0),
                note(62, 71, 0, 0.5, 1.0),
            ]
        );
    }

    #[test]
    fn zero_length_dropped_and_drums_kept() {
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, on(0, 60, 100)),
                (0, off(0, 60)), // zero length
                (0, on(9, 38, 127)),
                (120, off(9, 38)),
                (480, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(score.notes, vec![note(38, 127, 9, 0.0, 0.125)]);
    }

    #[test]
    fn sustain_pedal_holds_released_keys_until_it_lifts() {
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, cc(0, 64, 127)),
                (0, on(0, 60, 100)),
                (0, on(0, 65, 80)),
                (120, off(0, 65)),    // held by the pedal...
                (240, off(0, 60)),    // held by the pedal
                (360, on(0, 65, 81)), // ...until struck again at 0.375 s
                (480, on(0, 62, 90)),
                (600, off(0, 65)),   // held by the pedal
                (720, cc(0, 64, 0)), // lifts at 0.75 s: ends 60 and the second 65
                (960, off(0, 62)),   // still held at the lift: ends at its own note-off
                (960, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(
            score.notes,
            vec![note(60, 100, 0, 0.0, 0.75), note(65, 80, 0, 0.0, 0.375), note(65, 81, 0, 0.375, 0.75), note(62, 90, 0, 0.5, 1.0),]
        );
    }

    #[test]
    fn all_notes_off_respects_pedal_and_all_sound_off_does_not() {
        let bytes = smf(
            Format::SingleTrack,
            tpq480(),
            vec![vec![
                (0, on(0, 60, 100)),
                (0, on(0, 64, 100)),
                (0, cc(1, 64, 100)),
                (0, on(1, 67, 100)),
                (0, cc(2, 64, 100)),
                (0, on(2, 72, 100)),
                (0, on(3, 48, 100)),  // never released: ends with the file
                (480, cc(0, 123, 0)), // ends 60, 64 at 0.5 s
                (480, cc(1, 123, 0)), // pedal down: 67 sounds on...
                (480, cc(2, 120, 0)), // all sound off: 72 ends at 0.5 s despite the pedal
                (960, cc(1, 64, 0)),  // ...until the pedal lifts at 1.0 s
                (1200, eot()),
            ]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(
            score.notes,
            vec![
                note(48, 100, 3, 0.0, 1.25),
                note(60, 100, 0, 0.0, 0.5),
                note(64, 100, 0, 0.0, 0.5),
                note(67, 100, 1, 0.0, 1.0),
                note(72, 100, 2, 0.0, 0.5),
            ]
        );
        assert_eq!(score.end_s, 1.25);
    }

    #[test]
    fn smpte_timing_ignores_tempo() {
        // 25 fps × 40 ticks per frame = 1000 ticks per second.
        let bytes = smf(
            Format::SingleTrack,
            Timing::Timecode(Fps::Fps25, 40),
            vec![vec![(0, tempo(1_000_000)), (500, on(0, 60, 100)), (1500, off(0, 60)), (2000, eot())]],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(score.notes, vec![note(60, 100, 0, 0.5, 1.5)]);
        assert_eq!(score.end_s, 2.0);

        // 30 drop-frame runs at 30000/1001 fps: at 100 ticks per frame, tick 30000 is frame
        // 300, at 300 × 1001 / 30000 = 10.01 s.
        let bytes = smf(Format::SingleTrack, Timing::Timecode(Fps::Fps29, 100), vec![vec![(0, on(0, 60, 100)), (30_000, off(0, 60))]]);
        let score = parse_midi(&bytes).unwrap();
        assert!((score.notes[0].off_s - 10.01).abs() < 1e-12, "{}", score.notes[0].off_s);
    }

    #[test]
    fn format2_plays_tracks_one_after_another() {
        // Track 0 at 120 bpm ends at tick 960 = 1.0 s, with key 64 still down.
        // Track 1 at 60 bpm starts there: 0..480 → 1.0..2.0 s; track 2 starts at the default
        // tempo again: 0..480 → 2.0..2.5 s.
        let bytes = smf(
            Format::Sequential,
            tpq480(),
            vec![
                vec![(0, on(0, 60, 100)), (480, off(0, 60)), (480, on(0, 64, 100)), (960, eot())],
                vec![(0, tempo(1_000_000)), (0, on(0, 62, 100)), (480, off(0, 62)), (480, eot())],
                vec![(0, on(0, 65, 100)), (480, off(0, 65)), (480, eot())],
            ],
        );
        let score = parse_midi(&bytes).unwrap();
        assert_eq!(
            score.notes,
            vec![note(60, 100, 0, 0.0, 0.5), note(64, 100, 0, 0.5, 1.0), note(62, 100, 0, 1.0, 2.0), note(65, 100, 0, 2.0, 2.5),]
        );
        assert_eq!(score.end_s, 2.5);
    }

    #[test]
    fn round_trip_through_midi_bytes() {
        let score = Score {
            notes: vec![
                note(40, 1, 0, 0.0, 0.25),
                note(60, 100, 0, 0.1234, 0.9876),
                note(64, 127, 5, 0.1234, 0.5),
                note(60, 80, 0, 0.9876, 1.5),  // follows the first 60 at the same tick
                note(38, 110, 9, 2.0, 2.0001), // shorter than a tick: keeps one
            ],
            end_s: 3.3333,
        };
        let back = parse_midi(&score.to_midi_bytes()).unwrap();
        let half_tick = 0.5 / 960.0 + 1e-12;
        assert_eq!(back.notes.len(), score.notes.len());
        for (a, b) in score.notes.iter().zip(&back.notes) {
            assert_eq!((a.key, a.velocity, a.channel), (b.key, b.velocity, b.channel));
            assert!((a.on_s - b.on_s).abs() <= half_tick, "{a} vs {b}");
            if a.off_s - a.on_s >= 1.0 / 960.0 {
                assert!((a.off_s - b.off_s).abs() <= half_tick, "{a} vs {b}");
            } else {
                assert!((b.off_s - b.on_s - 1.0 / 960.0).abs() < 1e-12, "{a} vs {b}");
            }
        }
        assert!((back.end_s - score.end_s).abs() <= half_tick);
    }

    #[test]
    fn garbage_is_not_a_midi_file() {
        let err = parse_midi(b"RIFF\0\0\0\0WAVEfmt garbage").unwrap_err();
        assert!(err.to_string().starts_with("not a MIDI file ("), "{err}");
        let err = parse_midi(b"hello, world").unwrap_err();
        assert!(err.to_string().starts_with("not a MIDI file ("), "{err}");
        assert!(parse_midi(b"").unwrap_err().to_string().contains("not a MIDI file"));
    }

    /// Found by fuzz/fuzz_targets/midi.rs: a time division of 0x80xx (SMPTE at -128 fps) made
    /// midly negate -128 as an i8, a panic under overflow checks.
    #[test]
    fn smpte_minus_128_fps_is_an_error_not_a_panic() {
        let crash = include_bytes!("../tests/fixtures/midi/crash-smpte-minus-128-fps.mid");
        assert_eq!(parse_midi(crash).unwrap_err().to_string(), "unusable MIDI timing: SMPTE frame rate -128");
        // The same header wrapped in RIFF RMID, behind another chunk.
        let mut data = b"JUNK\x02\x00\x00\x00ab".to_vec();
        data.extend_from_slice(b"data");
        data.extend_from_slice(&(crash.len() as u32).to_le_bytes());
        data.extend_from_slice(crash);
        let mut rmid = b"RIFF".to_vec();
        rmid.extend_from_slice(&(data.len() as u32 + 4).to_le_bytes());
        rmid.extend_from_slice(b"RMID");
        rmid.extend_from_slice(&data);
        assert_eq!(parse_midi(&rmid).unwrap_err().to_string(), "unusable MIDI timing: SMPTE frame rate -128");
        // A second header chunk among the tracks, which midly also parses (the second crash).
        let crash2 = include_bytes!("../tests/fixtures/midi/crash-smpte-minus-128-fps-second-header.mid");
        assert_eq!(parse_midi(crash2).unwrap_err().to_string(), "unusable MIDI timing: SMPTE frame rate -128");
        // Every other SMPTE rate byte reaches midly, which accepts the valid ones.
        for fps in [0xE8u8, 0xE7, 0xE3, 0xE2, 0x81, 0xFF] {
            let mut b = crash.to_vec();
            b[12] = fps;
            let _ = parse_midi(&b);
        }
    }

    #[test]
    fn zero_ticks_per_quarter_is_an_error() {
        let bytes = smf(Format::SingleTrack, Timing::Metrical(u15::from(0)), vec![vec![(0, on(0, 60, 1))]]);
        let err = parse_midi(&bytes).unwrap_err();
        assert!(err.to_string().contains("0 ticks per quarter"), "{err}");
    }

    #[test]
    fn file_without_notes_is_an_error() {
        let bytes = smf(Format::SingleTrack, tpq480(), vec![vec![(0, tempo(500_000)), (480, eot())]]);
        let err = parse_midi(&bytes).unwrap_err();
        assert!(matches!(err, ScoreError::NoNotes));
        assert!(err.to_string().contains("no notes"), "{err}");
        // A header and no tracks at all.
        let bytes = smf(Format::Parallel, tpq480(), vec![]);
        assert!(matches!(parse_midi(&bytes), Err(ScoreError::NoNotes)));
    }

    #[test]
    fn note_and_event_caps_give_errors() {
        let events: Vec<Timed> = (0..10u32).flat_map(|i| [(i * 10, on(0, 60, 100)), (i * 10 + 5, off(0, 60))]).collect();
        let bytes = smf(Format::SingleTrack, tpq480(), vec![events]);
        assert_eq!(parse_midi_capped(&bytes, 10, 100).unwrap().notes.len(), 10);
        let err = parse_midi_capped(&bytes, 9, 100).unwrap_err();
        assert!(matches!(err, ScoreError::TooManyNotes { max: 9 }), "{err}");
        let err = parse_midi_capped(&bytes, 100, 19).unwrap_err();
        assert!(matches!(err, ScoreError::TooManyEvents { max: 19 }), "{err}");
    }

    #[test]
    fn read_midi_errors_start_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.mid");
        let err = read_midi(&missing).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: ", missing.display())), "{err}");

        let garbage = dir.path().join("clip.mid");
        std::fs::write(&garbage, b"not midi at all").unwrap();
        let err = read_midi(&garbage).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: not a MIDI file (", garbage.display())), "{err}");

        // A directory, or a device that never ends (read whole, it took all memory), is refused
        // without being read.
        let err = read_midi(dir.path()).unwrap_err().to_string();
        assert_eq!(err, format!("{}: cannot read the file (is a directory, not a file)", dir.path().display()));
        let err = read_midi(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(err, "/dev/zero: cannot read the file (is a device, pipe or socket, not a file)");

        let good = dir.path().join("good.mid");
        let score = Score { notes: vec![note(60, 100, 0, 0.0, 0.5)], end_s: 1.0 };
        std::fs::write(&good, score.to_midi_bytes()).unwrap();
        assert_eq!(read_midi(&good).unwrap(), score);
    }

    #[test]
    fn never_panics_on_damaged_files() {
        let score = Score {
            notes: (0..40).map(|i| note(40 + i as u8, 100, (i % 16) as u8, i as f64 * 0.1, i as f64 * 0.1 + 0.3)).collect(),
            end_s: 5.0,
        };
        let good = score.to_midi_bytes();
        // Every truncation.
        for len in 0..good.len() {
            let _ = parse_midi(&good[..len]);
        }
        // Random byte flips (deterministic SplitMix64).
        let mut rng = crate::rng::SplitMix64::new(7);
        for _ in 0..3000 {
            let mut bytes = good.clone();
            for _ in 0..1 + rng.next_u64() % 8 {
                let at = (rng.next_u64() % bytes.len() as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            let _ = parse_midi(&bytes);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// Byte flips, insertions and truncations of the shipped demo clip: a score whose notes
        /// end after they start, or an error in words, never a panic.
        #[test]
        fn damaged_demo_midi_is_a_score_or_an_error(
            cut in proptest::option::of(0.0f64..1.0),
            edits in proptest::collection::vec((0.0f64..1.0, proptest::bool::ANY, proptest::num::u8::ANY), 0..12),
        ) {
            let mut bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/demo.mid")).unwrap();
            for (at, insert, value) in edits {
                let i = (at * bytes.len() as f64) as usize;
                let last = bytes.len() - 1;
                if insert { bytes.insert(i, value) } else { bytes[i.min(last)] = value }
            }
            if let Some(c) = cut {
                bytes.truncate((c * bytes.len() as f64) as usize);
            }
            match parse_midi(&bytes) {
                Ok(score) => {
                    for n in &score.notes {
                        proptest::prop_assert!(n.on_s.is_finite() && n.off_s > n.on_s, "{}", n);
                    }
                }
                Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn absurd_scores_still_write() {
        let score = Score {
            notes: vec![
                note(255, 200, 99, f64::NAN, f64::NAN),
                note(60, 0, 0, -3.0, 1e12), // past u32::MAX ticks: capped there
                note(61, 100, 0, 1.0, f64::INFINITY),
            ],
            end_s: f64::INFINITY,
        };
        let back = parse_midi(&score.to_midi_bytes()).unwrap();
        assert_eq!(back.notes.len(), 3);
        let last_s = f64::from(u32::MAX) / 960.0;
        assert!((back.end_s - last_s).abs() < 1e-6, "{}", back.end_s);
        let clamped = back.notes.iter().find(|n| n.key == 127).unwrap();
        assert_eq!((clamped.velocity, clamped.channel, clamped.on_s), (127, 3, 0.0));
        assert_eq!(back.notes.iter().find(|n| n.key == 60).unwrap().velocity, 1);
    }
}
