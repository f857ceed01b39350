#!/usr/bin/env bash
# A fresh JVM's first result on the CPU, NOS beside DJL 0.36 (issue 20 item 5), under the JVM and
# JavaCPP settings an application chooses for its start (NOS itself sets no process-wide
# property): plain; JavaCPP's `-Dorg.bytedeco.javacpp.platform.extension=` (the CPU build need
# not look for CUDA libraries); and an application class-data-sharing archive (Java 17:
# `-XX:ArchiveClassesAtExit` once, then `-XX:SharedArchiveFile`; the class path must be jars),
# for DJL too, so both engines get the same settings. RUNS fresh JVMs per configuration,
# alternated round by round, timed from process start to the first logits of 32 images, with
# peak RSS (FirstResult), after one untimed run each (natives unpacked, archives written).
# Lines "engine CONFIG run N start-to-first-output-ms MS ... peak-rss-kb KB" in
# $OUT_DIR/first-result.log; scripts/bench/tables.py turns them into a table.
#   RUNS=6 OUT_DIR=benchmarks/logs/<date>/first-result scripts/bench/first-result.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-6}
OUT=${OUT_DIR:-benchmarks/logs/$(date +%F)/first-result}
mkdir -p "$OUT"
mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests install
mvn -B -q -o -pl benchmarks -Pdjl-bench dependency:build-classpath \
  -Dmdep.outputFile="$PWD/benchmarks/target/djl-classpath.txt" >/dev/null
# Jars only (a CDS archive refuses directories on the class path): this checkout's modules as
# installed by the line above.
CP=$(ls benchmarks/target/nos-benchmarks-*.jar | head -1):$(cat benchmarks/target/djl-classpath.txt)
export PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cpu TORCH_CPP_LOG_LEVEL=ERROR
JAVA=(java -cp "$CP" -Dai.djl.offline=true -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
EXT=-Dorg.bytedeco.javacpp.platform.extension=
ARCHIVES=$(mktemp -d)
trap 'rm -rf "$ARCHIVES"' EXIT

# config name -> engine and JVM options
declare -A ENGINE=([nos]=nos [nos-ext]=nos [nos-ext-cds]=nos [djl]=djl [djl-cds]=djl)
options() {
  case $1 in
    nos | djl) ;;
    nos-ext) echo "$EXT" ;;
    nos-ext-cds) echo "$EXT -XX:SharedArchiveFile=$ARCHIVES/nos.jsa" ;;
    djl-cds) echo "-XX:SharedArchiveFile=$ARCHIVES/djl.jsa" ;;
  esac
}
CONFIGS=(nos nos-ext nos-ext-cds djl djl-cds)
{ uname -a; nproc; java -version 2>&1; git rev-parse HEAD; date -Is; uptime; } > "$OUT/env.txt"
# untimed: natives unpacked, then each engine's archive written at its exit
# shellcheck disable=SC2046
"${JAVA[@]}" "$EXT" -XX:ArchiveClassesAtExit="$ARCHIVES/nos.jsa" ai.nos.benchmarks.djl.FirstResult nos > /dev/null 2>&1
"${JAVA[@]}" -XX:ArchiveClassesAtExit="$ARCHIVES/djl.jsa" ai.nos.benchmarks.djl.FirstResult djl > /dev/null 2>&1
: > "$OUT/first-result.log"
for ((i = 1; i <= RUNS; i++)); do
  if ((i % 2)); then order=("${CONFIGS[@]}"); else order=(djl-cds djl nos-ext-cds nos-ext nos); fi
  for c in "${order[@]}"; do
    start=$(date +%s%3N)
    # shellcheck disable=SC2046
    line=$("${JAVA[@]}" $(options "$c") ai.nos.benchmarks.djl.FirstResult "${ENGINE[$c]}" 2>/dev/null)
    first=$(sed -n 's/^first-output-epoch-ms //p' <<< "$line")
    echo "engine $c run $i start-to-first-output-ms $((first - start)) $(grep -v epoch <<< "$line" | tr '\n' ' ')" \
      >> "$OUT/first-result.log"
  done
done
echo "wrote $OUT/first-result.log"
