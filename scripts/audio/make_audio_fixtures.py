#!/usr/bin/env python3
"""Writes the audio test clips and their references for nos-hub's ai.nos.hub.audio tests.

Needs numpy and scipy only (no torch, no transformers). Deterministic: a fixed seed, so a rerun
rewrites the same bytes (gzip with mtime 0).

Writes under nos-hub/src/test/resources/ai/nos/hub/audio/:
  wav/<name>.wav        clips in every supported encoding, and wav/<name>.f32 the mono mixdown
                        the reader must give (little-endian float32): int PCM divided by 2^(bits-1)
                        (soundfile's and librosa's scale), channels averaged.
  resample/<sig>_<rate>.wav  float32 mono inputs (tone, chirp, noise at 8k, 22.05k, 44.1k, 48k)
                        and <sig>_<rate>.f32 scipy.signal.resample_poly(x64, up, down) at 16 kHz
                        (float64 math, default window ('kaiser', 5.0), cast to float32).
  mel/<clip>.wav        16 kHz float32 mono clips, and mel/<clip>_<bins>.f32.gz the log-mel
                        features [bins, 3000] row-major, computed by whisper_log_mel below.
  mel/tone31s_80.f32.gz the features of a 31 s tone the test synthesizes itself (too big to commit
                        as audio): 0.5 * sin(2 pi 440 n / 16000) in float64, cast to float32.

whisper_log_mel follows transformers' WhisperFeatureExtractor (transformers 4.46-4.57,
src/transformers/models/whisper/feature_extraction_whisper.py) on its numpy path:
  __call__: pad with zeros / truncate to n_samples = 480000 (padding="max_length", truncation=True),
  _np_extract_fbank_features: audio_utils.spectrogram(waveform, window_function(400, "hann"),
      frame_length=400, hop_length=160, power=2.0, mel_filters=self.mel_filters, log_mel="log10")
      (center=True, pad_mode="reflect", mel_floor=1e-10, the FFT frames stored as complex64),
      then log_spec[:, :-1], maximum(log_spec, log_spec.max() - 8.0), (log_spec + 4.0) / 4.0,
  mel_filters = audio_utils.mel_filter_bank(num_frequency_bins=201, num_mel_filters=bins,
      min_frequency=0.0, max_frequency=8000.0, sampling_rate=16000, norm="slaney",
      mel_scale="slaney").
The lead reruns these clips through the real WhisperFeatureExtractor (--check-transformers).

Run: python3 scripts/audio/make_audio_fixtures.py [--check-transformers]
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "../../nos-hub/src/test/resources/ai/nos/hub/audio")
RNG = np.random.default_rng(18)


# ---- transformers' audio_utils, as numpy ------------------------------------------------------

def hertz_to_mel_slaney(freq):
    freq = np.asarray(freq, dtype=np.float64)
    mels = 3.0 * freq / 200.0
    logstep = 27.0 / np.log(6.4)
    log_region = freq >= 1000.0
    mels = np.where(log_region, 15.0 + np.log(np.maximum(freq, 1e-300) / 1000.0) * logstep, mels)
    return mels


def mel_to_hertz_slaney(mels):
    mels = np.asarray(mels, dtype=np.float64)
    freq = 200.0 * mels / 3.0
    logstep = np.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(logstep * (mels - 15.0)), freq)


def mel_filter_bank(num_frequency_bins, num_mel_filters, min_frequency, max_frequency,
                    sampling_rate):
    mel_freqs = np.linspace(hertz_to_mel_slaney(min_frequency), hertz_to_mel_slaney(max_frequency),
                            num_mel_filters + 2)
    filter_freqs = mel_to_hertz_slaney(mel_freqs)
    fft_freqs = np.linspace(0, sampling_rate // 2, num_frequency_bins)
    filter_diff = np.diff(filter_freqs)
    slopes = np.expand_dims(filter_freqs, 0) - np.expand_dims(fft_freqs, 1)
    down_slopes = -slopes[:, :-2] / filter_diff[:-1]
    up_slopes = slopes[:, 2:] / filter_diff[1:]
    filters = np.maximum(np.zeros(1), np.minimum(down_slopes, up_slopes))
    enorm = 2.0 / (filter_freqs[2:num_mel_filters + 2] - filter_freqs[:num_mel_filters])
    return filters * np.expand_dims(enorm, 0)  # [freq bins, mel bins]


def whisper_log_mel(audio, bins):
    n_samples, n_fft, hop = 480000, 400, 160
    x = np.asarray(audio, dtype=np.float32)[:n_samples]
    x = np.pad(x, (0, n_samples - x.size))
    window = np.hanning(n_fft + 1)[:-1]  # window_function(400, "hann"): periodic
    w = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect").astype(np.float64)
    num_frames = int(1 + np.floor((w.size - n_fft) / hop))
    spec = np.empty((num_frames, n_fft // 2 + 1), dtype=np.complex64)
    for i in range(num_frames):
        spec[i] = np.fft.rfft(w[i * hop:i * hop + n_fft] * window)
    power = (np.abs(spec, dtype=np.float64) ** 2.0).T
    mel = np.maximum(1e-10, np.dot(mel_filter_bank(n_fft // 2 + 1, bins, 0.0, 8000.0, 16000).T, power))
    log_spec = np.log10(mel).astype(np.float32)[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


# ---- WAV writers for what scipy does not write --------------------------------------------------

def write_wav_raw(path, fmt_tag, channels, rate, bits, data_bytes, extensible_subtype=None):
    block = channels * bits // 8
    if extensible_subtype is None:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    else:
        guid = struct.pack("<H", extensible_subtype) + bytes.fromhex("000000001000800000AA00389B71")
        mask = (1 << channels) - 1
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits,
                          mask) + guid
    # A LIST chunk before "data": readers must skip chunks they do not know.
    junk = b"LIST" + struct.pack("<I", 10) + b"INFOISFT\x00\x00"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + junk
    body += b"data" + struct.pack("<I", len(data_bytes)) + data_bytes
    if len(data_bytes) % 2:
        body += b"\x00"
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def int24_bytes(ints):
    a = np.asarray(ints, dtype=np.int32).reshape(-1)
    b = a.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    return b.tobytes()


def save_f32(path, arr):
    np.asarray(arr, dtype="<f4").tofile(path)


def save_f32_gz(path, arr):
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
            f.write(np.asarray(arr, dtype="<f4").tobytes())


# ---- signals ------------------------------------------------------------------------------------

def tone(rate, seconds, freqs, amp=0.4):
    t = np.arange(int(round(rate * seconds))) / rate
    return sum(amp * np.sin(2 * np.pi * f * t) for f in freqs)


def chirp(rate, seconds, f0, f1, amp=0.5):
    t = np.arange(int(round(rate * seconds))) / rate
    k = (f1 - f0) / seconds
    return amp * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))


def speechlike(rate, seconds):
    """Harmonics of a gliding pitch (120-220 Hz) under a syllable-rate (4 Hz) envelope."""
    t = np.arange(int(round(rate * seconds))) / rate
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum((0.3 / h) * np.sin(h * phase) for h in range(1, 20) if h * 220 < rate / 2)
    return x * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--check-transformers", action="store_true",
                   help="compare the mel references with transformers' WhisperFeatureExtractor")
    args = p.parse_args()
    for sub in ("wav", "resample", "mel"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)

    # 1. WAV encodings. Each clip's expected mono mixdown is saved beside it.
    wav = os.path.join(OUT, "wav")
    left, right = tone(16000, 0.25, [440]), chirp(16000, 0.25, 200, 3000)
    i16 = np.round(np.stack([left, right], 1) * 32767).astype(np.int16)
    wavfile.write(os.path.join(wav, "pcm16_stereo_16k.wav"), 16000, i16)
    save_f32(os.path.join(wav, "pcm16_stereo_16k.f32"), i16.astype(np.float64).mean(1) / 32768.0)

    m = tone(8000, 0.3, [300, 1200])
    i32 = np.round(m * 2147483000).astype(np.int32)
    wavfile.write(os.path.join(wav, "pcm32_mono_8k.wav"), 8000, i32)
    save_f32(os.path.join(wav, "pcm32_mono_8k.f32"), i32.astype(np.float64) / 2147483648.0)

    m3 = np.stack([tone(44100, 0.1, [440]), tone(44100, 0.1, [880]), chirp(44100, 0.1, 50, 9000)], 1)
    i24 = np.clip(np.round(m3 * 8388607), -8388608, 8388607).astype(np.int32)
    i24[0, 0], i24[1, 1] = -8388608, 8388607  # both extremes of the range
    write_wav_raw(os.path.join(wav, "pcm24_3ch_44k.wav"), 1, 3, 44100, 24, int24_bytes(i24))
    save_f32(os.path.join(wav, "pcm24_3ch_44k.f32"), i24.astype(np.float64).mean(1) / 8388608.0)

    f32 = np.stack([tone(48000, 0.1, [1000]), -tone(48000, 0.1, [500])], 1).astype(np.float32)
    wavfile.write(os.path.join(wav, "float32_stereo_48k.wav"), 48000, f32)
    save_f32(os.path.join(wav, "float32_stereo_48k.f32"), f32.astype(np.float64).mean(1))

    f64 = chirp(22050, 0.2, 100, 10000)
    wavfile.write(os.path.join(wav, "float64_mono_22k.wav"), 22050, f64)
    save_f32(os.path.join(wav, "float64_mono_22k.f32"), f64)

    ext = np.stack([tone(48000, 0.05, [700]), chirp(48000, 0.05, 100, 5000)], 1).astype("<f4")
    write_wav_raw(os.path.join(wav, "extensible_float32_stereo_48k.wav"), 0, 2, 48000, 32,
                  ext.tobytes(), extensible_subtype=3)
    save_f32(os.path.join(wav, "extensible_float32_stereo_48k.f32"), ext.astype(np.float64).mean(1))

    ext16 = np.round(tone(11025, 0.1, [600]) * 32767).astype("<i2")
    write_wav_raw(os.path.join(wav, "extensible_pcm16_mono_11k.wav"), 0, 1, 11025, 16,
                  ext16.tobytes(), extensible_subtype=1)
    save_f32(os.path.join(wav, "extensible_pcm16_mono_11k.f32"), ext16.astype(np.float64) / 32768.0)

    # 8-bit PCM is unsigned (offset 128); an odd data size needs the RIFF pad byte.
    u8 = np.round(tone(8000, 0.0375, [500]) * 127 + 128).astype(np.uint8)  # 300 samples
    u8 = np.concatenate([u8, [7]]).astype(np.uint8)  # 301: odd
    write_wav_raw(os.path.join(wav, "pcm8_mono_8k.wav"), 1, 1, 8000, 8, u8.tobytes())
    save_f32(os.path.join(wav, "pcm8_mono_8k.f32"), (u8.astype(np.float64) - 128.0) / 128.0)

    # 2. Resampling references.
    rs = os.path.join(OUT, "resample")
    for rate in (8000, 22050, 44100, 48000):
        nyq = rate / 2
        signals = {
            # In band, and (where the source has it) above 8 kHz: the filter must remove it.
            "tone": tone(rate, 0.2, [440, 3000] + ([11000] if nyq > 11000 else [])),
            "chirp": chirp(rate, 0.2, 50, 0.95 * nyq),
            "noise": RNG.uniform(-0.5, 0.5, int(round(rate * 0.2))),
        }
        for name, x in signals.items():
            x32 = x.astype(np.float32)
            wavfile.write(os.path.join(rs, f"{name}_{rate}.wav"), rate, x32)
            g = np.gcd(16000, rate)
            y = resample_poly(x32.astype(np.float64), 16000 // g, rate // g)
            save_f32(os.path.join(rs, f"{name}_{rate}.f32"), y)

    # 3. Log-mel references at 16 kHz.
    mel = os.path.join(OUT, "mel")
    clips = {
        "silence": np.zeros(16000),
        "tone": tone(16000, 2.0, [440, 2500]),
        "noise": RNG.normal(0, 0.1, 24000),
        "speechlike": speechlike(16000, 3.0),
        "chirp": chirp(16000, 1.5, 80, 7900),
    }
    computed = {}
    for name, x in clips.items():
        x32 = x.astype(np.float32)
        wavfile.write(os.path.join(mel, f"{name}.wav"), 16000, x32)
        for bins in ((80, 128) if name in ("speechlike", "noise") else (80,)):
            f = whisper_log_mel(x32, bins)
            computed[(name, bins)] = (x32, f)
            save_f32_gz(os.path.join(mel, f"{name}_{bins}.f32.gz"), f)
    long_tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(31 * 16000) / 16000)).astype(np.float32)
    f = whisper_log_mel(long_tone, 80)
    computed[("tone31s", 80)] = (long_tone, f)
    save_f32_gz(os.path.join(mel, "tone31s_80.f32.gz"), f)

    if args.check_transformers:
        # WhisperFeatureExtractor.__call__ pads to 30 s and runs its torch path when torch
        # imports (_torch_extract_fbank_features), its numpy path otherwise.
        from transformers import WhisperFeatureExtractor
        worst = 0.0
        for (name, bins), (x32, ours) in computed.items():
            fe = WhisperFeatureExtractor(feature_size=bins)
            got = fe(x32, sampling_rate=16000, return_tensors="np").input_features[0]
            d = float(np.abs(got - ours).max())
            worst = max(worst, d)
            print(f"{name} {bins} bins vs transformers: max |diff| {d:.2e}")
        print("worst", worst)
        sys.exit(0 if worst <= 1e-4 else 1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
