#!/usr/bin/env python3
"""Trains the digit classifier that NOS ships as its demo and test model.

Data: scikit-learn's built-in `digits` set (1,797 8x8 grey images, pixel values 0..16).
Split: a fixed, stratified 80/20 split (seed 0). The held-out 20% is written next to the model so
that Java tests and the demo measure accuracy on images the model never saw.

Outputs (in OUT_DIR, default models/digits):
  digits.pt          TorchScript (scripted, CPU, fp32). Input "image" float32 [N,1,8,8] with pixel/16,
                     output "logits" float32 [N,10].
  digits-test.csv    held-out set: one image a line, `label,p0,...,p63` with raw pixels 0..16.
  digits.json        a ModelSpec for the model (read by the demo and the tests).

Run:  python3 scripts/models/make_digits.py [OUT_DIR]
Needs torch and scikit-learn (both present on the GPU machine; see docs/gpu.md).
"""
import json
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from digit_net import DigitNet

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../models/digits")
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

X, y = load_digits(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


def to_input(a):
    return torch.tensor(a, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0


net = DigitNet()
opt = torch.optim.Adam(net.parameters(), lr=3e-3)
xt, yt = to_input(X_tr), torch.tensor(y_tr)
for epoch in range(60):
    perm = torch.randperm(len(xt))
    for i in range(0, len(xt), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
net.eval()
with torch.no_grad():
    acc = (net(to_input(X_te)).argmax(1).numpy() == y_te).mean()
print(f"digits: held-out accuracy {acc:.4f} on {len(y_te)} images")
assert acc >= 0.95, acc

scripted = torch.jit.script(net)
scripted.save(os.path.join(out, "digits.pt"))
with open(os.path.join(out, "digits-test.csv"), "w") as f:
    f.write("# label,p0..p63 (raw pixels 0..16); held-out 20% of sklearn digits, split seed 0\n")
    for label, img in zip(y_te, X_te.astype(np.int64)):
        f.write(",".join([str(int(label))] + [str(int(v)) for v in img]) + "\n")
spec = {
    "id": "digits",
    "artifact": {"uri": "digits.pt"},
    "signature": {
        "inputs": [{"name": "image", "dtype": "float32", "shape": [-1, 1, 8, 8]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}],
    },
}
with open(os.path.join(out, "digits.json"), "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
