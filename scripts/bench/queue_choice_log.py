#!/usr/bin/env python3
"""What the batcher's queue choice did in djl-cpu.sh logs run with its trace on
(JVM_ARGS=-Dorg.slf4j.simpleLogger.log.ai.nos.internal.batch.QueueChoice=trace).

Usage: queue_choice_log.py LOG_DIR (its logs plain or gzipped). For each nos-batched fork (caller
threads, OpenMP setting, repeat), over its measured iterations only: the kept mode's epochs by
mode, the probes and how many won (the kept mode changed), the median time per call of the kept
mode's epochs and of the probes, and an estimate of what the probes cost: a probe runs the other
mode for 1.5 epochs (half an epoch uncounted after the change, then one counted), so it costs 1.5
* epochCalls * (probe - kept) ns against the fork's measured time."""
import glob, gzip, os, re, statistics, sys

EPOCH = 1024
EPOCH_RE = re.compile(r"epoch of (BATCH|CALLER)( \(probe\))?: (\d+) ns a call")
PROBE_RE = re.compile(r"probe of (BATCH|CALLER): (\d+) ns a call against (BATCH|CALLER)'s (\d+) ns")


def forks(path):
    """(threads, engine, lines of the measured iterations) per fork in one JMH log."""
    bench = engine = None
    lines, measured = [], False
    opener = gzip.open if path.endswith(".gz") else open
    for line in opener(path, "rt", errors="replace"):
        m = re.match(r"# Benchmark: .*\.threads(\d+)", line)
        if m:
            if bench:
                yield bench, engine, lines
            bench, engine, lines, measured = m.group(1), None, [], False
            continue
        m = re.match(r"# Parameters: .*engine = ([\w-]+)", line)
        if m:
            engine = m.group(1)
        if "Iteration   1:" in line and not line.startswith("# Warmup"):
            measured = True
        if measured:
            lines.append(line)
    if bench:
        yield bench, engine, lines


def summary(lines):
    kept = {"BATCH": [], "CALLER": []}
    probes = []
    for line in lines:
        m = EPOCH_RE.search(line)
        if m and not m.group(2):
            kept[m.group(1)].append(int(m.group(3)))
        m = PROBE_RE.search(line)
        if m:
            probes.append((m.group(1), int(m.group(2)), m.group(3), int(m.group(4))))
    won = sum(1 for _, p, _, c in probes if p < c * 0.95)
    kept_ns = sum(kept["BATCH"]) + sum(kept["CALLER"])
    total = EPOCH * (kept_ns + sum(1.5 * p + 0.5 * c for _, p, _, c in probes))
    cost = sum(1.5 * EPOCH * (p - c) for _, p, _, c in probes)
    med = lambda v: f"{statistics.median(v):,.0f}" if v else "-"
    return (f"kept epochs BATCH {len(kept['BATCH'])} (median {med(kept['BATCH'])} ns)"
            f" CALLER {len(kept['CALLER'])} (median {med(kept['CALLER'])} ns);"
            f" probes {len(probes)} ({won} won):"
            + " ".join(sorted({m for m, *_ in probes}))
            + f" median {med([p for _, p, _, _ in probes])} ns against"
            f" {med([c for _, _, _, c in probes])};"
            f" probe cost ~{100 * cost / total if total else 0:.1f}% of the time")


def main(d):
    for f in sorted(glob.glob(os.path.join(d, "threads-r*-omp*.log*"))):
        tag = re.search(r"threads-(r\d+-omp[a-z0-9]+)\.log", f).group(1)
        for threads, engine, lines in forks(f):
            if engine == "nos-batched":
                print(f"{tag} {threads:>2} callers: {summary(lines)}")


if __name__ == "__main__":
    main(sys.argv[1])
