#!/usr/bin/env bash
# Where a fresh JVM's load of Bytedeco's libtorch preset spends its time, on the CPU (issue 20
# item 5: NOS's first result behind DJL's). RUNS rounds, each: a fresh JVM running
# scripts/bench/NativeLoad.java with only the JavaCPP, OpenBLAS and PyTorch preset jars nos-core
# uses (no NOS code; `-Dorg.bytedeco.javacpp.platform.extension=` as README's start-up tips
# advise), then dlopen_times.c in a fresh process linking the same libtorch libraries from
# JavaCPP's cache (what any binding of libtorch pays, DJL's included); the JVM twice a round,
# plain and with an application class-data-sharing archive; then DJL 0.36's engine the same
# way (scripts/bench/DjlLoad.java) and its libtorch 2.7.1's dlopen. Lines in
# $OUT_DIR/native-load.log; scripts/bench/tables.py turns them into a table. Run it on a quiet
# machine: the stages are CPU-bound and the VM has 2 cores.
#   RUNS=7 OUT_DIR=benchmarks/logs/<date>/native-load scripts/bench/native-load.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}
OUT=${OUT_DIR:-benchmarks/logs/$(date +%F)/native-load}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mvn -B -q -o -pl nos-core dependency:build-classpath -DincludeGroupIds=org.bytedeco \
  -DincludeScope=runtime -Dmdep.outputFile="$WORK/cp.txt" >/dev/null
CP=$(cat "$WORK/cp.txt")
javac -d "$WORK/classes" -cp "$CP" scripts/bench/NativeLoad.java
jar cf "$WORK/native-load.jar" -C "$WORK/classes" .  # a CDS archive takes jars only
cc -O2 -o "$WORK/dlopen_times" scripts/bench/dlopen_times.c -ldl
# DJL 0.36's engine (benchmarks' djl-bench profile: its jars must be in ~/.m2, as djl-cpu.sh
# needs them), with only DJL's jars and theirs on the class path; skipped if they cannot be had.
DJL_CP=""
if mvn -B -q -o -pl benchmarks -Pdjl-bench dependency:build-classpath \
    -Dmdep.outputFile="$WORK/djl-all.txt" >/dev/null 2>&1; then
  DJL_CP=$(tr ':' '\n' < "$WORK/djl-all.txt" \
    | grep -E '/ai/djl/(api|pytorch)/|/gson-|/jna-|/slf4j-api-' | tr '\n' ':')
  javac -d "$WORK/djl-classes" -cp "$DJL_CP" scripts/bench/DjlLoad.java
  jar cf "$WORK/djl-load.jar" -C "$WORK/djl-classes" .
  export PYTORCH_VERSION=2.7.1 PYTORCH_FLAVOR=cpu TORCH_CPP_LOG_LEVEL=ERROR
  DJL=(java -cp "$DJL_CP$WORK/djl-load.jar" -Dai.djl.offline=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn DjlLoad)
  "${DJL[@]}" >/dev/null 2>&1  # unpacks DJL's natives into ~/.djl.ai, untimed
  "${DJL[0]}" -XX:ArchiveClassesAtExit="$WORK/djl.jsa" "${DJL[@]:1}" >/dev/null 2>&1
  DJL_LIBS=$(find "${HOME}/.djl.ai/pytorch" -name libtorch_cpu.so | head -1 | xargs dirname)
fi
JAVA=(java -cp "$CP:$WORK/native-load.jar" -Dorg.bytedeco.javacpp.platform.extension=
  -Dorg.bytedeco.javacpp.logger.debug=true NativeLoad)
"${JAVA[@]}" >/dev/null  # unpacks the natives into JavaCPP's cache, untimed
# An application class-data-sharing archive of the same run (README's start-up tip), written by
# an untimed run: the "cds" rows load the preset's classes from it.
"${JAVA[0]}" -XX:ArchiveClassesAtExit="$WORK/app.jsa" "${JAVA[@]:1}" >/dev/null 2>&1
LIBS=$(find "${HOME}/.javacpp/cache" -path '*pytorch-*linux-x86_64.jar/org/bytedeco/pytorch/*' \
  -name libtorch_cpu.so | head -1 | xargs dirname)
{
  echo "native-load: $(java -version 2>&1 | head -1); $(nproc) cores; $(uname -r)"
  echo "native-load: class path $(tr ':' '\n' < "$WORK/cp.txt" | xargs -n1 basename | tr '\n' ' ')"
  for i in $(seq 1 "$RUNS"); do
    # The launch time for NativeLoad's jvm-to-main figure (the JVM's own start instant is only
    # as fine as the kernel's boot-time second).
    echo "run $i plain $("${JAVA[0]}" -Dnative.load.launched="$(date +%s%N)" "${JAVA[@]:1}")"
    echo "run $i cds $("${JAVA[0]}" -XX:SharedArchiveFile="$WORK/app.jsa" \
      -Dnative.load.launched="$(date +%s%N)" "${JAVA[@]:1}")"
    echo "run $i $(LD_LIBRARY_PATH=$LIBS "$WORK/dlopen_times" "$LIBS/libgomp.so.1" \
      "$LIBS/libopenblas.so.0" "$LIBS/libc10.so" "$LIBS/libtorch_cpu.so" "$LIBS/libtorch.so" \
      "$LIBS/libjnitorch.so" | tr '\n' ' ')"
    if [ -n "$DJL_CP" ]; then
      echo "run $i djl-plain $("${DJL[0]}" -Dnative.load.launched="$(date +%s%N)" \
        "${DJL[@]:1}" 2>/dev/null)"
      echo "run $i djl-cds $("${DJL[0]}" -XX:SharedArchiveFile="$WORK/djl.jsa" \
        -Dnative.load.launched="$(date +%s%N)" "${DJL[@]:1}" 2>/dev/null)"
      echo "run $i djl-$(LD_LIBRARY_PATH=$DJL_LIBS "$WORK/dlopen_times" \
        "$(ls "$DJL_LIBS"/libgomp*.so* | head -1)" "$DJL_LIBS/libc10.so" \
        "$DJL_LIBS/libtorch_cpu.so" "$DJL_LIBS/libtorch.so" | tr '\n' ' ')"
    fi
  done
} | tee "$OUT/native-load.log"
