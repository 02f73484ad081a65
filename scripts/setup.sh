#!/usr/bin/env bash
# Sourced by the README commands: installs what Sackbut needs, once, and sets the build environment.
# Idempotent and quick when everything is already there.
#  - Debian packages: the FluidR3 SoundFont (default training data), DejaVu (plot labels) and
#    Xvfb (a virtual X server, with Mesa's software OpenGL, for the editor-in-a-window test).
#  - A Python venv with torch (its libtorch is what tch links), kept per user and keyed by the
#    torch version, outside the checkout, so fresh clones (CI) reuse it; pedalboard (a VST3 host)
#    and pytest in the same venv for the plugin's VST3 tests.
#  - The plugin needs no Debian package to build: its editor (baseview/egui) opens X11 and OpenGL
#    with dlopen at run time.
set -euo pipefail

SACKBUT_TORCH_VERSION=2.13.0
SACKBUT_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sackbut"
SACKBUT_VENV="$SACKBUT_CACHE/venv-torch-$SACKBUT_TORCH_VERSION"

sackbut_apt_packages=(fluid-soundfont-gm fonts-dejavu-core xvfb)
missing=()
for p in "${sackbut_apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The marker file is written last, so an interrupted install is redone rather than trusted.
if [ ! -f "$SACKBUT_VENV/.sackbut-complete" ]; then
  echo "setup: creating $SACKBUT_VENV with torch==$SACKBUT_TORCH_VERSION (~4.7 GB, once)" >&2
  rm -rf "$SACKBUT_VENV"
  mkdir -p "$SACKBUT_CACHE"
  python3 -m venv "$SACKBUT_VENV"
  "$SACKBUT_VENV/bin/pip" install -q --disable-pip-version-check "torch==$SACKBUT_TORCH_VERSION"
  touch "$SACKBUT_VENV/.sackbut-complete"
fi

# The plugin's VST3 tests (tests/vst3) run in pedalboard under pytest.
SACKBUT_PEDALBOARD_VERSION=0.9.26
SACKBUT_PYTEST_VERSION=9.2.0
if ! "$SACKBUT_VENV/bin/python" -c "import pedalboard, pytest; assert pedalboard.__version__ == '$SACKBUT_PEDALBOARD_VERSION'" >/dev/null 2>&1; then
  echo "setup: installing pedalboard $SACKBUT_PEDALBOARD_VERSION and pytest into $SACKBUT_VENV" >&2
  "$SACKBUT_VENV/bin/pip" install -q --disable-pip-version-check \
    "pedalboard==$SACKBUT_PEDALBOARD_VERSION" "pytest==$SACKBUT_PYTEST_VERSION"
fi

# tch's build script asks this python where libtorch is; build.rs files add the rpath.
export PATH="$SACKBUT_VENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export SACKBUT_VENV
set +euo pipefail
