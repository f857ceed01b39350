"""Exports the benchmark's ResNet-50 (scripts/models/make_gpu_models.py's resnet50.pt, random
weights) to ONNX with a dynamic batch, for TensorRT (bench.sh trt, issue #22): the same weights,
so the optimizer's accuracy guard compares the engine with the TorchScript file NOS serves.

Run:  python3 scripts/gpu/make_trt_onnx.py /tmp/gpu-models/resnet50.pt /tmp/trt/resnet50.onnx

Names as NOS's spec: image [N,3,224,224] -> logits [N,1000]. With a network, real weights are
`torchvision.models.resnet50(weights="IMAGENET1K_V2")` traced the same way by make_gpu_models.py.
"""
import os
import sys

import torch
import torchvision


def main(weights, out):
    net = torchvision.models.resnet50(weights=None).eval()
    net.load_state_dict(torch.jit.load(weights, map_location="cpu").state_dict())
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    example = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        torch.onnx.export(net, (example,), out, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False, opset_version=17)
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
