#!/usr/bin/env python3
"""Traces torchvision's ResNet-50 with random weights (seed 0) to TorchScript, for GPU tests and
benchmarks. The file is ~100 MB, so it is made on the GPU machine at run time and never committed.

Run:  python3 scripts/models/make_resnet50.py OUT_FILE
"""
import sys

import torch
import torchvision

torch.manual_seed(0)
m = torchvision.models.resnet50(weights=None).eval()
with torch.no_grad():
    traced = torch.jit.trace(m, torch.randn(1, 3, 224, 224))
traced.save(sys.argv[1])
print("resnet50 saved to", sys.argv[1])
