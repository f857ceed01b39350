#!/usr/bin/env bash
# A fresh JVM's first NOS result, one commit's build against this checkout's (issue 20 item 5):
# both built here (scripts/bench/ab-builds.sh: the commit in a temporary git worktree), the
# same dependency jars, JavaCPP's `-Dorg.bytedeco.javacpp.platform.extension=` for both (the CPU
# build's application setting, scripts/bench/first-result.sh), RUNS fresh JVMs each, alternated
# round by round (first one, then the other), after one untimed run each. Lines "engine
# nos-before|nos-after run N start-to-first-output-ms MS phases-ms ... peak-rss-kb KB" in
# $OUT_DIR/$NAME.log, which scripts/bench/tables.py reads.
#   RUNS=10 NAME=preset-classes OUT_DIR=benchmarks/logs/<date>/first-result \
#     scripts/bench/first-result-ab.sh <commit before>
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=${1:?usage: first-result-ab.sh <commit before>}
RUNS=${RUNS:-10}
NAME=${NAME:-first-result-ab}
OUT=${OUT_DIR:-benchmarks/logs/$(date +%F)/first-result}
mkdir -p "$OUT"
# shellcheck source=scripts/bench/ab-builds.sh
. scripts/bench/ab-builds.sh
ab_builds "$BEFORE"
declare -A CP=([nos-before]=$CP_BEFORE [nos-after]=$CP_AFTER)
export TORCH_CPP_LOG_LEVEL=ERROR
run() {
  java -cp "${CP[$1]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.bytedeco.javacpp.platform.extension= ai.nos.benchmarks.djl.FirstResult nos 2>/dev/null
}
ab_env "$OUT/$NAME-env.txt"
run nos-before > /dev/null
run nos-after > /dev/null
: > "$OUT/$NAME.log"
for ((i = 1; i <= RUNS; i++)); do
  if ((i % 2)); then order=(nos-before nos-after); else order=(nos-after nos-before); fi
  for c in "${order[@]}"; do
    start=$(date +%s%3N)
    line=$(run "$c")
    first=$(sed -n 's/^first-output-epoch-ms //p' <<< "$line")
    echo "engine $c run $i start-to-first-output-ms $((first - start)) $(grep -v epoch <<< "$line" | tr '\n' ' ')" \
      >> "$OUT/$NAME.log"
  done
done
echo "wrote $OUT/$NAME.log"
