#!/usr/bin/env python3
"""Where a batch-1 decode step of #17's 271 M Llama spends its time, recorded as a CUDA graph.

NOS measured 1.83 ms per token at one sequence (benchmarks/README.md, "Generation"); the target is
1.0 ms. This script separates the device's work from NOS's host work: it builds make_tiny_llama.py's
FusedNosLlama (the step NOS exports) with random weights in fp16 on CUDA, a cache of the shape
GenerateBench gives NOS ([layers, 128 slots + the scratch slot, 257 positions, heads, head_dim]),
and one decode step of one sequence at position 128, and records that step in a CUDA graph
(torch.cuda.graph) in several forms:

  a   TorchScript, the executor's optimization off (what NOS ran before the fifteenth session:
      GenerationEngine sets torch.setGraphExecutorOptimize(false) on its threads,
      `nos.generate.jitOptimize`), the export's forward: each row's slot gathered
  f   a, through the export's decode_first (what NOS runs for decode steps since the fifteenth
      session: rows are slots 0..B-1, the caches read as views, no gather)
  a+  a, with NOS's host work around the replay as GenerationEngine.decode does it in Java (one
      pageable host-to-device copy of ids/positions/slots, three copies into the graph's inputs,
      the replay, the sampler's float cast and argmax, the seen-token update, the ids copied
      back): the Python floor of today's loop, to set beside NOS's 1.83 ms
  a*  a, with the sampler and the seen-token update inside the graph, inputs from one pinned
      buffer in one copy, the id back through pinned memory and an event: the loop of the fixes
      docs/generation-perf.md proposes
  b   TorchScript, the profiling executor on with NNC (TensorExpr) fusion on the GPU, captured
      after its profiling runs
  bf  b, through decode_first (the fuser and the gather-free step together)
  c   torch.compile(mode=max-autotune-no-cudagraphs) of the eager step (a child process with a
      time limit: its compile is the slow part), captured
  d   the eager (unscripted) step, captured

For each: the replay's device time (CUDA events around each of N back-to-back replays: no host
work between them, the bare graph), the wall time of replay + synchronize per step (what a loop
that waits for each token pays), both as medians over N >= 2000 replays after warm-up; and from
torch.profiler, kernels per step and their total time (CUPTI reports the kernels of graph
replays on CUDA 12; where it reports none, one eager call of the same step is profiled
instead, and the line says so), with the top kernels by time. Every output is compared with the
eager step's logits (max |difference|).

Each experiment runs in try/except: a failure prints its error and the rest go on. Bounded by
--budget seconds in all (default 230): the compile experiment gets what is left.

    python3 scripts/bench/profile_step.py [--replays 2000] [--budget 230] [--json FILE]
        [--lean-norm] [--fused-residual]
        [--only a,f,d,b,c] [--compile-mode max-autotune-no-cudagraphs]
Results also go to FILE as JSON (default $OUT/profile_step.json when $OUT is set).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import make_tiny_llama as mtl  # noqa: E402

STARTED = time.perf_counter()


def say(msg):
    print(f"profile_step: {msg}", flush=True)


def elapsed():
    return time.perf_counter() - STARTED


# ---- the model, the cache, the step's inputs ------------------------------------------------

def build(args):
    """(FusedNosLlama fp16 on CUDA, k_cache, v_cache, ids, positions, slots)."""
    torch.manual_seed(17)
    c = mtl.LLAMA_271M
    with torch.no_grad(), torch.device("cuda"):  # made on the device: no CPU init of 271 M
        base = mtl.NosLlama(c, 2, sdpa=True)
        for name, p in base.named_parameters():  # transformers' Llama init (std 0.02)
            if not name.endswith("norm.weight"):
                p.normal_(0.0, 0.02)
        model = mtl.FusedNosLlama(base, args.lean_norm, args.fused_residual).half().eval() \
            .requires_grad_(False)
    del base
    info = model.info
    shape = [info["layers"], args.slots, args.length, info["kv_heads"], info["head_dim"]]
    g = torch.Generator(device="cuda").manual_seed(1)
    k = torch.randn(shape, device="cuda", dtype=torch.float16, generator=g)
    v = torch.randn(shape, device="cuda", dtype=torch.float16, generator=g)
    ids = torch.tensor([[5]], device="cuda")
    positions = torch.tensor([[args.position]], device="cuda")
    slots = torch.tensor([0], device="cuda")
    params = sum(p.numel() for p in model.parameters())
    say(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)};"
        f" FusedNosLlama{' (lean norm)' if args.lean_norm else ''}"
        f"{' (fused residual)' if args.fused_residual else ''} {params / 1e6:.0f} M"
        f" parameters fp16; cache {shape} fp16 x2"
        f" ({2 * k.numel() * 2 / 1e9:.2f} GB); step: 1 sequence at position {args.position}")
    return model, k, v, ids, positions, slots


def capture(fn, warmups=3):
    """fn() recorded in a CUDA graph after `warmups` calls on a side stream: (graph, output)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmups):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = fn()
    torch.cuda.synchronize()
    return g, out


# ---- measurements -----------------------------------------------------------------------------

def device_times(replay, n):
    """Device ms of each of n back-to-back replays (events around each, no host wait between)."""
    for _ in range(20):
        replay()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        starts[i].record()
        replay()
        ends[i].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, ends)]


def wall_times(step, n):
    """Wall ms of each of n calls of step(), which must leave nothing running on the device."""
    for _ in range(20):
        step()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def synced(replay):
    def step():
        replay()
        torch.cuda.synchronize()
    return step


def trace_events(fn, n):
    """torch.profiler's Chrome-trace events (CPU and CUDA activity) of n calls of fn, after one
    untimed call: a list of dicts with "cat", "name", "dur" (us). profile_vit.py uses it too."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            data = json.load(f)  # {"traceEvents": [...]}, or the list alone (older torch)
        return data.get("traceEvents", []) if isinstance(data, dict) else data
    finally:
        os.unlink(path)


def kernels(run, calls, eager_run=None):
    """Kernels per call and their device ms per call from torch.profiler (the trace's "kernel"
    events), with the top kernels: {per_step, ms_per_step, top: [(name, ms/step, per step)],
    source}. Falls back to eager_run when the replays show no kernels."""
    def trace(fn, n):
        return [e for e in trace_events(fn, n) if str(e.get("cat", "")).lower() == "kernel"]

    found, source = trace(run, calls), "graph replays"
    if not found and eager_run is not None:
        found, source, calls = trace(eager_run, 3), "one eager call (replays showed no kernels)", 3
    by_name = {}
    for e in found:
        t = by_name.setdefault(e.get("name", "?"), [0.0, 0])
        t[0] += float(e.get("dur", 0)) / 1000
        t[1] += 1
    top = sorted(by_name.items(), key=lambda kv: -kv[1][0])
    return {"per_step": len(found) / calls,
            "ms_per_step": sum(float(e.get("dur", 0)) for e in found) / 1000 / calls,
            "top": [(name, t / calls, c / calls) for name, (t, c) in top],
            "source": source}


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def report(results, name, label, graph_replay, out, ref, args, eager_run=None, extra=None):
    """Measures a recorded step and prints its line; stores it in results[name]."""
    r = {"label": label}
    dev = device_times(graph_replay, args.replays)
    r["device_ms_median"] = median(dev)
    r["device_ms_min"] = min(dev)
    wall = wall_times(synced(graph_replay), args.replays)
    r["replay_sync_wall_ms_median"] = median(wall)
    if out is not None and ref is not None:
        r["max_abs_diff_vs_eager"] = float((out.float() - ref.float()).abs().max())
    try:
        k = kernels(graph_replay, 20, eager_run)
        r["kernels_per_step"], r["kernel_ms_per_step"] = k["per_step"], k["ms_per_step"]
        r["kernels_source"], r["top_kernels"] = k["source"], k["top"][:args.top]
    except Exception as e:  # noqa: BLE001 - the timing stands without the profile
        say(f"{name}: the profiler failed: {type(e).__name__}: {e}")
    if extra:
        r.update(extra)
    results[name] = r
    say(f"{name} [{label}]: device {r['device_ms_median']:.3f} ms/step median (min"
        f" {r['device_ms_min']:.3f}) over {args.replays} back-to-back replays; replay+synchronize"
        f" wall {r['replay_sync_wall_ms_median']:.3f} ms median"
        + (f"; {r['kernels_per_step']:.0f} kernels/step, {r['kernel_ms_per_step']:.3f} ms of"
           f" kernels/step ({r['kernels_source']})" if "kernels_per_step" in r else "")
        + (f"; max |logits - eager| {r['max_abs_diff_vs_eager']:.4g}"
           if "max_abs_diff_vs_eager" in r else ""))
    for kname, ms, count in r.get("top_kernels", []) if name in args.top_for else []:
        say(f"  {name} top kernel {ms:8.4f} ms/step x{count:5.1f}/step  {kname[:110]}")
    return r


def attempt(what, fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - each experiment reports and the next one runs
        say(f"{what} FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        traceback.print_exc(limit=4)
        return None


# ---- the experiments -------------------------------------------------------------------------

def experiment_a(results, model, k, v, ids, positions, slots, ref, args):
    """a, a+ and a*: the scripted step with the optimizing executor off, as NOS runs it."""
    scripted = torch.jit.script(model)

    def step():
        with torch.jit.optimized_execution(False):  # NOS: setGraphExecutorOptimize(false)
            return scripted(ids, positions, slots, k, v)
    g, out = capture(step)
    report(results, "a", "TorchScript, executor optimization off (NOS today)", g.replay, out,
           ref, args, eager_run=step)
    results["a"]["bare_replay_ms_median"] = results["a"]["device_ms_median"]

    vocab = model.info["vocab_size"]
    seen = torch.zeros(args.slots, vocab, dtype=torch.bool, device="cuda")

    def a_plus():
        # a+: GenerationEngine.decode's host work around the same replay.
        static = [ids, positions, slots]
        token = [5]

        def nos_like():
            packed = torch.tensor([token[0], args.position, 0])  # a pageable host buffer
            on_device = packed.to("cuda")  # non_blocking false: waits (Sampler.longs)
            static[0].copy_(on_device[0].view(1, 1))  # GraphBuckets.runIfFits: a copy per input
            static[1].copy_(on_device[1].view(1, 1))
            static[2].copy_(on_device[2].view(1))
            g.replay()
            nxt = out.narrow(0, 0, 1).float().argmax(1)  # Sampler.choose, greedy
            # KvCache.markSeen
            seen.view(-1).index_fill_(0, static[2].mul(vocab).add(nxt), True)
            token[0] = 5  # the token the step reads stays fixed, so every step costs the same
            return nxt.cpu().tolist()  # GenerationEngine.toHost: a synchronizing copy
        wall = wall_times(nos_like, args.replays)
        results["a+"] = {"label": "a with NOS's host work per step (Python)",
                         "wall_ms_median": median(wall), "wall_ms_min": min(wall)}
        say(f"a+ [a with GenerationEngine.decode's host work, in Python]: {median(wall):.3f} ms/step"
            f" wall median (min {min(wall):.3f}); NOS measured 1.83 ms/token: the difference is"
            f" the Java loop's own cost")
        attempt("a+ kernels", lambda: results["a+"].update(
            {"kernels_per_step": kernels(nos_like, 20)["per_step"]}))

    def a_star():
        # a*: the sampler inside the graph, one pinned copy in, one pinned copy out, an event.
        inputs = torch.zeros(3, 1, dtype=torch.long, device="cuda")
        inputs[0, 0], inputs[1, 0] = 5, args.position
        host_in = torch.tensor([[5], [args.position], [0]]).pin_memory()
        host_out = torch.zeros(1, dtype=torch.long).pin_memory()
        done = torch.cuda.Event()

        def whole():
            with torch.jit.optimized_execution(False):
                logits = scripted(inputs[0].view(1, 1), inputs[1].view(1, 1), inputs[2], k, v)
            nxt = logits.float().argmax(1)
            seen.view(-1).index_fill_(0, inputs[2].mul(vocab).add(nxt), True)
            return nxt
        g2, nxt_static = capture(whole)

        def fixed_loop():
            inputs.copy_(host_in, non_blocking=True)
            g2.replay()
            host_out.copy_(nxt_static, non_blocking=True)
            done.record()
            done.synchronize()
            return int(host_out[0])
        wall = wall_times(fixed_loop, args.replays)
        results["a*"] = {"label": "a with the sampler in the graph, pinned copies, an event",
                         "wall_ms_median": median(wall), "wall_ms_min": min(wall)}
        say(f"a* [sampler + seen update inside the graph, one pinned copy in and out, event wait]:"
            f" {median(wall):.3f} ms/step wall median (min {min(wall):.3f})")

    attempt("a+", a_plus)
    attempt("a*", a_star)
    return scripted


def experiment_f(results, model, k, v, ids, positions, slots, ref, args):
    """f: the scripted decode_first with the optimizing executor off, as NOS runs decode steps."""
    scripted = torch.jit.script(model)

    def step():
        with torch.jit.optimized_execution(False):
            return scripted.decode_first(ids, positions, slots, k, v)
    g, out = capture(step)
    report(results, "f", "TorchScript decode_first, executor optimization off (NOS today)",
           g.replay, out, ref, args, eager_run=step)


def experiment_b(results, model, k, v, ids, positions, slots, ref, args):
    """b: the profiling executor with NNC fusing on the GPU, captured after profiling."""
    c = torch._C
    for name, value in [("_jit_set_profiling_executor", True), ("_jit_set_profiling_mode", True),
                        ("_jit_set_texpr_fuser_enabled", True),
                        ("_jit_override_can_fuse_on_gpu", True),
                        ("_jit_set_nvfuser_enabled", False)]:
        if hasattr(c, name):
            attempt(name, lambda n=name, x=value: getattr(c, n)(x))
    attempt("set_fusion_strategy", lambda: torch.jit.set_fusion_strategy([("STATIC", 4)]))
    scripted = torch.jit.script(model)
    t = time.perf_counter()
    with torch.jit.optimized_execution(True):
        for _ in range(10):  # profiling runs, then the fused plan is compiled and used
            scripted(ids, positions, slots, k, v)
        torch.cuda.synchronize()
        graph = str(torch.jit.last_executed_optimized_graph())
    warm = time.perf_counter() - t
    groups = {n: graph.count(n) for n in ("prim::TensorExprGroup", "prim::FusionGroup",
                                          "prim::CudaFusionGroup")}
    say(f"b: 10 calls to profile and fuse took {warm:.1f} s; fusion groups in the last executed"
        f" optimized graph: {groups}")

    def step():
        with torch.jit.optimized_execution(True):
            return scripted(ids, positions, slots, k, v)
    g, out = capture(step)
    report(results, "b", "TorchScript, profiling executor on, NNC fuser on GPU", g.replay, out,
           ref, args, eager_run=step, extra={"warmup_s": warm, "fusion_groups": groups})

    def first():
        with torch.jit.optimized_execution(True):
            return scripted.decode_first(ids, positions, slots, k, v)

    def bf():
        for _ in range(10):  # decode_first's own profiling runs
            first()
        torch.cuda.synchronize()
        g2, out2 = capture(first)
        report(results, "bf", "TorchScript decode_first, profiling executor on, NNC fuser on GPU",
               g2.replay, out2, ref, args, eager_run=first)
    attempt("bf", bf)


def experiment_c(results, model, k, v, ids, positions, slots, ref, args):
    """c: torch.compile of the eager step (no CUDA graphs of its own), captured by us."""
    t = time.perf_counter()
    try:
        compiled = torch.compile(model, mode=args.compile_mode, fullgraph=True, dynamic=False)
        compiled(ids, positions, slots, k, v)
        full = True
    except Exception as e:  # noqa: BLE001 - graph breaks: compile what can be compiled
        say(f"c: fullgraph=True failed ({type(e).__name__}: {str(e).splitlines()[0][:200]});"
            " compiling with graph breaks")
        if hasattr(torch, "_dynamo"):
            torch._dynamo.reset()
        compiled = torch.compile(model, mode=args.compile_mode, dynamic=False)
        compiled(ids, positions, slots, k, v)
        full = False
    torch.cuda.synchronize()
    took = time.perf_counter() - t
    say(f"c: torch.compile(mode={args.compile_mode}, fullgraph={full}) compiled in {took:.1f} s")

    def step():
        return compiled(ids, positions, slots, k, v)
    g, out = capture(step)
    report(results, "c", f"torch.compile {args.compile_mode}, captured", g.replay, out, ref,
           args, eager_run=step, extra={"compile_s": took, "fullgraph": full})


def experiment_d(results, model, k, v, ids, positions, slots, ref, args):
    """d: the eager step, captured."""
    def step():
        return model(ids, positions, slots, k, v)
    g, out = capture(step)
    report(results, "d", "eager (unscripted) step, captured", g.replay, out, ref, args,
           eager_run=step)


def run_child_c(args, results):
    """c in a child process, killed when the budget runs out (its compile is unbounded)."""
    left = args.budget - elapsed() - 5
    if left < 40:
        say(f"c skipped: {left:.0f} s of the {args.budget:.0f} s budget left (a compile needs more)")
        return
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    cmd = [sys.executable, os.path.abspath(__file__), "--only", "c", "--json", path,
           "--replays", str(args.replays), "--slots", str(args.slots), "--length",
           str(args.length), "--position", str(args.position), "--compile-mode",
           args.compile_mode, "--top", str(args.top), "--top-for", ",".join(args.top_for),
           "--budget", str(left)] + (["--lean-norm"] if args.lean_norm else []) \
        + (["--fused-residual"] if args.fused_residual else [])
    say(f"c: in a child process, at most {left:.0f} s")
    try:
        subprocess.run(cmd, timeout=left, check=False)
        with open(path) as f:
            results.update(json.load(f))
    except subprocess.TimeoutExpired:
        say(f"c: the child ran past {left:.0f} s and was stopped (compile too slow for the budget;"
            " rerun with --only c --budget 600)")
    except (OSError, ValueError) as e:
        say(f"c: no result from the child: {e}")
    finally:
        if os.path.exists(path):
            os.unlink(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replays", type=int, default=2000)
    p.add_argument("--slots", type=int, default=129, help="cache slots (GenerateBench: 128 + scratch)")
    p.add_argument("--length", type=int, default=257, help="positions per slot (128 + 128 + 1)")
    p.add_argument("--position", type=int, default=128)
    p.add_argument("--budget", type=float, default=230, help="seconds for everything")
    p.add_argument("--only", default="a,f,d,b,c")
    p.add_argument("--fused-residual", action="store_true",
                   help="make_tiny_llama.py's --fused-residual step (residual adds in the GEMMs)")
    p.add_argument("--lean-norm", action="store_true",
                   help="make_tiny_llama.py's --lean-norm step (RMSNorm with its weight in one"
                        " kernel)")
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    p.add_argument("--top", type=int, default=10, help="kernels listed per variant")
    p.add_argument("--top-for", default="a,f,bf,c", help="variants whose top kernels are printed")
    p.add_argument("--json", default=os.path.join(os.environ["OUT"], "profile_step.json")
                   if os.environ.get("OUT") else None)
    args = p.parse_args()
    args.top_for = [x for x in args.top_for.split(",") if x]
    only = [x for x in args.only.split(",") if x]
    if not torch.cuda.is_available():
        say("no CUDA device: nothing to measure")
        sys.exit(2)
    results = {}
    model, k, v, ids, positions, slots = build(args)  # parameters made outside inference mode
    with torch.inference_mode():  # as NOS's engine (InferenceMode on its threads)
        ref = model(ids, positions, slots, k, v).clone()
        torch.cuda.synchronize()
        steps = [("a", experiment_a), ("f", experiment_f), ("d", experiment_d),
                 ("b", experiment_b)]
        for name, fn in steps:
            if name in only:
                attempt(name, lambda f=fn: f(results, model, k, v, ids, positions, slots, ref,
                                             args))
        if "c" in only:
            if only == ["c"]:
                attempt("c", lambda: experiment_c(results, model, k, v, ids, positions, slots,
                                                  ref, args))
            else:
                del model, k, v
                torch.cuda.empty_cache()
                run_child_c(args, results)
    if only != ["c"]:
        say("summary (ms per step; device = bare graph replays back to back, wall = replay +"
            " synchronize, or the whole loop for a+/a*):")
        for name in ("a", "a+", "a*", "f", "b", "bf", "c", "d"):
            r = results.get(name)
            if r is None:
                say(f"  {name}: no result")
                continue
            def num(key, fmt):
                return format(r[key], fmt) if key in r else "-"
            wall = "replay_sync_wall_ms_median" if "device_ms_median" in r else "wall_ms_median"
            say(f"  {name:2s} device {num('device_ms_median', '7.3f'):>7s}  wall"
                f" {num(wall, '7.3f'):>7s}  kernels/step {num('kernels_per_step', '5.0f'):>5s}"
                f"  {r['label']}")
        say(f"done in {elapsed():.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
