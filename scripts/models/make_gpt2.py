#!/usr/bin/env python3
"""Exports a GPT-2 decoder (transformers' GPT2LMHeadModel) to what NOS's generation engine loads.

The same step as make_tiny_llama.py's (its module docstring describes it): forward(input_ids,
positions, slots, k_cache, v_cache) -> logits of each row's last token, writing its keys and
values into the rows `slots` of the caches NOS owns, decode_first for rows that are slots
0..B-1, and nos_generation() for the cache's shape. GPT-2's own arithmetic: learned absolute
position embeddings, LayerNorm with bias, one projection for q, k and v (HF's Conv1D, its weight
[in, out]: transposed here into a Linear), attention scaled by 1/sqrt(head_dim), a GELU MLP (tanh
approximation, HF's "gelu_new"), the head tied to the token embedding.

Run:  python3 scripts/models/make_gpt2.py --out models/gpt2-tiny   (the committed CI model:
          random weights, references from transformers' GPT2LMHeadModel generate)
      python3 scripts/models/make_gpt2.py --pretrained openai-community/gpt2 --out DIR   (network;
          a local save_pretrained folder works too; writes its tokenizer and generation config)
Writes DIR/model.pt, DIR/tokenizer.json, DIR/reference.json, DIR/config.json. Needs transformers.
"""
import argparse
import json
import math
import os
import torch
import torch.nn as nn

# this folder's modules: the scripts run from here
from make_tiny_llama import (PROMPTS, NEW_TOKENS, bpe_encode, cached_greedy, first_greedy,
                             hf_generate, tokenizer_json)
from slot_cache import SlotStep, rows_and_visible, slot_rows

# The committed CI model: the tiny Llama's sizes, GPT-2's architecture.
TINY = dict(vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=256, n_inner=172,
            layer_norm_epsilon=1e-5, activation_function="gelu_new")


class Gpt2Layer(nn.Module):
    """One GPT2Block as the cached step: the q, k, v projection, the cache's rows, attention with
    the step's additive mask, the output projection and the MLP, each with HF's weights."""

    def __init__(self, block, heads: int):
        super().__init__()
        self.heads = heads
        self.ln_1 = block.ln_1
        self.ln_2 = block.ln_2
        h = block.ln_1.weight.numel()
        self.head_dim = h // heads
        self.qkv = linear(block.attn.c_attn)
        self.proj = linear(block.attn.c_proj)
        self.fc = linear(block.mlp.c_fc)
        self.out = linear(block.mlp.c_proj)

    def forward(self, x: torch.Tensor, rows: torch.Tensor, visible: torch.Tensor,
                slots: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                first: bool) -> torch.Tensor:
        b, t, h = x.shape
        d = self.head_dim
        qkv = self.qkv(self.ln_1(x))
        q = qkv[:, :, :h].reshape(b, t, self.heads, d).transpose(1, 2)
        k = qkv[:, :, h:2 * h].reshape(b * t, self.heads, d)
        v = qkv[:, :, 2 * h:].reshape(b * t, self.heads, d)
        s, m = k_cache.size(0), k_cache.size(1)
        k_cache.view(s * m, self.heads, d).index_copy_(0, rows, k)
        v_cache.view(s * m, self.heads, d).index_copy_(0, rows, v)
        keys = slot_rows(k_cache, slots, b, first)
        values = slot_rows(v_cache, slots, b, first)
        a = torch.nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, h))
        return x + self.out(torch.nn.functional.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


def linear(conv1d) -> nn.Linear:
    """HF's Conv1D (weight [in, out], y = x @ w + b) as the Linear it is."""
    w = conv1d.weight.detach()
    lin = nn.Linear(w.shape[0], w.shape[1])
    lin.weight = nn.Parameter(w.t().contiguous().clone())
    lin.bias = nn.Parameter(conv1d.bias.detach().clone())
    return lin


class NosGpt2(SlotStep):
    """GPT2LMHeadModel's step as NOS runs it (see the module docstring; the entry points are
    SlotStep's)."""

    def __init__(self, hf, eos: int):
        super().__init__()
        c = hf.config
        t = hf.transformer
        self.wte = t.wte
        self.wpe = t.wpe
        self.layers = nn.ModuleList([Gpt2Layer(block, c.n_head) for block in t.h])
        self.ln_f = t.ln_f
        self.info = {"layers": c.n_layer, "kv_heads": c.n_head, "head_dim": c.n_embd // c.n_head,
                     "vocab_size": c.vocab_size, "max_positions": c.n_positions,
                     "eos_token_id": eos, "format_version": 1}

    def run(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
            k_cache: torch.Tensor, v_cache: torch.Tensor, first: bool) -> torch.Tensor:
        x = self.wte(input_ids) + self.wpe(positions)
        rows, visible = rows_and_visible(positions, slots, k_cache.size(2), first)
        # the mask as SDPA would make it from the boolean one in every layer, made once
        bias = torch.zeros(visible.shape, dtype=x.dtype, device=x.device).masked_fill(
            visible.logical_not(), float("-inf"))
        i = 0
        for layer in self.layers:
            x = layer(x, rows, bias, slots, k_cache[i], v_cache[i], first)
            i += 1
        last = self.ln_f(x[:, -1, :])
        return torch.nn.functional.linear(last, self.wte.weight)


def widen(hf, out_gain: float) -> None:
    """Random weights wider than HF's init (std 0.02), as make_tiny_llama.py's widen: logits far
    apart, so that another libtorch's kernels cannot flip a greedy choice; the layers' output
    projections x out_gain, so that a tied head does not make greedy decoding repeat the last
    token for ever. LayerNorm weights stay ones, their biases zeros."""
    with torch.no_grad():
        for name, prm in hf.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                continue
            if name.endswith(".bias"):
                prm.normal_(0.0, 0.1)
            elif name.endswith("wte.weight") or name.endswith("wpe.weight"):
                prm.normal_(0.0, 1.0)
            else:
                # Conv1D weights are [in, out]
                gain = out_gain if name.endswith("c_proj.weight") else 1.0
                prm.normal_(0.0, gain / math.sqrt(prm.shape[0]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../models/gpt2-tiny"))
    p.add_argument("--pretrained", help="HF GPT-2 model to export with its weights (network)")
    p.add_argument("--seed", type=int, default=4)
    args = p.parse_args()
    import transformers
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    tok_doc, vocab, merges, eos = tokenizer_json(TINY["vocab_size"])
    if args.pretrained:
        hf = GPT2LMHeadModel.from_pretrained(args.pretrained, torch_dtype=torch.float32)
        if hf.config.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
            p.error(f"{args.pretrained}: activation {hf.config.activation_function!r}; this"
                    " export computes GELU's tanh approximation")
        if getattr(hf.config, "scale_attn_by_inverse_layer_idx", False) or getattr(
                hf.config, "reorder_and_upcast_attn", False):
            p.error(f"{args.pretrained}: attention scaled by layer or upcast: not exported")
        tok = AutoTokenizer.from_pretrained(args.pretrained)
        tok.save_pretrained(args.out)
        eos = int(hf.config.eos_token_id)
        prompts = [tok(text)["input_ids"] for text in PROMPTS]
    else:
        hf = GPT2LMHeadModel(GPT2Config(**TINY, eos_token_id=eos, bos_token_id=eos,
                                        pad_token_id=None))
        widen(hf, out_gain=6.0)
        prompts = [bpe_encode(text, vocab, merges) for text in PROMPTS]
        with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok_doc, f, ensure_ascii=False, indent=None)
    hf.eval()
    model = NosGpt2(hf, eos).eval()
    scripted = torch.jit.script(model)
    margins, cases = [], []
    with torch.no_grad():
        for text, ids in zip(PROMPTS, prompts):
            expected = hf_generate(hf, [ids], NEW_TOKENS, eos, "cpu", margins)[0]
            got = cached_greedy(scripted, model.info, ids, NEW_TOKENS, eos)
            assert got == expected, f"cached export disagrees on {text!r}: {got} vs {expected}"
            first = first_greedy(scripted, model.info, ids, NEW_TOKENS, eos)
            assert first == expected, f"decode_first disagrees on {text!r}: {first} vs {expected}"
            cases.append({"prompt": text, "prompt_ids": ids, "greedy_ids": expected})
    smallest = min(g["gap"] for row in margins for g in row)
    print(f"the exported step equals transformers' generate on {len(cases)} of {len(cases)}"
          f" prompts; smallest gap between the two best logits {smallest:.3g}")
    scripted.save(os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump({"source": f"transformers {transformers.__version__} GPT2LMHeadModel"
                             " generate(do_sample=False) on cpu",
                   "torch": torch.__version__, "max_new_tokens": NEW_TOKENS, "eos_token_id": eos,
                   "smallest_margin_fp32": smallest, "cases": cases}, f, indent=1)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({**{k: getattr(hf.config, k) for k in TINY}, "eos_token_id": eos,
                   "seed": args.seed, "pretrained": args.pretrained}, f, indent=1)
    if args.pretrained:
        hf.generation_config.save_pretrained(args.out)
    print(f"wrote {args.out}: {sum(q.numel() for q in hf.parameters())} parameters")


if __name__ == "__main__":
    main()
