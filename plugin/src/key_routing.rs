//! Which note a MIDI key plays: keys outside the voice's trained range move by whole octaves
//! into it ([`sackbut_model::voice_file::ConditioningMeta::key_map`]), and a note-off or a
//! choke goes to the note its note-on was played as, even after a voice swap changed the map.
//! It also remembers the order notes were struck in, for load shedding's "oldest".

use crate::live_voices::EventKind;

/// The key map of the current voice and what each held key was played as.
pub struct KeyRouting {
    map: [u8; 128],
    /// The note each (channel, key) was played as at its last note-on.
    playing_as: [[u8; 128]; 16],
    /// Note-on order per played note.
    struck: [u64; 128],
    strikes: u64,
}

impl KeyRouting {
    /// Routing with a voice's key map.
    pub fn new(map: [u8; 128]) -> KeyRouting {
        KeyRouting { map, playing_as: [std::array::from_fn(|k| k as u8); 16], struck: [0; 128], strikes: 0 }
    }

    /// A new voice's key map; notes already held still end where they were played.
    pub fn set_map(&mut self, map: [u8; 128]) {
        self.map = map;
    }

    /// Forgets held keys (a reset of the stream).
    pub fn reset(&mut self) {
        *self = KeyRouting::new(self.map);
    }

    /// When `note` was last struck (larger is later).
    pub fn struck(&self, note: u8) -> u64 {
        self.struck[(note & 127) as usize]
    }

    /// Passes `kind` to `stage` with its key routed; a choke of a key on any channel may
    /// become several chokes (one per note that key was played as).
    pub fn route(&mut self, kind: EventKind, mut stage: impl FnMut(EventKind)) {
        let routed = match kind {
            EventKind::NoteOn { channel, key, velocity } => {
                let played = self.map[(key & 127) as usize];
                self.playing_as[(channel & 15) as usize][(key & 127) as usize] = played;
                self.strikes += 1;
                self.struck[played as usize] = self.strikes;
                EventKind::NoteOn { channel, key: played, velocity }
            }
            EventKind::NoteOff { channel, key } => EventKind::NoteOff { channel, key: self.played(channel, key) },
            EventKind::Choke { channel: Some(c), key: Some(k) } => EventKind::Choke { channel: Some(c), key: Some(self.played(c, k)) },
            EventKind::Choke { channel: None, key: Some(k) } => {
                let mapped = self.map[(k & 127) as usize];
                for (c, keys) in self.playing_as.iter().enumerate() {
                    let played = keys[(k & 127) as usize];
                    if played != mapped {
                        stage(EventKind::Choke { channel: Some(c as u8), key: Some(played) });
                    }
                }
                EventKind::Choke { channel: None, key: Some(mapped) }
            }
            k => k,
        };
        stage(routed);
    }

    fn played(&self, channel: u8, key: u8) -> u8 {
        self.playing_as[(channel & 15) as usize][(key & 127) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys below 40 go up an octave (a toy map).
    fn map() -> [u8; 128] {
        std::array::from_fn(|k| if k < 40 { k as u8 + 12 } else { k as u8 })
    }

    fn routed(r: &mut KeyRouting, kind: EventKind) -> Vec<EventKind> {
        let mut out = Vec::new();
        r.route(kind, |k| out.push(k));
        out
    }

    #[test]
    fn a_note_off_finds_its_note_after_the_map_changed() {
        let mut r = KeyRouting::new(map());
        let on = routed(&mut r, EventKind::NoteOn { channel: 0, key: 30, velocity: 90 });
        assert_eq!(on, vec![EventKind::NoteOn { channel: 0, key: 42, velocity: 90 }]);
        r.set_map(std::array::from_fn(|k| k as u8));
        assert_eq!(routed(&mut r, EventKind::NoteOff { channel: 0, key: 30 }), vec![EventKind::NoteOff { channel: 0, key: 42 }]);
        assert!(r.struck(42) > r.struck(60));
    }

    #[test]
    fn a_choke_on_any_channel_reaches_every_note_the_key_played() {
        let mut r = KeyRouting::new(map());
        routed(&mut r, EventKind::NoteOn { channel: 3, key: 30, velocity: 90 });
        r.set_map(std::array::from_fn(|k| k as u8));
        let chokes = routed(&mut r, EventKind::Choke { channel: None, key: Some(30) });
        assert!(chokes.contains(&EventKind::Choke { channel: Some(3), key: Some(42) }), "{chokes:?}");
        assert_eq!(chokes.last(), Some(&EventKind::Choke { channel: None, key: Some(30) }));
    }
}
