#!/usr/bin/env python3
"""Traces torchvision's ResNet-50 with random weights (seed 0) to TorchScript, for GPU tests and
benchmarks, with PyTorch's own outputs for one fixed input as references. The model is ~100 MB, so
it is made on the GPU machine at run time and never committed.

Run:  python3 scripts/models/make_resnet50.py OUT_DIR
Writes to OUT_DIR:
  resnet50.pt          TorchScript, input float32 [N,3,224,224], output float32 [N,1000]
  resnet50-input.f32   a [4,3,224,224] input (raw float32, little-endian)
  resnet50-cpu.f32     PyTorch's output for it on the CPU, fp32
  resnet50-cuda.f32    PyTorch's output for it on CUDA, fp32 with TF32 off (only with a GPU)
"""
import os
import sys

import torch
import torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
# fp32 means fp32, as in NOS. torch.jit.trace bakes torch.backends.cudnn.allow_tf32 (True by
# default, and not changed by torch.backends.fp32_precision) into every aten::_convolution, so
# the legacy flags are what a trace keeps: with them on, PyTorch's CUDA reference ran in TF32
# and read 4.3e-4 from NOS's fp32 (fourteenth session; NOS rewrites the flag at fp32 load).
torch.backends.fp32_precision = "ieee"
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(0)
m = torchvision.models.resnet50(weights=None).eval()
with torch.no_grad():
    traced = torch.jit.trace(m, torch.randn(1, 3, 224, 224))
traced.save(os.path.join(out, "resnet50.pt"))

x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
x.numpy().astype("<f4").tofile(os.path.join(out, "resnet50-input.f32"))
model = torch.jit.load(os.path.join(out, "resnet50.pt")).eval()
with torch.inference_mode():
    model(x).numpy().astype("<f4").tofile(os.path.join(out, "resnet50-cpu.f32"))
    if torch.cuda.is_available():
        model = model.cuda()
        model(x.cuda()).cpu().numpy().astype("<f4").tofile(os.path.join(out, "resnet50-cuda.f32"))
print("resnet50 and its references saved to", out)
