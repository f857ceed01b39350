#!/usr/bin/env python3
"""AOTInductor artifacts for issue #5's question: do models compiled by the GPU machine's torch
(2.11) run in NOS's libtorch (2.10)? Run by scripts/gpu/bench.sh aoti before AotiProbe.

For each (model, device) below it exports the model with a dynamic batch dimension, compiles it
with torch._inductor.aoti_compile_and_package (weights and kernel binaries inside the shared
library where this torch supports it), checks the package in this Python, unzips it next to
itself so that a runner can open the .so, and writes the reference input and output:

  OUT/<name>.pt2                 the package
  OUT/<name>/...                 its files; AotiProbe looks for data/aotinductor/**/*.so
  OUT/<name>.input.f32           float32 little-endian input, batch 4
  OUT/<name>.output.f32          what torch gives for it (eager, same device)
  OUT/<name>.json                shapes, the .so path, torch version, compile seconds

  digits-cpu, digits-cuda        a small CNN (fast to compile): [N,1,8,8] -> [N,10]; with the
                                 weights of models/digits/digits.pt when that file is given
  digits-cpu-portable            the same for any x86-64 CPU: scalar code (cpp.simdlen 0) and
                                 -march=x86-64-v2 instead of -march=native, so that a CI machine
                                 without this machine's vector units can run it, and glibc's
                                 pre-C23 strtol family (GLIBC_COMPAT below), so that it loads on
                                 glibc 2.36 (Debian 12, the CI machines) though built on 2.39
  digits-cuda-buckets            digits on CUDA compiled for batch 1 and 4, one library each
                                 (data/aotinductor/batch_<size>/), for NOS's batch-size buckets
  resnet50-fp16-cuda-buckets     ResNet-50 fp16 compiled for batch 1, 8, 64 and 256
  resnet50-fp16-cuda-cl-buckets  the same in channels-last memory format, as the torch.compile
                                 baseline
  resnet50-fp16-cuda-cl-autotune-buckets
                                 the same with Inductor's max_autotune, for batch 64 and 256
                                 (issue #20 item 3; minutes per size)
  resnet50-fp32-cuda, resnet50-fp16-cuda
                                 torchvision ResNet-50, random weights (seed 0, as
                                 make_gpu_models.py): [N,3,224,224] -> [N,1000], N 1..256

Only the cases named after OUT (and WEIGHTS) are made when any are named, e.g.
  python3 scripts/gpu/make_aoti.py /tmp/aoti models/digits/digits.pt digits-cuda

Run:  python3 scripts/gpu/make_aoti.py OUT [models/digits/digits.pt [CASE...]]

The package is not loaded back in Python: torch 2.11's aoti_load_package crashed (segmentation
fault) on the CPU package here on 2026-11-27, while NOS's libtorch 2.10 ran it.
"""
import json
import os
import sys
import tempfile
import time
import zipfile

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from digit_net import DigitNet  # noqa: E402  (the shipped digit model's network)



# glibc 2.38+ headers redirect strtol and friends to __isoc23_strtol (symbol version
# GLIBC_2.38) whenever _GNU_SOURCE is on, as g++ always has it; a library calling them does not
# load on an older glibc. Included before anything else, this header settles features.h (whose
# include guard keeps it settled) and turns the redirect off (not in assembly: Inductor assembles
# its kernel binary with the same flags): the old symbols behave the same for
# the decimal numbers the generated code parses.
GLIBC_COMPAT = """#ifndef __ASSEMBLER__
#include <features.h>
#undef __GLIBC_USE_C2X_STRTOL
#define __GLIBC_USE_C2X_STRTOL 0
#undef __GLIBC_USE_C23_STRTOL
#define __GLIBC_USE_C23_STRTOL 0
#include <stdlib.h>
#ifdef __cplusplus
extern "C" {
#endif
/* For the objects compiled without this header (Inductor builds some apart): their
   __isoc23_* calls bind to these weak copies inside the library, not to GLIBC_2.38. */
__attribute__((weak)) long __isoc23_strtol(const char* s, char** e, int b) {
  return strtol(s, e, b); }
__attribute__((weak)) unsigned long __isoc23_strtoul(const char* s, char** e, int b) {
  return strtoul(s, e, b); }
__attribute__((weak)) long long __isoc23_strtoll(const char* s, char** e, int b) {
  return strtoll(s, e, b); }
__attribute__((weak)) unsigned long long __isoc23_strtoull(const char* s, char** e, int b) {
  return strtoull(s, e, b); }
#ifdef __cplusplus
}
#endif
#endif
"""


def portable(on):
    """Turns CPU code generation for any x86-64 on (scalar, -march=x86-64-v2, the pre-C23
    strtol of GLIBC_COMPAT) or back off."""
    from torch._inductor import config, cpp_builder
    if not hasattr(portable, "original"):
        portable.original = cpp_builder._get_optimization_cflags
        portable.compat = os.path.join(tempfile.mkdtemp(), "glibc_compat.h")
        with open(portable.compat, "w") as f:
            f.write(GLIBC_COMPAT)

    def swap(flags):  # a flag, or lists and tuples of them (the shape changes across torch)
        if isinstance(flags, str):
            return "march=x86-64-v2" if flags.lstrip("-").startswith("march=") else flags
        swapped = [swap(f) for f in flags]
        if any(isinstance(f, str) and f.lstrip("-").startswith("march=") for f in flags):
            swapped.append("include " + portable.compat)
        return type(flags)(swapped)

    def cflags(*args, **kwargs):
        return swap(portable.original(*args, **kwargs))

    cpp_builder._get_optimization_cflags = cflags if on else portable.original
    config.cpp.simdlen = 0 if on else None


class ChannelsLast(torch.nn.Module):
    """A convolutional network in channels-last memory format, taking a contiguous (NCHW)
    input as NOS hands it over: the layout change is the compiled graph's first kernel, as
    optim_baseline.py's torch.compile row does it before calling the compiled network."""

    def __init__(self, net):
        super().__init__()
        # .to(device, dtype) afterwards keeps the layout (Tensor.to preserves the memory format)
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image.contiguous(memory_format=torch.channels_last))


def compile_package(model, example, path, dynamic=True, extra=None):
    """One package: a dynamic batch 1..256, or (dynamic False) the example's batch only; extra
    Inductor options (max-autotune) on top of each configuration tried."""
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=256)
        ep = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    else:
        ep = torch.export.export(model, (example,))
    configs = [{"aot_inductor.package_constants_in_so": True,
                "aot_inductor.embed_kernel_binary": True},
               {"aot_inductor.package_constants_in_so": True}, {}]
    last = None
    for options in configs:
        options = {**options, **(extra or {})}
        try:
            return torch._inductor.aoti_compile_and_package(
                ep, package_path=path, inductor_configs=options), options
        except Exception as e:  # an option this torch does not know: try fewer
            last = e
            print("  compile with", options, "failed:", str(e).splitlines()[0][:200], flush=True)
    raise last


def compile_buckets(model, example, sizes, path, extra=None):
    """One package of libraries compiled for one batch size each, as NOS reads them: the model
    folder of each size's package renamed data/aotinductor/batch_<size>/ (the libraries carry
    their weights and kernels, so the folder name is only a name); the other archive files once.
    """
    marker = "data/aotinductor/"
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as out:
        options = None
        for i, size in enumerate(sizes):
            x = torch.randn(size, *example.shape[1:], device=example.device, dtype=example.dtype)
            part, options = compile_package(model, x, os.path.join(tmp, f"b{size}.pt2"),
                                            dynamic=False, extra=extra)
            with zipfile.ZipFile(part) as zf:
                for info in zf.infolist():
                    name = info.filename
                    at = name.find(marker)
                    if at >= 0:
                        tail = name[at + len(marker):].partition("/")[2]
                        name = f"{name[:at + len(marker)]}batch_{size}/{tail}"
                    elif i > 0:
                        continue
                    out.writestr(name, zf.read(info))
        return path, options


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    weights = sys.argv[2] if len(sys.argv) > 2 else None

    def digits():
        net = DigitNet()
        if weights:
            net.load_state_dict(torch.jit.load(weights, map_location="cpu").state_dict())
        return net

    def resnet50():
        torch.manual_seed(0)
        return torchvision.models.resnet50(weights=None)

    def resnet50_cl():
        return ChannelsLast(resnet50())

    f32, f16 = torch.float32, torch.float16
    cases = [("digits-cpu", digits, (4, 1, 8, 8), "cpu", f32),
             ("digits-cpu-portable", digits, (4, 1, 8, 8), "cpu", f32),
             ("digits-cuda", digits, (4, 1, 8, 8), "cuda", f32),
             ("resnet50-fp32-cuda", resnet50, (4, 3, 224, 224), "cuda", f32),
             ("resnet50-fp16-cuda", resnet50, (4, 3, 224, 224), "cuda", f16),
             ("digits-cuda-buckets", digits, (4, 1, 8, 8), "cuda", f32),
             ("resnet50-fp16-cuda-buckets", resnet50, (4, 3, 224, 224), "cuda", f16),
             ("resnet50-fp16-cuda-cl-buckets", resnet50_cl, (4, 3, 224, 224), "cuda", f16),
             ("resnet50-fp16-cuda-cl-autotune-buckets", resnet50_cl, (4, 3, 224, 224), "cuda",
              f16)]
    buckets = {"digits-cuda-buckets": (1, 4), "resnet50-fp16-cuda-buckets": (1, 8, 64, 256),
               "resnet50-fp16-cuda-cl-buckets": (1, 8, 64, 256),
               "resnet50-fp16-cuda-cl-autotune-buckets": (64, 256)}
    # Issue #20 item 3: Inductor's max-autotune (it benchmarks Triton and cuBLAS choices per
    # shape at compile time: minutes per size), at the two batch sizes #20's target names.
    autotune = {"resnet50-fp16-cuda-cl-autotune-buckets": {"max_autotune": True}}
    wanted = set(sys.argv[3:])
    for name, ctor, shape, device, dtype in cases:
        if (device == "cuda" and not torch.cuda.is_available()) or (wanted and name not in wanted):
            continue
        model = ctor().eval().to(device, dtype)
        x = torch.randn(*shape, device=device, dtype=dtype)
        with torch.no_grad():
            y = model(x)
        t0 = time.time()
        path = os.path.join(out, name + ".pt2")
        try:
            portable(name.endswith("-portable"))
            if name in buckets:
                package, options = compile_buckets(model, x, buckets[name], path,
                                                   autotune.get(name))
            else:
                package, options = compile_package(model, x, path)
        except Exception as e:
            print(f"{name}: compile failed: {e}", flush=True)
            continue
        finally:
            portable(False)
        seconds = time.time() - t0
        if name in buckets:  # no .json: AotiProbe feeds batch 4 to every library it lists
            print(f"{name}: compiled for batch sizes {buckets[name]} in {seconds:.0f} s",
                  flush=True)
            continue
        folder = os.path.join(out, name)
        with zipfile.ZipFile(package) as zf:
            zf.extractall(folder)
        libs = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.endswith(".so")]
        x.cpu().numpy().astype("<f4").tofile(os.path.join(out, name + ".input.f32"))
        y.cpu().numpy().astype("<f4").tofile(os.path.join(out, name + ".output.f32"))
        meta = {"input": list(shape), "output": list(y.shape), "device": device,
                "so": libs, "torch": torch.__version__, "compile_seconds": round(seconds, 1),
                "options": options, "dtype": str(dtype).replace("torch.", "")}
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"{name}: compiled in {seconds:.0f} s with {options}; libraries {libs}", flush=True)


if __name__ == "__main__":
    main()
