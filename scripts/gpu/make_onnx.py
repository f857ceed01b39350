"""Exports the shipped digit model (models/digits/digits.pt) to ONNX with a dynamic batch
dimension, for the TensorRT step's GPU test (nos-optim TensorRtGpuTest, `bench.sh trt`).

Run:  python3 scripts/gpu/make_onnx.py models/digits/digits.pt /tmp/trt/digits.onnx

The ONNX graph has the TorchScript model's input and output names (image [N,1,8,8] -> logits
[N,10]); the test compares what NOS serves with TorchScript, so the weights must be the same.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from digit_net import DigitNet  # noqa: E402  (the shipped digit model's network)


def main(weights, out):
    net = DigitNet()
    net.load_state_dict(torch.jit.load(weights, map_location="cpu").state_dict())
    net.eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    example = torch.rand(2, 1, 8, 8)
    try:  # the TorchScript-based exporter: plain ONNX, no extra packages
        torch.onnx.export(net, (example,), out, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False, opset_version=17)
    except Exception as e:  # a torch without it: the dynamo exporter (needs onnxscript)
        print(f"TorchScript-based export failed ({e}); using dynamo=True", file=sys.stderr)
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(net, (example,), out, input_names=["image"], output_names=["logits"],
                          dynamic_shapes={"image": {0: batch}}, dynamo=True)
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
