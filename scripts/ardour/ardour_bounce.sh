#!/usr/bin/env bash
# Render a MIDI clip through the Sackbut VST3 in Ardour 7, headless (ardour7-lua):
# a new 48 kHz session, one MIDI track with the plugin, the clip's notes as a MIDI
# region on it, and the session range exported (bounced) to a WAV.
#
#   ardour_bounce.sh [--vst3 PATH] [--midi PATH] [--out OUT.wav] [--tail SECONDS] [--freewheel]
#
# By default the instrument track is first recorded in realtime onto an audio track,
# and that track is exported: Ardour 7.3's freewheel export keeps VST3 plugins in
# realtime process mode, and Sackbut then underruns (--freewheel shows it).
# Ardour 7.3's ardour7-lua sometimes crashes at exit after its work is done, so each
# step is judged by its result (the saved session, a valid WAV), not its exit status,
# and retried up to 3 times.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VST3="$REPO/target/bundled/Sackbut.vst3"
MIDI="$REPO/assets/demo.mid"
OUT="$PWD/ardour_bounce.wav"
TAIL=2.0
TRIES=3
HOW=record

while [ $# -gt 0 ]; do
  case "$1" in
    --vst3) VST3="$2"; shift 2 ;;
    --midi) MIDI="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --tail) TAIL="$2"; shift 2 ;;
    --freewheel) HOW=freewheel; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
abspath() { python3 -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "$1"; }
VST3="$(abspath "$VST3")"; MIDI="$(abspath "$MIDI")"; OUT="$(abspath "$OUT")"
[ -f "$VST3/Contents/x86_64-linux/$(basename "$VST3" .vst3).so" ] || { echo "no VST3 bundle at $VST3" >&2; exit 1; }
[ -f "$MIDI" ] || { echo "no MIDI file at $MIDI" >&2; exit 1; }
PLUGIN="$(basename "$VST3" .vst3)"

# 1. Ardour (Debian's ardour package ships ardour7-lua and the VST3 scanner)
if ! command -v ardour7-lua >/dev/null; then
  echo "== installing ardour" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive nice -n 10 $SUDO apt-get install -y -qq ardour >/dev/null
fi
SCANNER=/usr/lib/ardour7/ardour-vst3-scanner
export LD_LIBRARY_PATH=/usr/lib/ardour7${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# 2. a private HOME: Ardour's config/cache and its VST3 search path (~/.vst3) stay
#    in the work dir, and the user's Ardour setup is left alone.
WORK="$(mktemp -d /tmp/ardour_bounce.XXXXXX)"
if [ -z "${KEEP_WORK:-}" ]; then trap 'rm -rf "$WORK"' EXIT; else echo "== work dir: $WORK" >&2; fi
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_CACHE_HOME="$WORK/home/.cache"
mkdir -p "$HOME/.vst3"
ln -s "$VST3" "$HOME/.vst3/$PLUGIN.vst3"
echo "== scanning $VST3" >&2
nice -n 10 "$SCANNER" -f -q "$HOME/.vst3/$PLUGIN.vst3"
ls "$XDG_CACHE_HOME"/ardour7/vst/*.v3i >/dev/null || { echo "VST3 scan wrote no cache file" >&2; exit 1; }

# 3. the clip as a one-track SMF on a fixed 120 bpm grid (note times keep their
#    seconds from the file's own tempo map), for the session's default 120 bpm map.
read -r BEATS_TICKS CLIP_S NOTES < <(python3 - "$MIDI" "$WORK/clip.mid" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
d = open(src, 'rb').read()
assert d[:4] == b'MThd', 'not a MIDI file'
fmt, ntrk, div = struct.unpack('>HHH', d[8:14])
assert not div & 0x8000, 'SMPTE time division is not supported'
pos, events, tempos = 8 + struct.unpack('>I', d[4:8])[0], [], []
for _ in range(ntrk):
    assert d[pos:pos + 4] == b'MTrk'
    end = pos + 8 + struct.unpack('>I', d[pos + 4:pos + 8])[0]
    i, tick, status = pos + 8, 0, 0
    while i < end:
        v = 0
        while True:
            b = d[i]; i += 1; v = (v << 7) | (b & 0x7F)
            if b < 0x80: break
        tick += v
        if d[i] >= 0x80: status = d[i]; i += 1
        if status == 0xFF:
            typ = d[i]; i += 1; n = 0
            while True:
                b = d[i]; i += 1; n = (n << 7) | (b & 0x7F)
                if b < 0x80: break
            if typ == 0x51: tempos.append((tick, int.from_bytes(d[i:i + 3], 'big')))
            i += n
        elif status in (0xF0, 0xF7):
            n = 0
            while True:
                b = d[i]; i += 1; n = (n << 7) | (b & 0x7F)
                if b < 0x80: break
            i += n
        else:
            n = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            events.append((tick, bytes([status]) + d[i:i + n])); i += n
    pos = end
tempos = sorted(tempos) or [(0, 500000)]
if tempos[0][0] != 0: tempos.insert(0, (0, 500000))
def seconds(t):
    s, last_t, us = 0.0, 0, 500000
    for tt, tu in tempos:
        if tt > t: break
        s += (tt - last_t) * us / 1e6 / div; last_t, us = tt, tu
    return s + (t - last_t) * us / 1e6 / div
PPQN = 1920  # Ardour's ticks per beat
def is_off(e): return e[0] & 0xF0 == 0x80 or (e[0] & 0xF0 == 0x90 and e[2] == 0)
out = sorted(((round(seconds(t) * 2 * PPQN), e) for t, e in events), key=lambda x: (x[0], not is_off(x[1])))
def vlq(n):
    b = [n & 0x7F]; n >>= 7
    while n: b.append(0x80 | (n & 0x7F)); n >>= 7
    return bytes(reversed(b))
trk, now = vlq(0) + b'\xff\x51\x03' + (500000).to_bytes(3, 'big'), 0
for t, e in out:
    trk += vlq(t - now) + e; now = t
trk += vlq(0) + b'\xff\x2f\x00'
open(dst, 'wb').write(b'MThd' + struct.pack('>IHHH', 6, 0, 1, PPQN) + b'MTrk' + struct.pack('>I', len(trk)) + trk)
last = max(t for t, _ in out)
print(last, last / PPQN / 2, sum(1 for _, e in out if e[0] & 0xF0 == 0x90 and e[2] > 0))
PY
)
END_SAMPLE="$(python3 -c "print(round(($CLIP_S + $TAIL) * 48000))")"
echo "== clip: $NOTES notes, ${CLIP_S}s; bounce 0..$END_SAMPLE samples at 48 kHz" >&2

# run ardour7-lua; success = the marker line in its log (it may crash at exit)
run_lua() { # LOG MARKER args...
  local log="$1" marker="$2" rc=0; shift 2
  RUNS=$((RUNS + 1))
  ( cd "$WORK" && exec nice -n 10 timeout 300 ardour7-lua "$HERE/ardour_bounce.lua" "$@" ) >"$log" 2>&1 || rc=$?
  if [ "$rc" -ge 124 ]; then CRASHES=$((CRASHES + 1)); echo "   (ardour7-lua $1: exit status $rc)" >&2; fi
  grep -q "$marker" "$log"
}
wav_ok() { python3 - "$1" "$END_SAMPLE" <<'PY'
import sys, wave
try:  # complete: a crash at exit must not pass off a partial file
    w = wave.open(sys.argv[1]); sys.exit(0 if abs(w.getnframes() - int(sys.argv[2])) < 48 else 1)
except Exception:
    sys.exit(1)
PY
}

RUNS=0 CRASHES=0 DONE=0
for try in $(seq 1 $TRIES); do
  SESS="$WORK/session$try"; EXP="$WORK/export$try"
  # 4. session + MIDI track with the instrument
  run_lua "$WORK/create$try.log" CREATE_OK create "$SESS" "$PLUGIN" || {
    echo "-- try $try: create failed:" >&2; tail -5 "$WORK/create$try.log" >&2; continue; }
  [ -f "$SESS/bounce.ardour" ] || { echo "-- try $try: no session file" >&2; continue; }
  # 5. the clip as a MIDI region on the track's playlist (ardour7-lua has no MIDI import)
  python3 - "$SESS" "$WORK/clip.mid" "$BEATS_TICKS" <<'PY'
import glob, os, shutil, sys
import xml.etree.ElementTree as ET
sess, clip, ticks = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = os.path.join(sess, 'bounce.ardour')
tree = ET.parse(path); root = tree.getroot()
mdir = glob.glob(os.path.join(sess, 'interchange', '*', 'midifiles'))[0]
shutil.copy(clip, os.path.join(mdir, 'clip.mid'))
nid = int(root.get('id-counter')) + 1
sid, wid, rid = nid, nid + 1, nid + 2
root.set('id-counter', str(nid + 3))
ET.SubElement(root.find('Sources'), 'Source', {'name': 'clip.mid', 'take-id': '', 'type': 'midi',
    'flags': '', 'id': str(sid), 'origin': ''})
def region(rid, name, whole):
    return {'name': name, 'muted': '0', 'opaque': '1', 'locked': '0', 'automatic': '0',
            'whole-file': whole, 'import': '1', 'external': '0', 'hidden': '0',
            'start': 'b0', 'length': 'b%d@a0' % ticks, 'sync-position': 'b0',
            'layering-index': '0', 'type': 'midi', 'first-edit': 'nothing',
            'id': str(rid), 'source-0': str(sid), 'master-source-0': str(sid)}
ET.SubElement(root.find('Regions'), 'Region', region(wid, 'clip', '1'))
pls = [p for p in root.find('Playlists') if p.get('type') == 'midi']
assert len(pls) == 1, 'expected one MIDI playlist'
ET.SubElement(pls[0], 'Region', region(rid, 'clip.1', '0'))
tree.write(path, encoding='UTF-8', xml_declaration=True)
PY
  # 6. reload and export
  run_lua "$WORK/export$try.log" EXPORT_OK export "$SESS" "$EXP" bounce "$END_SAMPLE" "$HOW" || true
  if [ -f "$EXP/bounce.wav" ] && wav_ok "$EXP/bounce.wav"; then
    mkdir -p "$(dirname "$OUT")"; cp "$EXP/bounce.wav" "$OUT"; DONE=1
    grep '^\[lua\]' "$WORK/create$try.log" "$WORK/export$try.log" | sed 's/^[^:]*:/   /' >&2
    break
  fi
  echo "-- try $try: no valid WAV; log tail:" >&2; tail -8 "$WORK/export$try.log" >&2
done
echo "== ardour7-lua runs: $RUNS, crashes seen: $CRASHES" >&2
[ "$DONE" = 1 ] || { echo "FAILED after $TRIES tries" >&2; exit 1; }
echo "== wrote $OUT" >&2
