#!/usr/bin/env bash
# The main job: build a small dataset from the SoundFont trombone, train a small voice briefly,
# and render the demo clip in assets/ to out/demo.wav. Each stage is skipped when its output
# already exists (delete out/ to start over), so a second run only re-renders.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release -p sackbut-trainer
# The plugin: target/bundled/Sackbut.vst3 and Sackbut.clap (the default voice is embedded).
cargo xtask bundle sackbut-plugin --release
trainer=target/release/trainer
mkdir -p out
if [ ! -f out/demo-dataset/manifest.json ]; then
  "$trainer" dataset --out out/demo-dataset --notes 40..=77 --velocities 60,110 --durations 0.3,1.2
fi
if [ ! -f out/demo-run/best.voice.safetensors ]; then
  rm -rf out/demo-run
  "$trainer" train --data out/demo-dataset --out out/demo-run --preset small --steps "${SACKBUT_DEMO_STEPS:-300}" --eval-every 100 --name "demo trombone (brief)"
fi
"$trainer" render --voice out/demo-run/best.voice.safetensors --midi assets/demo.mid --out out/demo.wav --seed 1
echo "demo: out/demo.wav (voice out/demo-run/best.voice.safetensors, loss curve out/demo-run/loss.png)"
echo "demo: plugin bundles target/bundled/Sackbut.vst3 and target/bundled/Sackbut.clap"
