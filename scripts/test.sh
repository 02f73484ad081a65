#!/usr/bin/env bash
# Runs every test of the workspace, after installing what they need (see scripts/setup.sh).
# Release mode throughout: libtorch bindings are built once, and the trainer's tests train.
# The plugin's host tests (tests/clap-host through CLAP, tests/vst3 through pedalboard) load the
# bundles in target/bundled, built here with the audio-thread allocation checker on.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release --workspace --all-targets --all-features
bash scripts/bundle.sh --features assert_process_allocs
export SACKBUT_REQUIRE_BUNDLES=1
cargo test --release --workspace --all-features --exclude sackbut-plugin --exclude sackbut-clap-host "$@"
# The plugin and its host tests build as the plugin ships: without the model's `torch` feature
# (with --all-features above it would be unified in, and these binaries would need libtorch).
cargo test --release -p sackbut-plugin -p sackbut-clap-host "$@"
PYTHONDONTWRITEBYTECODE=1 python -m pytest -q -p no:cacheprovider tests/vst3
