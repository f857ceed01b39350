#!/usr/bin/env python3
"""Makes the traced TorchScript fixtures of the tests about where a model's graph constants live
(TorchModel loads a TorchScript file on the host, then moves its weights to the GPU):

  shape_constant.pt   input x float32 [N,4,4,4] -> float32 [N,4]. Traced like torchvision's
                      ViT: the traced graph computes n_h * n_w = (h // 2) * (w // 2) from tensor
                      constants and takes int() of it. Loaded with map_location=cuda those
                      constants sit on the GPU and int() syncs the device on every call, which a
                      CUDA graph capture forbids; kept on the host, it is shape arithmetic only.
  device_constant.pt  input x float32 [N,4] -> x + [1, 2, 3, 4]. The added vector is a plain
                      tensor attribute (neither parameter nor buffer), which tracing turns into a
                      graph constant with no device of its own: it must be on the input's
                      device. Kept on the host, the forward fails on CUDA, so NOS must load it
                      the other way. (torch.tensor([...]) inside forward would not do: tracing
                      pins it to the CPU with an explicit .to("cpu"), on any device.)

Traced under torch.no_grad(), as scripts/models/make_gpu_models.py traces ViT-B/16.
Run:  python3 scripts/models/make_traced_fixtures.py [OUT_DIR]   (default models/fixtures)
"""
import os
import sys

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../models/fixtures")
os.makedirs(out, exist_ok=True)
torch.manual_seed(7)


class ShapeConstant(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x):
        n, c, h, w = x.shape
        n_h = h // 2
        n_w = w // 2
        x = torch.nn.functional.avg_pool2d(x, 2)
        x = x.reshape(n, c, n_h * n_w).permute(0, 2, 1)
        return self.lin(x).sum(dim=1)


class DeviceConstant(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.offset = torch.tensor([1.0, 2.0, 3.0, 4.0])  # not registered: a constant when traced

    def forward(self, x):
        return x + self.offset


with torch.no_grad():
    shape = torch.jit.trace(ShapeConstant().eval(), torch.randn(1, 4, 4, 4), check_trace=False)
    device = torch.jit.trace(DeviceConstant().eval(), torch.randn(1, 4), check_trace=False)
shape.save(os.path.join(out, "shape_constant.pt"))
device.save(os.path.join(out, "device_constant.pt"))
print(shape.graph)
print(device.graph)
print("traced fixtures:", sorted(f for f in os.listdir(out) if f.endswith("_constant.pt")))
