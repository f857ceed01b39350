#!/usr/bin/env python3
"""Builds issue #5's markdown tables from the logs of bench.sh's optim and aoti-cl modes (as they
come back in $OUT): every `| model | dtype | path | batch | images/s | p50 ms |` row of the given
files, NOS cells as "from a Tensor / from a PinnedBuffer" where OptimBench ran with
-Dnos.bench.pinned=true. Later files win for the same row, except rows measured in windows
(the harnesses since issue 20 item 4: "| ... | images/s | p50 ms | images/s min | per window |"):
those pool every window of every file given (the rounds of bench.sh rounds), and a cell reads
"median [min] (p50 ms)" over the pooled windows, p50 the median of the files' p50s.

Run:  python3 scripts/gpu/optim_table.py wide LOG...     # both models, both precisions
      python3 scripts/gpu/optim_table.py resnet50-fp16 LOG...   # ResNet-50 fp16 beside torch.compile
"""
import re
import statistics
import sys

ROW = re.compile(r"\| (\S+) \| (fp\d+) \| (.+?) \| (\d+) \| (\d+) \| ([\d.]+) \|")
WINDOWS = re.compile(r" (\d+) \| ([\d ]+) \|$")
PYTHON = ["python torch eager", "python torch eager channels-last",
          "python torch eager channels-last, pageable input", "python CUDA graphs"]
NOS = ["NOS plain TorchScript", "NOS optimized (channels-last, freeze, cudnn)",
       "NOS channels-last, optimize_for_inference, cudnn", "NOS optimized + CUDA graphs",
       "NOS CL, ofi, cudnn + CUDA graphs"]
PACKAGES = ["NOS CL, ofi, cudnn + CUDA graphs", "NOS AOTInductor, a library per batch size",
            "NOS AOTInductor, a library per batch size, channels-last"]
BATCHES = [1, 8, 64, 256]


def parse(paths):
    rows, pooled = {}, {}
    for path in paths:
        for line in open(path):
            m = ROW.match(line)
            if not m:
                continue
            key = (m[1], m[2], m[3], int(m[4]))
            w = WINDOWS.search(line[m.end() - 1:].rstrip("\n"))
            if w:
                windows, p50s = pooled.setdefault(key, ([], []))
                windows.extend(int(x) for x in w[2].split())
                p50s.append(float(m[6]))
            else:
                rows[key] = (int(m[5]), float(m[6]))
    for key, (windows, p50s) in pooled.items():
        rows[key] = (round(statistics.median(windows)), statistics.median(p50s), min(windows))
    return rows


def cell(rows, key):
    v = rows.get(key)
    if not v:
        return "-"
    return f"{v[0]} [{v[2]}] ({v[1]:.2f})" if len(v) == 3 else f"{v[0]} ({v[1]:.2f})"


def nos(rows, key):
    pinned = key[:2] + (key[2] + ", pinned input",) + key[3:]
    return cell(rows, key) + (f" / {cell(rows, pinned)}" if pinned in rows else "")


def main():
    what, rows = sys.argv[1], parse(sys.argv[2:])
    if what == "wide":
        print("| model | dtype | batch | py eager | py eager CL | py eager CL, pageable in |"
              " py CUDA graphs | NOS plain | NOS CL+freeze+cudnn | NOS CL+ofi+cudnn |"
              " NOS CL+freeze+cudnn+graphs | NOS CL+ofi+cudnn+graphs |")
        print("|" + "---|" * 12)
        for model in ("resnet50", "vit_b_16"):
            for dtype in ("fp32", "fp16"):
                for b in BATCHES:
                    cells = [cell(rows, (model, dtype, p, b)) for p in PYTHON]
                    cells += [nos(rows, (model, dtype, n, b)) for n in NOS]
                    print(f"| {model} | {dtype} | {b} | " + " | ".join(cells) + " |")
    else:
        model, dtype = what.split("-")
        print("| path | batch 1 | 8 | 64 | 256 |")
        print("|---|---|---|---|---|")
        for n in PACKAGES:
            for suffix in ("", ", pinned input"):
                print(f"| {n}{suffix} | " + " | ".join(
                    cell(rows, (model, dtype, n + suffix, b)) for b in BATCHES) + " |")
        for p in PYTHON + ["python torch.compile"]:
            print(f"| {p} | " + " | ".join(cell(rows, (model, dtype, p, b)) for b in BATCHES)
                  + " |")


if __name__ == "__main__":
    main()
