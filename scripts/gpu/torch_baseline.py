#!/usr/bin/env python3
"""Python torch baselines for the batching benchmark, on the same card in the same run:
ResNet-50 (the TorchScript file NOS serves) in fp16, eager, fed full offline batches.

Run:  python3 scripts/gpu/torch_baseline.py RESNET50_PT
Prints a table: batch, images/s, p50 ms per batch.
"""
import sys
import time

import torch

torch.backends.fp32_precision = "ieee"
model = torch.jit.load(sys.argv[1]).eval().cuda().half()
print("torch", torch.__version__, torch.cuda.get_device_name(0))
print("| path | batch | images/s | p50 ms/batch |")
print("|---|---|---|---|")
for batch in (1, 32, 256):
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.inference_mode():
        for i in range(60):
            t0 = time.perf_counter()
            # Same work as NOS per batch: host fp32 input to the device, fp16 forward, logits back.
            y = model(x.cuda().half()).float().cpu()
            t1 = time.perf_counter()
            if i >= 10:
                times.append(t1 - t0)
    times.sort()
    p50 = times[len(times) // 2]
    print(f"| python torch eager fp16 (TorchScript) | {batch} | {batch * len(times) / sum(times):.0f} | {p50 * 1e3:.2f} |")
