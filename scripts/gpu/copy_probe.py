#!/usr/bin/env python3
"""What moving one ResNet-50 batch (256 x 3 x 224 x 224 float32, 154 MB) to the GPU costs, by
source memory, in PyTorch alone: the facts behind NOS's pinned input buffers (issue #5's
batch-256 gap, docs/status.md). Rows, p50 ms per transfer (each ends with a synchronize):

  h2d from pinned          torch.empty(pin_memory=True) -> cuda (what Python's baseline does)
  h2d from pageable        ordinary memory -> cuda (the driver stages it through its own buffer)
  h2d from registered      ordinary memory pinned in place with cudaHostRegister -> cuda
  host copy to pinned, T threads   pageable -> pinned with torch's copy_ on T threads (what NOS
                           does before its h2d: Copies splits it over up to 8 threads)
  register + unregister    the one-off price of pinning the buffer in place

Run:  python3 scripts/gpu/copy_probe.py [--mb 154]
"""
import argparse
import ctypes
import statistics
import time

import torch


def p50_ms(step, n=30):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="256,3,224,224")
    args = parser.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    dev = torch.device("cuda:0")
    print(f"copy_probe: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
          f"shape {shape} float32")
    pageable = torch.rand(shape, pin_memory=False)
    pinned = torch.empty(shape, pin_memory=True).copy_(pageable)
    nbytes = pageable.numel() * 4
    print(f"bytes {nbytes}")
    print("| source | p50 ms | GB/s |")
    print("|---|---|---|")

    def show(name, ms):
        print(f"| {name} | {ms:.2f} | {nbytes / ms / 1e6:.1f} |", flush=True)

    show("h2d from pinned", p50_ms(lambda: pinned.to(dev, non_blocking=True)))
    show("h2d from pageable", p50_ms(lambda: pageable.to(dev)))
    cudart = torch.cuda.cudart()
    registered = torch.rand(shape, pin_memory=False)
    ptr = registered.data_ptr()
    t0 = time.perf_counter()
    err = cudart.cudaHostRegister(ptr, nbytes, 1)  # cudaHostRegisterPortable
    reg_ms = (time.perf_counter() - t0) * 1e3
    print(f"(cudaHostRegister -> {err}, is_pinned {registered.is_pinned()})")
    show("h2d from registered", p50_ms(lambda: registered.to(dev, non_blocking=True)))
    t0 = time.perf_counter()
    cudart.cudaHostUnregister(ptr)
    unreg_ms = (time.perf_counter() - t0) * 1e3
    print(f"| register + unregister (once) | {reg_ms:.2f} + {unreg_ms:.2f} | |")
    for threads in (1, 4, 8, 16):
        torch.set_num_threads(threads)
        show(f"host copy to pinned, {threads} threads", p50_ms(lambda: pinned.copy_(pageable)))
    torch.set_num_threads(8)

    # The whole call of make_gpu_models.py's overhead.pt (mean + Linear(3, 1000)), by source.
    fc = torch.nn.Linear(3, 1000).to(dev)

    def call(src, blocking):
        def step():
            x = src.to(dev, non_blocking=not blocking)
            return fc(x.mean(dim=(2, 3))).cpu()
        return step
    print("| overhead.pt call, input from | p50 ms | |")
    show("pinned", p50_ms(call(pinned, False)))
    show("pageable", p50_ms(call(pageable, True)))
    show("pageable, copied to pinned first (8 threads)",
         p50_ms(lambda: call(pinned.copy_(pageable), False)()))


if __name__ == "__main__":
    main()
