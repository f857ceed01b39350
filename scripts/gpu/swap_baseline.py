"""Issue 24's Python rows beside SwapBench: what a plain PyTorch reload of ResNet-50 costs.

  python3 swap_baseline.py /tmp/gpu-models/resnet50.pt

Rows (median of 6): torch.jit.load(map_location='cuda') + the first call, fp32 and fp16; and the
weights alone back from pinned host memory (one copy per tensor, non_blocking, then a sync).
"""
import statistics
import sys
import time

import torch


def timed(fn, n=6):
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    path = sys.argv[1]
    x = torch.randn(1, 3, 224, 224, device="cuda")
    rows = []
    with torch.inference_mode():
        for half in (False, True):
            def reload():
                m = torch.jit.load(path, map_location="cuda").eval()
                if half:
                    m = m.half()
                m(x.half() if half else x)
            reload()  # the process's one-time library state, as NOS books apart
            rows.append(("python: jit.load(map_location=cuda) + first call, "
                         + ("fp16" if half else "fp32"), timed(reload)))
        m = torch.jit.load(path, map_location="cuda").eval()
        for half in (False, True):
            weights = [t.half() if half and t.is_floating_point() else t
                       for t in list(m.parameters()) + list(m.buffers())]
            host = [t.cpu().pin_memory() for t in weights]
            nbytes = sum(t.numel() * t.element_size() for t in host)

            def back():
                [h.to("cuda", non_blocking=True) for h in host]
            back()
            rows.append(("python: %d MB of weights from pinned host memory, %s"
                         % (nbytes // 1_000_000, "fp16" if half else "fp32"), timed(back)))
    print("| python row | median ms |")
    print("|---|---|")
    for name, ms in rows:
        print("| %s | %.1f |" % (name, ms))


if __name__ == "__main__":
    main()
