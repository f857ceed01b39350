#!/usr/bin/env bash
# A fresh JVM's first NOS result, one commit's build against this checkout's (issue 20 item 5):
# both built here (the commit in a temporary git worktree with `mvn package`; this checkout installed), the
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
WORK=$(mktemp -d)
trap 'git worktree remove --force "$WORK/before" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
git worktree add -q --detach "$WORK/before" "$BEFORE"
jars() { # the NOS module jars of the checkout in $1, built there
  (cd "$1" && mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests package >/dev/null)
  ls "$1"/nos-core/target/nos-core-*.jar "$1"/nos-hub/target/nos-hub-*.jar \
    "$1"/nos-optim/target/nos-optim-*.jar "$1"/benchmarks/target/nos-benchmarks-*.jar \
    | grep -v -- '-\(sources\|javadoc\|tests\)\.jar$' | paste -sd:
}
declare -A CP
mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests install
mvn -B -q -o -pl benchmarks -Pdjl-bench dependency:build-classpath \
  -Dmdep.outputFile="$WORK/classpath.txt" >/dev/null
DEPS=$(tr ':' '\n' < "$WORK/classpath.txt" | grep -v '/ai/nos/' | paste -sd:)
CP[nos-before]=$(jars "$WORK/before"):$DEPS
CP[nos-after]=$(jars "$PWD"):$DEPS
export TORCH_CPP_LOG_LEVEL=ERROR
run() {
  java -cp "${CP[$1]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.bytedeco.javacpp.platform.extension= ai.nos.benchmarks.djl.FirstResult nos 2>/dev/null
}
{ uname -a; nproc; java -version 2>&1; echo "before $(git rev-parse "$BEFORE")";
  echo "after $(git rev-parse HEAD) $(git status --short | wc -l) changed file(s)"; date -Is;
  uptime; } > "$OUT/$NAME-env.txt"
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
