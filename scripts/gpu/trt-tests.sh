#!/usr/bin/env bash
# Runs on the GPU machine after shared/gpu/unpack (see docs/gpu.md): the TensorRT step of
# nos-optim (issue #5) and serving engines (#22: TensorRtServeGpuTest). TensorRT's libraries come
# from the redist jar of the pack or from LD_LIBRARY_PATH (. scripts/gpu/trt-env.sh). Exports the digit model to ONNX, says which TensorRT libraries the machine
# has, then runs TensorRtGpuTest twice: without TensorRT's libraries on the classpath (the
# machine's own TensorRT, if any) and, when the pack carries it (NOS_PACK_TRT_REDIST=1
# scripts/gpu/pack.sh), with the TensorRT redist jar. Full logs go to $OUT/trt-*.log.
set -uo pipefail
g=/root/gpu
out=${OUT:-/tmp}
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:ErrorFile=$out/hs_err_%p.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 "$g/scripts/gpu/make_onnx.py" "$g/models/digits/digits.pt" /tmp/trt/digits.onnx \
  > "$out/make-onnx.log" 2>&1 || { tail -20 "$out/make-onnx.log"; exit 1; }
tail -1 "$out/make-onnx.log"
echo "TensorRT on this machine: $( (ldconfig -p | grep -o 'libnvinfer[^ ]*' | sort -u | tr '\n' ' ';
  python3 -c 'import tensorrt; print("python tensorrt", tensorrt.__version__)' 2>/dev/null) || true)"
rc=0
for with in without with; do
  jars=$(ls "$GPU_LIB"/*.jar | grep -v console-standalone)
  if [ "$with" = without ]; then
    jars=$(echo "$jars" | grep -v -- '-redist\.jar')
  elif ! ls "$GPU_LIB"/tensorrt-*-redist.jar >/dev/null 2>&1; then
    echo "(no TensorRT redist jar in the pack: second run skipped)"
    break
  fi
  echo "== TensorRT step, $with the redist jar"
  java -Xmx2g -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dnos.models.dir="$g/models" \
    -Dnos.trt.onnx=/tmp/trt/digits.onnx -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.log.ai.nos.optim.internal=debug \
    -jar "$GPU_LIB"/junit-platform-console-standalone-*.jar execute \
    --class-path "$(echo "$jars" | tr '\n' ':')" \
    --select-class ai.nos.optim.TensorRtGpuTest --select-class ai.nos.optim.TensorRtTest \
    --select-class ai.nos.optim.TensorRtServeGpuTest --select-class ai.nos.optim.EngineArtifactTest \
    --select-class ai.nos.optim.TensorRtInt8GpuTest \
    --details=tree --disable-banner 2>&1 | tee "$out/trt-$with.log" \
    | grep -E "TensorRtGpuTest:|TensorRtServeGpuTest:|TensorRtInt8GpuTest:|TensorRT (error|warning)|tests (successful|failed|aborted)|✘|=>|Exception" | head -40
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
done
exit $rc
