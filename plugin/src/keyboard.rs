//! MIDI as a player means it: keys, the sustain pedal and the channel-mode messages turned into
//! note-ons, note-offs and chokes for [`crate::live_voices`]. Mirrors how
//! `sackbut_model::score::parse_midi` reads a file, so a clip played into the plugin and the same
//! clip read as a score give the same notes:
//! - a note-on with velocity 0 is a note-off (nice-plug already converts raw MIDI; CLAP note
//!   events with velocity 0 are converted here);
//! - a key released while the pedal (CC64 ≥ 64) is down sounds until the pedal lifts (or CC121
//!   resets the controllers) or the key is struck again;
//! - a note-on on a key already sounding on its channel ends the earlier note first; a note-off
//!   at the same sample as such a retrigger belongs to the earlier note and is ignored;
//! - CC123 "all notes off" (and CC124–127) releases every key of the channel, the pedal still
//!   holding them; CC120 "all sound off" and a CLAP note choke stop the sound at once (a score
//!   would let them ring through their release: the plugin stops them, as a player expects).

use crate::live_voices::{EventKind, TimedEvent};

/// A raw input event, as the audio thread sends it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyEvent {
    /// Key down (velocity 0 = key up).
    On { channel: u8, key: u8, velocity: u8 },
    /// Key up.
    Off { channel: u8, key: u8 },
    /// CC64.
    Pedal { channel: u8, down: bool },
    /// CC121.
    ResetControllers { channel: u8 },
    /// CC123..=127.
    AllNotesOff { channel: u8 },
    /// CC120: every note of the channel stops now.
    AllSoundOff { channel: u8 },
    /// CLAP note choke (`None`: wildcard).
    Choke { channel: Option<u8>, key: Option<u8> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    Up,
    /// Down since `on_t`.
    Held {
        on_t: u64,
    },
    /// Up but held by the pedal.
    Sustained,
}

/// Per-channel key and pedal state.
pub struct Keyboard {
    keys: [[KeyState; 128]; 16],
    swallow_off_at: [[Option<u64>; 128]; 16],
    pedal: [bool; 16],
}

impl Default for Keyboard {
    fn default() -> Self {
        Keyboard { keys: [[KeyState::Up; 128]; 16], swallow_off_at: [[None; 128]; 16], pedal: [false; 16] }
    }
}

impl Keyboard {
    /// All keys up, pedals up.
    pub fn reset(&mut self) {
        *self = Keyboard::default();
    }

    /// Keys down or held by the pedal, per channel (for the editor's view is not needed: the
    /// voices report what sounds).
    pub fn is_sounding(&self, channel: u8, key: u8) -> bool {
        self.keys[(channel & 15) as usize][(key & 127) as usize] != KeyState::Up
    }

    /// Turns `ev` at `t` into note events for the voices (`emit` is called in order).
    pub fn handle(&mut self, t: u64, ev: KeyEvent, mut emit: impl FnMut(TimedEvent)) {
        let mut send = |kind| emit(TimedEvent { t, kind });
        let ev = match ev {
            KeyEvent::On { channel, key, velocity: 0 } => KeyEvent::Off { channel, key },
            e => e,
        };
        match ev {
            KeyEvent::On { channel, key, velocity } => {
                let (c, k) = ((channel & 15) as usize, (key & 127) as usize);
                match self.keys[c][k] {
                    KeyState::Held { on_t } => {
                        if on_t < t {
                            self.swallow_off_at[c][k] = Some(t);
                        }
                        send(EventKind::NoteOff { channel: c as u8, key: k as u8 });
                    }
                    KeyState::Sustained => send(EventKind::NoteOff { channel: c as u8, key: k as u8 }),
                    KeyState::Up => {}
                }
                self.keys[c][k] = KeyState::Held { on_t: t };
                send(EventKind::NoteOn { channel: c as u8, key: k as u8, velocity: velocity.min(127) });
            }
            KeyEvent::Off { channel, key } => {
                let (c, k) = ((channel & 15) as usize, (key & 127) as usize);
                let swallow = self.swallow_off_at[c][k].take() == Some(t);
                match self.keys[c][k] {
                    KeyState::Held { on_t } if !(swallow && on_t == t) => {
                        if self.pedal[c] {
                            self.keys[c][k] = KeyState::Sustained;
                        } else {
                            self.keys[c][k] = KeyState::Up;
                            send(EventKind::NoteOff { channel: c as u8, key: k as u8 });
                        }
                    }
                    _ => {}
                }
            }
            KeyEvent::Pedal { channel, down } => {
                let c = (channel & 15) as usize;
                if self.pedal[c] && !down {
                    self.release_sustained(c, &mut send);
                }
                self.pedal[c] = down;
            }
            KeyEvent::ResetControllers { channel } => {
                let c = (channel & 15) as usize;
                self.release_sustained(c, &mut send);
                self.pedal[c] = false;
            }
            KeyEvent::AllNotesOff { channel } => {
                let c = (channel & 15) as usize;
                for k in 0..128 {
                    match self.keys[c][k] {
                        KeyState::Held { .. } if self.pedal[c] => self.keys[c][k] = KeyState::Sustained,
                        KeyState::Held { .. } | KeyState::Sustained => {
                            self.keys[c][k] = KeyState::Up;
                            send(EventKind::NoteOff { channel: c as u8, key: k as u8 });
                        }
                        KeyState::Up => {}
                    }
                }
            }
            KeyEvent::AllSoundOff { channel } => {
                let c = (channel & 15) as usize;
                self.keys[c] = [KeyState::Up; 128];
                send(EventKind::Choke { channel: Some(c as u8), key: None });
            }
            KeyEvent::Choke { channel, key } => {
                for c in 0..16u8 {
                    if channel.is_some_and(|ch| ch != c) {
                        continue;
                    }
                    for k in 0..128u8 {
                        if key.is_none_or(|kk| kk == k) {
                            self.keys[c as usize][k as usize] = KeyState::Up;
                        }
                    }
                }
                send(EventKind::Choke { channel, key });
            }
        }
    }

    fn release_sustained(&mut self, c: usize, send: &mut impl FnMut(EventKind)) {
        for k in 0..128 {
            if self.keys[c][k] == KeyState::Sustained {
                self.keys[c][k] = KeyState::Up;
                send(EventKind::NoteOff { channel: c as u8, key: k as u8 });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(events: &[(u64, KeyEvent)]) -> Vec<(u64, EventKind)> {
        let mut kb = Keyboard::default();
        let mut out = vec![];
        for &(t, ev) in events {
            kb.handle(t, ev, |e| out.push((e.t, e.kind)));
        }
        out
    }

    fn on(key: u8) -> KeyEvent {
        KeyEvent::On { channel: 0, key, velocity: 100 }
    }
    fn off(key: u8) -> KeyEvent {
        KeyEvent::Off { channel: 0, key }
    }
    fn n_on(key: u8) -> EventKind {
        EventKind::NoteOn { channel: 0, key, velocity: 100 }
    }
    fn n_off(key: u8) -> EventKind {
        EventKind::NoteOff { channel: 0, key }
    }

    #[test]
    fn pedal_holds_released_keys_until_it_lifts() {
        let got = play(&[
            (0, KeyEvent::Pedal { channel: 0, down: true }),
            (0, on(60)),
            (10, off(60)),
            (20, on(62)),
            (30, KeyEvent::Pedal { channel: 0, down: false }),
            (40, off(62)),
        ]);
        assert_eq!(got, vec![(0, n_on(60)), (20, n_on(62)), (30, n_off(60)), (40, n_off(62))]);
    }

    #[test]
    fn restrike_ends_the_earlier_note_and_swallows_its_late_off() {
        let got = play(&[(0, on(60)), (10, on(60)), (10, off(60)), (20, off(60))]);
        assert_eq!(got, vec![(0, n_on(60)), (10, n_off(60)), (10, n_on(60)), (20, n_off(60))]);
        // Velocity 0 is a key-up.
        let got = play(&[(0, on(60)), (5, KeyEvent::On { channel: 0, key: 60, velocity: 0 })]);
        assert_eq!(got, vec![(0, n_on(60)), (5, n_off(60))]);
    }

    #[test]
    fn all_notes_off_respects_the_pedal_and_all_sound_off_chokes() {
        let got = play(&[
            (0, on(60)),
            (0, KeyEvent::Pedal { channel: 1, down: true }),
            (0, KeyEvent::On { channel: 1, key: 64, velocity: 9 }),
            (5, KeyEvent::AllNotesOff { channel: 0 }),
            (5, KeyEvent::AllNotesOff { channel: 1 }),
            (9, KeyEvent::AllSoundOff { channel: 1 }),
        ]);
        assert_eq!(
            got,
            vec![
                (0, n_on(60)),
                (0, EventKind::NoteOn { channel: 1, key: 64, velocity: 9 }),
                (5, n_off(60)),
                (9, EventKind::Choke { channel: Some(1), key: None }),
            ]
        );
    }
}
