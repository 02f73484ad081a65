#!/usr/bin/env bash
# Runs the sanitizers of the nightly toolchain where they apply:
#  - Miri (undefined behaviour: unsafe code, alignment, out-of-bounds, uninitialised reads) on the
#    model crate's pure-Rust unit tests (no libtorch: voice file, conditioning, quantization,
#    voice allocation, the native engine's aligned buffers and portable kernels) and on the
#    plugin's handoff module;
#  - ThreadSanitizer (data races) on the plugin's worker test (a real worker thread, the ringbuf
#    rings and the handoff::Link atomics against a stand-in audio thread) and the handoff tests.
# Both build in their own target directories (target/miri, target/tsan): the first run takes
# long (std and every dependency rebuilt), later runs minutes.
# Without a nightly toolchain (CI may lack one) it says so and exits 0.
# Usage: scripts/sanitize.sh [miri|tsan]...   (default: both)
set -uo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "sanitize: no nightly toolchain: nothing run (rustup toolchain install nightly -c miri,rust-src)"
  exit 0
fi
for c in rust-src miri; do
  if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^$c"; then
    if ! rustup component add --toolchain nightly "$c" >/dev/null 2>&1; then
      echo "sanitize: the nightly toolchain lacks $c and it cannot be installed here: nothing run"
      exit 0
    fi
  fi
done

host=$(rustc +nightly -vV | sed -n 's/^host: //p')
status=0
run() {
  echo "sanitize: $*" >&2
  "$@" || status=1
}

for what in "${@:-miri tsan}"; do
  for w in $what; do
    case "$w" in
      miri)
        # Isolation off: the voice-file tests write temporary files. Deterministic floats: by
        # default Miri adds a few ULPs of error to powf/exp/ln, as a libm may, and the
        # quantizer's exact full-scale test then fails (decode(255) = 0.99999845, not 1.0).
        export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-deterministic-floats}"
        # Skipped for time (each takes over 10 minutes interpreted): the kernels' exhaustive
        # sweeps (smaller tests still run every kernel path of Miri's target) and the MIDI
        # reader's damaged-file loop (safe code only).
        run cargo +nightly miri test -p sackbut-model --lib -- \
          --skip every_kernel_matches_the_reference --skip every_path_agrees_bit_for_bit \
          --skip never_panics_on_damaged_files
        run cargo +nightly miri test -p sackbut-plugin --lib handoff::
        ;;
      tsan)
        RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
          run cargo +nightly test -Zbuild-std --target "$host" --release -p sackbut-plugin --lib -- worker:: handoff::
        ;;
      *) echo "sanitize: unknown '$w' (miri, tsan)" >&2; exit 2 ;;
    esac
  done
done
if [ $status -eq 0 ]; then echo "sanitize: all clean"; else echo "sanitize: FAILED (see above)"; fi
exit $status
