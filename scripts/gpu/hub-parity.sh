#!/usr/bin/env bash
# Runs on the GPU machine after shared/gpu/unpack (see docs/gpu.md and docs/hub.md): exports the
# hub's entries (random weights), makes the parity data with the Python pipelines, and runs
# nos-hub's HubParityGpuTest against them. Needs torch, torchvision, transformers, tokenizers and
# Pillow there (sentence-transformers where installed).
#
#   device call: bash /root/gpu/scripts/gpu/hub-parity.sh
#
# Comes back in $OUT (at most 8 files): hub-parity.tar, to unpack into the repository and commit:
#     tar -C nos-hub/src/test/resources/ai/nos/hub -xf hub-parity.tar   # parity/ and tokenizers/
# and the logs (export.log, make-parity.log, hub-parity-tests.log). The table rows are printed.
set -uo pipefail
g=/root/gpu
out=${OUT:-/tmp}
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:ErrorFile=$out/hs_err_%p.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision, transformers, PIL; print('torch', torch.__version__,
'torchvision', torchvision.__version__, 'transformers', transformers.__version__,
'Pillow', PIL.__version__)"
step() {  # name, log, command...: runs it, and on failure shows the log's end and stops
  local name=$1 log=$2; shift 2
  if ! "$@" >> "$log" 2>&1; then
    echo "$name failed:"; tail -40 "$log"; exit 1
  fi
  echo "$name: done"
}
rm -rf /tmp/hub /tmp/parity-res /tmp/parity-gpu && mkdir -p /tmp/parity-res
step "export_models.py" "$out/export.log" python3 "$g/scripts/hub/export_models.py" /tmp/hub
grep -aE "matches|runs on CUDA|skipped" "$out/export.log"
step "make_tokenizers.py" "$out/make-parity.log" \
  python3 "$g/scripts/hub/make_tokenizers.py" /tmp/parity-res/tokenizers
step "make_parity.py (images, pre-processing)" "$out/make-parity.log" \
  python3 "$g/scripts/hub/make_parity.py" --parity /tmp/parity-res/parity
step "make_parity.py (CUDA model references)" "$out/make-parity.log" \
  python3 "$g/scripts/hub/make_parity.py" --parity /tmp/parity-res/parity \
  --models /tmp/hub --out /tmp/parity-gpu
# One file for everything to commit: at most 8 files come back.
tar -C /tmp/parity-res -cf "$out/hub-parity.tar" parity tokenizers
ls -l "$out/hub-parity.tar"
# The packed JRE's ImageIO JPEG reader links the system libjpeg.so.62, which this machine lacks
# (eleventh session: UnsatisfiedLinkError); Pillow ships one.
jpeg=$(ls "$(python3 -c 'import PIL, os; print(os.path.dirname(PIL.__file__))')"/../pillow.libs/libjpeg*.so.62* 2>/dev/null | head -1)
if [ -n "$jpeg" ]; then
  mkdir -p /tmp/jpeg && ln -sf "$jpeg" /tmp/jpeg/libjpeg.so.62
  export LD_LIBRARY_PATH="/tmp/jpeg${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
java -version 2>&1 | grep -v "Picked up" | head -1
java -Xmx4g -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 \
  -Dnos.test.hubExport=/tmp/hub -Dnos.test.hubParity=/tmp/parity-gpu \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
  -cp "$(ls "$GPU_LIB"/*.jar | tr '\n' ':')" org.junit.platform.console.ConsoleLauncher execute \
  --select-class ai.nos.hub.HubParityGpuTest --details=tree --disable-banner "$@" \
  > "$out/hub-parity-tests.log" 2>&1
rc=$?
grep -aE "HubParityGpuTest:|tests (successful|failed|aborted)|✘|=>" "$out/hub-parity-tests.log" \
  | head -60
exit $rc
