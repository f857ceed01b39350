#!/usr/bin/env bash
# Same builds as first-result-ab.sh (scratch copy, no install); per run: wall ms (script's clock,
# start to first output), and the process's user+sys CPU ms (GNU time), with CDS=1 archives.
set -euo pipefail
cd /work/wt-firstresult
RUNS=${RUNS:-15}; OUT=${OUT_DIR:?}; NAME=${NAME:?}
mkdir -p "$OUT"
. /tmp/fr/ab/ab-builds.sh
ab_builds "$1"
declare -A CP=([nos-before]=$CP_BEFORE [nos-after]=$CP_AFTER)
export TORCH_CPP_LOG_LEVEL=ERROR
run() {
  # shellcheck disable=SC2086
  /usr/bin/time -f "cpu-ms %U %S" -o "$AB_WORK/time" java -cp "${CP[$1]}" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.bytedeco.javacpp.platform.extension= \
    ${2:-} ai.nos.benchmarks.djl.FirstResult nos 2>/dev/null
}
archive() { if [[ ${CDS:-0} == 1 ]]; then echo "-XX:SharedArchiveFile=$AB_WORK/$1.jsa"; fi; }
ab_env "$OUT/$NAME-env.txt"; echo "cds ${CDS:-0}" >> "$OUT/$NAME-env.txt"
for c in nos-before nos-after; do
  if [[ ${CDS:-0} == 1 ]]; then run "$c" "-XX:ArchiveClassesAtExit=$AB_WORK/$c.jsa" >/dev/null
  else run "$c" >/dev/null; fi
done
: > "$OUT/$NAME.log"
for ((i = 1; i <= RUNS; i++)); do
  if ((i % 2)); then order=(nos-before nos-after); else order=(nos-after nos-before); fi
  for c in "${order[@]}"; do
    start=$(date +%s%3N)
    line=$(run "$c" "$(archive "$c")")
    first=$(sed -n 's/^first-output-epoch-ms //p' <<< "$line")
    cpu=$(awk '{printf "%d", ($2 + $3) * 1000}' "$AB_WORK/time")
    echo "engine $c run $i start-to-first-output-ms $((first - start)) cpu-ms $cpu loadavg $(cut -d' ' -f1 /proc/loadavg) $(grep -v epoch <<< "$line" | tr '\n' ' ')" >> "$OUT/$NAME.log"
  done
done
echo "wrote $OUT/$NAME.log"
