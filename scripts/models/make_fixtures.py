#!/usr/bin/env python3
"""Makes the small TorchScript models that NOS's tests load (CPU, deterministic weights).

Each model probes one path of the runtime:
  two_in_two_out.pt  inputs a,b float32 [N,4] -> tuple (a+b, a*b + linear(a))  (tuple outputs, two inputs)
  dict_out.pt        input x float32 [N,3] -> {"sum": x.sum(1, keepdim), "double": 2x}  (dict outputs)
  tokens.pt          input ids int64 [N,L] -> float32 [N,8] mean of an embedding  (int64 inputs, dynamic dim)
  raises.pt          input x float32 [N,2] -> x*3, raises "negative input not allowed" when any x < 0
  identity.pt        input x of any dtype -> x.clone()  (dtype round trips)
  expected.json      reference outputs for fixed inputs, computed here by PyTorch

Run:  python3 scripts/models/make_fixtures.py [OUT_DIR]   (default models/fixtures)
"""
import json
import os
import sys
from typing import Dict, Tuple

import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../models/fixtures")
os.makedirs(out, exist_ok=True)
torch.manual_seed(42)


class TwoInTwoOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b + self.lin(a)


class DictOut(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"sum": x.sum(1, keepdim=True), "double": x * 2.0}


class Tokens(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(100, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids).mean(1)


class Raises(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            raise ValueError("negative input not allowed")
        return x * 3.0


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


models = {
    "two_in_two_out": TwoInTwoOut(),
    "dict_out": DictOut(),
    "tokens": Tokens(),
    "raises": Raises(),
    "identity": Identity(),
}
for name, m in models.items():
    torch.jit.script(m.eval()).save(os.path.join(out, name + ".pt"))

# Reference outputs for the Java tests: inputs are small closed forms so Java can rebuild them.
with torch.no_grad():
    a = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8.0
    b = torch.ones(2, 4) * 0.5
    s, p = models["two_in_two_out"](a, b)
    ids = torch.tensor([[1, 2, 3], [4, 5, 99]], dtype=torch.int64)
    t = models["tokens"](ids)
expected = {
    "two_in_two_out": {"a": a.flatten().tolist(), "b": b.flatten().tolist(),
                       "out0": s.flatten().tolist(), "out1": p.flatten().tolist()},
    "tokens": {"ids": ids.flatten().tolist(), "out": t.flatten().tolist()},
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
print("fixtures:", sorted(os.listdir(out)))
