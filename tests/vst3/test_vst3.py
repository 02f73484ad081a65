"""Sackbut.vst3 in pedalboard (a JUCE-based VST3 host): load the bundle, render a MIDI phrase,
check where it sounds and where it is silent, repeatability, and (once the shipped voice voices
its notes) the pitch of each held note.

pedalboard plays a middle C while it probes a plugin, so the silence before the first note also
checks that reset() silences every voice. It does not compensate latency: the tests shift the
output by the latency the plugin reports.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

pedalboard = pytest.importorskip("pedalboard")

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("SACKBUT_BUNDLE_DIR", ROOT / "target" / "bundled")) / "Sackbut.vst3"

# The same phrase as the CLAP tests (tests/clap-host/src/phrase.rs): (ms, MIDI bytes).
PHRASE = [
    (500, [0x90, 55, 100]),
    (1200, [0x90, 62, 80]),
    (2000, [0x80, 55, 64]),
    (2600, [0x80, 62, 64]),
    (2800, [0xB0, 64, 127]),
    (3000, [0x90, 58, 110]),
    (3400, [0x80, 58, 64]),
    (4400, [0xB0, 64, 0]),
    (4800, [0x90, 64, 60]),
    (5800, [0x80, 64, 64]),
    (6000, [0x90, 52, 90]),
    (7000, [0x80, 52, 64]),
]
PHRASE_MS = 7600
FIRST_ON_MS = 500
LAST_OFF_MS = 7000
# Where each note sounds alone: (key, from ms, to ms). 58 includes a second held by the pedal.
SOLOS = [(55, 700, 1200), (62, 2200, 2600), (58, 3200, 4400), (64, 5000, 5800), (52, 6200, 7000)]
RATE = 48_000


def ms(t_ms, rate=RATE):
    return t_ms * rate // 1000


def rms_db(x):
    x = np.asarray(x, dtype=np.float64)
    return 10 * np.log10(np.mean(x * x) + 1e-30)


def key_hz(key):
    return 440.0 * 2 ** ((key - 69) / 12)


def yin_hz(x, rate, fmin=50.0, fmax=1000.0, threshold=0.2):
    """Median YIN f0 over 40 ms windows (10 ms hop); None when under half are periodic."""
    x = np.asarray(x, dtype=np.float64)
    tau_max, tau_min = int(np.ceil(rate / fmin)), max(2, int(rate / fmax))
    win, hop = int(0.04 * rate), int(0.01 * rate)
    f0s, windows = [], 0
    for start in range(0, len(x) - win - tau_max - 1, hop):
        windows += 1
        frame = x[start : start + win + tau_max + 1]
        d = np.array([0.0] + [np.sum((frame[:win] - frame[t : t + win]) ** 2) for t in range(1, tau_max + 1)])
        cum = np.cumsum(d[1:])
        cmnd = np.ones_like(d)
        cmnd[1:] = np.where(cum > 0, d[1:] * np.arange(1, tau_max + 1) / np.maximum(cum, 1e-30), 1.0)
        below = np.nonzero(cmnd[tau_min:tau_max] < threshold)[0]
        if len(below) == 0:
            continue
        t = tau_min + below[0]
        while t + 1 < tau_max and cmnd[t + 1] < cmnd[t]:
            t += 1
        a, b, c = cmnd[t - 1], cmnd[t], cmnd[t + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
        f0s.append(rate / (t + shift))
    if not f0s or 2 * len(f0s) < windows:
        return None
    return float(np.median(f0s))


@pytest.fixture(scope="module")
def plugin():
    if not BUNDLE.exists():
        if os.environ.get("SACKBUT_REQUIRE_BUNDLES") == "1":
            pytest.fail(f"{BUNDLE} is missing: build it with `bash scripts/bundle.sh`")
        pytest.skip(f"{BUNDLE} is missing: build it with `bash scripts/bundle.sh`")
    p = pedalboard.load_plugin(str(BUNDLE))
    assert p.is_instrument
    return p


def render(plugin, buffer_size=997):
    # The latency is known once the plugin has been prepared at this rate: probe it first.
    plugin([], duration=0.05, sample_rate=RATE, num_channels=2, buffer_size=buffer_size, reset=True)
    latency = int(plugin.reported_latency_samples)
    messages = [(bytes(m), t / 1000.0) for t, m in PHRASE]
    duration = PHRASE_MS / 1000.0 + latency / RATE
    out = plugin(messages, duration=duration, sample_rate=RATE, num_channels=2, buffer_size=buffer_size, reset=True)
    assert out.shape[0] == 2
    assert int(plugin.reported_latency_samples) == latency, "the latency is constant"
    return out, latency


def test_vst3_renders_the_phrase_where_played_and_silence_around(plugin):
    out, latency = render(plugin)
    assert np.array_equal(out[0], out[1]), "mono output on both channels"
    y = out[0][latency:]
    print(f"latency {latency} samples ({latency / RATE * 1000:.1f} ms)")
    before = y[: ms(FIRST_ON_MS - 10)]
    assert np.max(np.abs(before)) < 1e-4, f"sound before the first note (pedalboard's probe note?): peak {np.max(np.abs(before))}"
    during = y[ms(FIRST_ON_MS) : ms(LAST_OFF_MS)]
    assert rms_db(during) > -40.0, f"the phrase is not heard: {rms_db(during):.1f} dBFS"
    for key, a, b in SOLOS:
        print(f"key {key}: {rms_db(y[ms(a) : ms(b)]):.1f} dBFS, f0 {yin_hz(y[ms(a) : ms(b)], RATE)}")
    tail = y[ms(LAST_OFF_MS + 300) : ms(PHRASE_MS)]
    assert rms_db(tail) < -60.0, f"sound 300 ms after the last release: {rms_db(tail):.1f} dBFS"


def test_vst3_same_seed_same_audio(plugin):
    a, la = render(plugin)
    b, lb = render(plugin)
    assert la == lb
    assert np.array_equal(a, b), "two renders of the same phrase and seed differ"


def test_vst3_notes_are_sample_accurate_whatever_the_block_size(plugin):
    # Without the pedal: pedalboard's JUCE host turns MIDI CCs into VST3 parameter changes at
    # the start of their block, so a pedal's timing (not a note's) depends on the block size.
    global PHRASE
    saved = PHRASE
    try:
        PHRASE = [(t, m) for t, m in saved if m[0] & 0xF0 != 0xB0]
        a, la = render(plugin, buffer_size=512)
        b, lb = render(plugin, buffer_size=1500)
    finally:
        PHRASE = saved
    assert la == lb
    assert np.array_equal(a, b), "renders with 512- and 1500-sample blocks differ"


def test_vst3_each_held_note_is_heard_within_50_cents(plugin):
    out, latency = render(plugin)
    y = out[0][latency:]
    for key, a, b in SOLOS:
        level = rms_db(y[ms(a) : ms(b)])
        assert level > -40.0, f"key {key} too quiet: {level:.1f} dBFS"
        f0 = yin_hz(y[ms(a) : ms(b)], RATE)
        assert f0 is not None, f"key {key}: no stable pitch"
        cents = 1200 * np.log2(f0 / key_hz(key))
        assert abs(cents) < 50, f"key {key}: {f0:.1f} Hz is {cents:.0f} cents from {key_hz(key):.1f} Hz"
