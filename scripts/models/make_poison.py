"""A TorchScript model that gathers rows by index: on CUDA, an index out of range trips a
device-side assert, which loses the process's CUDA context (a sticky error). PinnedUnpinGpuTest
uses it to check that NOS names a lost context and refuses later work on that GPU.

    python3 scripts/models/make_poison.py OUT_DIR      # writes OUT_DIR/gather.pt
"""
import os
import sys

import torch


class Gather(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.arange(16, dtype=torch.float32).reshape(4, 4))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table[idx] * 2.0


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.jit.script(Gather()).save(os.path.join(out, "gather.pt"))
