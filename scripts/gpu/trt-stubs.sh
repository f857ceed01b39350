#!/usr/bin/env bash
# Makes stand-in libraries for what TensorRT 8.6's libnvinfer_plugin links but the GPU machine
# lacks (cuBLAS 12, cuBLASLt 12, cuDNN 8: gigabytes we cannot carry). Each stub has the real
# soname, a version node of that name, and every function the plugin imports, returning status
# 1 (NOT_INITIALIZED in both libraries). The loader is satisfied; a tactic that called one would
# fail, so the route program turns the cuBLAS and cuDNN tactic sources off.
#
#   scripts/gpu/trt-stubs.sh LIBNVINFER_PLUGIN OUTDIR
set -euo pipefail
plugin=$1 out=$2
mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for so in libcublas.so.12 libcublasLt.so.12 libcudnn.so.8; do
  syms=$(nm -D --undefined-only "$plugin" | awk -v v="@$so" '$2 ~ v {sub(/@.*/, "", $2); print $2}' | sort -u)
  { echo "/* stand-in for $so: see trt-stubs.sh */"
    for s in $syms; do
      case $s in
        *GetErrorString) echo "const char *$s(long x) { return \"$so stand-in: not available\"; }" ;;
        *) echo "long $s(void) { return 1; }" ;;
      esac
    done; } > "$work/$so.c"
  echo "$so { global: *; };" > "$work/$so.map"
  gcc -shared -fPIC -O1 -o "$out/$so" -Wl,-soname,"$so" -Wl,--version-script="$work/$so.map" "$work/$so.c"
  echo "stub $so: $(echo "$syms" | wc -w) functions"
done
