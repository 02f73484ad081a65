//! Engine = GPU with no GPU engine library where the plugin looks (`SACKBUT_GPU_ENGINE` naming a
//! file that is not there): the plugin plays on the native engine, its engine line names the
//! path it looked at, and Auto on a machine without an NVIDIA driver never opens the library.
//! Its own test binary: the plugin opens (or fails to open) the library once per process.

use sackbut_clap_host::analysis::rms_db;
use sackbut_clap_host::phrase::{ms, FIRST_ON_MS, LAST_OFF_MS};
use sackbut_clap_host::{clap_bundle, state_bytes, state_json, Instance, StatsFile};
use serde_json::json;

#[test]
fn engine_gpu_without_the_library_plays_on_the_cpu_and_names_the_path() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("engine-missing");
    let missing = stats_file.dir().join("no-such-dir/libsackbut_gpu_engine.so");
    // SAFETY (set_var): the only test of this binary; read by the plugin when it needs the library.
    unsafe { std::env::set_var("SACKBUT_GPU_ENGINE", &missing) };
    let rate = 44_100u32;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);

    // Auto first: without an NVIDIA driver it says so and does not look for the library.
    inst.render(rate as f64, &[256], 256, &[]);
    let line = stats_file.read()["engine"].as_str().unwrap().to_string();
    eprintln!("Auto: {line}");
    assert!(line.starts_with("Auto: "), "{line}");
    if line.contains("no NVIDIA driver here") {
        assert!(line.starts_with("Auto: CPU: native engine ("), "{line}");
    }

    let mut state = state_json(&inst.save_state());
    state["params"]["engine"] = json!({"string": "gpu"});
    inst.load_state(&state_bytes(&state));
    let r = inst.render_phrase(rate, &[1000]);
    let line = stats_file.read()["engine"].as_str().unwrap().to_string();
    eprintln!("GPU: {line}");
    assert_eq!(line.split("; playing on ").next().unwrap(), format!("GPU asked for, but no GPU engine library at {}", missing.display()));
    assert!(line.contains("; playing on CPU: native engine ("), "{line}");
    let y = r.compensated();
    assert!(rms_db(&y[ms(FIRST_ON_MS, rate)..ms(LAST_OFF_MS, rate)]) > -40.0, "the phrase is not heard");
}
