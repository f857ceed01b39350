#!/usr/bin/env bash
# NOS against DJL 0.36 (PyTorch engine, libtorch 2.7.1 CPU jars, offline) on the CPU, issue 20
# item 5: the JMH rows of ai.nos.benchmarks.djl.CpuVersusBenchmark, one JVM per configuration
# (JMH forks per parameter set), NOS and DJL alternated, REPEATS times, at the default intra-op
# threads and at OMP_NUM_THREADS=1 for both; then FIRST_RUNS fresh JVMs per engine, alternated,
# timed from process start to the first output (natives unpacked by an untimed run first), with
# peak RSS; then how far the two engines' outputs differ. Raw logs go to
# benchmarks/logs/<date>/djl-cpu[-TAG]/; scripts/bench/djl_table.py turns them into the table.
#   REPEATS=3 FIRST_RUNS=5 TAG= scripts/bench/djl-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${REPEATS:-3}
FIRST_RUNS=${FIRST_RUNS:-5}
# ROWS=batching: only the caller-thread rows of NOS with and without batching (after a batcher
# change, the rows it can move), no DJL, no first result. ROWS=first: only the first result and
# the outputs' agreement (into OUT_DIR beside an earlier run's JMH logs).
ROWS=${ROWS:-all}
# OUT_DIR=path: the logs go there instead (a later session's rows beside the first table's).
OUT=${OUT_DIR:-benchmarks/logs/$(date +%F)/djl-cpu${TAG:+-$TAG}}
mkdir -p "$OUT"

mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests package
mvn -B -q -o -pl benchmarks -Pdjl-bench dependency:build-classpath \
  -Dmdep.outputFile="$PWD/benchmarks/target/djl-classpath.txt" >/dev/null
# This checkout's modules as jars, as an application's class path has them (and DJL's are), not
# the snapshot jars in ~/.m2 that dependency:build-classpath names. With the modules' class
# folders instead, NOS's fresh JVM loaded in 1,233 ms against 902 from jars and peaked at 361 MB
# against 284 (nineteenth session; the tables before it were measured that way).
BENCH_JAR=$(ls benchmarks/target/nos-benchmarks-*.jar | grep -v -- -tests | head -1)
CP=$BENCH_JAR:$(sed -E "s#[^:]*/ai/nos/(nos-[a-z]+)/[^:/]*/([^:/]*\.jar)#$PWD/\1/target/\2#g" \
  benchmarks/target/djl-classpath.txt)
# DJL reads these from the environment or the system properties: libtorch from the native jar.
export PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cpu
# DJL's libtorch 2.7.1 warns on every convolution that NNPACK does not fit this CPU; a line on
# stderr per call would be timed as DJL's. Both engines log errors only.
export TORCH_CPP_LOG_LEVEL=ERROR
# JVM_ARGS="...": more options for every JVM (JMH's forks inherit them), e.g. the queue choice's
# epochs and probes in the log:
# JVM_ARGS=-Dorg.slf4j.simpleLogger.log.ai.nos.internal.batch.QueueChoice=trace
# shellcheck disable=SC2206
JAVA=(java ${JVM_ARGS:-} -cp "$CP" -Dai.djl.offline=true -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
# WARMUP=n: n warm-up iterations of 1 s instead of 1 (the batched path's JIT warm-up outlasts
# one second on 2 busy cores: its first measured second is its slowest).
JMH=(-wi "${WARMUP:-1}" -w 1s -i 3 -r 1s -foe false)

env=$OUT/env.txt
[[ $ROWS == first ]] && env=$OUT/env-first.txt
{ uname -a; nproc; java -version 2>&1; git rev-parse HEAD; date -Is; } > "$env"

for ((r = 1; r <= REPEATS; r++)); do
  [[ $ROWS == first ]] && break
  # Alternate which engine goes first in each repeat.
  if ((r % 2)); then engines=nos,djl; else engines=djl,nos; fi
  for omp in default 1; do
    if [[ $omp == 1 ]]; then export OMP_NUM_THREADS=1; else unset OMP_NUM_THREADS; fi
    tag=r$r-omp$omp
    threads=$engines,nos-batched
    if [[ $ROWS == all ]]; then
      "${JAVA[@]}" org.openjdk.jmh.Main 'CpuVersusBenchmark.latency' "${JMH[@]}" \
        -p engine=$engines -p batch=1,32 -rf json -rff "$OUT/latency-$tag.json" \
        2>&1 | grep -v NNPACK > "$OUT/latency-$tag.log"
    else
      if ((r % 2)); then threads=nos,nos-batched; else threads=nos-batched,nos; fi
    fi
    # DJL's libtorch warns once per thread that NNPACK does not fit this CPU: dropped.
    "${JAVA[@]}" org.openjdk.jmh.Main 'CpuVersusBenchmark.threads' "${JMH[@]}" \
      -p engine=$threads -p batch=1 -rf json -rff "$OUT/threads-$tag.json" \
      2>&1 | grep -v NNPACK > "$OUT/threads-$tag.log"
    echo "repeat $r, OMP $omp done $(date +%T)"
  done
done
unset OMP_NUM_THREADS
if [[ $ROWS == batching ]]; then
  python3 scripts/bench/djl_table.py "$OUT"
  exit 0
fi

# First result in a fresh JVM; one untimed run each unpacks the natives.
"${JAVA[@]}" ai.nos.benchmarks.djl.FirstResult nos "$OUT/outputs-nos.txt" > /dev/null 2>&1
"${JAVA[@]}" ai.nos.benchmarks.djl.FirstResult djl "$OUT/outputs-djl.txt" > /dev/null 2>&1
: > "$OUT/first-result.log"
for ((i = 1; i <= FIRST_RUNS; i++)); do
  if ((i % 2)); then order="nos djl"; else order="djl nos"; fi
  for e in $order; do
    start=$(date +%s%3N)
    line=$("${JAVA[@]}" ai.nos.benchmarks.djl.FirstResult "$e" 2>/dev/null)
    first=$(sed -n 's/^first-output-epoch-ms //p' <<< "$line")
    echo "engine $e run $i start-to-first-output-ms $((first - start)) $(grep -v epoch <<< "$line" | tr '\n' ' ')" \
      >> "$OUT/first-result.log"
  done
done
"${JAVA[@]}" ai.nos.benchmarks.djl.Agree "$OUT/outputs-nos.txt" "$OUT/outputs-djl.txt" \
  > "$OUT/agree.log"
rm -f "$OUT/outputs-nos.txt" "$OUT/outputs-djl.txt"
# Where NOS's first second goes: libtorch's load apart from the model's (untimed runs).
for ((i = 1; i <= 3; i++)); do
  "${JAVA[@]}" -Dfirst.phases=true ai.nos.benchmarks.djl.FirstResult nos 2>/dev/null \
    | grep phases >> "$OUT/first-phases.log"
done
python3 scripts/bench/djl_table.py "$OUT"
