#!/usr/bin/env python3
"""Checks an Ardour bounce: duration vs. the clip (+ tail), RMS over the span where
notes play (must be above -50 dBFS), peak, and a per-0.5 s RMS profile. Stdlib only.
  check_wav.py OUT.wav CLIP_SECONDS [TAIL_SECONDS]"""
import math, struct, sys, wave

path, clip_s = sys.argv[1], float(sys.argv[2])
tail_s = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
w = wave.open(path)
ch, sw, sr, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
raw = w.readframes(n)
if sw == 2:
    x = struct.unpack('<%dh' % (len(raw) // 2), raw); full = 32768.0
elif sw == 3:
    x = [int.from_bytes(raw[i:i + 3], 'little', signed=True) for i in range(0, len(raw), 3)]; full = 8388608.0
elif sw == 4:
    x = struct.unpack('<%di' % (len(raw) // 4), raw); full = 2147483648.0
else:
    sys.exit('unsupported sample width %d' % sw)
mono = [sum(x[i:i + ch]) / ch / full for i in range(0, len(x), ch)]
def db(v): return 20 * math.log10(v) if v > 0 else -math.inf
def rms(a, b):
    seg = mono[int(a * sr):int(b * sr)]
    return math.sqrt(sum(s * s for s in seg) / max(1, len(seg)))
dur = n / sr
notes_rms = db(rms(0.0, clip_s))
peak = db(max(abs(s) for s in mono))
print(f'file      {path}: {ch} ch, {8 * sw}-bit, {sr} Hz, {n} frames')
print(f'duration  {dur:.3f} s (clip {clip_s:.3f} s + tail {tail_s:.3f} s = {clip_s + tail_s:.3f} s)')
print(f'RMS       {notes_rms:.1f} dBFS over the notes (0..{clip_s:.2f} s); whole file {db(rms(0, dur)):.1f} dBFS')
print(f'peak      {peak:.1f} dBFS')
prof = ' '.join(f'{db(rms(t, t + 0.5)):.0f}' for t in [i * 0.5 for i in range(int(math.ceil(dur / 0.5)))])
print(f'profile   dBFS per 0.5 s: {prof}')
ok = abs(dur - (clip_s + tail_s)) < 0.1 and notes_rms > -50
print('RESULT    ' + ('PASS' if ok else 'FAIL'))
sys.exit(0 if ok else 1)
