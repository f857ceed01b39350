#!/usr/bin/env bash
# Session-8 diagnosis of issue 15 item 11 on main: the pinned-buffer close race alone, then
# the same with CUDA_LAUNCH_BLOCKING=1, then the whole suite without that one method.
set -uo pipefail
out=${OUT:-/tmp}
t=/root/gpu/scripts/gpu/gpu-tests.sh
cp scripts/gpu/gpu-tests.sh $t
for i in 1 2; do
  OUT=/tmp/o$i bash $t --include-classname '.*PinnedBufferGpuTest' --include-methodname '.*closingWhileOtherThreadsCall.*' > /dev/null 2>&1
  mkdir -p /tmp/o$i; grep -E "tests (successful|failed)|CUDA error|Exception|at ai.nos" /tmp/o$i/gpu-tests.log | head -40 > $out/pinned-$i.txt
done
CUDA_LAUNCH_BLOCKING=1 OUT=/tmp/o3 bash $t --include-classname '.*PinnedBufferGpuTest' --include-methodname '.*closingWhileOtherThreadsCall.*' >/dev/null 2>&1
grep -E "tests (successful|failed)|CUDA error|Exception|at ai.nos|at org" /tmp/o3/gpu-tests.log | head -60 > $out/pinned-clb.txt
OUT=/tmp/o4 bash $t --include-classname '.*JavaCppRssCheckTest' >/dev/null 2>&1
grep -E "tests (successful|failed)|expected|Exception" /tmp/o4/gpu-tests.log | head -20 > $out/rss.txt
OUT=/tmp/o5 timeout 420 bash $t --exclude-methodname '.*closingWhileOtherThreadsCall.*' >/dev/null 2>&1
cp /tmp/o5/gpu-tests.log $out/suite.log; gzip -f $out/suite.log
grep -E "✘|tests (successful|failed|aborted)" /tmp/o5/gpu-tests.log | head -40 > $out/suite-summary.txt
tail -n +1 $out/*.txt
