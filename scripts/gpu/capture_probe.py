#!/usr/bin/env python3
"""Why a traced TorchScript model cannot be captured in a CUDA graph (NOS logs "operation not
permitted when stream is capturing" for ViT-B/16 and runs it eagerly), in PyTorch alone: traces
the model as scripts/models/make_gpu_models.py does, runs it as NOS's CudaGraphs does (3 warm-up
runs on a side stream, then a capture), under several JIT settings, and prints what fails.

Run:  python3 scripts/gpu/capture_probe.py [vit_b_16|resnet50] [BATCH]
"""
import sys
import traceback

import torch
import torchvision


def attempt(label, module, x, setup=None):
    if setup:
        setup()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    try:
        with torch.no_grad(), torch.cuda.stream(s):
            for _ in range(3):
                module(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(g):
            y = module(x)
        g.replay()
        torch.cuda.synchronize()
        with torch.no_grad():
            ref = module(x)
        err = ((y.float() - ref.float()).norm() / ref.float().norm()).item()
        print(f"{label}: captured, replay vs eager relative error {err:.2e}", flush=True)
    except Exception as e:  # noqa: BLE001 - the point is to print it
        torch.cuda.synchronize()
        print(f"{label}: FAILED: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
        text = traceback.format_exc()
        # The TorchScript frame names the op that broke the capture.
        for line in text.splitlines():
            if "File \"code" in line or "aten::" in line or "~~~" in line or ".py\", line" in line:
                print("   ", line.strip()[:200])
        torch.cuda.synchronize()


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "vit_b_16"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    print(f"capture_probe: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {name}, "
          f"batch {batch}", flush=True)
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)().eval()
    traced = torch.jit.trace(m, torch.randn(1, 3, 224, 224), check_trace=False)
    with torch.no_grad():
        traced_ng = torch.jit.trace(m, torch.randn(1, 3, 224, 224), check_trace=False)
    for dtype in (torch.float16, torch.float32):
        x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype)
        d = str(dtype).replace("torch.", "")
        attempt(f"{d} eager nn.Module", m.to("cuda", dtype), x)
        attempt(f"{d} traced with grad on", traced.to("cuda", dtype), x)
        attempt(f"{d} traced under no_grad (as make_gpu_models.py)", traced_ng.to("cuda", dtype), x)
        attempt(f"{d} no_grad trace, profiling executor off", traced_ng.to("cuda", dtype), x,
                lambda: torch._C._jit_set_profiling_executor(False))
        torch._C._jit_set_profiling_executor(True)
        attempt(f"{d} no_grad trace, fusers off", traced_ng.to("cuda", dtype), x,
                lambda: (torch._C._jit_set_texpr_fuser_enabled(False),
                         torch._C._jit_override_can_fuse_on_gpu(False)))
        torch._C._jit_set_texpr_fuser_enabled(True)
        frozen = torch.jit.freeze(traced_ng.to("cuda", dtype).eval())
        attempt(f"{d} no_grad trace + freeze", frozen, x)


if __name__ == "__main__":
    main()
