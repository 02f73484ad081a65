#!/usr/bin/env python3
"""Writes assets/demo.mid: a short trombone line (legato, repeated notes, a long note, soft
and loud notes) as a format-1 SMF with a tempo change. Standard library only; rerun to
regenerate the file byte for byte."""
import struct
from pathlib import Path

TPQ = 480

def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))

def track(events):
    """events: (tick, bytes) in any order -> MTrk chunk with an end-of-track."""
    data, now = b"", 0
    for tick, ev in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):
        data += vlq(tick - now) + ev
        now = tick
    data += vlq(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(data)) + data

# (start beat, length in beats, note, velocity); 1 beat = a quarter note.
PHRASE = [
    (0.0, 1.0, 53, 90),   # F3
    (1.0, 1.0, 55, 90),   # G3, legato: starts as F3 ends
    (2.0, 1.0, 57, 100),  # A3
    (3.0, 0.5, 58, 110),  # Bb3
    (3.5, 0.5, 58, 110),  # repeated Bb3
    (4.0, 0.5, 58, 110),  # and again
    (5.0, 0.5, 46, 45),   # soft low Bb2
    (5.5, 0.5, 48, 45),   # soft C3
    (6.0, 3.0, 50, 120),  # long, loud D3
    (9.5, 1.0, 65, 70),   # F4 after a rest
    (10.5, 1.5, 62, 100), # D4
]

tempo_track = [
    (0, b"\xff\x51\x03" + (500000).to_bytes(3, "big")),      # 120 bpm
    (6 * TPQ, b"\xff\x51\x03" + (600000).to_bytes(3, "big")),  # 100 bpm from the long note on
]
notes = []
for start, length, key, vel in PHRASE:
    on, off = round(start * TPQ), round((start + length) * TPQ)
    notes.append((on, bytes([0x90, key, vel])))
    notes.append((off, bytes([0x80, key, 0])))
header = b"MThd" + struct.pack(">IHHH", 6, 1, 2, TPQ)
out = Path(__file__).with_name("demo.mid")
out.write_bytes(header + track(tempo_track) + track(notes))
print(f"wrote {out}")
