#!/usr/bin/env bash
# Runs every test of the workspace, after installing what they need (see scripts/setup.sh).
# Release mode throughout: libtorch bindings are built once, and the trainer's tests train.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release --workspace --all-targets --all-features
cargo test --release --workspace --all-features "$@"
