#!/usr/bin/env bash
# Issue 15 item 11 on the GPU: the pinned-buffer close race and its siblings, each class in a JVM
# of its own (a lost context would fail everything after it in one JVM).
set -uo pipefail
out=${OUT:-/tmp}
t=/root/gpu/scripts/gpu/gpu-tests.sh
for c in PinnedBufferGpuTest PinnedUnpinGpuTest CudaWorkTest PinnedMemoryTest; do
  OUT=/tmp/$c bash $t --include-classname ".*\\.$c" >/dev/null 2>&1
  grep -E "✘|tests (successful|failed|aborted)|PinnedUnpinGpuTest:|PinnedBufferGpuTest:|=Ok|=ai|inRange" /tmp/$c/gpu-tests.log | head -30 > $out/$c.txt
done
tail -n +1 $out/*.txt
