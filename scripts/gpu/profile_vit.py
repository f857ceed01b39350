#!/usr/bin/env python3
"""Where ViT-B/16 fp16's time goes at batch 64, and which SDPA backend its attention gets (issue
#20 item 3). NOS (libtorch 2.10, make_gpu_models.py's traced vit_b_16.pt, channels-last + freeze
+ cudnn + CUDA graphs) gave 8,190 images/s at batch 64 (7.69 ms a call, H100) where Python eager
gave 9,016 (7.10 ms, H200). The trace keeps nn.MultiheadAttention's fused fast path
(aten::_native_multi_head_attention), which picks an SDPA backend inside; libtorch 2.10 was seen
to pick another backend than torch 2.11 for a decode shape. This script runs torchvision's
vit_b_16 (random weights, seed 0, eval, no_grad) in this Python's torch, in these modes:

  eager         the nn.Module, fp16 (fp32 on the CPU)
  trace         torch.jit.trace of that module, run here
  file          NOS's file (--file, make_gpu_models.py's vit_b_16.pt: traced on the CPU in fp32 at
                batch 1, image float32 [N,3,224,224] -> logits [N,1000]) loaded as NOS's freeze
                path loads it: eval, to the device, to fp16, 4-D weights and the input
                channels-last, torch.jit.freeze, cudnn benchmark mode
  file-graphs   `file` captured in a CUDA graph and replayed: NOS's best-freeze path, in torch
                2.11 (set beside OptimBench's "NOS optimized + CUDA graphs" rows, which add the
                host copies)
  graphs        the eager module captured in a CUDA graph and replayed
  eager-B       the eager module with SDPA held to one backend B (flash, efficient, cudnn, math:
                torch.nn.attention.sdpa_kernel): what each backend costs this shape

Each mode is timed on the device input (the forward pass alone, no host copies): --warmup calls,
then --iters calls each between two CUDA events (perf_counter on the CPU), the median. Then, on
CUDA, --profile-iters calls under torch.profiler (CPU and CUDA activity): the kernels' device
time per call, the top --top kernels by it, the aten attention ops dispatched (none are seen
inside a graph replay) and the SDPA backend the kernel names show. cudnn benchmark mode is on for
every mode (as NOS's freeze path sets it; ViT has one convolution). A mode that fails prints its
error and the others go on. Output lines (grep "^profile_vit:"):

  profile_vit: torch T cuda C cudnn D device NAME dtype fp16 sdp_priority [...]
  profile_vit: MODE batch=B median_ms=X images_s=Y
  profile_vit: MODE kernels_per_call N kernel_ms_per_call X
  profile_vit: MODE kernel NAME calls N cuda_ms X         (per call of the model; top --top)
  profile_vit: MODE op NAME calls N                       (aten ops named *attention*)
  profile_vit: MODE sdpa BACKEND kernel NAME calls N cuda_ms X
  profile_vit: MODE sdpa none seen (...)                  (math, or the MHA's own bmm + softmax)
  profile_vit: MODE skipped: WHY   |   profile_vit: MODE failed: ERROR

Run:  python3 scripts/gpu/profile_vit.py --file /tmp/gpu-models/vit_b_16.pt [--batch 64]
          [--modes eager,trace,file,...] [--iters 50] [--warmup 10] [--profile-iters 5]
CPU smoke test:  python3 scripts/gpu/profile_vit.py --device cpu --batch 2 --iters 2 [--file F]
(bench.sh vitprofile makes the file and runs it with a 200 s limit into $OUT/vit-profile.log.)
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import profile_step as ps  # noqa: E402  (capture, trace_events: the shared profiling pieces)

MODES = ("eager", "trace", "file", "file-graphs", "graphs",
         "eager-flash", "eager-efficient", "eager-cudnn", "eager-math")
BACKEND_NAMES = ("math", "flash", "efficient", "cudnn", "overrideable")  # SDPBackend's order


def say(line):
    print("profile_vit: " + line, flush=True)


def sdpa_backend(kernel):
    """The SDPA backend a kernel name belongs to, or None. cuDNN's SDPA kernels have "flash" in
    their names too ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop..."), so cuDNN first."""
    n = kernel.lower()
    if "cudnn" in n and any(k in n for k in ("sdpa", "fmha", "flash", "attention", "attn")):
        return "cudnn"
    if "fmha" in n or "efficient" in n or "cutlassf" in n or "memeff" in n:
        return "efficient"
    if "flash" in n:
        return "flash"
    return None


def sdp_priority():
    try:
        return [BACKEND_NAMES[b] if 0 <= b < len(BACKEND_NAMES) else str(b)
                for b in torch._C._get_sdp_priority_order()]
    except Exception as e:  # noqa: BLE001 (older or newer torch: only a log line)
        return f"unknown ({type(e).__name__})"


def median_ms(fn, warmup, iters, cuda):
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                 for _ in range(iters)]
        for start, end in pairs:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) for s, e in pairs)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def profiled(fn, iters):
    """torch.profiler's events of `iters` calls (profile_step.trace_events): (kernels, cpu ops),
    each a list of (name, device or host ms)."""
    events = ps.trace_events(fn, iters)

    def of(cat):
        return [(e.get("name", "?"), float(e.get("dur", 0)) / 1000) for e in events
                if str(e.get("cat", "")).lower() == cat]
    return of("kernel"), of("cpu_op")


def per_call(n, iters):
    x = n / iters
    return str(int(x)) if x == int(x) else f"{x:.1f}"


def report_profile(mode, fn, args):
    kernels, ops = profiled(fn, args.profile_iters)
    it = args.profile_iters
    if not kernels:
        say(f"{mode} no kernels in the profile (this torch's profiler shows none inside a graph"
            f" replay: see the mode without graphs)")
        return
    by_name = {}
    for name, ms in kernels:
        t = by_name.setdefault(name, [0.0, 0])
        t[0] += ms
        t[1] += 1
    say(f"{mode} kernels_per_call {per_call(len(kernels), it)}"
        f" kernel_ms_per_call {sum(ms for _, ms in kernels) / it:.3f}")
    top = sorted(by_name.items(), key=lambda kv: -kv[1][0])
    for name, (ms, n) in top[:args.top]:
        say(f"{mode} kernel {name[:160]} calls {per_call(n, it)} cuda_ms {ms / it:.4f}")
    op_counts = {}
    for name, _ in ops:
        if "attention" in name.lower():
            op_counts[name] = op_counts.get(name, 0) + 1
    for name, n in sorted(op_counts.items()):
        say(f"{mode} op {name} calls {per_call(n, it)}")
    attention = [(name, t) for name, t in top if sdpa_backend(name)]
    for name, (ms, n) in attention:
        say(f"{mode} sdpa {sdpa_backend(name)} kernel {name[:160]} calls {per_call(n, it)}"
            f" cuda_ms {ms / it:.4f}")
    if not attention:
        softmax = sum(n for name, (_, n) in by_name.items() if "softmax" in name.lower())
        say(f"{mode} sdpa none seen (no flash/efficient/cudnn/fmha kernel: math or the MHA's own"
            f" bmm + softmax; softmax kernels a call {per_call(softmax, it)})")


def captured(fn, example_input):
    """fn captured in a CUDA graph (profile_step.capture, after 5 warm-up calls on a side stream,
    which also let TorchScript's profiling executor settle): a replay function."""
    graph, out = ps.capture(lambda: fn(example_input), warmups=5)
    keep = (graph, out, example_input)  # the graph's memory lives as long as the replay

    def replay():
        keep[0].replay()
    return replay


def nos_like_file(path, device, dtype):
    """The file as NOS's best-freeze path loads it (TorchLoader + LoadPasses): eval, to the
    device, to the precision, 4-D weights channels-last, freeze."""
    m = torch.jit.load(path, map_location="cpu")
    m.eval()
    m = m.to(device)
    if dtype != torch.float32:
        m = m.to(dtype)
    for t in list(m.parameters()) + list(m.buffers()):
        if t.dim() == 4 and t.is_floating_point():
            t.data = t.data.contiguous(memory_format=torch.channels_last)
    return torch.jit.freeze(m)


def build(mode, args, device, dtype, x, eager):
    """(forward function, context to run it in) for a mode; raises SkipMode when it cannot run."""
    cuda = device.type == "cuda"
    if mode == "eager":
        return (lambda: eager(x)), contextlib.nullcontext()
    if mode == "trace":
        traced = torch.jit.trace(eager, x, check_trace=False)
        return (lambda: traced(x)), contextlib.nullcontext()
    if mode in ("file", "file-graphs"):
        if not args.file:
            raise SkipMode("no --file")
        if mode == "file-graphs" and not cuda:
            raise SkipMode("CUDA graphs need CUDA")
        frozen = nos_like_file(args.file, device, dtype)
        xf = x.contiguous(memory_format=torch.channels_last)
        if mode == "file":
            return (lambda: frozen(xf)), contextlib.nullcontext()
        return captured(frozen, xf), contextlib.nullcontext()
    if mode == "graphs":
        if not cuda:
            raise SkipMode("CUDA graphs need CUDA")
        return captured(eager, x.clone()), contextlib.nullcontext()
    if mode.startswith("eager-"):
        if not cuda:
            raise SkipMode("SDPA backends are CUDA's")
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = {"flash": SDPBackend.FLASH_ATTENTION,
                   "efficient": SDPBackend.EFFICIENT_ATTENTION,
                   "cudnn": SDPBackend.CUDNN_ATTENTION,
                   "math": SDPBackend.MATH}[mode[len("eager-"):]]
        return (lambda: eager(x)), sdpa_kernel([backend])
    raise SkipMode("unknown mode (one of " + ",".join(MODES) + ")")


class SkipMode(Exception):
    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--file", help="NOS's TorchScript vit_b_16.pt (make_gpu_models.py)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp32"),
                   help="default fp16 on CUDA, fp32 on the CPU")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--profile-iters", type=int, default=5)
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    dname = args.dtype or ("fp16" if cuda else "fp32")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dname]
    torch.backends.cudnn.benchmark = True
    say(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn"
        f" {torch.backends.cudnn.version()} device"
        f" {torch.cuda.get_device_name(device) if cuda else 'cpu'} dtype {dname}"
        f" sdp_priority {sdp_priority()}")

    torch.manual_seed(0)
    eager = torchvision.models.vit_b_16(weights=None).eval().to(device, dtype)
    x = torch.randn(args.batch, 3, 224, 224, device=device, dtype=dtype)
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        try:
            with torch.no_grad():
                fn, ctx = build(mode, args, device, dtype, x, eager)
                with ctx:
                    ms = median_ms(fn, args.warmup, args.iters, cuda)
                    say(f"{mode} batch={args.batch} median_ms={ms:.3f}"
                        f" images_s={args.batch / ms * 1000:.0f}")
                    if cuda and args.profile_iters > 0:
                        report_profile(mode, fn, args)
        except SkipMode as e:
            say(f"{mode} skipped: {e}")
        except Exception as e:  # noqa: BLE001 (one mode's failure must not lose the others)
            first = str(e).splitlines()[0][:300] if str(e) else ""
            say(f"{mode} failed: {type(e).__name__}: {first}")
        finally:
            fn = ctx = None
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
