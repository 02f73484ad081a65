//! Sackbut.clap in a CLAP host, rendering offline: pitch, silence, repeatability, equality with
//! the offline reference render, state.

use sackbut_clap_host::analysis::{cents, key_hz, peak_db, rms_db, yin_hz};
use sackbut_clap_host::phrase::{ms, to_midi, FIRST_ON_MS, LAST_OFF_MS, PHRASE, PHRASE_MS, SOLOS};
use sackbut_clap_host::reference::{phrase_reference, render_16k_rows};
use sackbut_clap_host::{clap_bundle, Instance, Render};

/// Odd block sizes, cycled.
const BLOCKS: &[usize] = &[333, 1, 64, 1000, 17, 4096, 250];

fn render_phrase(rate: u32) -> Option<Render> {
    let bundle = clap_bundle()?;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    Some(inst.render_phrase(rate, BLOCKS))
}

/// Silence before the first note and after the last release, sound between; returns a report
/// line per note (level and pitch, which depend on the voice's training).
fn check_phrase(y: &[f32], rate: u32) -> Vec<String> {
    // Exactly silent before the first note: no voice generates before its note's frame (the
    // resampler's pre-ringing stays within the last 10 ms).
    let before = &y[..ms(FIRST_ON_MS - 10, rate)];
    assert!(before.iter().all(|&v| v.abs() < 1e-4), "sound before the first note: peak {:.1} dBFS", peak_db(before));
    let during = &y[ms(FIRST_ON_MS, rate)..ms(LAST_OFF_MS, rate)];
    assert!(rms_db(during) > -40.0, "the phrase is not heard: {:.1} dBFS", rms_db(during));
    let tail = &y[ms(LAST_OFF_MS + 300, rate)..ms(PHRASE_MS, rate)];
    assert!(rms_db(tail) < -60.0, "sound 300 ms after the last release: {:.1} dBFS", rms_db(tail));
    SOLOS
        .iter()
        .map(|solo| {
            let seg = &y[ms(solo.from_ms, rate)..ms(solo.to_ms, rate)];
            let f0 = yin_hz(seg, rate as f64, 50.0, 1000.0);
            format!(
                "key {} ({:.1} Hz): level {:.1} dBFS, f0 {}",
                solo.key,
                key_hz(solo.key),
                rms_db(seg),
                f0.map_or("none (unvoiced)".to_string(), |f| format!("{f:.1} Hz, {:+.0} cents", cents(f, key_hz(solo.key))))
            )
        })
        .collect()
}

/// Each held note heard and within 50 cents of its key.
fn assert_voiced_at_pitch(y: &[f32], rate: u32) {
    for solo in SOLOS {
        let seg = &y[ms(solo.from_ms, rate)..ms(solo.to_ms, rate)];
        assert!(rms_db(seg) > -40.0, "key {}: too quiet ({:.1} dBFS)", solo.key, rms_db(seg));
        let f0 = yin_hz(seg, rate as f64, 50.0, 1000.0).unwrap_or_else(|| panic!("key {}: no stable pitch", solo.key));
        let c = cents(f0, key_hz(solo.key));
        assert!(c.abs() < 50.0, "key {}: {f0:.1} Hz is {c:.0} cents from {:.1} Hz", solo.key, key_hz(solo.key));
    }
}

/// Silent before the first note and 300 ms after the last release, heard between, at 44.1 and
/// 48 kHz with odd block sizes.
#[test]
fn offline_phrase_at_44k1_and_48k_is_silent_around_and_heard_between() {
    for rate in [44_100u32, 48_000] {
        let Some(r) = render_phrase(rate) else { return };
        assert!(r.channels_equal);
        let y = r.compensated();
        if let Ok(dir) = std::env::var("SACKBUT_TEST_WAV_DIR") {
            sackbut_clap_host::write_wav(&format!("{dir}/clap-offline-{rate}.wav"), y, rate);
            std::fs::write(format!("{dir}/phrase.mid"), to_midi(PHRASE, PHRASE_MS)).unwrap();
        }
        eprintln!(
            "{rate} Hz: latency {} samples ({:.1} ms), rendered {:.1} s in {:.1} s",
            r.latency,
            r.latency as f64 * 1000.0 / rate as f64,
            y.len() as f64 / rate as f64,
            r.wall.as_secs_f64()
        );
        for line in check_phrase(y, rate) {
            eprintln!("  {line}");
        }
    }
}

/// Each held note heard and within 50 cents of its key (the voice's quality more than the
/// plugin's: the bounce equals the offline reference render, see below). Four of the five
/// note-ons lie on top-frame boundaries, where a voice starts from its reset state.
#[test]
fn offline_phrase_each_held_note_is_heard_within_50_cents() {
    for rate in [44_100u32, 48_000] {
        let Some(r) = render_phrase(rate) else { return };
        assert_voiced_at_pitch(r.compensated(), rate);
    }
}

/// The same seed gives the same bounce, sample for sample; another seed another one.
#[test]
fn offline_bounce_is_repeatable_for_a_seed() {
    let Some(a) = render_phrase(48_000) else { return };
    let b = render_phrase(48_000).unwrap();
    assert_eq!(a.latency, b.latency);
    assert!(a.left == b.left, "two bounces with seed 0 differ");
}

/// The bounce equals the offline reference render (the notes of the phrase's MIDI file through
/// `LiveVoices` and the native engine at 16 kHz, resampled as `trainer render` resamples),
/// sample for sample, once the reported latency is compensated.
#[test]
fn offline_bounce_equals_the_offline_reference_render() {
    for rate in [44_100u32, 48_000] {
        let Some(r) = render_phrase(rate) else { return };
        let y = r.compensated();
        let reference = phrase_reference(rate);
        let n = reference.len().min(y.len());
        assert!(n >= ms(PHRASE_MS, rate) - 10);
        let first_diff = (0..n).find(|&i| y[i] != reference[i]);
        assert!(
            first_diff.is_none(),
            "{rate} Hz: the bounce differs from the reference from sample {} on ({} vs {})",
            first_diff.unwrap(),
            y[first_diff.unwrap()],
            reference[first_diff.unwrap()]
        );
        eprintln!("{rate} Hz: {n} samples equal to the reference render");
    }
}

/// An offline render does not depend on how many rows the engine holds beyond the polyphony,
/// so `trainer render` may size its engine by the polyphony and still equal the plugin (16 rows).
#[test]
fn offline_render_does_not_depend_on_the_engine_rows() {
    let score = sackbut_model::score::parse_midi(&to_midi(PHRASE, PHRASE_MS)).unwrap();
    let voice = sackbut_plugin::voice_source::default_voice().unwrap();
    let len = 3 * 16_000;
    let a = render_16k_rows(&voice, &score.notes, len, 5, 1.0, 4, 4);
    let b = render_16k_rows(&voice, &score.notes, len, 5, 1.0, 4, 16);
    assert!(a == b);
    assert!(a.iter().any(|&v| v != 0.0));
}
