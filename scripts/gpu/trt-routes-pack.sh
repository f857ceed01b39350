#!/usr/bin/env bash
# Packs issue #22's TensorRT route experiments for the GPU machine (scripts/gpu/trt-routes.sh
# runs them there; docs/history.md, #22, has the plan of device calls).
#
#   scripts/gpu/trt-routes-pack.sh [jre] [a] [b] [c]  # from the repository root; default: jre a b
#
#   jre  the small JRE of ../shared/gpu/pack (skip it when the normal pack is unpacked there)
#   a    TensorRT 10.15 (JavaCPP 1.5.13): libnvinfer, the PTX builder resource, the ONNX parser
#   b    TensorRT 8.6 (JavaCPP 1.5.10): libnvinfer, its one builder resource for every GPU, the
#        ONNX parser, libnvinfer_plugin and stand-ins for the CUDA 12 libraries it links
#   c    TensorRT 10.6 (its presets 1.5.11 under NOS's JavaCPP 1.5.13): libnvinfer, its one
#        builder resource for every GPU (sm_90 included), the ONNX parser, libnvinfer_plugin
#        (NOS's own loading of the presets needs it: scripts/gpu/trt-env.sh)
#
# The chosen groups go into one xz-compressed tar, split into .gpu/trt/pNN/part.NN of at most
# 56 MiB (one device call each). The route programs (scripts/java/trt-routes, compiled here: the
# machine has no javac), their jars and JNI libraries go into .gpu/trt/java (a few MB), carried
# by the last call. Route a can instead take its libraries from the normal pack's redist jar
# (NOS_PACK_TRT_REDIST=1 scripts/gpu/pack.sh): then pack without a.
# TRT_JAVA_ONLY=1 recompiles the route programs into .gpu/trt/java and leaves the parts as they are
# (the parts hold only libraries).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
groups=${*:-jre a b}
part_bytes=${GPU_PART_BYTES:-58720256}
m2=${M2_REPO:-$HOME/.m2/repository}/org/bytedeco
work=${TRT_ROUTES_WORK:-target/trt-routes}
get() {  # groupId:artifactId:version[:jar:classifier] -> path in $work/jars
  mvn -B -q dependency:copy -Dartifact="$1" -DoutputDirectory="$root/$work/jars" >/dev/null
}
rm -rf "$work/stage" "$work/java" && mkdir -p "$work/jars" "$work/stage" "$work/java/classes10" \
  "$work/java/classes86" "$work/java/lib13" "$work/java/lib10" "$work/java/classes106" "$work/java/lib106"
for a in javacpp:1.5.13 javacpp:1.5.13:jar:linux-x86_64 tensorrt:10.15-1.5.13 \
    tensorrt:10.15-1.5.13:jar:linux-x86_64 javacpp:1.5.10 javacpp:1.5.10:jar:linux-x86_64 \
    tensorrt:8.6-1.5.10 tensorrt:8.6-1.5.10:jar:linux-x86_64 cuda:12.3-8.9-1.5.10 \
    tensorrt:10.6-1.5.11 tensorrt:10.6-1.5.11:jar:linux-x86_64; do
  get "org.bytedeco:$a"
done
# The CUDA runtime's presets for route programs' infer mode (cudaMalloc, cudaMemcpy, a stream):
# NOS's own version; on the GPU machine libcudart comes from the normal pack's environment.
get org.bytedeco:cuda:13.1-9.19-1.5.13
get org.bytedeco:cuda:13.1-9.19-1.5.13:jar:linux-x86_64
j=$work/jars
javac -nowarn --release 11 -d "$work/java/classes10" \
  -cp "$j/javacpp-1.5.13.jar:$j/tensorrt-10.15-1.5.13.jar:$j/cuda-13.1-9.19-1.5.13.jar" scripts/java/trt-routes/TrtRoute10.java
# Route c: the same program against 10.6's classes (1.5.11 presets; they load under JavaCPP 1.5.13).
javac -nowarn --release 11 -d "$work/java/classes106" \
  -cp "$j/javacpp-1.5.13.jar:$j/tensorrt-10.6-1.5.11.jar:$j/cuda-13.1-9.19-1.5.13.jar" scripts/java/trt-routes/TrtRoute10.java
javac -nowarn --release 11 -d "$work/java/classes86" \
  -cp "$j/javacpp-1.5.10.jar:$j/tensorrt-8.6-1.5.10.jar:$j/cuda-12.3-8.9-1.5.10.jar" \
  scripts/java/trt-routes/TrtRoute86.java
cp "$j/javacpp-1.5.13.jar" "$j/tensorrt-10.15-1.5.13.jar" "$j/cuda-13.1-9.19-1.5.13.jar" "$work/java/lib13/"
unzip -o -q -j "$j/cuda-13.1-9.19-1.5.13-linux-x86_64.jar" '*/libjnicudart.so' -d "$work/java/lib13"
cp "$j/javacpp-1.5.10.jar" "$j/tensorrt-8.6-1.5.10.jar" "$j/cuda-12.3-8.9-1.5.10.jar" "$work/java/lib10/"
cp "$j/tensorrt-10.6-1.5.11.jar" "$work/java/lib106/"
unzip -o -q -j "$j/tensorrt-10.6-1.5.11-linux-x86_64.jar" '*/libjninvinfer.so' '*/libjninvonnxparser.so' -d "$work/java/lib106"
# The JNI glue only: JavaCPP's loader stays off there (see TrtRoute10), the programs System.load it.
unzip -o -q -j "$j/javacpp-1.5.13-linux-x86_64.jar" '*/libjnijavacpp.so' -d "$work/java/lib13"
unzip -o -q -j "$j/tensorrt-10.15-1.5.13-linux-x86_64.jar" '*/libjninvinfer.so' '*/libjninvonnxparser.so' -d "$work/java/lib13"
unzip -o -q -j "$j/javacpp-1.5.10-linux-x86_64.jar" '*/libjnijavacpp.so' -d "$work/java/lib10"
unzip -o -q -j "$j/tensorrt-8.6-1.5.10-linux-x86_64.jar" '*/libjninvinfer.so' '*/libjninvonnxparser.so' -d "$work/java/lib10"

if [ -n "${TRT_JAVA_ONLY:-}" ]; then
  [ -f .gpu/trt/java/groups ] || { echo "no earlier pack in .gpu/trt" >&2; exit 2; }
  tar -C "$work" -cf .gpu/trt/java/java.tar java
  echo "route programs re-packed into .gpu/trt/java ($(du -b .gpu/trt/java/java.tar | cut -f1) bytes); parts unchanged"
  exit 0
fi
s=$work/stage
for g in $groups; do
  case $g in
    jre)
      jre=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/gpu-pack/*/jre.tar 2>/dev/null | head -1)
      [ -n "$jre" ] || { echo "no cached JRE: run scripts/gpu/pack.sh once first" >&2; exit 2; }
      mkdir -p "$s/jre-tar" && cp "$jre" "$s/jre-tar/" ;;
    a)
      get org.bytedeco:tensorrt:10.15-1.5.13:jar:linux-x86_64-redist
      mkdir -p "$s/a" && unzip -o -q -j "$j/tensorrt-10.15-1.5.13-linux-x86_64-redist.jar" \
        '*/libnvinfer.so.10' '*/libnvinfer_builder_resource_ptx.so.*' '*/libnvonnxparser.so.10' -d "$s/a" ;;
    b)
      get org.bytedeco:tensorrt:8.6-1.5.10:jar:linux-x86_64-redist
      mkdir -p "$s/b" && unzip -o -q -j "$j/tensorrt-8.6-1.5.10-linux-x86_64-redist.jar" \
        '*/libnvinfer.so.8' '*/libnvinfer_builder_resource.so.8.6.1' '*/libnvinfer_plugin.so.8' \
        '*/libnvonnxparser.so.8' -d "$s/b"
      scripts/gpu/trt-stubs.sh "$s/b/libnvinfer_plugin.so.8" "$s/b/stubs" ;;
    c)
      get org.bytedeco:tensorrt:10.6-1.5.11:jar:linux-x86_64-redist
      mkdir -p "$s/c" && unzip -o -q -j "$j/tensorrt-10.6-1.5.11-linux-x86_64-redist.jar" \
        '*/libnvinfer.so.10' '*/libnvinfer_builder_resource.so.10.6.0' '*/libnvonnxparser.so.10' \
        '*/libnvinfer_plugin.so.10' -d "$s/c" ;;
    *) echo "unknown group $g (jre, a, b, c)" >&2; exit 2 ;;
  esac
done
echo "staged (uncompressed):"; du -sh "$s"/* | sed 's/^/  /'
rm -rf .gpu/trt && mkdir -p .gpu/trt
tar -C "$work" -cf .gpu/trt/java.tar java && mkdir -p .gpu/trt/java && mv .gpu/trt/java.tar .gpu/trt/java/
tar -C "$s" -cf - . | xz -6 -T2 | split -b "$part_bytes" -d -a 2 - .gpu/trt/part.
for f in .gpu/trt/part.*; do n=${f##*.}; mkdir -p ".gpu/trt/p$n"; mv "$f" ".gpu/trt/p$n/part.$n"; done
echo "$groups" > .gpu/trt/java/groups
echo "Packed $(ls -d .gpu/trt/p[0-9]* | wc -l) parts ($(du -cb .gpu/trt/p[0-9]*/part.* | tail -1 | cut -f1) bytes) of: $groups"
for d in .gpu/trt/p[0-9]*; do
  echo "  run  carry=[\"$d\"]  command: mkdir -p /root/trt/in && mv $d/part.* /root/trt/in/"
done
echo "  run  carry=[\".gpu/trt/java\"]  command: bash scripts/gpu/trt-routes.sh (route c: ... trt-routes.sh c)"
