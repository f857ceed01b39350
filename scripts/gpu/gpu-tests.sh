#!/usr/bin/env bash
# Runs on the GPU machine after shared/gpu/unpack (see docs/gpu.md): makes ResNet-50 (random
# weights), then runs every test of nos-core with the CUDA natives, the `gpu`-tagged ones included,
# then nos-hub's `gpu`-tagged tests (HubParityGpuTest apart: scripts/gpu/hub-parity.sh).
# Prints the card and the JUnit summary; the full log goes to $OUT/gpu-tests.log.
#
# NOS_GPU_SECTIONS picks sections (default "core hub optim", the whole suite). One device call
# runs 600 s at most and the whole suite took longer in the fifteenth session (prep ~250 s,
# nos-core 174 s, nos-hub 9 s, nos-optim with TensorRT and INT8 builds ~200 s), so a lease runs
# it as two calls back to back on the same machine: NOS_GPU_SECTIONS="core hub", then
# NOS_GPU_SECTIONS=optim (docs/gpu.md). Each call's $OUT has its own gpu-tests.log.
set -uo pipefail
sections=" ${NOS_GPU_SECTIONS:-core hub optim} "
wants() { case "$sections" in *" $1 "*) return 0 ;; esac; return 1; }
rc=0
g=/root/gpu
out=${OUT:-/tmp}
# A JVM that crashes leaves its hs_err file where it comes back ($OUT).
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:ErrorFile=$out/hs_err_%p.log"
# The test JVMs' NOS caches, as Maven's target/nos-cache (NosRuntimeTest checks it is not
# ~/.cache/nos). Given to the java commands alone: Python's Hugging Face cache follows
# XDG_CACHE_HOME too.
tests_cache=/tmp/nos-test-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if wants core || wants hub; then
  . "$g/scripts/gpu/link-hub.sh" # the Whisper tests' clips (WhisperMicro.MEL)
  # Whisper-tiny (random weights) with transformers' greedy ids as its reference, for
  # WhisperTinyGpuTest (#18).
  [ -f /tmp/whisper-tiny/decoder.pt ] || python3 "$g/scripts/models/make_whisper.py" --config tiny \
    --out /tmp/whisper-tiny > "$out/make-whisper.log" 2>&1 || tail -5 "$out/make-whisper.log"
fi
if wants core; then
  python3 "$g/scripts/models/make_resnet50.py" /tmp/resnet50 >/dev/null
  # A model whose out-of-range index trips a device-side assert: PinnedUnpinGpuTest loses a CUDA
  # context on purpose in a child JVM with it.
  python3 "$g/scripts/models/make_poison.py" /tmp/poison >/dev/null
  # A small Llama with heads of 64, exported with and without cuDNN's decode attention, for
  # CudnnDecodeGpuTest (twenty-second session; seconds each).
  for v in cudnn sdpa; do
    f=--cudnn-attention; [ $v = sdpa ] && f=--no-cudnn-attention
    [ -f /tmp/llm-h64/$v/model.pt ] || python3 "$g/scripts/models/make_tiny_llama.py" --size h64 \
      --quick $f --out /tmp/llm-h64/$v > "/tmp/make-llm-h64-$v.log" 2>&1 \
      || tail -5 "/tmp/make-llm-h64-$v.log"
  done
  # AOTInductor packages of the shipped digit model for AotiModelTest (the CPU one comes back in
  # $OUT/aoti: it is the one committed as models/aoti/digits-cpu.pt2).
  [ -f /tmp/aoti/digits-cuda.pt2 ] || python3 "$g/scripts/gpu/make_aoti.py" /tmp/aoti \
    "$g/models/digits/digits.pt" digits-cuda digits-cuda-buckets digits-cpu-portable \
    > "$out/make-aoti.log" 2>&1
  # At most 8 files come back from $OUT: the package first, alone in its folder.
  mkdir -p "$out/aoti" && cp /tmp/aoti/digits-cpu-portable.pt2 "$out/aoti/" 2>/dev/null
  java -version 2>&1 | grep -v "Picked up" | head -1
  # The launcher runs from -cp with every jar (not -jar with --class-path): tests that start a child
  # JVM (JavaCppRssCheckTest) hand it java.class.path, which -jar would leave holding the launcher
  # alone, and the child then cannot find its own main class (exit 1).
  # What Maven's surefire sets for NosVersionTest, read from the jars' names here.
  core_jar=$(basename "$(ls "$GPU_LIB"/nos-core-*.jar | grep -v tests)")
  torch_jar=$(basename "$(ls "$GPU_LIB"/pytorch-*-linux-x86_64-gpu.jar)")
  nos_version=${core_jar#nos-core-}; nos_version=${nos_version%.jar}
  pytorch_version=${torch_jar#pytorch-}; pytorch_version=${pytorch_version%-linux-x86_64-gpu.jar}
  XDG_CACHE_HOME=$tests_cache java -Xms256m -Xmx256m -XX:+AlwaysPreTouch \
    -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
    -Dnos.expected.version="$nos_version" -Dnos.expected.pytorch="$pytorch_version" \
    -Dnos.expected.classifier=linux-x86_64-gpu \
    -Dnos.models.dir="$g/models" -Dnos.resnet50.dir=/tmp/resnet50 -Dnos.aoti.artifacts=/tmp/aoti \
    -Dnos.test.whisperTiny=/tmp/whisper-tiny -Dnos.test.llmH64=/tmp/llm-h64 \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$(ls "$GPU_LIB"/*.jar | tr '\n' ':')" org.junit.platform.console.ConsoleLauncher execute \
    --scan-class-path "$(ls "$GPU_LIB"/nos-core-*-tests.jar)" --details=tree --disable-banner \
    "$@" > "$out/gpu-tests.log" 2>&1
  rc=$?
fi
# nos-hub's GPU tests (Whisper's device log-mel, SpeechRecognizer on cuda:0), in a JVM of their
# own after nos-core's; its CPU tests ran in CI and HubParityGpuTest needs hub-parity.sh's data.
# Before the thirteenth session this script scanned nos-core alone, so these never ran.
# They read the committed clips and models/whisper-micro relative to nos-hub, as under Maven.
if ! wants hub; then
  echo "== nos-hub: not in NOS_GPU_SECTIONS (\"${NOS_GPU_SECTIONS:-}\")" >> "$out/gpu-tests.log"
elif [ -d nos-hub/src/test/resources ]; then
  echo "== nos-hub, tag gpu" >> "$out/gpu-tests.log"
  (cd nos-hub && XDG_CACHE_HOME=$tests_cache java -Xmx2g \
    -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
    -Dnos.test.whisperTiny=/tmp/whisper-tiny -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$(ls "$GPU_LIB"/*.jar | tr '\n' ':')" org.junit.platform.console.ConsoleLauncher execute \
    --scan-class-path "$(ls "$GPU_LIB"/nos-hub-*-tests.jar)" --include-tag gpu \
    --exclude-classname '.*HubParityGpuTest' --details=tree --disable-banner) \
    >> "$out/gpu-tests.log" 2>&1 || rc=1
else
  echo "nos-hub's sources are not in $PWD: its GPU tests did not run" | tee -a "$out/gpu-tests.log"
  rc=1
fi
# nos-optim's GPU tests (the TensorRT step, INT8 included, and engine serving, #22) with the digit
# model's ONNX export; with TensorRT's libraries on LD_LIBRARY_PATH (. scripts/gpu/trt-env.sh) they build and
# serve engines, without them they check the fall-back and skip the rest.
if wants optim; then
  echo "== nos-optim, tag gpu" >> "$out/gpu-tests.log"
  python3 "$g/scripts/gpu/make_onnx.py" "$g/models/digits/digits.pt" /tmp/trt/digits.onnx \
    > "$out/make-onnx.log" 2>&1 || tail -5 "$out/make-onnx.log"
  XDG_CACHE_HOME=$tests_cache java -Xmx2g -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
    -Dnos.models.dir="$g/models" -Dnos.trt.onnx=/tmp/trt/digits.onnx \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$(ls "$GPU_LIB"/*.jar | grep -v -- '-redist\.jar' | tr '\n' ':')" \
    org.junit.platform.console.ConsoleLauncher execute \
    --scan-class-path "$(ls "$GPU_LIB"/nos-optim-*-tests.jar)" --include-tag gpu \
    --details=tree --disable-banner >> "$out/gpu-tests.log" 2>&1 || rc=1
else
  echo "== nos-optim: not in NOS_GPU_SECTIONS (\"${NOS_GPU_SECTIONS:-}\")" >> "$out/gpu-tests.log"
fi
# The summary is read from the finished log: a head that stopped reading mid-run would take the
# log's tee down with it.
grep -aE "CudaModelTest:|HostTierGpuTest:|GraphsFootprintGpuTest:|BatchWarmUpGpuTest:|PinnedBufferGpuTest:|PinnedUnpinGpuTest:|TokenGeneratorGpuTest:|TracedConstantsGpuTest:|TracedTf32GpuTest:|AotiModelTest:|NativeMemoryTest:|WhisperLogMelGpuTest:|SpeechRecognizerFeaturesGpuTest:|TensorRtGpuTest:|TensorRtServeGpuTest:|TensorRtInt8GpuTest:|== nos-hub|== nos-optim|tests (successful|failed|aborted|skipped)|✘|MethodSource|=>" "$out/gpu-tests.log" | head -150
exit $rc
