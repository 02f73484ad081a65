#!/usr/bin/env bash
# Times the deliberately large configuration (frame dim 1024, the reference SampleRNN's width)
# on CUDA at B = 1, 8 and 64 voices, and, for comparison on the same machine, the native and
# torch CPU engines at B = 1 and 8. Takes a few minutes on a machine with a CUDA GPU; without one
# the CUDA part says so and the CPU part still runs. Extra arguments go to both bench runs
# (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
set -euo pipefail
cargo build --release -p sackbut-trainer
bin=target/release/trainer
large=(--preset small --frame-dim 1024)
command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "gpu_bench: nvidia-smi not found"
echo "== torch engine on CUDA, frame dim 1024, B = 1, 8, 64"
"$bin" bench "${large[@]}" --engines torch-cuda --batches 1,8,64 --rounds 3 --samples 1024 "$@" || true
echo "== native and torch CPU engines (one core), frame dim 1024, B = 1, 8"
"$bin" bench "${large[@]}" --engines native,torch-cpu --batches 1,8 --rounds 3 --samples 512 "$@"
