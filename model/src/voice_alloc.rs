//! Voice allocation for an offline render: which voice (batch row of the model) plays each
//! note of a score, and that voice's timeline of [`NoteSpan`]s.
//!
//! The rule, which the plugin's live allocator follows too. Notes are taken in onset order
//! (ties: by key); for each one:
//! 1. a voice already sounding the same key (its last span's `end` > onset) is reused
//!    (retrigger);
//! 2. else the free voice (last span ended at or before the onset) with the lowest index;
//! 3. else a new voice, while fewer than `polyphony` are in use;
//! 4. else a voice is stolen: the one whose note was released earliest (`note_off` <= onset,
//!    smallest `note_off`), else the one whose note started earliest (oldest held). Ties go
//!    to the note allocated first, which is also the earlier onset.
//!
//! A reused or stolen voice's previous span is cut at the new onset (`end`, and `note_off` if
//! later), so a voice's spans never overlap. A span cut to zero length (a note stolen at its
//! own onset, e.g. by the 9th note of a chord on 8 voices) never sounds and is removed.
//! Keys are matched whatever their MIDI channel: a voice plays one key at a time.

use crate::conditioning::NoteSpan;
use crate::score::ScoreNote;

/// Assigns each note to a voice (one batch row of the model) and turns it into that voice's spans
/// at `rate_hz`, the sound of each note ending `release_samples` after its note-off.
///
/// Sample times: `onset = round(on_s × rate)`, `note_off = round(off_s × rate)` but at least
/// `onset + 1`, `end = note_off + release_samples`; negative or NaN times count as 0. Keys
/// above 127 are clamped to 127 and velocities to 1..=127. Returns one `Vec` per voice used
/// (none for no notes, at most `polyphony`, 0 counting as 1), each in onset order.
/// Deterministic; O(notes × polyphony).
pub fn allocate(notes: &[ScoreNote], rate_hz: u32, release_samples: u32, polyphony: usize) -> Vec<Vec<NoteSpan>> {
    let polyphony = polyphony.max(1);
    let rate = f64::from(rate_hz);
    // `as` saturates: negative → 0, NaN → 0, huge → u64::MAX.
    let to_sample = |s: f64| (s * rate).round() as u64;

    let mut spans: Vec<NoteSpan> = notes
        .iter()
        .map(|n| {
            let onset = to_sample(n.on_s);
            let note_off = to_sample(n.off_s).max(onset.saturating_add(1));
            NoteSpan {
                note: n.key.min(127),
                velocity: n.velocity.clamp(1, 127),
                onset,
                note_off,
                end: note_off.saturating_add(u64::from(release_samples)),
            }
        })
        .collect();
    // Stable: notes equal in onset and key keep their given order.
    spans.sort_by_key(|s| (s.onset, s.note));

    let mut voices: Vec<Vec<NoteSpan>> = Vec::new();
    // Per voice: allocation order of its current (last) note, for the "oldest" ties.
    let mut serial: Vec<usize> = Vec::new();
    for (order, span) in spans.into_iter().enumerate() {
        let t = span.onset;
        let last = |v: &Vec<NoteSpan>| *v.last().expect("a voice always holds a span");
        let pick = voices
            .iter()
            .position(|v| {
                let l = last(v);
                l.note == span.note && l.end > t
            })
            .or_else(|| voices.iter().position(|v| last(v).end <= t))
            .or_else(|| {
                (voices.len() < polyphony).then(|| {
                    voices.push(Vec::new());
                    serial.push(order);
                    voices.len() - 1
                })
            })
            .unwrap_or_else(|| {
                let released =
                    (0..voices.len()).filter(|&i| last(&voices[i]).note_off <= t).min_by_key(|&i| (last(&voices[i]).note_off, serial[i]));
                released.unwrap_or_else(|| (0..voices.len()).min_by_key(|&i| serial[i]).expect("at least one voice"))
            });

        let voice = &mut voices[pick];
        if let Some(prev) = voice.last_mut() {
            if prev.end > t {
                prev.end = t;
                prev.note_off = prev.note_off.min(t);
                if prev.end <= prev.onset {
                    voice.pop();
                }
            }
        }
        voice.push(span);
        serial[pick] = order;
    }
    voices
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn note(key: u8, on_s: f64, off_s: f64) -> ScoreNote {
        ScoreNote { key, velocity: 100, channel: 0, on_s, off_s }
    }

    fn span(note: u8, onset: u64, note_off: u64, end: u64) -> NoteSpan {
        NoteSpan { note, velocity: 100, onset, note_off, end }
    }

    fn assert_no_overlap(voices: &[Vec<NoteSpan>]) {
        for v in voices {
            for s in v {
                assert!(s.onset < s.note_off && s.note_off <= s.end, "{s:?}");
            }
            for w in v.windows(2) {
                assert!(w[0].end <= w[1].onset, "{:?} overlaps {:?}", w[0], w[1]);
            }
        }
    }

    #[test]
    fn sample_rounding_by_hand() {
        // 0.10003 s × 16000 = 1600.48 → 1600; 0.20004 s → 3200.64 → 3201;
        // 1/32000 s = 0.5 samples → rounds away from zero to 1.
        let v = allocate(&[note(60, 0.10003, 0.20004)], RATE, 100, 4);
        assert_eq!(v, vec![vec![span(60, 1600, 3201, 3301)]]);
        let v = allocate(&[note(60, 1.0 / 32_000.0, 0.001)], RATE, 0, 4);
        assert_eq!(v, vec![vec![span(60, 1, 16, 16)]]);
        // A note-off that rounds onto the onset is pushed one sample later.
        let v = allocate(&[note(60, 0.5, 0.50001)], RATE, 10, 4);
        assert_eq!(v, vec![vec![span(60, 8000, 8001, 8011)]]);
        // Negative times count as 0.
        let v = allocate(&[note(60, -1.0, 0.001)], RATE, 0, 4);
        assert_eq!(v, vec![vec![span(60, 0, 16, 16)]]);
    }

    #[test]
    fn no_notes_no_voices_and_polyphony_zero_is_one() {
        assert!(allocate(&[], RATE, 100, 8).is_empty());
        let v = allocate(&[note(60, 0.0, 1.0), note(64, 0.5, 1.5)], RATE, 0, 0);
        assert_eq!(v, vec![vec![span(60, 0, 8000, 8000), span(64, 8000, 24000, 24000)]]);
    }

    #[test]
    fn overlapping_notes_get_two_voices() {
        let v = allocate(&[note(60, 0.0, 1.0), note(64, 0.5, 1.5)], RATE, 1600, 8);
        assert_eq!(v, vec![vec![span(60, 0, 16000, 17600)], vec![span(64, 8000, 24000, 25600)]]);
    }

    #[test]
    fn free_voice_with_lowest_index_is_reused() {
        // Voices 0 and 1 both free by 2.0 s; the third note takes voice 0.
        let notes = [note(60, 0.0, 1.0), note(64, 0.5, 1.5), note(67, 2.0, 3.0)];
        let v = allocate(&notes, RATE, 0, 8);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0][1], span(67, 32000, 48000, 48000));
        // A release still sounding keeps its voice busy: 1.05 s is before 60's end at 1.1 s.
        let notes = [note(60, 0.0, 1.0), note(67, 1.05, 2.0)];
        let v = allocate(&notes, RATE, 1600, 8);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn chord_of_ten_on_eight_voices_steals_the_oldest() {
        // Keys 60..=69 all at 0 s: sorted by key, 60..=67 open voices 0..=7; 68 steals voice 0
        // (60, allocated first), 69 steals voice 1 (61). The stolen notes never sounded.
        let notes: Vec<ScoreNote> = (60..70).map(|k| note(k, 0.0, 1.0)).collect();
        let v = allocate(&notes, RATE, 0, 8);
        assert_eq!(v.len(), 8);
        let keys: Vec<Vec<u8>> = v.iter().map(|voice| voice.iter().map(|s| s.note).collect()).collect();
        assert_eq!(keys, vec![vec![68], vec![69], vec![62], vec![63], vec![64], vec![65], vec![66], vec![67]]);

        // The same chord arpeggiated 0.1 s apart: 68 cuts 60 at 0.8 s, 69 cuts 61 at 0.9 s.
        let notes: Vec<ScoreNote> = (0..10).map(|i| note(60 + i as u8, 0.1 * i as f64, 2.0)).collect();
        let v = allocate(&notes, RATE, 0, 8);
        assert_eq!(v[0], vec![span(60, 0, 12800, 12800), span(68, 12800, 32000, 32000)]);
        assert_eq!(v[1], vec![span(61, 1600, 14400, 14400), span(69, 14400, 32000, 32000)]);
        assert_no_overlap(&v);
    }

    #[test]
    fn released_voice_is_stolen_before_held_one() {
        // Two voices. 60 held 0..2 s; 62 from 0.1 s released at 0.5 s with a long release
        // (1 s, still sounding at 0.6 s); 64 at 0.6 s steals 62's voice (1), not 60's.
        let notes = [note(60, 0.0, 2.0), note(62, 0.1, 0.5), note(64, 0.6, 1.0)];
        let v = allocate(&notes, RATE, 16000, 2);
        assert_eq!(v[0], vec![span(60, 0, 32000, 48000)]);
        assert_eq!(v[1], vec![span(62, 1600, 8000, 9600), span(64, 9600, 16000, 32000)]);

        // Among released voices the earliest note-off goes first: 60 off at 0.3 s, 62 off at
        // 0.2 s, both sounding on at 0.5 s; 64 steals 62's voice.
        let notes = [note(60, 0.0, 0.3), note(62, 0.1, 0.2), note(64, 0.5, 1.0)];
        let v = allocate(&notes, RATE, 16000, 2);
        assert_eq!(v[1].last().unwrap().note, 64);
        assert_eq!(v[1][0], span(62, 1600, 3200, 8000));
        assert_eq!(v[0], vec![span(60, 0, 4800, 20800)]);
    }

    #[test]
    fn retrigger_reuses_the_voice_and_cuts_the_span() {
        // 64 on voice 1; 60 retriggered at 0.5 s (while held) and again at 1.2 s (in its
        // release) stays on voice 0 though voice 1 is free by then.
        let notes = [note(60, 0.0, 1.0), note(64, 0.1, 0.2), note(60, 0.5, 1.0), note(60, 1.2, 1.5)];
        let v = allocate(&notes, RATE, 8000, 4);
        assert_eq!(v[0], vec![span(60, 0, 8000, 8000), span(60, 8000, 16000, 19200), span(60, 19200, 24000, 32000),]);
        assert_eq!(v[1], vec![span(64, 1600, 3200, 11200)]);
    }

    #[test]
    fn spans_never_overlap_on_a_dense_random_score() {
        let mut rng = crate::rng::SplitMix64::new(42);
        let notes: Vec<ScoreNote> = (0..2000)
            .map(|_| {
                let on = (rng.next_u64() % 100_000) as f64 / 1000.0;
                let len = (rng.next_u64() % 3000) as f64 / 1000.0;
                note(40 + (rng.next_u64() % 30) as u8, on, on + len)
            })
            .collect();
        for polyphony in [1, 3, 8, 64] {
            let v = allocate(&notes, RATE, 2000, polyphony);
            assert!(v.len() <= polyphony && !v.is_empty());
            assert_no_overlap(&v);
            for voice in &v {
                assert!(voice.windows(2).all(|w| w[0].onset < w[1].onset));
            }
            // Deterministic.
            assert_eq!(v, allocate(&notes, RATE, 2000, polyphony));
        }
    }

    #[test]
    fn absurd_times_do_not_panic() {
        let notes = [note(200, f64::NAN, f64::NAN), note(60, f64::INFINITY, f64::INFINITY), note(61, -5.0, -1.0), note(62, 1e300, 1e301)];
        let v = allocate(&notes, u32::MAX, u32::MAX, 2);
        // 61 (→ 0..1) and NaN (→ 0..1, key 127) open two voices; the two notes saturated at
        // u64::MAX have zero length there, so voice 0 counts as free for both.
        assert_eq!(v.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 1]);
        assert!(v.iter().flatten().all(|s| s.note <= 127));
    }
}
