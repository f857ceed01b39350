#!/usr/bin/env python3
"""Python rows of the nos-optim benchmark (issue #5), on the GPU machine, in the same call as
ai.nos.benchmarks.gpu.OptimBench (scripts/gpu/bench.sh optim):

  python torch eager                    the nn.Module as it is, fp32 or fp16
  python torch eager channels-last      the same, weights and inputs in channels-last
  python CUDA graphs                    channels-last, one graph per batch size, replayed
  python torch eager channels-last,     the same with the input in ordinary (pageable) host memory,
    pageable input                      as a Java caller's buffer is
  python torch.compile                  channels-last, torch.compile(mode="default",
                                        dynamic=False): one specialized compile per batch size
  python torch.compile, 2 threads       the same compiled module called by two Python threads
                                        at once (batch 64 and 256), each with its own pinned
                                        input and CUDA stream: the anchor of NOS's two-caller row

Models: torchvision ResNet-50 and ViT-B/16 with random weights (seed 0), the architectures of
the TorchScript files NOS serves (scripts/models/make_gpu_models.py). Every row does the work a
NOS call does: a host float32 batch to the device, the forward pass, the logits back to the host
as float32. Prints one markdown row per (model, dtype, path, batch), as OptimBench does: images/s
(the median of --windows measured windows of --seconds each: the window's images over its wall
time, gaps between calls included), p50 ms of every call in them, the slowest window's images/s
and each window's.

Run:  python3 scripts/gpu/optim_baseline.py [--compile | --compile-only] [--seconds S] [--windows N]
"""
import argparse
import statistics
import time

import torch
import torchvision

BATCHES = (1, 8, 64, 256)


WINDOWS = 3  # measured windows a cell (--windows)


def timed(step, seconds):
    """After 10 warm-up calls, WINDOWS windows of `seconds`: (calls and wall seconds of each
    window, per-call seconds of all). A window ends when the first call to finish at or past its
    length does (OptimBench's Timing.windows); every step ends in .cpu(), so a call is done when
    it returns."""
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    windows, times = [], []
    for _ in range(WINDOWS):
        start = now = time.perf_counter()
        calls = 0
        while now - start < seconds:
            t0 = now
            step()
            now = time.perf_counter()
            times.append(now - t0)
            calls += 1
        windows.append((calls, now - start))
    return windows, times


def timed_threads(steps, seconds):
    """timed() for several callers at once: one thread per step, each calling it in a loop after
    10 warm-up calls; a window starts at one call's return and ends at the first return past its
    length, counting the returns of every thread in between (Timing.callers in the benchmarks)."""
    import threading
    lock = threading.Lock()
    returns = []  # perf_counter of every measured return, in order
    times = []
    warm = threading.Barrier(len(steps) + 1)
    stop = threading.Event()
    errors = []

    def loop(step):
        try:
            for _ in range(10):
                step()
            warm.wait()
            while not stop.is_set():
                t0 = time.perf_counter()
                step()
                t1 = time.perf_counter()
                with lock:
                    returns.append(t1)
                    times.append(t1 - t0)
        except BaseException as e:  # noqa: BLE001 - reported after the threads stop
            errors.append(e)
            stop.set()
            try:
                warm.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in steps]
    for t in threads:
        t.start()
    windows = []
    try:
        warm.wait()
        for _ in range(WINDOWS):
            start_i, start = 0, 0.0
            with lock:
                first = len(returns)
            while not errors:
                with lock:
                    if len(returns) > first:
                        start_i = len(returns) - 1
                        start = returns[start_i]
                        break
                time.sleep(1e-4)
            end_i = start_i
            while not errors:
                with lock:
                    if len(returns) > end_i + 1 and returns[-1] - start >= seconds:
                        end_i = len(returns) - 1
                        break
                time.sleep(1e-4)
            if errors:
                break
            windows.append((end_i - start_i, returns[end_i] - start))
    except threading.BrokenBarrierError:
        pass  # a thread failed in its warm-up: its error is raised below
    finally:
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)),
                   errors[0])
    return windows, times


def row(model, dtype, path, batch, measured):
    windows, times = measured
    per_second = [batch * calls / wall for calls, wall in windows]
    p50 = statistics.median(times)
    print(f"| {model} | {dtype} | {path} | {batch} | {statistics.median(per_second):.0f} |"
          f" {p50 * 1e3:.2f} | {min(per_second):.0f} | {' '.join(f'{x:.0f}' for x in per_second)} |",
          flush=True)


def on_stream(net, host, dev, dtype):
    """A call of net on its own CUDA stream and pinned input, for one of several threads: inference
    mode is per thread, so each call enters it."""
    stream = torch.cuda.Stream(device=dev)

    def call():
        with torch.inference_mode(), torch.cuda.stream(stream):
            x = host.to(dev, non_blocking=True).to(dtype)
            out = net(x.contiguous(memory_format=torch.channels_last)).float().cpu()
        return out
    return call


class Overhead(torch.nn.Module):
    """make_gpu_models.py's overhead.pt: ResNet-50's signature around almost no compute."""

    def __init__(self, weights=None):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, image):
        return self.fc(image.mean(dim=(2, 3)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compile", action="store_true", help="add the torch.compile rows")
    parser.add_argument("--compile-only", action="store_true",
                        help="only the torch.compile rows (the others came from bench.sh optim)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a measured window")
    parser.add_argument("--windows", type=int, default=3, help="measured windows a cell")
    parser.add_argument("--only", default=None,
                        help="one model and dtype, e.g. resnet50-fp16 (for a short lease),"
                             " or overhead-fp16 (make_gpu_models.py's overhead.pt)")
    args = parser.parse_args()
    args.compile = args.compile or args.compile_only
    if args.seconds <= 0 or args.windows < 1:
        parser.error(f"--seconds must be > 0 and --windows >= 1; given {args.seconds} and {args.windows}")
    global WINDOWS
    WINDOWS = args.windows
    torch.backends.fp32_precision = "ieee"
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda:0")
    print("torch", torch.__version__, torch.cuda.get_device_name(0), flush=True)
    print(f"({args.windows} windows of {args.seconds} s a cell)")
    print("| model | dtype | path | batch | images/s | p50 ms | images/s min | images/s per window |")
    print("|---|---|---|---|---|---|---|---|")
    models = [("resnet50", torchvision.models.resnet50), ("vit_b_16", torchvision.models.vit_b_16)]
    if args.only and args.only.startswith("overhead"):  # only when asked: bench.sh overhead
        models = [("overhead", Overhead)]
    for name, ctor in models:
        torch.manual_seed(0)
        base = ctor(weights=None).eval()
        for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            if args.only and args.only != f"{name}-{dtype_name}":
                continue
            model = base.to(dev, dtype)
            cl = ctor(weights=None).eval().to(dev, dtype).to(memory_format=torch.channels_last)
            compiled = torch.compile(cl, dynamic=False) if args.compile else None
            for batch in BATCHES:
                host = torch.randn(batch, 3, 224, 224).pin_memory()
                with torch.inference_mode():
                    def channels_last(net):
                        def call():
                            x = host.to(dev, non_blocking=True).to(dtype)
                            return net(x.contiguous(memory_format=torch.channels_last)).float().cpu()
                        return call

                    if args.compile_only:
                        row(name, dtype_name, "python torch.compile", batch,
                            timed(channels_last(compiled), args.seconds))
                        if batch >= 64:
                            row(name, dtype_name, "python torch.compile, 2 threads", batch,
                                timed_threads([on_stream(compiled, host.clone().pin_memory(), dev,
                                                         dtype) for _ in range(2)], args.seconds))
                        continue

                    def eager():
                        return model(host.to(dev, non_blocking=True).to(dtype)).float().cpu()

                    row(name, dtype_name, "python torch eager", batch, timed(eager, args.seconds))
                    row(name, dtype_name, "python torch eager channels-last", batch,
                        timed(channels_last(cl), args.seconds))
                    # The same with the input in ordinary (pageable) memory, as a Java caller's
                    # buffer is: the anchor that pays the copy NOS pays.
                    pageable = torch.empty_like(host, pin_memory=False).copy_(host)

                    def eager_pageable():
                        x = pageable.to(dev).to(dtype)
                        return cl(x.contiguous(memory_format=torch.channels_last)).float().cpu()

                    row(name, dtype_name, "python torch eager channels-last, pageable input",
                        batch, timed(eager_pageable, args.seconds))

                    static_in = torch.empty(batch, 3, 224, 224, device=dev, dtype=dtype) \
                        .contiguous(memory_format=torch.channels_last)
                    side = torch.cuda.Stream()
                    side.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(side):
                        for _ in range(3):
                            cl(static_in)
                    torch.cuda.current_stream().wait_stream(side)
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        static_out = cl(static_in)

                    def graphed():
                        static_in.copy_(host.to(dev, non_blocking=True))
                        graph.replay()
                        return static_out.float().cpu()

                    row(name, dtype_name, "python CUDA graphs", batch,
                        timed(graphed, args.seconds))
                    del graph, static_out, static_in

                    if compiled is not None:
                        row(name, dtype_name, "python torch.compile", batch,
                            timed(channels_last(compiled), args.seconds))
            del model, cl, compiled
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
