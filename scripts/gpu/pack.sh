#!/usr/bin/env bash
# Builds NOS with the CUDA natives and packs it for the GPU machine (see docs/gpu.md).
#
#   scripts/gpu/pack.sh            # from the repository root, on a machine with Maven
#
#   NOS_PACK_TRT_REDIST=1 scripts/gpu/pack.sh   # also TensorRT's libraries (534 MB: ten more parts)
#
# Gathers nos-core, nos-optim and nos-hub (main and test jars), the benchmarks, their runtime and test classpath with the `gpu` profile
# (libtorch for CUDA), and the JUnit console launcher into target/gpu-lib, then hands them with the
# models and scripts to the shared pack tool, which prints the device calls to make.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
# The pack takes models/ as it is now: a tree slimmed for the part calls (scripts/gpu/slim.sh out)
# lacks the test models the suite reads (the twenty-second session packed one and lost its suite
# call to 18 "artifact file ... does not exist" failures). Put them back first.
for p in models/whisper-micro models/aoti/digits-cpu-portable.pt2; do
  [ -e "$p" ] || { echo "pack: $p is missing (slimmed? run scripts/gpu/slim.sh in first)" >&2; exit 1; }
done
shared=${NOS_SHARED:-$root/../shared}
junit_platform=${JUNIT_PLATFORM_VERSION:-1.13.4}
lib=target/gpu-lib
rm -rf "$lib" && mkdir -p "$lib"
mvn -B -q -Pgpu -pl nos-core,nos-optim,nos-hub,benchmarks -am -DskipTests install
mvn -B -q -Pgpu -pl nos-core,nos-optim,nos-hub,benchmarks dependency:copy-dependencies -DincludeScope=test \
  -DoutputDirectory="$root/$lib"
cp nos-core/target/nos-core-*.jar nos-optim/target/nos-optim-*.jar nos-hub/target/nos-hub-*.jar \
  benchmarks/target/nos-benchmarks-*.jar "$lib/"
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_platform \
  -DoutputDirectory="$root/$lib"
# TensorRT 10.6's own libraries (the redist jar, 1.09 GB: libnvinfer, the ONNX parser and one
# builder resource for every GPU, sm_90 included: #22; the pack's parts count rises accordingly)
# only when asked: scripts/gpu/trt-tests.sh runs the TensorRT step with and without them.
if [ "${NOS_PACK_TRT_REDIST:-0}" = 1 ]; then
  mvn -B -q dependency:copy \
    -Dartifact=org.bytedeco:tensorrt:10.6-1.5.11:jar:linux-x86_64-redist \
    -DoutputDirectory="$root/$lib"
fi
# The CPU natives must not ride along: the GPU classifier replaces them.
rm -f "$lib"/pytorch-*-linux-x86_64.jar
"$shared/gpu/pack" "$lib" models scripts
