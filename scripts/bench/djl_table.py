#!/usr/bin/env python3
"""The NOS-against-DJL CPU table (benchmarks/README.md) from the raw logs of djl-cpu.sh.

Usage: djl_table.py benchmarks/logs/<date>/djl-cpu[-TAG]. Each cell is the median over the
repeats (each repeat one JVM), with the range in brackets."""
import glob, json, os, re, statistics, sys


def scores(d):
    """(row, engine, omp) -> the repeats' scores, from the JMH json files in d."""
    cells = {}
    for f in sorted(glob.glob(os.path.join(d, "*-r*-omp*.json"))):
        omp = re.search(r"-omp(\w+)\.json$", f).group(1)
        if os.path.getsize(f) == 0:
            continue  # a run stopped before JMH wrote its results
        for run in json.load(open(f)):
            method = run["benchmark"].rsplit(".", 1)[1]
            p = run["params"]
            row = f"latency, batch {p['batch']} (us)" if method == "latency" else \
                f"{method[len('threads'):]} caller threads (calls/s)"
            cells.setdefault((row, p["engine"], omp), []).append(run["primaryMetric"]["score"])
    return cells


def batching_table(d):
    """The caller-thread rows of NOS with and without batching (djl-cpu.sh ROWS=batching), with
    batching over plain as a ratio of the medians."""
    cells = scores(d)
    fmt = (lambda x: f"{x:,.0f}")

    def cell(v):
        return f"{fmt(statistics.median(v))} [{fmt(min(v))}-{fmt(max(v))}]"

    lines = ["| caller threads (calls/s) | NOS | NOS batching | batching / plain "
             "| NOS, 1 OpenMP thread | NOS batching, 1 thread | batching / plain, 1 thread |",
             "|---|---|---|---|---|---|---|"]
    for t in (2, 8, 64):
        row = f"{t} caller threads (calls/s)"
        out = []
        for omp in ("default", "1"):
            plain, batched = cells[(row, "nos", omp)], cells[(row, "nos-batched", omp)]
            out += [cell(plain), cell(batched),
                    f"{statistics.median(batched) / statistics.median(plain):.2f}"]
        lines.append(f"| {t} | " + " | ".join(out) + " |")
    return lines


def table(d):
    """The table's lines (and the outputs' agreement line after a blank one) for the logs in d."""
    lines = []
    out = lines.append

    cells = {}  # (row, engine, omp) -> [scores]
    for f in sorted(glob.glob(os.path.join(d, "*-r*-omp*.json"))):
        omp = re.search(r"-omp(\w+)\.json$", f).group(1)
        if os.path.getsize(f) == 0:
            continue  # a run stopped before JMH wrote its results
        for run in json.load(open(f)):
            method = run["benchmark"].rsplit(".", 1)[1]
            p = run["params"]
            row = f"latency, batch {p['batch']} (us)" if method == "latency" else \
                f"{method[len('threads'):]} caller threads (calls/s)"
            cells.setdefault((row, p["engine"], omp), []).append(run["primaryMetric"]["score"])

    def cell(row, engine, omp):
        v = cells.get((row, engine, omp))
        if not v:
            return "-"
        fmt = (lambda x: f"{x:,.0f}")
        return f"{fmt(statistics.median(v))} [{fmt(min(v))}-{fmt(max(v))}]" if len(v) > 1 else fmt(v[0])

    rows = ["latency, batch 1 (us)", "latency, batch 32 (us)"] + \
        [f"{t} caller threads (calls/s)" for t in (2, 8, 64)]
    cols = [("nos", "default"), ("djl", "default"), ("nos-batched", "default"),
            ("nos", "1"), ("djl", "1"), ("nos-batched", "1")]
    out("| measurement | NOS | DJL | NOS batching | NOS, 1 OpenMP thread | DJL, 1 OpenMP thread | NOS batching, 1 thread |")
    out("|---|---|---|---|---|---|---|")
    for row in rows:
        out(f"| {row} | " + " | ".join(cell(row, e, o) for e, o in cols) + " |")

    first = {}
    rss = {}
    path = os.path.join(d, "first-result.log")
    if os.path.exists(path):
        for line in open(path):
            m = re.search(r"engine (\S+) run \d+ start-to-first-output-ms (\d+).*peak-rss-kb (\d+)", line)
            if m:
                first.setdefault(m.group(1), []).append(int(m.group(2)))
                rss.setdefault(m.group(1), []).append(int(m.group(3)))
        def med(v, scale=1):
            return f"{statistics.median(v) / scale:,.0f} [{min(v) / scale:,.0f}-{max(v) / scale:,.0f}]"
        out(f"| first result in a fresh JVM (ms, natives unpacked) | {med(first['nos'])} | {med(first['djl'])} | | | | |")
        out(f"| peak RSS of that process (MB) | {med(rss['nos'], 1024)} | {med(rss['djl'], 1024)} | | | | |")
    agree = os.path.join(d, "agree.log")
    if os.path.exists(agree):
        out("")
        out("Outputs (32 images): " + open(agree).read().strip())

    return lines


if __name__ == "__main__":
    print("\n".join(table(sys.argv[1])))
