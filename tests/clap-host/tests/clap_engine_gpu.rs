//! Engine = GPU in a real host, with the GPU engine library where scripts/bundle.sh puts it
//! (beside Sackbut.clap). Where libtorch sees no CUDA device (this machine, CI) the plugin plays
//! on the native engine and its engine line says why, so the bounce equals the native reference
//! render sample for sample; where it does, the GPU engine plays the phrase. Its own test binary:
//! the plugin opens the library once per process.

use sackbut_clap_host::analysis::rms_db;
use sackbut_clap_host::phrase::{ms, FIRST_ON_MS, LAST_OFF_MS};
use sackbut_clap_host::reference::phrase_reference;
use sackbut_clap_host::{clap_bundle, state_bytes, state_json, Instance, StatsFile};
use sackbut_model::engine::gpu_abi::LIBRARY_FILE;
use serde_json::json;

#[test]
fn engine_gpu_plays_on_cuda_or_on_the_cpu_saying_why() {
    let Some(bundle) = clap_bundle() else { return };
    let library = bundle.parent().unwrap().join(LIBRARY_FILE);
    assert!(library.exists(), "{} is missing: scripts/bundle.sh puts it beside the bundle", library.display());
    let stats_file = StatsFile::new("engine-gpu");
    let rate = 48_000u32;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(true);
    let mut state = state_json(&inst.save_state());
    assert_eq!(state["params"]["engine"], json!({"string": "auto"}), "Auto is the default");
    state["params"]["engine"] = json!({"string": "gpu"});
    inst.load_state(&state_bytes(&state));
    let r = inst.render_phrase(rate, &[512, 77, 1024]);
    let stats = stats_file.read();
    let line = stats["engine"].as_str().unwrap().to_string();
    eprintln!("engine line: {line}");
    let y = r.compensated();
    if line.starts_with("GPU: torch engine on CUDA") {
        // The torch engine samples along another path than the native one: heard, not equal.
        assert!(line.contains(&library.display().to_string()), "{line}");
        assert!(rms_db(&y[ms(FIRST_ON_MS, rate)..ms(LAST_OFF_MS, rate)]) > -40.0, "the phrase is not heard on the GPU");
        return;
    }
    assert!(
        line.starts_with("GPU asked for, but libtorch sees no CUDA device") && line.contains("; playing on CPU: native engine ("),
        "{line}"
    );
    let reference = phrase_reference(rate);
    let n = reference.len().min(y.len());
    assert!(n >= ms(7600, rate) - 10);
    let first_diff = (0..n).find(|&i| y[i] != reference[i]);
    assert_eq!(first_diff, None, "the fallback bounce is not the native engine's");
}
