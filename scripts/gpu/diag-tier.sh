#!/usr/bin/env bash
# Eighth session, last lease: the two test fixes after the whole suite (HostTierGpuTest's
# memory check with CUDA graphs, NosVersionTest's properties), then bench.sh swap with the
# graphs copy's own budget. Skips the AOTInductor packages (their tests are not run here).
set -uo pipefail
out=${OUT:-/tmp}
mkdir -p /tmp/aoti && touch /tmp/aoti/digits-cuda.pt2
OUT=/tmp/t bash /root/gpu/scripts/gpu/gpu-tests.sh --include-classname '.*(HostTierGpuTest|NosVersionTest)' > /dev/null 2>&1
grep -aE "HostTierGpuTest|NosVersionTest|tests (successful|failed)|✘|=>" /tmp/t/gpu-tests.log | head -30 | tee $out/tier-tests.txt
bash /root/gpu/scripts/gpu/bench.sh swap 10 2>&1 | tail -30
