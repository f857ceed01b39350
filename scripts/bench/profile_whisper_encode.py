#!/usr/bin/env python3
"""Where a Whisper admission's encoding goes (#18): the exported encoder's device time per batch.

WhisperBench's breakdown (benchmarks/README.md, "Whisper", fifteenth session) puts 64.2 ms of a
64-clip round in encoding (4 admissions of 16 windows, fp16): the windows' PCM copied to the
device, the log-mel there (WhisperLogMel), the encoder, each layer's cross keys and values
(cross_kv), and the wait for them. This script times the parts Python can run the way NOS does:
the traced encoder.pt (TorchScript, the executor's optimization off, as NOS runs it) at batch 1,
16 and 64 in fp16 and fp32, eager and as a captured CUDA graph, with its kernels per call; and a
pinned host-to-device copy of 16 windows of PCM (16 x 480,000 floats). What is left of the 16 ms
an admission takes is NOS's own work (the copy into a pinned block, the log-mel, cross_kv).
Then the whole admission path in Python (`admission`: upload, log-mel as WhisperLogMel computes
it, encoder, cross_kv, each waited for, then chained), the figures to set beside
WhisperAdmitProbe's (the same steps from Java, benchmarks).

    python3 scripts/bench/profile_whisper_encode.py DIR   # DIR: make_whisper.py's output

Runs in about 20 s on an H200. Prints one line per measurement, prefixed profile_whisper_encode.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_step as ps  # noqa: E402  (capture, device_times, kernels, median)

STARTED = time.perf_counter()


def say(msg):
    print(f"profile_whisper_encode: {msg}", flush=True)


def log_mel(pcm, filters, window):
    """WhisperLogMel's features of pcm [B, 480000] float32 on its device, op for op."""
    spec = torch.stft(pcm, 400, 160, 400, window=window, center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    parts = torch.view_as_real(spec.narrow(2, 0, 3000))
    power = (parts * parts).sum(-1)
    log = torch.matmul(filters, power).clamp_min(1e-10).log10()
    floor = log.amax(dim=(1, 2), keepdim=True) - 8.0
    return (torch.maximum(log, floor) + 4.0) / 4.0


def admission(args):
    """The engine's admission path in Python, to set beside WhisperAdmitProbe's Java lines: PCM
    from pageable memory to the device, the log-mel, the encoder in fp16, the decoder's cross_kv
    into a 65-slot cache; each step waited for (wall ms, median of the replays), then chained
    with one wait, at batch 1, 16 and 64."""
    import json
    with open(os.path.join(args.dir, "config.json")) as f:
        c = json.load(f)
    mels, layers = c["num_mel_bins"], c["decoder_layers"]
    heads, d = c["decoder_attention_heads"], c["d_model"]
    try:
        from transformers.audio_utils import mel_filter_bank
    except ImportError as e:
        say(f"admission: skipped ({e})")
        return
    filters = torch.tensor(mel_filter_bank(num_frequency_bins=201, num_mel_filters=mels,
                                           min_frequency=0.0, max_frequency=8000.0,
                                           sampling_rate=16000, norm="slaney",
                                           mel_scale="slaney").T, dtype=torch.float32,
                           device="cuda")
    window = torch.hann_window(400, device="cuda")
    enc = torch.jit.load(os.path.join(args.dir, "encoder.pt"), map_location="cuda").half().eval()
    dec = torch.jit.load(os.path.join(args.dir, "decoder.pt"), map_location="cuda").half().eval()
    shape = [layers, 65, c["max_source_positions"], heads, d // heads]
    xk = torch.zeros(shape, device="cuda", dtype=torch.float16)
    xv = torch.zeros(shape, device="cuda", dtype=torch.float16)

    def wall(fn, n):  # wall ms of fn and its wait, median of n after profile_step's warm-up
        return ps.median(ps.wall_times(ps.synced(fn), n))
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for b in [int(x) for x in args.batches.split(",")]:
            pcm_host = torch.randn(b, 480_000) * 0.1
            slots = torch.arange(b, device="cuda")
            pcm = pcm_host.to("cuda")
            feats = log_mel(pcm, filters, window)
            hidden = enc(feats.half())
            up = wall(lambda: pcm_host.to("cuda"), args.replays)
            mel = wall(lambda: log_mel(pcm, filters, window), args.replays)
            en = wall(lambda: enc(feats.half()), args.replays)
            kv = wall(lambda: dec.cross_kv(hidden, slots, xk, xv), args.replays)
            chained = wall(lambda: dec.cross_kv(enc(log_mel(pcm_host.to("cuda"), filters, window)
                                                    .half()), slots, xk, xv).cpu(),
                           args.replays)
            say(f"admission batch {b} (fp16, python): upload {up:.2f} ms, features {mel:.2f},"
                f" encoder {en:.2f}, cross_kv {kv:.2f}; chained {chained:.2f} ms"
                f" ({chained / b:.3f} a window)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", help="make_whisper.py's output (encoder.pt, config.json)")
    p.add_argument("--batches", default="1,16,64")
    p.add_argument("--replays", type=int, default=20)
    args = p.parse_args()
    import json
    with open(os.path.join(args.dir, "config.json")) as f:
        mels = json.load(f)["num_mel_bins"]
    say(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; {args.dir}, {mels} bins")
    for dtype in (torch.float16, torch.float32):
        enc = torch.jit.load(os.path.join(args.dir, "encoder.pt"), map_location="cpu")
        enc = enc.to("cuda", dtype).eval()
        for b in [int(x) for x in args.batches.split(",")]:
            x = torch.randn(b, mels, 3000, device="cuda", dtype=dtype)
            with torch.no_grad(), torch.jit.optimized_execution(False):
                def fn():
                    return enc(x)
                eager = ps.median(ps.device_times(fn, args.replays))
                try:
                    graph, _ = ps.capture(fn)
                    replay = ps.median(ps.device_times(graph.replay, args.replays))
                    prof = ps.kernels(graph.replay, 3, fn)
                    captured = (f"captured {replay:.3f} ms ({replay / b:.3f} a window),"
                                f" {prof['per_step']:.0f} kernels a call")
                except Exception as e:  # noqa: BLE001 - the eager figure stands alone
                    captured = f"capture failed: {type(e).__name__}: {str(e).splitlines()[0]}"
            say(f"encoder {str(dtype).replace('torch.', '')} batch {b}: eager {eager:.3f} ms"
                f" ({eager / b:.3f} a window); {captured}")
        del enc
        torch.cuda.empty_cache()
    admission(args)
    host = torch.randn(16, 480_000).pin_memory()
    times = ps.device_times(lambda: host.to("cuda", non_blocking=True), args.replays)
    say(f"pinned copy of 16 windows of PCM ({host.numel() * 4 / 1e6:.1f} MB):"
        f" {ps.median(times):.3f} ms")
    say(f"done in {time.perf_counter() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
