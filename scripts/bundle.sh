#!/usr/bin/env bash
# Builds the plugin bundles (target/bundled/Sackbut.vst3, Sackbut.clap) with nice-plug-xtask, and
# puts the GPU engine library (libsackbut_gpu_engine.so, the torch engine for Engine = GPU/Auto)
# beside the plugin binary in each: the plugin opens it from there at run time. The library
# links the project venv's libtorch by rpath; without it the plugin plays on the CPU and says why.
# Arguments go to `cargo xtask bundle` (e.g. --features assert_process_allocs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release -p sackbut-gpu-engine
cargo xtask bundle sackbut-plugin --release "$@"
lib=target/release/libsackbut_gpu_engine.so
for dir in target/bundled target/bundled/Sackbut.vst3/Contents/x86_64-linux; do
  # A temporary name and a rename: a host scanning the folder never sees half a library.
  cp "$lib" "$dir/.libsackbut_gpu_engine.so.tmp"
  mv -f "$dir/.libsackbut_gpu_engine.so.tmp" "$dir/libsackbut_gpu_engine.so"
done
