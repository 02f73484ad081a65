//! Sackbut.clap's state: the voice path and the parameters survive a save and a restore, a
//! voice file named in the state is loaded at activation, and a missing one falls back to the
//! default voice with a message. Its own test binary (process): it sets the stats variable.

use sackbut_clap_host::phrase::{at_rate, ms, PHRASE};
use sackbut_clap_host::{clap_bundle, Instance, StatsFile};
use serde_json::{json, Value};

fn state_json(inst: &mut Instance) -> Value {
    sackbut_clap_host::state_json(&inst.save_state())
}

fn with_voice_path(mut state: Value, path: &str) -> Vec<u8> {
    // Persisted fields are stored as JSON strings of their serialized value.
    state["fields"]["voice-path"] = Value::String(serde_json::to_string(path).unwrap());
    sackbut_clap_host::state_bytes(&state)
}

#[test]
fn state_round_trip_keeps_the_voice_path_and_parameters() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("state");

    // A voice file that is not the default: the default voice under another name.
    let mut voice = (*sackbut_plugin::voice_source::default_voice().unwrap()).clone();
    voice.meta.name = "state-test voice".into();
    let voice_path = stats_file.dir().join("state-test.voice.safetensors");
    voice.write(&voice_path).unwrap();
    let voice_path = voice_path.to_str().unwrap().to_string();

    let mut a = Instance::load(&bundle).unwrap();
    let mut state = state_json(&mut a);
    eprintln!("default state: {state}");
    assert_eq!(state["fields"]["voice-path"], json!("\"\""), "a fresh plugin plays the default voice");
    state["params"]["temp"] = json!({"f32": 0.75});
    state["params"]["poly"] = json!({"i32": 4});
    state["params"]["seed"] = json!({"i32": 42});
    state["params"]["gain"] = json!({"f32": -6.0});
    let bytes = with_voice_path(state, &voice_path);

    let mut b = Instance::load(&bundle).unwrap();
    b.load_state(&bytes);
    // nice-plug shows CLAP hosts continuous parameters normalized to 0..1 and stepped ones as
    // steps from their minimum.
    let mut close = |name: &str, want: f64| {
        let got = b.param(name).unwrap_or_else(|| panic!("no parameter {name}"));
        assert!((got - want).abs() < 1e-5, "{name}: {got}, expected {want}");
    };
    close("Temperature", 0.5); // 0.75 of 0..1.5
    close("Polyphony", 3.0); // 4 is 3 steps above 1
    close("Seed", 42.0);
    close("Gain", 0.625); // -6 dB of -36..12 dB
    b.set_offline(true);
    let r = b.render(48_000.0, &[480], ms(2_200, 48_000), &at_rate(PHRASE, 48_000));
    assert!(r.compensated().iter().any(|&v| v != 0.0), "the loaded voice plays");
    let s = stats_file.read();
    assert_eq!(s["voice"], "state-test voice", "{s}");
    assert_eq!(s["voice_origin"], voice_path.as_str());
    // Saved again, the state names the same file and the same values.
    let again = state_json(&mut b);
    assert_eq!(again["fields"]["voice-path"], Value::String(serde_json::to_string(&voice_path).unwrap()));
    for (id, v) in
        [("temp", json!({"f32": 0.75})), ("poly", json!({"i32": 4})), ("seed", json!({"i32": 42})), ("gain", json!({"f32": -6.0}))]
    {
        assert_eq!(again["params"][id], v, "{id}");
    }

    // A state naming a missing file: the default voice plays, the message says why, and the
    // path is kept (the file may come back).
    std::fs::remove_file(&voice_path).unwrap();
    let mut c = Instance::load(&bundle).unwrap();
    c.load_state(&with_voice_path(state_json(&mut a), &voice_path));
    c.set_offline(true);
    let r = c.render(48_000.0, &[512], ms(2_200, 48_000), &at_rate(PHRASE, 48_000));
    let s = stats_file.read();
    assert_eq!(s["voice_origin"], "default (embedded)", "{s}");
    assert!(s["voice_message"].as_str().unwrap().contains("no such file"), "{s}");
    assert!(r.compensated().iter().any(|&v| v != 0.0), "the default voice plays");
    assert_eq!(state_json(&mut c)["fields"]["voice-path"], Value::String(serde_json::to_string(&voice_path).unwrap()));
}
