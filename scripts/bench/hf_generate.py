#!/usr/bin/env python3
"""transformers' generation speed on #17's benchmark model: the baseline NOS's GenerateBench is
compared with, in the same lease (scripts/gpu/bench.sh generate).

The model is LlamaForCausalLM with make_tiny_llama.py's LLAMA_271M config (random weights, fp16,
271 M parameters). For each number of concurrent sequences C: one batch of C random prompts of
PROMPT tokens, generate(do_sample=False, max_new_tokens=NEW, min_new_tokens=NEW) so every row
makes NEW tokens; tokens/s = C x NEW / wall time of the whole call (prefill included), repeated
ROUNDS times after one warm-up call (min and median printed; the raw times are in the log).
Time to first token: generate(max_new_tokens=1) of one prompt.

--compile adds rows for transformers' static cache with torch.compile of the model's forward
(`--compile-mode`, default "default"; transformers' own automatic compile of the decode step is
turned off so that one compile, ours, is measured), for each C of --compile-concurrency: the first
call of a C compiles (its time is printed, not counted), then ROUNDS timed calls without another
warm-up (a warm-up of 4 new tokens would size the static cache differently and compile again).
At C = 1 it also prints the time to first token, timed to the first token a streamer receives in a
call of NEW tokens (the same cache size: max_new_tokens=1 would compile again). Compiling is
slow (68-91 s per C measured); --budget bounds the whole run: a C whose compile would not fit
what is left is skipped with a line saying so.

    python3 scripts/bench/hf_generate.py [--concurrency 1,8,32,128] [--rounds 3]
        [--compile [--compile-concurrency 1,8] [--compile-mode default] [--budget 240]]
Lines: "hf_generate: eager|static+compile C=.. tokens/s min .. median ..; ms/step median .." and
"hf_generate: eager|static+compile time to first token (prompt 128) median .. ms" (tables.py).
"""
import argparse
import os
import statistics
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
from make_tiny_llama import LLAMA_271M  # noqa: E402


def prompts(c: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (c, length), generator=g)


def timed(fn) -> float:
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--concurrency", default="1,8,32,128")
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--compile-concurrency", default="1")
    p.add_argument("--compile-mode", default="default")
    p.add_argument("--budget", type=float, default=240,
                   help="seconds for the whole run: compiles that would not fit are skipped")
    args = p.parse_args()
    started = time.perf_counter()
    from transformers import LlamaConfig, LlamaForCausalLM
    import transformers
    torch.manual_seed(17)
    model = LlamaForCausalLM(LlamaConfig(**LLAMA_271M, eos_token_id=2, bos_token_id=None,
                                         pad_token_id=None)).half().cuda().eval()
    params = sum(q.numel() for q in model.parameters())
    print(f"hf_generate: transformers {transformers.__version__}, torch {torch.__version__},"
          f" {torch.cuda.get_device_name(0)}, {params / 1e6:.0f} M parameters fp16,"
          f" prompt {args.prompt}, new {args.new}")

    def run(m, c, new, label, warm=True):
        ids = prompts(c, args.prompt, LLAMA_271M["vocab_size"], c).cuda()
        mask = torch.ones_like(ids)

        def call(k=new):
            with torch.no_grad():
                m.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=k,
                           min_new_tokens=k, pad_token_id=0)
        # warm-up: kernels, allocator (the compiled rows were warmed by their compiling call)
        first = timed(lambda: call(4)) if warm else 0.0
        times = [timed(call) for _ in range(args.rounds)]
        rates = [c * new / t for t in times]
        warmed = f"warm-up call (4 tokens) {first * 1000:.0f} ms" if warm else \
            "warmed by the compiling call"
        print(f"hf_generate: {label} C={c} {warmed}; times_s "
              + " ".join(f"{t:.4f}" for t in times)
              + f"; tokens/s min {min(rates):.0f} median {statistics.median(rates):.0f}"
              f"; ms/step median {statistics.median(times) * 1000 / new:.2f}", flush=True)

    def ttft(m, label):
        ids = prompts(1, args.prompt, LLAMA_271M["vocab_size"], 99).cuda()

        def call():
            with torch.no_grad():
                m.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                           max_new_tokens=1, pad_token_id=0)
        timed(call)
        times = sorted(timed(call) for _ in range(10))
        print(f"hf_generate: {label} time to first token (prompt {args.prompt}) median"
              f" {statistics.median(times) * 1000:.2f} ms, min {times[0] * 1000:.2f} ms",
              flush=True)

    ttft(model, "eager")
    for c in [int(x) for x in args.concurrency.split(",")]:
        run(model, c, args.new, "eager")
    if args.compile:
        compiled_rows(model, args, started, run)


class FirstToken(Exception):
    """Raised by FirstTokenClock to end a generate call at its first new token."""


def first_token_clock():
    """A streamer (transformers' put/end protocol) that notes when the first generated token
    reaches the host and ends the call there: put() gets the prompt first, then each new
    token, already copied to the host."""
    try:
        from transformers.generation.streamers import BaseStreamer
    except ImportError:
        BaseStreamer = object

    class FirstTokenClock(BaseStreamer):
        def __init__(self):
            self.puts = 0
            self.at = None

        def put(self, value):
            self.puts += 1
            if self.puts == 2:
                self.at = time.perf_counter()
                raise FirstToken()

        def end(self):
            pass
    return FirstTokenClock()


def compiled_rows(model, args, started, run):
    """transformers' static cache + torch.compile rows (see the module notes)."""
    import transformers
    model.generation_config.cache_implementation = "static"
    model.generation_config.disable_compile = True  # transformers' automatic compile: ours only
    model.forward = torch.compile(model.forward, mode=args.compile_mode, fullgraph=False,
                                  dynamic=False)
    print(f"hf_generate: static+compile: cache_implementation=static, torch.compile(forward,"
          f" mode={args.compile_mode}, dynamic=False), transformers {transformers.__version__}",
          flush=True)
    estimate = 100.0  # seconds to compile one C, until one is measured
    for c in [int(x) for x in args.compile_concurrency.split(",") if x]:
        left = args.budget - (time.perf_counter() - started)
        if left < estimate * 1.2:
            print(f"hf_generate: static+compile C={c} skipped: {left:.0f} s of the {args.budget:.0f}"
                  f" s budget left, a compile took {estimate:.0f} s (raise --budget)", flush=True)
            continue
        try:
            ids = prompts(c, args.prompt, LLAMA_271M["vocab_size"], c).cuda()
            t = time.perf_counter()
            with torch.no_grad():
                model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=args.new, min_new_tokens=args.new, pad_token_id=0)
            torch.cuda.synchronize()
            estimate = time.perf_counter() - t
            print(f"hf_generate: compile C={c}: first call (compiling) {estimate:.1f} s",
                  flush=True)
            run(model, c, args.new, "static+compile", warm=False)
            if c == 1:
                compiled_ttft(model, args)
        except Exception as e:  # noqa: BLE001 - the next C may still run
            print(f"hf_generate: static+compile C={c} FAILED: {type(e).__name__}: "
                  f"{str(e).splitlines()[0] if str(e) else ''}", flush=True)
            traceback.print_exc(limit=6)


def compiled_ttft(model, args):
    ids = prompts(1, args.prompt, LLAMA_271M["vocab_size"], 99).cuda()
    times = []
    for i in range(11):
        clock = first_token_clock()
        torch.cuda.synchronize()
        t = time.perf_counter()
        try:
            with torch.no_grad():
                model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=args.new, min_new_tokens=args.new, pad_token_id=0,
                               streamer=clock)
        except FirstToken:
            pass
        torch.cuda.synchronize()
        if clock.at is None:
            raise RuntimeError("the streamer saw no generated token")
        if i > 0:  # the first: warm-up
            times.append(clock.at - t)
    times.sort()
    print(f"hf_generate: static+compile time to first token (prompt {args.prompt}) median"
          f" {statistics.median(times) * 1000:.2f} ms, min {times[0] * 1000:.2f} ms"
          " (to the first token a streamer receives)", flush=True)

if __name__ == "__main__":
    main()
