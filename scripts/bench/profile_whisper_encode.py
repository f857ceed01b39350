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
    host = torch.randn(16, 480_000).pin_memory()
    times = ps.device_times(lambda: host.to("cuda", non_blocking=True), args.replays)
    say(f"pinned copy of 16 windows of PCM ({host.numel() * 4 / 1e6:.1f} MB):"
        f" {ps.median(times):.3f} ms")
    say(f"done in {time.perf_counter() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
