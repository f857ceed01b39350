#!/usr/bin/env python3
"""transformers' generation speed on #17's benchmark model: the baseline NOS's GenerateBench is
compared with, in the same lease (scripts/gpu/bench.sh generate).

The model is LlamaForCausalLM with make_tiny_llama.py's LLAMA_271M config (random weights, fp16,
271 M parameters). For each number of concurrent sequences C: one batch of C random prompts of
PROMPT tokens, generate(do_sample=False, max_new_tokens=NEW, min_new_tokens=NEW) so every row
makes NEW tokens; tokens/s = C x NEW / wall time of the whole call (prefill included), repeated
ROUNDS times after one warm-up call (min and median printed; the raw times are in the log).
Time to first token: generate(max_new_tokens=1) of one prompt. --compile adds transformers' static
cache with torch.compile of the forward (its compile time is printed; it is not counted).

    python3 scripts/bench/hf_generate.py [--concurrency 1,8,32,128] [--rounds 3] [--compile]
"""
import argparse
import os
import statistics
import sys
import time

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
    args = p.parse_args()
    from transformers import LlamaConfig, LlamaForCausalLM
    import transformers
    torch.manual_seed(17)
    model = LlamaForCausalLM(LlamaConfig(**LLAMA_271M, eos_token_id=2, bos_token_id=None,
                                         pad_token_id=None)).half().cuda().eval()
    params = sum(q.numel() for q in model.parameters())
    print(f"hf_generate: transformers {transformers.__version__}, torch {torch.__version__},"
          f" {torch.cuda.get_device_name(0)}, {params / 1e6:.0f} M parameters fp16,"
          f" prompt {args.prompt}, new {args.new}")

    def run(m, c, new, label):
        ids = prompts(c, args.prompt, LLAMA_271M["vocab_size"], c).cuda()
        mask = torch.ones_like(ids)

        def call(k=new):
            with torch.no_grad():
                m.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=k,
                           min_new_tokens=k, pad_token_id=0)
        first = timed(lambda: call(4))  # warm-up: kernels, allocator
        times = [timed(call) for _ in range(args.rounds)]
        rates = [c * new / t for t in times]
        print(f"hf_generate: {label} C={c} warm-up call (4 tokens) {first * 1000:.0f} ms; times_s "
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
        model.generation_config.cache_implementation = "static"
        model.forward = torch.compile(model.forward, mode="default", fullgraph=False)
        for c in [int(x) for x in args.compile_concurrency.split(",")]:
            t = time.perf_counter()
            ids = prompts(c, args.prompt, LLAMA_271M["vocab_size"], c).cuda()
            with torch.no_grad():
                model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=args.new, min_new_tokens=args.new, pad_token_id=0)
            print(f"hf_generate: compile C={c}: first call (compiling) "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
            run(model, c, args.new, "static+compile")


if __name__ == "__main__":
    main()
