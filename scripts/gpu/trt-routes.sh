#!/usr/bin/env bash
# Runs on the GPU machine, from the repository copy, after the part calls of
# scripts/gpu/trt-routes-pack.sh: issue #22's TensorRT routes, each a bounded experiment whose
# log (every TensorRT message of severity info and worse) and outcome come back under $OUT.
#
#   a  TensorRT 10.15 (NOS's version) builds the digit model's ONNX on this GPU from the PTX
#      builder resource, the sm_90 one being absent from the redist jar
#   b  TensorRT 8.6 (one builder resource for every GPU) builds it, version-compatible
#   4  TensorRT 10.15's runtime deserializes route b's plan (setEngineHostCodeAllowed)
#   c  TensorRT 10.6 (presets 1.5.11 in a JavaCPP 1.5.13 JVM, as NOS's) builds it from its builder
#      resource for every GPU, then its own runtime deserializes the plan and makes a context, and
#      runs it (fp32, then an fp16 build) on 32 rows whose TorchScript outputs Python computed on
#      the same GPU: the accuracy check. Needs the normal pack's environment (. /root/gpu/env.sh:
#      libcudart for the CUDA presets' cudaMalloc).
#
#   bash scripts/gpu/trt-routes.sh [a] [b] [4] [c]  # default: a b 4
#
# Route a's libraries come from the parts, else from the normal pack's redist jar in $GPU_LIB.
set -uo pipefail
t=/root/trt
out=${OUT:-/tmp}
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:ErrorFile=$out/hs_err_%p.log"
routes=${*:-a b 4}
mkdir -p "$t/in"
if ls "$t"/in/part.* >/dev/null 2>&1; then
  echo "reassembling $(ls "$t"/in/part.* | wc -l) parts"
  cat "$t"/in/part.* | xz -d | tar -xf - -C "$t" && rm -f "$t"/in/part.* || { echo "parts broken"; exit 3; }
fi
tar -xf .gpu/trt/java/java.tar -C "$t"
if [ -f "$t/jre-tar/jre.tar" ]; then tar -xf "$t/jre-tar/jre.tar" -C "$t" && rm -rf "$t/jre-tar"; fi
java=$( [ -x "$t/jre/bin/java" ] && echo "$t/jre/bin/java" || { [ -x /root/gpu/jre/bin/java ] && echo /root/gpu/jre/bin/java; } || command -v java)
[ -n "$java" ] || { echo "no java: pack the jre group, or unpack the normal pack first"; exit 3; }
if [ ! -f "$t/a/libnvinfer.so.10" ] && ls "${GPU_LIB:-/root/gpu/lib}"/tensorrt-10.15-*-redist.jar >/dev/null 2>&1; then
  mkdir -p "$t/a" && python3 - "${GPU_LIB:-/root/gpu/lib}" "$t/a" <<'PY'
import glob, os, sys, zipfile
jar = glob.glob(os.path.join(sys.argv[1], "tensorrt-10.15-*-redist.jar"))[0]
with zipfile.ZipFile(jar) as z:
    for n in z.namelist():
        b = os.path.basename(n)
        if b in ("libnvinfer.so.10", "libnvonnxparser.so.10") or b.startswith("libnvinfer_builder_resource"):
            with z.open(n) as src, open(os.path.join(sys.argv[2], b), "wb") as dst:
                dst.write(src.read())
PY
fi
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader
python3 scripts/gpu/make_onnx.py models/digits/digits.pt "$t/digits.onnx" > "$out/trt-make-onnx.log" 2>&1 \
  || { tail -20 "$out/trt-make-onnx.log"; exit 1; }
off="-Dorg.bytedeco.javacpp.loadLibraries=false -Dorg.bytedeco.javacpp.maxPhysicalBytes=0"
j13=$t/java/lib13 j10=$t/java/lib10 j106=$t/java/lib106
run10() {  # TrtRoute10 with 10.15's libraries
  LD_LIBRARY_PATH="$t/a${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "${TRT_ROUTE_TIMEOUT:-240}" "$java" $off -Xmx1g \
    -Dtrt.libs="$j13/libjnijavacpp.so:$t/a/libnvinfer.so.10:$t/a/libnvonnxparser.so.10:$j13/libjninvinfer.so:$j13/libjninvonnxparser.so" \
    -cp "$j13/javacpp-1.5.13.jar:$j13/cuda-13.1-9.19-1.5.13.jar:$j13/tensorrt-10.15-1.5.13.jar:$t/java/classes10" TrtRoute10 "$@"
}
run86() {  # TrtRoute86 with 8.6's libraries and the CUDA 12 stand-ins
  LD_LIBRARY_PATH="$t/b:$t/b/stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "${TRT_ROUTE_TIMEOUT:-240}" "$java" $off -Xmx1g -Dtrt.vc=true \
    -Dtrt.libs="$j10/libjnijavacpp.so:$t/b/libnvinfer.so.8:$t/b/libnvinfer_plugin.so.8:$t/b/libnvonnxparser.so.8:$j10/libjninvinfer.so:$j10/libjninvonnxparser.so" \
    -cp "$j10/javacpp-1.5.10.jar:$j10/tensorrt-8.6-1.5.10.jar:$j10/cuda-12.3-8.9-1.5.10.jar:$t/java/classes86" TrtRoute86 "$@"
}
run106() {  # TrtRoute10 compiled against 10.6's classes, with 10.6's libraries, JavaCPP 1.5.13
  LD_LIBRARY_PATH="$t/c${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "${TRT_ROUTE_TIMEOUT:-240}" "$java" $off -Xmx1g ${TRT_JVM:-} \
    -Dtrt.libs="$j13/libjnijavacpp.so:$j13/libjnicudart.so:$t/c/libnvinfer.so.10:$t/c/libnvonnxparser.so.10:$j106/libjninvinfer.so:$j106/libjninvonnxparser.so" \
    -cp "$j13/javacpp-1.5.13.jar:$j13/cuda-13.1-9.19-1.5.13.jar:$j106/tensorrt-10.6-1.5.11.jar:$t/java/classes106" TrtRoute10 "$@"
}
summary=()
for r in $routes; do
  case $r in
    a) [ -f "$t/a/libnvinfer.so.10" ] || { summary+=("a: not run (no 10.15 libraries)"); continue; }
       ls -la "$t"/a | sed 's/^/  /'
       run10 build "$t/digits.onnx" "$out/route-a.plan" 2>&1 | tee "$out/route-a.log" | tail -40
       summary+=("a: $(grep 'ROUTE RESULT' "$out/route-a.log" || echo "no result")") ;;
    b) [ -f "$t/b/libnvinfer.so.8" ] || { summary+=("b: not run (no 8.6 libraries)"); continue; }
       run86 build "$t/digits.onnx" "$out/route-b.plan" 2>&1 | tee "$out/route-b.log" | tail -40
       summary+=("b: $(grep 'ROUTE RESULT' "$out/route-b.log" || echo "no result")")
       if [ -f "$out/route-b.plan" ]; then
         run86 load "$out/route-b.plan" 2>&1 | tee "$out/route-b-load.log" | tail -10
         summary+=("b load by 8.6: $(grep 'ROUTE RESULT' "$out/route-b-load.log" || echo "no result")")
       fi ;;
    c) [ -f "$t/c/libnvinfer.so.10" ] || { summary+=("c: not run (no 10.6 libraries)"); continue; }
       ls -la "$t"/c | sed 's/^/  /'
       run106 build "$t/digits.onnx" "$out/route-c.plan" 2>&1 | tee "$out/route-c.log" | tail -40
       summary+=("c: $(grep 'ROUTE RESULT' "$out/route-c.log" || echo "no result")")
       if [ -f "$out/route-c.plan" ]; then
         run106 load "$out/route-c.plan" 2>&1 | tee "$out/route-c-load.log" | tail -10
         summary+=("c load by 10.6: $(grep 'ROUTE RESULT' "$out/route-c-load.log" || echo "no result")")
         python3 - models/digits/digits.pt "$t" > "$out/route-c-reference.log" 2>&1 <<'PY'
import sys, torch
torch.manual_seed(22)
m = torch.jit.load(sys.argv[1], map_location="cuda").eval()
x = torch.rand(32, 1, 8, 8, device="cuda") * 16  # the digit set's pixel range
with torch.no_grad():
    y = m(x)
y = y[0] if isinstance(y, (tuple, list)) else y
x.cpu().numpy().astype("<f4").tofile(sys.argv[2] + "/x.bin")
y.float().cpu().numpy().astype("<f4").tofile(sys.argv[2] + "/y.bin")
print("reference", tuple(x.shape), "->", tuple(y.shape), torch.cuda.get_device_name())
PY
         run106 infer "$out/route-c.plan" "$t/x.bin" "$t/y.bin" 32 2>&1 | tee "$out/route-c-infer.log" | tail -6
         summary+=("c infer fp32: $(grep 'ROUTE RESULT' "$out/route-c-infer.log" || echo "no result")")
         TRT_JVM=-Dtrt.fp16=true run106 build "$t/digits.onnx" "$out/route-c-fp16.plan" > "$out/route-c-fp16.log" 2>&1
         if [ -f "$out/route-c-fp16.plan" ]; then
           run106 infer "$out/route-c-fp16.plan" "$t/x.bin" "$t/y.bin" 32 2>&1 | tee "$out/route-c-fp16-infer.log" | tail -4
           summary+=("c infer fp16: $(grep 'ROUTE RESULT' "$out/route-c-fp16-infer.log" || echo "no result")")
         else summary+=("c fp16: $(grep 'ROUTE RESULT' "$out/route-c-fp16.log" || echo "no result")"); fi
       fi ;;
    4) [ -f "$out/route-b.plan" ] && [ -f "$t/a/libnvinfer.so.10" ] || { summary+=("4: not run (needs route b's plan and 10.15's libraries)"); continue; }
       run10 load "$out/route-b.plan" 2>&1 | tee "$out/route-4.log" | tail -20
       summary+=("4: $(grep 'ROUTE RESULT' "$out/route-4.log" || echo "no result")") ;;
  esac
done
echo "== TensorRT routes (#22)"
printf '  %s\n' "${summary[@]}"
