#!/usr/bin/env bash
# Model-checks the plugin's audio thread <-> worker handoff with loom (plugin/tests/loom_handoff.rs):
# every interleaving of the protocol's steps, on the plugin's own handoff::Link with loom's atomics.
# `--cfg loom` changes the flags of every crate, so it builds in its own target directory
# (target/loom): ~8 minutes the first time on 2 cores, seconds after; the model check itself
# takes about a second. Not part of scripts/test.sh for that first build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release -p sackbut-plugin --test loom_handoff "$@"
