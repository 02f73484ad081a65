//! The test phrase: overlapping notes at several velocities, a note held by the sustain pedal,
//! keys in the middle of the trombone's range (50..=65), every time on a 10 ms grid (a whole
//! number of samples at 16, 44.1 and 48 kHz).

use crate::Event;

/// One event of the phrase, at a time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// When.
    pub ms: u64,
    /// What.
    pub ev: Event,
}

/// A stretch where one note sounds alone, long enough to measure its pitch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Solo {
    /// The key.
    pub key: u8,
    /// Start (ms).
    pub from_ms: u64,
    /// End (ms).
    pub to_ms: u64,
}

const fn step(ms: u64, ev: Event) -> Step {
    Step { ms, ev }
}

/// The phrase (see the module docs); 7.6 s long.
pub const PHRASE: &[Step] = &[
    step(500, Event::On { key: 55, velocity: 100 }),
    step(1200, Event::On { key: 62, velocity: 80 }),
    step(2000, Event::Off { key: 55 }),
    step(2600, Event::Off { key: 62 }),
    step(2800, Event::Cc { cc: 64, value: 127 }),
    step(3000, Event::On { key: 58, velocity: 110 }),
    step(3400, Event::Off { key: 58 }),
    step(4400, Event::Cc { cc: 64, value: 0 }),
    step(4800, Event::On { key: 64, velocity: 60 }),
    step(5800, Event::Off { key: 64 }),
    step(6000, Event::On { key: 52, velocity: 90 }),
    step(7000, Event::Off { key: 52 }),
];

/// Length of a render of the phrase (ms).
pub const PHRASE_MS: u64 = 7600;
/// First note-on (ms).
pub const FIRST_ON_MS: u64 = 500;
/// Last note-off (ms).
pub const LAST_OFF_MS: u64 = 7000;

/// Where each note sounds alone (the 58 includes the second it is held by the pedal only).
pub const SOLOS: &[Solo] = &[
    Solo { key: 55, from_ms: 700, to_ms: 1200 },
    Solo { key: 62, from_ms: 2200, to_ms: 2600 },
    Solo { key: 58, from_ms: 3200, to_ms: 4400 },
    Solo { key: 64, from_ms: 5000, to_ms: 5800 },
    Solo { key: 52, from_ms: 6200, to_ms: 7000 },
];

/// The phrase at `rate` Hz: (host sample, event).
pub fn at_rate(steps: &[Step], rate: u32) -> Vec<(u64, Event)> {
    steps.iter().map(|s| (s.ms * rate as u64 / 1000, s.ev)).collect()
}

/// Milliseconds to samples at `rate`.
pub fn ms(ms: u64, rate: u32) -> usize {
    (ms * rate as u64 / 1000) as usize
}

/// The phrase as a standard MIDI file (format 0, 500 ticks per quarter at 120 bpm: 1 tick = 1 ms).
pub fn to_midi(steps: &[Step], end_ms: u64) -> Vec<u8> {
    use midly::num::{u15, u28, u4, u7};
    use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
    let mut track = vec![TrackEvent { delta: u28::from(0), kind: TrackEventKind::Meta(MetaMessage::Tempo(500_000.into())) }];
    let mut now = 0;
    for s in steps {
        let message = match s.ev {
            Event::On { key, velocity } => MidiMessage::NoteOn { key: u7::from(key), vel: u7::from(velocity) },
            Event::Off { key } => MidiMessage::NoteOff { key: u7::from(key), vel: u7::from(64) },
            Event::Cc { cc, value } => MidiMessage::Controller { controller: u7::from(cc), value: u7::from(value) },
            Event::Choke { .. } | Event::Param { .. } => continue,
        };
        track.push(TrackEvent { delta: u28::from((s.ms - now) as u32), kind: TrackEventKind::Midi { channel: u4::from(0), message } });
        now = s.ms;
    }
    track.push(TrackEvent { delta: u28::from((end_ms.max(now) - now) as u32), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    let mut smf = Smf::new(Header::new(Format::SingleTrack, Timing::Metrical(u15::from(500))));
    smf.tracks.push(track);
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("in-memory MIDI");
    bytes
}
