//! The plugin's CPU load: Sackbut.clap rendering 1, 4 and 8 held notes offline at 48 kHz (the
//! worker generates as fast as it can, so wall time / audio time is the real-time factor of the
//! whole plugin: engine, voices, resampling), and the latency it reports live at 48 kHz.
//!
//! `cargo run --release -p sackbut-clap-host --bin sackbut-clap-bench` (after bundling).

use sackbut_clap_host::{clap_bundle, Event, Instance};
use sackbut_plugin::timeline::{RenderMode, Timeline};

fn main() {
    let Some(bundle) = clap_bundle() else { std::process::exit(1) };
    let rate = 48_000u32;
    let seconds = 6.0;
    println!("Sackbut.clap, {} MB", std::fs::metadata(&bundle).map(|m| m.len() / 1_000_000).unwrap_or(0));
    for notes in [1usize, 4, 8] {
        let keys = [50u8, 53, 57, 60, 62, 65, 55, 58];
        let mut events: Vec<(u64, Event)> = keys[..notes].iter().map(|&key| (0, Event::On { key, velocity: 100 })).collect();
        let off = (seconds * rate as f64) as u64;
        events.extend(keys[..notes].iter().map(|&key| (off, Event::Off { key })));
        let mut inst = Instance::load(&bundle).expect("loads");
        inst.set_offline(true);
        let probe = inst.render(rate as f64, &[512], 512, &[]);
        let frames = (seconds * rate as f64) as usize + probe.latency as usize;
        let r = inst.render(rate as f64, &[512], frames, &events);
        let audio_s = frames as f64 / rate as f64;
        let rtf = r.wall.as_secs_f64() / audio_s;
        println!(
            "{notes} note(s): {audio_s:.1} s of audio in {:.2} s: real-time factor {rtf:.3} ({:.1}x faster than real time)",
            r.wall.as_secs_f64(),
            1.0 / rtf
        );
    }
    let hp = sackbut_plugin::voice_source::default_voice().expect("the default voice").meta.hparams;
    println!("default voice: {}-sample top frames", hp.top_frame());
    for block in [64usize, 128, 256, 512, 1024] {
        let t = Timeline::plan(rate, block, RenderMode::Realtime, hp.top_frame(), 0, hp.horizon);
        println!(
            "live at 48 kHz, {block}-sample blocks, no lookahead: latency {} samples ({:.1} ms)",
            t.latency_samples,
            t.latency_s() * 1000.0
        );
    }
    let t = Timeline::plan(rate, 512, RenderMode::Offline, hp.top_frame(), 0, hp.horizon);
    println!("offline at 48 kHz: latency {} samples ({:.1} ms)", t.latency_samples, t.latency_s() * 1000.0);
}
