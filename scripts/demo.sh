#!/usr/bin/env bash
# The main job: render the demo clip with the default voice (out/demo.wav), build the plugin
# bundles (target/bundled/Sackbut.vst3, Sackbut.clap), and show the whole training pipeline on a
# small scale: a SoundFont dataset, a brief training run and a render with that voice
# (out/demo-brief.wav). Stages whose output exists are skipped (delete out/ to start over), so a
# second run only re-renders.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release -p sackbut-trainer
bash scripts/bundle.sh
trainer=target/release/trainer
mkdir -p out
"$trainer" render --voice assets/trombone.voice.safetensors --midi assets/demo.mid --out out/demo.wav --seed 1 --rate 48000

if [ ! -f out/demo-dataset/manifest.json ]; then
  "$trainer" dataset --out out/demo-dataset --notes 40..=77 --velocities 60,110 --durations 0.3,1.2
fi
brief=out/demo-run/best.voice.safetensors
render_brief() {
  "$trainer" render --voice "$brief" --midi assets/demo.mid --out out/demo-brief.wav --seed 1
}
# A run left by an older build may hold a voice this build refuses (an older voice format):
# then it is trained again rather than taken as done.
if [ -f "$brief" ] && rendered=$(render_brief 2>&1); then
  echo "$rendered"
else
  if [ -f "$brief" ]; then
    echo "demo: out/demo-run holds a voice this build cannot play; training it again"
  fi
  rm -rf out/demo-run
  "$trainer" train --data out/demo-dataset --out out/demo-run --preset small --steps "${SACKBUT_DEMO_STEPS:-300}" \
    --eval-every 100 --name "demo trombone (brief)"
  render_brief
fi
echo "demo: out/demo.wav (default voice), out/demo-brief.wav (voice trained just now: out/demo-run, loss curve out/demo-run/loss.png)"
echo "demo: plugin bundles target/bundled/Sackbut.vst3 and target/bundled/Sackbut.clap, the GPU engine library beside each"
