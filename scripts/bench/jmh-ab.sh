#!/usr/bin/env bash
# JMH on the CPU, one commit's build against this checkout's (issue 20 item 5): both built here
# (scripts/bench/ab-builds.sh), the same dependency jars, one JMH fork per build per repeat,
# alternated (the first build swaps each repeat), each fork BENCH's benchmarks with PARAMS.
# JSON results in $OUT_DIR/$NAME-{before,after}-rN.json and the JMH text beside them;
# scripts/bench/tables.py turns them into a table (median [min-max] of the repeats).
# JVM_BEFORE / JVM_AFTER: JVM options for one side only; with the same commit on both sides
# (HEAD) that compares a setting instead of a change.
#   REPEATS=6 OMP=1 NAME=call-objects BENCH='CpuVersusBenchmark.(latency|threads64)$' \
#     PARAMS='-p engine=nos -p batch=1' OUT_DIR=benchmarks/logs/<date>/cpu-ab \
#     scripts/bench/jmh-ab.sh <commit before>
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=${1:?usage: jmh-ab.sh <commit before>}
REPEATS=${REPEATS:-6}
NAME=${NAME:-jmh-ab}
BENCH=${BENCH:-'CpuVersusBenchmark.latency$'}
PARAMS=${PARAMS:--p engine=nos -p batch=1}
OUT=${OUT_DIR:-benchmarks/logs/$(date +%F)/cpu-ab}
mkdir -p "$OUT"
# shellcheck source=scripts/bench/ab-builds.sh
. scripts/bench/ab-builds.sh
ab_builds "$BEFORE"
declare -A CP=([before]=$CP_BEFORE [after]=$CP_AFTER)
declare -A JVM=([before]=${JVM_BEFORE:-} [after]=${JVM_AFTER:-})
export TORCH_CPP_LOG_LEVEL=ERROR
# OMP=1: one OpenMP (intra-op) thread, the equal setting of the NOS/DJL tables.
if [[ -n ${OMP:-} ]]; then export OMP_NUM_THREADS=$OMP; fi
ab_env "$OUT/$NAME-env.txt"
echo "bench $BENCH params $PARAMS omp ${OMP:-default} warmup ${WARMUP:-2}" \
  "jvm-before '${JVM_BEFORE:-}' jvm-after '${JVM_AFTER:-}'" >> "$OUT/$NAME-env.txt"
for ((r = 1; r <= REPEATS; r++)); do
  if ((r % 2)); then order=(before after); else order=(after before); fi
  for b in "${order[@]}"; do
    # shellcheck disable=SC2086
    java -cp "${CP[$b]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      org.openjdk.jmh.Main "$BENCH" -wi "${WARMUP:-2}" -w 1s -i 3 -r 1s -f 1 $PARAMS \
      ${JVM[$b]:+-jvmArgsAppend "${JVM[$b]}"} \
      -rf json -rff "$OUT/$NAME-$b-r$r.json" > "$OUT/$NAME-$b-r$r.log" 2>&1
  done
done
echo "wrote $OUT/$NAME-*.json"
