//! Sackbut.clap in realtime mode at normal speed, driven at the pace of a real audio device:
//! the notes sound, the reported latency is what `Timeline` plans, the ring keeps up. Its own
//! test binary (process), for the stats file variable.

use sackbut_clap_host::analysis::rms_db;
use sackbut_clap_host::phrase::{at_rate, ms, PHRASE};
use sackbut_clap_host::{clap_bundle, Instance, StatsFile};
use sackbut_plugin::timeline::{RenderMode, Timeline};

#[test]
fn realtime_at_device_pace_plays_the_notes_with_the_planned_latency() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("rt-live");
    let rate = 48_000u32;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(false);
    let events = at_rate(PHRASE, rate);
    // What `Timeline` plans for 512-sample blocks (29 ms with the 64-sample frames of a small
    // voice: 448 model samples of event delay + 16 of resampler).
    let voice = sackbut_plugin::voice_source::default_voice().unwrap();
    let hp = voice.meta.hparams;
    let planned = Timeline::plan(rate, 512, RenderMode::Realtime, hp.top_frame(), 0, hp.horizon);
    let r = inst.render_paced(rate as f64, &[512], ms(2_600, rate) + planned.latency_samples as usize, &events);
    let s: serde_json::Value = stats_file.read();
    eprintln!("live: {s}; latency {} samples; longest call {:?}", r.latency, r.longest_call);
    assert_eq!(r.latency, planned.latency_samples);
    assert_eq!(s["mode"], "realtime");
    let y = r.compensated();
    // Keys 55 and 62 play from 0.5 s to 2.6 s.
    let level = rms_db(&y[ms(500, rate)..ms(2_600, rate)]);
    assert!(level > -40.0, "the notes are not heard live: {level:.1} dBFS ({s})");
    assert!(rms_db(&y[..ms(480, rate)]) < -80.0, "sound before the first note");
}
