//! Sackbut.clap under abuse, offline (so every check is exact and independent of the machine's
//! speed; the bundle is built with `assert_process_allocs`, so an allocation on the audio thread
//! aborts this process): a thousand note-ons in one block, note-offs without note-ons, velocity-0
//! note-ons, keys outside the voice's trained range, every host rate from 22.05 to 192 kHz with
//! blocks of 1, 7 and 8192 samples, deactivation in the middle of a note, and the engine
//! parameter switched while notes sound. No test sets an environment variable, so they may run
//! in parallel.

use sackbut_clap_host::analysis::{peak_db, rms_db};
use sackbut_clap_host::phrase::{ms, to_midi, Step};
use sackbut_clap_host::reference::{render_16k, resample_like_trainer};
use sackbut_clap_host::{clap_bundle, Event, Instance, Render};
use sackbut_plugin::timeline::{RenderMode, Timeline};

/// The default voice's facts the checks depend on: top frame, horizon, release, trained notes.
struct VoiceFacts {
    top_frame: usize,
    horizon: u32,
    release_ms: u64,
    lo: u8,
    hi: u8,
}

fn voice() -> VoiceFacts {
    let v = sackbut_plugin::voice_source::default_voice().unwrap();
    let (lo, hi) = v.meta.conditioning.note_range().expect("the default voice has trained notes");
    VoiceFacts {
        top_frame: v.meta.hparams.top_frame(),
        horizon: v.meta.hparams.horizon,
        release_ms: v.meta.conditioning.release_samples as u64 / 16,
        lo,
        hi,
    }
}

/// When the last note's sound must be over: its note-off, the release, the two tail frames the
/// voice keeps generating, and 300 ms of margin (the same margin `clap_offline` gives the phrase).
fn quiet_from_ms(last_off_ms: u64) -> u64 {
    let v = voice();
    last_off_ms + v.release_ms + 2 * (v.top_frame as u64 * 1000).div_ceil(16_000) + 300
}

/// An offline render of `events` (times in ms) for `len_ms` of compensated output, at `rate`
/// with blocks cycling through `blocks`.
fn offline(rate: u32, blocks: &[usize], len_ms: u64, events: &[(u64, Event)]) -> Option<Render> {
    let bundle = clap_bundle()?;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    let v = voice();
    let max = *blocks.iter().max().unwrap();
    let planned = Timeline::plan(rate, max, RenderMode::Offline, v.top_frame, 0, v.horizon);
    let events: Vec<(u64, Event)> = events.iter().map(|&(t, e)| (t * rate as u64 / 1000, e)).collect();
    let r = inst.render(rate as f64, blocks, ms(len_ms, rate) + planned.latency_samples as usize, &events);
    assert_eq!(r.latency, planned.latency_samples, "{rate} Hz: the latency Timeline plans");
    Some(r)
}

/// Finite everywhere, and below −60 dBFS from `quiet_ms` on.
fn assert_finite_and_quiet_after(r: &Render, rate: u32, quiet_ms: u64, what: &str) {
    let bad = r.left.iter().position(|v| !v.is_finite());
    assert!(bad.is_none(), "{what}: a non-finite sample at {}", bad.unwrap());
    let y = r.compensated();
    let tail = &y[ms(quiet_ms, rate).min(y.len())..];
    assert!(tail.len() >= ms(200, rate), "{what}: the render is too short to check the silence");
    assert!(rms_db(tail) < -60.0, "{what}: stuck sound after every note ended: {:.1} dBFS", rms_db(tail));
}

fn on(ms: u64, key: u8, velocity: u8) -> (u64, Event) {
    (ms, Event::On { key, velocity })
}
fn off(ms: u64, key: u8) -> (u64, Event) {
    (ms, Event::Off { key })
}

/// Two notes (keys 55 and 62) held and released: the clip several tests compare against.
fn two_notes() -> Vec<(u64, Event)> {
    vec![on(300, 55, 100), on(600, 62, 80), off(1000, 55), off(1300, 62)]
}

/// 1000 note-ons in one block of 4096 samples (every key, velocities 1..=127), then the note-offs
/// of every key in another: no crash, no allocation on the audio thread, finite output, and
/// silence once the releases are over.
#[test]
fn a_thousand_note_ons_in_one_block_then_all_released_end_in_silence() {
    let rate = 48_000u32;
    let block = 4096usize;
    // The 7th block (host samples 24576..28672), one note-on every 4 samples.
    let first = 6 * block as u64;
    let mut events: Vec<(u64, Event)> =
        (0..1000u64).map(|i| (first + 4 * i, Event::On { key: (i * 37 % 128) as u8, velocity: (1 + i % 127) as u8 })).collect();
    let off_at = 12 * block as u64;
    events.extend((0..128u8).map(|k| (off_at, Event::Off { key: k })));
    assert!(events[..1000].iter().all(|&(t, _)| t / block as u64 == 6), "the note-ons share one block");
    let Some(bundle) = clap_bundle() else { return };
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    let v = voice();
    let planned = Timeline::plan(rate, block, RenderMode::Offline, v.top_frame, 0, v.horizon);
    let off_ms = off_at * 1000 / rate as u64;
    let len_ms = quiet_from_ms(off_ms) + 400;
    let r = inst.render(rate as f64, &[block], ms(len_ms, rate) + planned.latency_samples as usize, &events);
    let y = r.compensated();
    let during = &y[ms(600, rate)..ms(off_ms, rate)];
    eprintln!("1000 note-ons: {:.1} dBFS while held, peak {:.1} dBFS", rms_db(during), peak_db(during));
    assert!(during.iter().any(|&v| v != 0.0), "the notes do not sound at all");
    assert_finite_and_quiet_after(&r, rate, quiet_from_ms(off_ms), "1000 note-ons");
}

/// A note-on with velocity 0 is a note-off, and note-offs of keys that are not down (before any
/// note, of other keys, twice) change nothing: both renders equal the plain one, sample for sample.
#[test]
fn velocity_zero_note_ons_end_notes_and_stray_note_offs_change_nothing() {
    let rate = 44_100u32;
    let blocks = [333, 1, 64, 1000];
    let len = quiet_from_ms(1300) + 300;
    let Some(plain) = offline(rate, &blocks, len, &two_notes()) else { return };
    assert!(plain.compensated().iter().any(|&v| v != 0.0), "the notes sound");
    assert_finite_and_quiet_after(&plain, rate, quiet_from_ms(1300), "plain");

    let zero_velocity = vec![on(300, 55, 100), on(600, 62, 80), on(1000, 55, 0), on(1300, 62, 0)];
    let r = offline(rate, &blocks, len, &zero_velocity).unwrap();
    assert!(r.left == plain.left, "a velocity-0 note-on does not end the note as a note-off does");

    let mut stray: Vec<(u64, Event)> = (0..128u8).map(|k| off(100, k)).collect();
    stray.extend([
        on(300, 55, 100),
        off(450, 70),
        off(500, 62),
        on(600, 62, 80),
        off(1000, 55),
        off(1100, 55),
        off(1300, 62),
        off(1300, 62),
        off(1400, 62),
    ]);
    stray.sort_by_key(|&(t, _)| t);
    let r = offline(rate, &blocks, len, &stray).unwrap();
    assert!(r.left == plain.left, "note-offs of keys that are not down changed the output");
}

/// The key a key outside the voice's trained notes `lo..=hi` must play as: the nearest key of the
/// same pitch class inside the range (worked out here independently of the plugin's rule).
fn expected_key(k: u8, lo: u8, hi: u8) -> u8 {
    let same_class: Vec<u8> = (lo..=hi).filter(|&j| (j as i32 - k as i32).rem_euclid(12) == 0).collect();
    if k < lo {
        same_class.first().copied().unwrap_or(lo)
    } else if k > hi {
        same_class.last().copied().unwrap_or(hi)
    } else {
        k
    }
}

/// Keys outside the trained range are played whole octaves into it (see the plugin's README
/// section): a clip of such keys renders exactly as the same clip with the keys moved by hand.
#[test]
fn keys_outside_the_trained_range_play_octaves_into_it() {
    let v = voice();
    let outside: Vec<u8> =
        [0u8, v.lo.saturating_sub(1), v.lo.saturating_sub(13), v.hi.saturating_add(1).min(127), v.hi.saturating_add(25).min(127), 127]
            .into_iter()
            .filter(|&k| k < v.lo || k > v.hi)
            .collect();
    assert!(outside.len() >= 4, "the default voice's range {}..={} leaves keys outside it", v.lo, v.hi);
    let clip = |keys: &[u8]| -> Vec<(u64, Event)> {
        let mut e = vec![];
        for (i, &k) in keys.iter().enumerate() {
            let t = 200 + 350 * i as u64;
            e.push(on(t, k, 100));
            e.push(off(t + 250, k));
        }
        e
    };
    let moved: Vec<u8> = outside.iter().map(|&k| expected_key(k, v.lo, v.hi)).collect();
    eprintln!("trained {}..={}: keys {outside:?} play as {moved:?}", v.lo, v.hi);
    let last_off = 200 + 350 * (outside.len() as u64 - 1) + 250;
    let len = quiet_from_ms(last_off) + 300;
    let rate = 48_000;
    let Some(a) = offline(rate, &[512], len, &clip(&outside)) else { return };
    let b = offline(rate, &[512], len, &clip(&moved)).unwrap();
    assert!(b.compensated().iter().any(|&v| v != 0.0), "the in-range clip sounds");
    assert_finite_and_quiet_after(&a, rate, quiet_from_ms(last_off), "outside keys");
    let first_diff = a.left.iter().zip(&b.left).position(|(x, y)| x != y);
    assert!(first_diff.is_none(), "keys outside the range do not play as their octaves inside it (from sample {first_diff:?})");
}

/// Every host rate from 22.05 to 192 kHz, with blocks of 1, 7 and 8192 samples mixed with others:
/// the bounce equals the offline reference render at that rate, sample for sample, and ends in
/// silence.
#[test]
fn every_rate_with_blocks_of_1_7_and_8192_equals_the_reference_render() {
    let Some(_) = clap_bundle() else { return };
    let steps: Vec<Step> = two_notes().into_iter().map(|(ms, ev)| Step { ms, ev }).collect();
    let len_ms = quiet_from_ms(1300) + 200;
    let score = sackbut_model::score::parse_midi(&to_midi(&steps, len_ms)).unwrap();
    let voice = sackbut_plugin::voice_source::default_voice().unwrap();
    let x = render_16k(&voice, &score.notes, (len_ms * 16) as usize, 0, 1.0, 8);
    for (rate, blocks) in [
        (22_050u32, &[1usize, 7, 8192, 333][..]),
        (44_100, &[8192, 7, 1, 64][..]),
        (48_000, &[7][..]),
        (88_200, &[1, 8192, 500, 7][..]),
        (96_000, &[8192][..]),
        (192_000, &[7, 1, 8192, 4000, 13][..]),
    ] {
        let r = offline(rate, blocks, len_ms, &two_notes()).unwrap();
        assert_eq!(r.left.len(), ms(len_ms, rate) + r.latency as usize, "{rate} Hz: sample-exact length");
        assert!(r.channels_equal);
        assert_finite_and_quiet_after(&r, rate, quiet_from_ms(1300), &format!("{rate} Hz"));
        let y = r.compensated();
        let reference = resample_like_trainer(&x, rate);
        let n = reference.len().min(y.len());
        assert!(n + 2 >= ms(len_ms, rate), "{rate} Hz: {n} samples compared");
        let first_diff = (0..n).find(|&i| y[i] != reference[i]);
        assert!(first_diff.is_none(), "{rate} Hz, blocks {blocks:?}: differs from the reference render from sample {first_diff:?}");
        eprintln!("{rate} Hz, blocks {blocks:?}: {n} samples equal to the reference, rendered in {:.1} s", r.wall.as_secs_f64());
    }
}

/// Deactivated in the middle of a note (no note-off ever comes), then activated again at another
/// rate: the new activation starts in silence, nothing of the old note is left.
#[test]
fn deactivating_in_the_middle_of_a_note_leaves_nothing_sounding() {
    let Some(bundle) = clap_bundle() else { return };
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    let v = voice();
    let rate = 48_000u32;
    let planned = Timeline::plan(rate, 512, RenderMode::Offline, v.top_frame, 0, v.horizon);
    // The note is on from 0.2 s to the end of the render: it is sounding when the host stops.
    let held = inst.render(
        rate as f64,
        &[512],
        ms(900, rate) + planned.latency_samples as usize,
        &[(ms(200, rate) as u64, Event::On { key: 55, velocity: 110 })],
    );
    assert!(held.compensated()[ms(200, rate)..].iter().any(|&v| v != 0.0), "the note sounds before the deactivation");
    for (rate, block) in [(44_100u32, 441usize), (96_000, 7)] {
        let r = inst.render(rate as f64, &[block], ms(1_500, rate), &[]);
        assert!(
            r.left.iter().all(|&v| v == 0.0),
            "{rate} Hz: the note deactivated mid-way still sounds: peak {:.1} dBFS",
            peak_db(&r.left)
        );
    }
}

/// The engine parameter switched back and forth while two notes sound changes nothing in the
/// output (this build has one engine; the switch must not glitch, restart or stop the notes).
#[test]
fn switching_the_engine_parameter_while_playing_changes_nothing() {
    let Some(bundle) = clap_bundle() else { return };
    let id = Instance::load(&bundle).unwrap().param_id("Engine").expect("an Engine parameter");
    let rate = 48_000u32;
    let len = quiet_from_ms(1300) + 300;
    let plain = offline(rate, &[480, 1, 2000], len, &two_notes()).unwrap();
    let mut switched = two_notes();
    for (t, value) in [(650, 2.0), (700, 1.0), (701, 0.0), (800, 2.0), (1100, 1.0), (1200, 0.0)] {
        switched.push((t, Event::Param { id, value }));
    }
    switched.sort_by_key(|&(t, _)| t);
    let r = offline(rate, &[480, 1, 2000], len, &switched).unwrap();
    assert!(plain.compensated().iter().any(|&v| v != 0.0));
    assert!(r.left == plain.left, "switching the engine parameter while playing changed the output");
}
