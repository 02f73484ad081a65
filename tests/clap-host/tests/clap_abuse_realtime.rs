//! Sackbut.clap abused live, at device pace: blocks of 1, 7 and 8192 samples mixed, the voice
//! swapped by a state restore while eight notes sound, the engine parameter switched, and a
//! deactivation in the middle of a note. Nothing may crash, allocate on the audio thread (the
//! bundle aborts if it does), block, output a non-finite sample or leave a note sounding. Its
//! own test binary (process): it sets the stats variable the plugin reads.

use sackbut_clap_host::analysis::{peak_db, rms_db};
use sackbut_clap_host::phrase::ms;
use sackbut_clap_host::{clap_bundle, Event, Instance, MainThreadAction, StatsFile};
use serde_json::Value;

#[test]
fn live_voice_swap_with_eight_notes_odd_blocks_engine_switch_and_mid_note_deactivation() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("abuse-rt");
    let stats = || stats_file.read();

    // The voice swapped in: the default voice under another name (same frame size, so it takes
    // over without a restart).
    let default = sackbut_plugin::voice_source::default_voice().unwrap();
    let release_ms = default.meta.conditioning.release_samples as u64 / 16;
    let mut voice = (*default).clone();
    voice.meta.name = "swapped-in voice".into();
    let voice_path = stats_file.dir().join("swapped.voice.safetensors");
    voice.write(&voice_path).unwrap();

    let rate = 48_000u32;
    let at = |t: u64| ms(t, rate) as u64;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(false);
    let engine = inst.param_id("Engine").expect("an Engine parameter");
    let mut state = sackbut_clap_host::state_json(&inst.save_state());
    state["fields"]["voice-path"] = Value::String(serde_json::to_string(voice_path.to_str().unwrap()).unwrap());
    let swap_state = sackbut_clap_host::state_bytes(&state);

    // Eight notes from 0.3 s to 2.5 s; the state naming the other voice restored at 1.0 s; the
    // engine switched GPU → CPU → Auto at 1.6, 1.8 and 2.0 s.
    let chord = [48u8, 50, 53, 55, 57, 60, 62, 65];
    let mut events: Vec<(u64, Event)> = chord.iter().map(|&k| (at(300), Event::On { key: k, velocity: 100 })).collect();
    for (t, value) in [(1600, 2.0), (1800, 1.0), (2000, 0.0)] {
        events.push((at(t), Event::Param { id: engine, value }));
    }
    events.extend(chord.iter().map(|&k| (at(2500), Event::Off { key: k })));
    let quiet_ms = 2500 + release_ms + 300;
    let blocks = [1usize, 7, 8192, 512, 1, 333];
    let actions: Vec<(u64, MainThreadAction)> = vec![(at(1000), Box::new(|i: &mut Instance| i.load_state(&swap_state)))];
    // Long enough after the release for the latency of 8192-sample blocks and the silence check.
    let frames = ms(quiet_ms + 1000, rate);
    let r = inst.render_with_actions(rate as f64, &blocks, frames, &events, true, actions);
    let s = stats();
    eprintln!("live abuse: {s}; latency {} samples; longest call {:?}", r.latency, r.longest_call);
    let bad = r.left.iter().position(|v| !v.is_finite());
    assert!(bad.is_none(), "a non-finite sample at {}", bad.unwrap());
    assert_eq!(s["mode"], "realtime");
    assert_eq!(s["voice"], "swapped-in voice", "the restored state's voice did not take over while playing: {s}");
    // Never blocked, through the voice swap and the engine changes: the audio thread's only
    // waits are offline ones, and it counts them.
    assert_eq!(s["audio_waits"], 0, "the audio thread waited in realtime mode: {s}");
    let y = r.compensated();
    assert!(y[ms(300, rate)..ms(2500, rate)].iter().any(|&v| v != 0.0), "the chord does not sound live");
    let tail = &y[ms(quiet_ms, rate)..];
    assert!(tail.len() >= ms(200, rate));
    assert!(rms_db(tail) < -60.0, "stuck sound after the chord ended: {:.1} dBFS (peak {:.1})", rms_db(tail), peak_db(tail));

    // Deactivated in the middle of a note, then activated again at another rate: silence.
    let rate = 44_100u32;
    let held = inst.render_paced(rate as f64, &[441], ms(1_000, rate), &[(ms(100, rate) as u64, Event::On { key: 55, velocity: 110 })]);
    assert!(held.left.iter().all(|v| v.is_finite()));
    let after = inst.render_paced(rate as f64, &[64, 1, 1024], ms(800, rate), &[]);
    assert!(after.left.iter().all(|&v| v == 0.0), "the note deactivated mid-way still sounds: peak {:.1} dBFS", peak_db(&after.left));
}
