#!/usr/bin/env bash
# A fresh JVM's first NOS result, one commit's build against this checkout's (issue 20 item 5):
# both built here (scripts/bench/ab-builds.sh: the commit in a temporary git worktree), the
# same dependency jars, JavaCPP's `-Dorg.bytedeco.javacpp.platform.extension=` for both (the CPU
# build's application setting, scripts/bench/first-result.sh), RUNS fresh JVMs each, alternated
# round by round (first one, then the other), after one untimed run each. Lines "engine
# nos-before|nos-after run N start-to-first-output-ms MS phases-ms ... peak-rss-kb KB" in
# $OUT_DIR/$NAME.log, which scripts/bench/tables.py reads. With CDS=1 each build also gets its
# own application class-data-sharing archive, written at its untimed run (first-result.sh's
# nos-ext-cds configuration).
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
run() { # $1: build, $2: JVM option (the archive, with CDS=1)
  # shellcheck disable=SC2086
  java -cp "${CP[$1]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.bytedeco.javacpp.platform.extension= ${2:-} ai.nos.benchmarks.djl.FirstResult nos \
    2>/dev/null
}
archive() { # the timed runs' option for build $1
  if [[ ${CDS:-0} == 1 ]]; then echo "-XX:SharedArchiveFile=$AB_WORK/$1.jsa"; fi
}
ab_env "$OUT/$NAME-env.txt"
echo "cds ${CDS:-0}" >> "$OUT/$NAME-env.txt"
for c in nos-before nos-after; do
  if [[ ${CDS:-0} == 1 ]]; then
    run "$c" "-XX:ArchiveClassesAtExit=$AB_WORK/$c.jsa" > /dev/null
  else
    run "$c" > /dev/null
  fi
done
: > "$OUT/$NAME.log"
for ((i = 1; i <= RUNS; i++)); do
  if ((i % 2)); then order=(nos-before nos-after); else order=(nos-after nos-before); fi
  for c in "${order[@]}"; do
    start=$(date +%s%3N)
    line=$(run "$c" "$(archive "$c")")
    first=$(sed -n 's/^first-output-epoch-ms //p' <<< "$line")
    echo "engine $c run $i start-to-first-output-ms $((first - start)) $(grep -v epoch <<< "$line" | tr '\n' ' ')" \
      >> "$OUT/$NAME.log"
  done
done
echo "wrote $OUT/$NAME.log"
