#!/usr/bin/env bash
# Fuzzes every parser of user files (fuzz/fuzz_targets/*.rs) for a bounded time each, then prints
# one line per target: executions, seconds, crashes. Not part of scripts/test.sh: it needs the
# nightly toolchain and cargo-fuzz, and without them it says so and exits 0.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   bash scripts/fuzz.sh 300             # every target, 300 s each (or FUZZ_SECONDS=300)
#   bash scripts/fuzz.sh 30 wav midi     # only these targets
#
# Corpora grow in fuzz/corpus/TARGET (kept between runs, ignored by git), seeded each run from real
# files in fuzz/seeds/TARGET: the default voice's header, a tiny trained voice, assets/demo.mid, and
# (when target/release/trainer is built) a small SoundFont dataset's manifest and example files.
# A crash leaves its input in fuzz/artifacts/TARGET/; reproduce it with
#   cargo +nightly fuzz run -O -a TARGET fuzz/artifacts/TARGET/crash-…
# and turn it into a regression test beside the parser (see fuzz/README.md).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
shift $(( $# > 0 ? 1 : 0 ))
ALL_TARGETS=(voice_file midi wav example_file manifest plugin_state)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
# Below the training jobs that share this machine.
NICE="nice -n 10"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: the nightly toolchain is not installed (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"
  exit 0
fi

# --- seeds: real files, small enough for libFuzzer to mutate quickly --------------------------
SEEDS=fuzz/seeds
rm -rf "$SEEDS"
for t in "${ALL_TARGETS[@]}"; do mkdir -p "$SEEDS/$t" "fuzz/corpus/$t"; done

cp assets/demo.mid "$SEEDS/midi/demo.mid"
python3 - "$SEEDS" <<'EOF'
import json, struct, sys, wave
seeds = sys.argv[1]
# The default voice's header with the first tensor bytes: a real header on a cut file.
raw = open("assets/trombone.voice.safetensors", "rb").read(1 << 20)
n = struct.unpack("<Q", raw[:8])[0]
open(f"{seeds}/voice_file/trombone-header.bin", "wb").write(raw[:8 + n + 64])
# Small WAVs in each sample format the reader takes.
def pcm(name, channels, width, rate, frames):
    with wave.open(f"{seeds}/wav/{name}", "wb") as w:
        w.setnchannels(channels); w.setsampwidth(width); w.setframerate(rate)
        w.writeframes(bytes((i * 37) % 256 for i in range(frames * channels * width)))
pcm("mono16.wav", 1, 2, 16000, 64)
pcm("stereo8.wav", 2, 1, 44100, 32)
pcm("mono24.wav", 1, 3, 22050, 32)
# 32-bit float, written by hand (the wave module writes integer PCM only).
data = b"".join(struct.pack("<f", (i % 9 - 4) / 4) for i in range(48))
fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
open(f"{seeds}/wav/float32.wav", "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)
# Saved voice paths, as nice-plug stores them (JSON strings) behind mode byte 0, and special paths (2).
for i, p in enumerate(["", "/nonexistent/x.voice.safetensors", "/tmp", "assets/trombone.voice.safetensors"]):
    open(f"{seeds}/plugin_state/path{i}", "wb").write(b"\x00" + json.dumps(p).encode())
for i in range(8):
    open(f"{seeds}/plugin_state/special{i}", "wb").write(bytes([2, i]))
EOF

TRAINER=target/release/trainer
SF2=/usr/share/sounds/sf2/FluidR3_GM.sf2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -x "$TRAINER" ] && [ -f "$SF2" ]; then
  # Two short notes: a manifest, two example files, and a tiny voice trained for one step.
  if $NICE "$TRAINER" dataset --out "$WORK/ds" --notes 60,62 --velocities 80 --durations 0.05 \
      --length 1.05 --valid 0 --test 0 >"$WORK/dataset.log" 2>&1; then
    cp "$WORK/ds/manifest.json" "$SEEDS/manifest/"
    cp "$WORK"/ds/examples/* "$SEEDS/example_file/"
    if $NICE "$TRAINER" train --data "$WORK/ds" --out "$WORK/run" --preset tiny --frame-dim 4 --mlp-dim 4 \
        --steps 1 --batch 1 --seq-len 64 --eval-every 1 --no-preview --device cpu --threads 1 \
        >"$WORK/train.log" 2>&1; then
      cp "$WORK/run/best.voice.safetensors" "$SEEDS/voice_file/tiny.voice.safetensors"
      cp "$WORK/run/best.voice.safetensors" "$SEEDS/plugin_state/"
      # Mode byte 1: the rest of the input is the content of the restored file.
      { printf '\001'; cat "$WORK/run/best.voice.safetensors"; } >"$SEEDS/plugin_state/file-tiny-voice"
    else
      echo "fuzz: note: no tiny voice seed (trainer train failed, see below)"; tail -3 "$WORK/train.log"
    fi
  else
    echo "fuzz: note: no dataset seeds (trainer dataset failed, see below)"; tail -3 "$WORK/dataset.log"
  fi
else
  echo "fuzz: note: $TRAINER or $SF2 missing: manifest, example and voice seeds are only the built-in ones"
fi

# --- build once, then run each target for SECONDS_EACH ----------------------------------------
# -O -a: optimised, with overflow checks and debug assertions (an overflow the release build
# would wrap silently is a finding too). AddressSanitizer (the default) lets -malloc_limit_mb
# catch a single allocation a hostile header asks for.
echo "fuzz: building the targets (nightly, AddressSanitizer)"
if ! (cd fuzz && $NICE cargo +nightly fuzz build -O -a >"$WORK/build.log" 2>&1); then
  tail -30 "$WORK/build.log"
  echo "fuzz: FAILED to build the fuzz targets"
  exit 1
fi

declare -A RUNS CRASHES
total_crashes=0
for t in "${TARGETS[@]}"; do
  echo "fuzz: $t for ${SECONDS_EACH}s"
  mkdir -p "fuzz/artifacts/$t"
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  log="$WORK/$t.log"
  # -rss_limit_mb / -malloc_limit_mb: any input that makes a parser take more than 512 MB at
  # once, or the process 2 GB, is a crash. -timeout: one input taking 10 s is a hang.
  (cd fuzz && $NICE cargo +nightly fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1)
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(ls "fuzz/artifacts/$t" | wc -l)
  RUNS[$t]=${runs:-?}
  CRASHES[$t]=$((after - before))
  total_crashes=$((total_crashes + after - before))
  if [ "${CRASHES[$t]}" -gt 0 ] || [ -z "$runs" ]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -10
  fi
done

echo
printf '%-14s %12s %8s %8s\n' target runs seconds crashes
for t in "${TARGETS[@]}"; do
  printf '%-14s %12s %8s %8s\n' "$t" "${RUNS[$t]}" "$SECONDS_EACH" "${CRASHES[$t]}"
done
if [ "$total_crashes" -gt 0 ]; then
  echo "fuzz: $total_crashes new crash input(s) in fuzz/artifacts/"
  exit 1
fi
echo "fuzz: no crashes"
