#!/usr/bin/env python3
"""Writes the clips of issue #18's Whisper benchmark: what scripts/bench/hf_whisper.py and NOS's
WhisperBench both transcribe (scripts/gpu/bench.sh whisper).

  DIR/long60.wav          one 60 s clip (the real-time factor: two 30 s windows)
  DIR/clip_00.wav .. clip_63.wav   64 different 30 s clips (the throughput at 64 at once)
  DIR/parity_00.wav .. parity_19.wav   20 clips of 5 to 60 s, evenly spread (the token-for-token
                          parity with transformers: one or two 30 s windows each)

16 kHz, mono, 16-bit PCM. Deterministic: the same bytes on every machine and run (numpy's PCG64
from fixed seeds, float64 math, one rounding to int16), so both sides read the very same samples.

Speech-like, not tones: with random weights the words do not matter, but the features should
look like speech's (a voiced spectrum with formants, syllable envelopes, pauses, noise), so the
encoder and the decoder see the kind of input they would in use. Each "syllable" is a glottal
pulse train's harmonics (pitch 85-255 Hz gliding) shaped by three formant resonances, under a
raised-cosine envelope; some are fricatives (band-passed noise); words are 1-4 syllables with
pauses between, and a faint background hiss runs under everything.

    python3 scripts/bench/whisper_clips.py DIR [--clips 64] [--seconds 30] [--long 60] [--parity 20]
numpy and scipy only (scipy.io.wavfile), so it runs anywhere, the CI machine included.
"""
import argparse
import os

import numpy as np
from scipy.io import wavfile

RATE = 16_000
SEED = 1818


def syllable(rng: np.random.Generator, n: int) -> np.ndarray:
    """n samples of one voiced syllable (harmonics under formants) or, one time in five, a
    fricative (noise in a high band)."""
    t = np.arange(n) / RATE
    if rng.random() < 0.2:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        centre, width = rng.uniform(2500, 6000), rng.uniform(800, 2000)
        spectrum *= np.exp(-0.5 * ((freqs - centre) / width) ** 2)
        out = np.fft.irfft(spectrum, n)
        out *= 0.4 / (np.abs(out).max() + 1e-9)
    else:
        start, glide = rng.uniform(85, 255), rng.uniform(-0.25, 0.25)
        f0 = start * (1 + glide * t / max(t[-1], 1e-3))  # the pitch glides up or down
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        formants = [(rng.uniform(300, 900), rng.uniform(60, 120)),
                    (rng.uniform(850, 2500), rng.uniform(80, 160)),
                    (rng.uniform(2000, 3300), rng.uniform(120, 250))]
        out = np.zeros(n)
        mean_f0 = float(f0.mean())
        for k in range(1, int(4000 / mean_f0) + 1):
            f = k * mean_f0
            gain = sum(1.0 / (1.0 + ((f - c) / b) ** 2) for c, b in formants) / k ** 0.5
            if gain > 0.02:  # the harmonics between the formants add nothing audible
                out += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        out *= 0.8 / (np.abs(out).max() + 1e-9)
    attack = max(1, int(n * rng.uniform(0.1, 0.3)))
    envelope = np.ones(n)
    envelope[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
    envelope[-attack:] = envelope[:attack][::-1]
    return out * envelope * rng.uniform(0.3, 1.0)


def clip(seed: int, seconds: float) -> np.ndarray:
    """seconds of speech-like audio from seed, as int16."""
    rng = np.random.default_rng([SEED, seed])
    n = int(seconds * RATE)
    out = np.zeros(n)
    at = int(rng.uniform(0.05, 0.4) * RATE)
    while at < n:
        for _ in range(rng.integers(1, 5)):  # a word
            length = int(rng.uniform(0.08, 0.3) * RATE)
            end = min(n, at + length)
            out[at:end] += syllable(rng, length)[:end - at]
            at = end + int(rng.uniform(0, 0.03) * RATE)
            if at >= n:
                break
        at += int(rng.uniform(0.05, 0.6) * RATE)  # the pause between words
    out += 0.01 * rng.standard_normal(n)
    out *= 0.5 / np.abs(out).max()
    return np.round(out * 32767).astype(np.int16)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir")
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--long", type=float, default=60)
    p.add_argument("--parity", type=int, default=20)
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    wavfile.write(os.path.join(args.dir, "long60.wav"), RATE, clip(10_000, args.long))
    for i in range(args.clips):
        wavfile.write(os.path.join(args.dir, f"clip_{i:02d}.wav"), RATE, clip(i, args.seconds))
    for i in range(args.parity):
        wavfile.write(os.path.join(args.dir, f"parity_{i:02d}.wav"), RATE,
                      clip(20_000 + i, parity_seconds(i, args.parity)))
    print(f"whisper_clips: wrote {args.dir}: long60.wav ({args.long:.0f} s), {args.clips}"
          f" clips of {args.seconds:.0f} s and {args.parity} of 5-60 s, {RATE} Hz mono int16")


def parity_seconds(i: int, count: int) -> float:
    """The i-th parity clip's length: 5 s to 60 s in even steps, to a tenth of a second."""
    return round(5 + 55 * i / max(count - 1, 1), 1)


if __name__ == "__main__":
    main()
