#!/usr/bin/env bash
# Prints what the GPU machine offers beyond CUDA and torch (run there after unpack): the card,
# torch and CUDA versions, and whether TensorRT and ONNX are installed (issue #5's TensorRT
# step needs libnvinfer and libnvinfer_builder_resource; see docs/status.md).
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
for m in tensorrt torch_tensorrt onnx onnxruntime onnxscript; do
  python3 -c "import $m; print('$m', getattr($m, '__version__', '?'))" 2>/dev/null || echo "$m: not importable"
done
echo "libnvinfer in ldconfig: $(ldconfig -p | grep -c nvinfer)"
find / -xdev \( -name 'libnvinfer*.so*' -o -name 'libnvonnxparser*.so*' \) 2>/dev/null | head -10
cat /etc/os-release 2>/dev/null | grep PRETTY; ldd --version | head -1; gcc --version 2>/dev/null | head -1
grep -o -m1 -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
