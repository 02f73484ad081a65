//! Sackbut.clap in realtime mode, driven at the pace of a real audio device. Its own test binary
//! (process): it sets environment variables the plugin reads at activation.

use sackbut_clap_host::analysis::{peak_db, rms_db};
use sackbut_clap_host::phrase::{at_rate, ms, PHRASE};
use sackbut_clap_host::{clap_bundle, Instance, StatsFile};

/// With an engine five times slower than real time, the audio thread never waits: every block
/// returns at once, the late samples come out as silence, and the underruns are counted.
#[test]
fn realtime_with_a_slow_engine_counts_underruns_outputs_silence_and_never_blocks() {
    let Some(bundle) = clap_bundle() else { return };
    let stats_file = StatsFile::new("rt");
    // SAFETY (set_var): this test binary runs this one test; the plugin reads the variables
    // at activation, on this thread.
    unsafe {
        // 20 ms per 4 ms frame: 5× slower than real time.
        std::env::set_var("SACKBUT_DEBUG_WORKER_SLEEP_US", "20000");
    }
    let rate = 48_000;
    let mut inst = Instance::load(&bundle).expect("loads");
    inst.set_offline(false);
    let events = at_rate(PHRASE, rate);
    let frames = ms(2_500, rate);
    let r = inst.render_paced(rate as f64, &[512, 333, 1024], frames, &events);
    unsafe {
        std::env::remove_var("SACKBUT_DEBUG_WORKER_SLEEP_US");
    }
    let s = stats_file.read();
    eprintln!("slow engine: {s}; longest process call {:?}; peak {:.1} dBFS", r.longest_call, peak_db(&r.left));
    assert_eq!(s["mode"], "realtime");
    assert!(s["underruns"].as_u64().unwrap() > 10, "underruns were not counted: {s}");
    // Never blocked: the audio thread's only waits are offline ones, and it counts them (the
    // overload test shows the count moving in an offline bounce).
    assert_eq!(s["audio_waits"], 0, "the audio thread waited in realtime mode: {s}");
    assert!(rms_db(&r.left) < -60.0 && peak_db(&r.left) < -40.0, "late samples must come out as silence");
}
