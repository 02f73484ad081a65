//! The non-finite guard: a NaN injected into one generated frame (the plugin's test hook
//! `SACKBUT_DEBUG_NAN_FRAME`, as a voice whose state blew up would produce) never reaches the
//! host, is counted, and the notes go on and end in silence. Its own test binary (process): it
//! sets environment variables the plugin reads at activation.

use sackbut_clap_host::analysis::rms_db;
use sackbut_clap_host::phrase::ms;
use sackbut_clap_host::{clap_bundle, Event, Instance, StatsFile};

#[test]
fn a_nan_in_a_generated_frame_is_silenced_counted_and_the_notes_end_cleanly() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("nan");
    // SAFETY (set_var): the only test of this binary; read by the plugin at activation.
    unsafe {
        // The 20th frame with voices: well inside the held notes.
        std::env::set_var("SACKBUT_DEBUG_NAN_FRAME", "20");
    }
    let voice = sackbut_plugin::voice_source::default_voice().unwrap();
    let release_ms = voice.meta.conditioning.release_samples as u64 / 16;
    let rate = 48_000u32;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    let probe = inst.render(rate as f64, &[512], 512, &[]);
    let at = |t: u64| ms(t, rate) as u64;
    let events = [
        (at(300), Event::On { key: 55, velocity: 100 }),
        (at(350), Event::On { key: 62, velocity: 90 }),
        (at(1500), Event::Off { key: 55 }),
        (at(1500), Event::Off { key: 62 }),
    ];
    let quiet_ms = 1500 + release_ms + 300;
    let r = inst.render(rate as f64, &[512], ms(quiet_ms + 300, rate) + probe.latency as usize, &events);
    let s: serde_json::Value = stats_file.read();
    eprintln!("NaN injected: {s}");
    let bad = r.left.iter().position(|v| !v.is_finite());
    assert!(bad.is_none(), "a non-finite sample reached the host at {}", bad.unwrap());
    assert_eq!(s["nonfinite_frames"], 1, "the poisoned frame was not caught by the worker's guard: {s}");
    assert_eq!(s["nonfinite_samples"], 0, "{s}");
    let y = r.compensated();
    assert!(y[ms(300, rate)..ms(1500, rate)].iter().any(|&v| v != 0.0), "the notes do not sound");
    let tail = &y[ms(quiet_ms, rate)..];
    assert!(rms_db(tail) < -60.0, "sound after the notes ended: {:.1} dBFS", rms_db(tail));
}
