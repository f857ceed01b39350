#!/usr/bin/env python3
"""Exports a Llama-architecture decoder to what NOS's generation engine loads, with references.

What NOS loads (ai.nos.internal.generate.DecoderModel): a TorchScript module whose forward runs one
prefill or decode step against a key/value cache that NOS owns on the device:

    forward(input_ids[B,T] int64, positions[B,T] int64, slots[B] int64,
            k_cache[L,S,M,Hkv,D], v_cache[L,S,M,Hkv,D]) -> logits[B,V] of each row's last token

  The step writes its keys and values into rows `slots` of the caches in place (index_copy_ at
  slot*M + position) and attends to the positions <= its own in that slot, so the cache never
  leaves the device and nothing but the sampled ids crosses to the host. An exported method
  nos_generation() -> Dict[str, int] tells NOS the cache's shape (layers, kv_heads, head_dim,
  max_positions), the vocabulary and the EOS id.

Two ways to build the weights, the same module exported either way:
  --from-hf (default when `transformers` imports): LlamaForCausalLM(LlamaConfig(...)) with random
      weights, or --pretrained NAME (needs the network; e.g. TinyLlama/TinyLlama-1.1B-Chat-v1.0),
      copied 1:1 into NosLlama (same parameter names); references from HF generate(do_sample=False)
      and, with --pretrained, the model's own tokenizer.json.
  --plain: no transformers (this project's CI machine: Debian's python3-torch 1.13). NosLlama is a
      faithful Llama (RMSNorm, HF's rotary embedding, SwiGLU, grouped-query attention) with random
      weights; the references come from its full-sequence forward without a cache (greedy,
      recomputing the whole sequence each token), and the exported cached step is checked to
      give the same tokens before anything is written. The tokenizer is a byte-level BPE
      tokenizer.json built here (256 byte tokens, merges learned from TEXT, an EOS token), the
      format HF tokenizers and DJL read.

Architectures (--arch): llama (LlamaForCausalLM), qwen2 (Qwen2ForCausalLM: Llama's step with
biases on the q, k and v projections; small Qwen2 models tie the head to the embedding; rotary
base 1e6). --pretrained NAME takes the architecture from the model's config (a hub name, or a
local folder written by save_pretrained) and refuses what the step does not compute (rotary
scaling such as Llama 3's, Qwen2's sliding window, Llama's attention or MLP biases).

Run:  python3 scripts/models/make_tiny_llama.py [--out models/llm-tiny] [--plain]
      python3 scripts/models/make_tiny_llama.py --arch qwen2 --seed 7 --out models/qwen2-tiny
          (the committed Qwen2 CI model: references from transformers' Qwen2ForCausalLM)
      python3 scripts/models/make_tiny_llama.py --size 271m --out DIR   (#17's benchmark model:
          transformers' LlamaForCausalLM, 271 M parameters, random weights; references from
          generate on CUDA where present: 20 prompts x 64 tokens fp32, fp16, and 16 batched)
      python3 scripts/models/make_tiny_llama.py --pretrained NAME --out DIR   (network; e.g.
          Qwen/Qwen2.5-0.5B-Instruct or TinyLlama/TinyLlama-1.1B-Chat-v1.0)
Writes DIR/model.pt, DIR/tokenizer.json, DIR/reference.json, DIR/config.json.
nos-hub's builtin catalog entry nos/llm-tiny pins models/llm-tiny's model.pt and tokenizer.json by
sha256 and size: re-exporting that folder means updating them (BuiltinCatalogTest checks).
"""
import argparse
import copy
import json
import math
import os
import re
from typing import Dict, List

import torch
import torch.nn as nn

# this folder's module: the scripts run from here
from slot_cache import (SlotStep, cudnn_attention, cudnn_half, greedy, rows_and_visible,
                        slot_rows)

TINY = dict(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, intermediate_size=172, max_position_embeddings=256,
            rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)

# The benchmark model (#17): a Llama of 271 M parameters, random weights.
LLAMA_271M = dict(vocab_size=32000, hidden_size=1024, num_hidden_layers=16, num_attention_heads=16,
                  num_key_value_heads=16, intermediate_size=2816, max_position_embeddings=2048,
                  rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)
# Head dims of 64 in a model of seconds to export: the GPU suite's cuDNN decode-attention test
# (CudnnDecodeGpuTest) exports it with and without --cudnn-attention.
LLAMA_H64 = dict(vocab_size=1024, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, intermediate_size=512, max_position_embeddings=512,
                 rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)
SIZES = {"tiny": TINY, "271m": LLAMA_271M, "h64": LLAMA_H64}

# Qwen2 (--arch qwen2) is Llama's step with a bias on the q, k and v projections; its small
# models tie the head to the embedding, and its rotary base is 1e6. The same sizes, with those.
QWEN2 = dict(qkv_bias=True, tie_word_embeddings=True, rope_theta=1000000.0)
ARCHS = ("llama", "qwen2")

PROMPTS = ["Once upon a time", "The little robot", "In the morning the sun",
           "She opened the door and", "A"]
NEW_TOKENS = 40

TEXT = """Once upon a time there was a little robot who lived in a quiet town by the sea.
Every morning the robot walked to the harbour and watched the boats come in. The fishermen
waved at the robot and the robot waved back. One day a girl opened the door of the old
lighthouse and found the robot sitting inside, counting the waves. She asked the robot why it
counted the waves, and the robot said that the sea was the only thing in the town that never
stopped talking. In the morning the sun came up over the water and the town woke up slowly.
The baker opened his shop, the children ran to school, and the old cat slept in the window.
The girl and the robot became friends. They walked along the shore, they read books in the
lighthouse, and in the evening they watched the stars. The robot knew the names of all the
stars, and the girl knew the names of all the fish. When winter came the boats stayed in the
harbour and the town was quiet again, but the robot and the girl still walked by the sea."""


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte-to-character table, which HF's ByteLevel pre-tokenizer and decoder use."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


# GPT-2's split, restricted to what Python's re has; equal to it on ASCII text without
# contractions or runs of spaces (the prompts and TEXT).
SPLIT = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def train_bpe(text: str, merges_wanted: int):
    table = bytes_to_unicode()
    words: Dict[tuple, int] = {}
    for w in SPLIT.findall(text):
        key = tuple(table[b] for b in w.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(merges_wanted):
        pairs: Dict[tuple, int] = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        merged = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        words = merged
    return merges


def bpe_encode(text: str, vocab: Dict[str, int], merges: List[tuple]) -> List[int]:
    """What HF tokenizers' BPE does on one ByteLevel-split text: lowest-rank merge first."""
    table = bytes_to_unicode()
    rank = {m: i for i, m in enumerate(merges)}
    ids = []
    for w in SPLIT.findall(text):
        parts = [table[b] for b in w.encode("utf-8")]
        while len(parts) > 1:
            pairs = [(rank.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids.extend(vocab[p] for p in parts)
    return ids


def tokenizer_json(vocab_size: int):
    """A byte-level BPE tokenizer.json: ids 0-255 the bytes, then merges, the last id EOS."""
    table = bytes_to_unicode()
    merges = train_bpe(TEXT, vocab_size - 257)
    vocab = {table[b]: b for b in range(256)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    eos = "<|endoftext|>"
    vocab[eos] = len(vocab)
    assert len(vocab) == vocab_size, (len(vocab), vocab_size)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[eos], "content": eos, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in merges]},
    }
    return doc, vocab, merges, vocab[eos]


class RMSNorm(nn.Module):
    def __init__(self, n: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["num_attention_heads"]
        self.kv_heads = c["num_key_value_heads"]
        self.head_dim = c["hidden_size"] // self.heads
        h = c["hidden_size"]
        bias = bool(c.get("qkv_bias", False))  # Qwen2's
        self.q_proj = nn.Linear(h, self.heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.heads * self.head_dim, h, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                positions: torch.Tensor, slots: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor) -> torch.Tensor:
        # k_cache, v_cache: this layer's [S, M, Hkv, D]. Without a cache (S == 0) the step
        # attends to its own tokens only: the reference forward.
        b, t, _ = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(b, t, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if k_cache.size(0) > 0:
            s, m = k_cache.size(0), k_cache.size(1)
            rows = (slots.unsqueeze(1) * m + positions).reshape(-1)
            k_cache.view(s * m, self.kv_heads, d).index_copy_(
                0, rows, k.transpose(1, 2).reshape(b * t, self.kv_heads, d))
            v_cache.view(s * m, self.kv_heads, d).index_copy_(
                0, rows, v.transpose(1, 2).reshape(b * t, self.kv_heads, d))
            k = k_cache.index_select(0, slots).transpose(1, 2)
            v = v_cache.index_select(0, slots).transpose(1, 2)
            keys = torch.arange(m, device=x.device)
        else:
            keys = positions[0]
        # A query sees the keys at positions <= its own: in a slot, what this sequence wrote;
        # what an earlier sequence left beyond them is masked.
        visible = keys.view(1, 1, 1, -1) <= positions.view(b, 1, t, 1)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        w = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(d))
        w = w.masked_fill(~visible, float("-inf"))
        w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(w, v).transpose(1, 2).reshape(b, t, self.heads * d)
        return self.o_proj(out)


class SdpaAttention(Attention):
    """The same attention through scaled_dot_product_attention (torch >= 2.0, as transformers'
    default "sdpa" Llama attention): one fused kernel instead of matmul, mask, softmax, matmul."""

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                positions: torch.Tensor, slots: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(b, t, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if k_cache.size(0) > 0:
            s, m = k_cache.size(0), k_cache.size(1)
            rows = (slots.unsqueeze(1) * m + positions).reshape(-1)
            k_cache.view(s * m, self.kv_heads, d).index_copy_(
                0, rows, k.transpose(1, 2).reshape(b * t, self.kv_heads, d))
            v_cache.view(s * m, self.kv_heads, d).index_copy_(
                0, rows, v.transpose(1, 2).reshape(b * t, self.kv_heads, d))
            k = k_cache.index_select(0, slots).transpose(1, 2)
            v = v_cache.index_select(0, slots).transpose(1, 2)
            keys = torch.arange(m, device=x.device)
        else:
            keys = positions[0]
        visible = keys.view(1, 1, 1, -1) <= positions.view(b, 1, t, 1)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.heads * d))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c, sdpa: bool = False):
        super().__init__()
        self.self_attn = SdpaAttention(c) if sdpa else Attention(c)
        self.mlp = Mlp(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                positions: torch.Tensor, slots: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, positions, slots, k_cache, v_cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, c, sdpa: bool = False):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c, sdpa) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class NosLlama(nn.Module):
    """LlamaForCausalLM's parameters under its names; the step NOS runs as forward."""

    def __init__(self, c, eos: int, sdpa: bool = False):
        super().__init__()
        self.model = Body(c, sdpa)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        if c["tie_word_embeddings"]:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.head_dim = c["hidden_size"] // c["num_attention_heads"]
        self.rope_theta = float(c["rope_theta"])
        self.info = {"layers": c["num_hidden_layers"], "kv_heads": c["num_key_value_heads"],
                     "head_dim": self.head_dim, "vocab_size": c["vocab_size"],
                     "max_positions": c["max_position_embeddings"], "eos_token_id": eos,
                     "format_version": 1}

    @torch.jit.export
    def nos_generation(self) -> Dict[str, int]:
        return self.info

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
        x = self.model.embed_tokens(input_ids)
        # HF's LlamaRotaryEmbedding, in float32 whatever the model's dtype.
        d = self.head_dim
        inv_freq = 1.0 / (self.rope_theta ** (
            torch.arange(0, d, 2, dtype=torch.int64, device=x.device).float() / d))
        freqs = positions.unsqueeze(-1).float() * inv_freq.view(1, 1, -1)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos().to(x.dtype).unsqueeze(1)
        sin = emb.sin().to(x.dtype).unsqueeze(1)
        i = 0
        for layer in self.model.layers:
            x = layer(x, cos, sin, positions, slots, k_cache[i], v_cache[i])
            i += 1
        x = self.model.norm(x[:, -1, :])
        return self.lm_head(x)


def rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm as transformers' Llama computes it (float32, then the input's dtype, then the
    weight), with torch's one rms_norm kernel instead of six elementwise ones."""
    n = x.size(-1)
    return weight * torch.rms_norm(x.float(), [n], None, eps).to(x.dtype)


def step_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, lean: bool) -> torch.Tensor:
    """The fused step's RMSNorm: `rms` (transformers' roundings), or with `lean` (--lean-norm)
    the weight inside the one kernel, in x's dtype (one rounding fewer)."""
    if lean:
        return torch.rms_norm(x, [x.size(-1)], weight, eps)
    return rms(x, weight, eps)


class FusedLayer(nn.Module):
    """A Layer's maths in fewer kernels for the cached step NOS replays: q, k and v projected by
    one matmul, gate and up by one, the rotary embedding applied to q and k together (rotate_half
    as one roll, its signs folded into the step's sin), RMSNorm as one kernel; the cache rows and
    the attention mask (additive, as SDPA would make it from the boolean one in every layer) come
    in computed once per step. All of that is HF's arithmetic, rounding for rounding. lean_norm:
    RMSNorm with its weight inside the one kernel, in the input's dtype (torch.rms_norm(x, w)):
    2 x 3 kernels fewer a layer, but one rounding fewer than HF's (fp32 norm, cast, then times the
    weight), so not bit-equal to transformers: an export option (--lean-norm), measured.
    fused_residual: each residual add in its projection's GEMM (addmm's epilogue), 2 kernels
    fewer a layer; in fp16 the sum is rounded once instead of twice (--fused-residual)."""

    def __init__(self, layer: Layer, lean_norm: bool = False, fused_residual: bool = False):
        super().__init__()
        self.lean_norm = lean_norm
        self.fused_residual = fused_residual
        a, mlp = layer.self_attn, layer.mlp
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.head_dim
        self.eps = layer.input_layernorm.eps
        self.in_norm = nn.Parameter(layer.input_layernorm.weight.detach().clone())
        self.post_norm = nn.Parameter(layer.post_attention_layernorm.weight.detach().clone())
        w = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight], 0).detach()
        bias = a.q_proj.bias is not None  # Qwen2's q, k and v biases: added by the one matmul
        self.qkv_proj = nn.Linear(w.shape[1], w.shape[0], bias=bias)
        self.qkv_proj.weight = nn.Parameter(w.clone())
        if bias:
            self.qkv_proj.bias = nn.Parameter(
                torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias], 0).detach().clone())
        self.o_proj = a.o_proj
        w = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight], 0).detach()
        self.gate_up_proj = nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.gate_up_proj.weight = nn.Parameter(w.clone())
        self.down_proj = mlp.down_proj

    def norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return step_norm(x, weight, self.eps, self.lean_norm)

    def add_projected(self, x: torch.Tensor, h: torch.Tensor,
                      weight: torch.Tensor) -> torch.Tensor:
        """x + h @ weight.T (a bias-free projection and its residual add)."""
        if self.fused_residual:
            shape = x.size()
            return torch.addmm(x.reshape(-1, shape[-1]), h.reshape(-1, h.size(-1)),
                               weight.t()).view(shape)
        return x + nn.functional.linear(h, weight)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rows: torch.Tensor,
                visible: torch.Tensor, slots: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor, first: bool = False, cudnn: bool = False) -> torch.Tensor:
        # first: the rows are cache slots 0..B-1 (FusedNosLlama.decode_first), read as views.
        # cudnn: the attention through cuDNN's kernel (FusedNosLlama.run says when).
        # sin: the rotary sin with rotate_half's signs folded in (its first half negated), so
        # rotate_half(qk) * sin is qk.roll(d/2) * sin: the same products, one kernel, no cat.
        # visible: the additive mask (0 or -inf in x's dtype).
        b, t, _ = x.shape
        d = self.head_dim
        qkv = self.qkv_proj(self.norm(x, self.in_norm))
        nqk = (self.heads + self.kv_heads) * d
        qk = qkv[:, :, :nqk].reshape(b, t, self.heads + self.kv_heads, d).transpose(1, 2)
        qk = qk * cos + qk.roll(d // 2, -1) * sin
        q = qk[:, :self.heads]
        k = qk[:, self.heads:].transpose(1, 2).reshape(b * t, self.kv_heads, d)
        v = qkv[:, :, nqk:].reshape(b * t, self.kv_heads, d)
        s, m = k_cache.size(0), k_cache.size(1)
        k_cache.view(s * m, self.kv_heads, d).index_copy_(0, rows, k)
        v_cache.view(s * m, self.kv_heads, d).index_copy_(0, rows, v)
        keys = slot_rows(k_cache, slots, b, first)
        values = slot_rows(v_cache, slots, b, first)
        if self.kv_heads != self.heads:
            keys = keys.repeat_interleave(self.heads // self.kv_heads, dim=1)
            values = values.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if cudnn:
            # cuDNN's fused attention, chosen here rather than by libtorch's SDPA priority (see
            # FusedNosLlama.run); visible is then the finite bias cuDNN takes.
            out = cudnn_attention(q, keys, values, visible)
        else:
            out = torch.nn.functional.scaled_dot_product_attention(q, keys, values,
                                                                   attn_mask=visible)
        x = self.add_projected(x, out.transpose(1, 2).reshape(b, t, self.heads * d),
                               self.o_proj.weight)
        gu = self.gate_up_proj(self.norm(x, self.post_norm))
        half = gu.size(-1) // 2
        return self.add_projected(x, nn.functional.silu(gu[:, :, :half]) * gu[:, :, half:],
                                  self.down_proj.weight)


class FusedNosLlama(SlotStep):
    """NosLlama's step (same inputs, outputs and nos_generation()) from FusedLayers; what is the
    same for every layer of a step (rotary cos/sin, the cache rows, the mask) computed once. The
    entry points (forward, decode_first, nos_generation) are SlotStep's."""

    def __init__(self, base: NosLlama, lean_norm: bool = False, fused_residual: bool = False,
                 cudnn_attention: bool = False):
        super().__init__()
        self.lean_norm = lean_norm
        self.cudnn_attention = cudnn_attention
        self.embed_tokens = base.model.embed_tokens
        self.layers = nn.ModuleList([FusedLayer(layer, lean_norm, fused_residual)
                                     for layer in base.model.layers])
        self.norm = base.model.norm
        self.lm_head = base.lm_head
        self.head_dim = base.head_dim
        self.rope_theta = base.rope_theta
        self.info = base.info

    def run(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
            k_cache: torch.Tensor, v_cache: torch.Tensor, first: bool) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        d = self.head_dim
        inv_freq = 1.0 / (self.rope_theta ** (
            torch.arange(0, d, 2, dtype=torch.int64, device=x.device).float() / d))
        freqs = positions.unsqueeze(-1).float() * inv_freq.view(1, 1, -1)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos().to(x.dtype).unsqueeze(1)
        sin = emb.sin().to(x.dtype).unsqueeze(1)
        half = d // 2
        signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
        t = input_ids.size(1)
        m = k_cache.size(2)
        rows, visible = rows_and_visible(positions, slots, m, first)
        # The decode step's attention through cuDNN's kernel where it is known to be faster and
        # safe (twenty-second session, H200: libtorch 2.10's SDPA priority picks the
        # memory-efficient kernel for this attention, Python's torch 2.11 cuDNN's; with cuDNN the
        # 271m step went from 1.15 to 0.89 ms). Only one-token steps (a prefill's shapes vary with
        # the prompt, and cuDNN builds a plan per new shape: ~60-90 ms), half precision on CUDA
        # (cuDNN's attention has no fp32), head dims of 64 or 128, and at most 1,024 cached
        # positions (NVIDIA TransformerEngine disables cuDNN 9.13-9.15's attention beyond that
        # under CUDA graphs for illegal memory accesses; NOS replays this step as a graph).
        cudnn = (self.cudnn_attention and t == 1 and cudnn_half(x) and (d == 64 or d == 128)
                 and m <= 1024)
        # What SDPA makes of a boolean mask in every layer (0 where visible, -inf elsewhere, in
        # the query's dtype), made once; for cuDNN a finite floor instead of -inf, as libtorch's
        # own boolean-mask conversion for cuDNN does (-65504, fp16's lowest).
        bias = torch.zeros(visible.shape, dtype=x.dtype, device=x.device).masked_fill(
            visible.logical_not(), -65504.0 if cudnn else float("-inf"))
        i = 0
        for layer in self.layers:
            x = layer(x, cos, signed_sin, rows, bias, slots, k_cache[i], v_cache[i], first, cudnn)
            i += 1
        last = x[:, -1, :]
        return self.lm_head(step_norm(last, self.norm.weight, self.norm.eps, self.lean_norm))


def cudnn_step_check(fused: "FusedNosLlama", device) -> None:
    """On CUDA: the fp16 decode step through cuDNN's attention (what NOS replays) against the
    same step through libtorch's SDPA choice, on random caches at several positions: the logits
    must agree within fp16 rounding (a wrong mask or layout is far off). Fails the export.
    Copies of the fused step, so the exported module's fp32 weights are not touched."""
    steps = []
    for cudnn in (False, True):
        copy_ = copy.deepcopy(fused)
        copy_.cudnn_attention = cudnn
        steps.append(torch.jit.script(copy_.eval()).to(device).half())
    info = fused.info
    rows, m = 4, 257
    gen = torch.Generator(device="cpu").manual_seed(3)
    shape = (info["layers"], rows + 1, m, info["kv_heads"], info["head_dim"])
    k = torch.randn(shape, generator=gen).half().to(device)
    v = torch.randn(shape, generator=gen).half().to(device)
    worst = 0.0
    for position in (0, 1, 63, 128, 255):
        ids = torch.randint(0, info["vocab_size"], (rows, 1), generator=gen).to(device)
        pos = torch.full((rows, 1), position, dtype=torch.long, device=device)
        slots = torch.arange(rows, device=device)
        with torch.no_grad():
            a, b = [step.decode_first(ids, pos, slots, k.clone(), v.clone()).float()
                    for step in steps]
        worst = max(worst, (a - b).abs().max().item() / max(a.abs().max().item(), 1e-6))
    print(f"cuDNN decode attention (fp16) against libtorch's SDPA choice: largest logit"
          f" difference {worst:.2e} of the largest logit")
    assert worst < 2e-2, f"cuDNN's decode attention disagrees: {worst:.2e} relative"


def reference_greedy(model: NosLlama, prompt: List[int], n: int, eos: int) -> List[int]:
    """Greedy continuation without a cache: the whole sequence through the model per token."""
    ids = list(prompt)
    empty = torch.zeros(model.info["layers"], 0)
    for _ in range(n):
        x = torch.tensor([ids])
        pos = torch.arange(len(ids)).unsqueeze(0)
        nxt = int(model(x, pos, torch.zeros(1, dtype=torch.long), empty, empty).argmax(-1))
        ids.append(nxt)
        if nxt == eos:
            break
    return ids[len(prompt):]


def first_greedy(module, info, prompt: List[int], n: int, eos: int,
                 device="cpu") -> List[int]:
    """cached_greedy with NOS's compact slots: the sequence in slot 0, its prompt by forward, its
    decode steps by decode_first in a batch of 2 whose second row pads (token 0 at position 0 in
    the free slot 1, as the engine pads a bucket)."""
    length = min(info["max_positions"], len(prompt) + n + 1)
    shape = [info["layers"], 3, length, info["kv_heads"], info["head_dim"]]
    k = torch.randn(shape, device=device)  # stale rows must be masked
    v = torch.randn(shape, device=device)
    logits = module(torch.tensor([prompt], device=device),
                    torch.arange(len(prompt), device=device).unsqueeze(0),
                    torch.tensor([0], device=device), k, v)
    return greedy(logits, n, eos, lambda nxt, i: module.decode_first(
        torch.tensor([[nxt], [0]], device=device),
        torch.tensor([[len(prompt) + i], [0]], device=device),
        torch.tensor([0, 2], device=device), k, v))


def cached_greedy(module, info, prompt: List[int], n: int, eos: int, slot: int = 1,
                  device="cpu") -> List[int]:
    """What NOS does: one prefill, then one decode step per token, in slot `slot` of 3."""
    length = min(info["max_positions"], len(prompt) + n + 1)
    shape = [info["layers"], 3, length, info["kv_heads"], info["head_dim"]]
    k = torch.randn(shape, device=device)  # stale rows must be masked
    v = torch.randn(shape, device=device)
    slots = torch.tensor([slot], device=device)
    logits = module(torch.tensor([prompt], device=device),
                    torch.arange(len(prompt), device=device).unsqueeze(0), slots, k, v)
    return greedy(logits, n, eos, lambda nxt, i: module(
        torch.tensor([[nxt]], device=device),
        torch.tensor([[len(prompt) + i]], device=device), slots, k, v))


def random_prompts(n: int, vocab: int, eos: int, seed: int) -> List[List[int]]:
    """n prompts of random ids (never EOS), of lengths spread over 5..128."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 5 + (i * 123) // max(1, n - 1)
        ids = torch.randint(0, vocab - 1, (length,), generator=g)
        ids[ids >= eos] += 1
        out.append(ids.tolist())
    return out


def hf_generate(hf, prompts: List[List[int]], n: int, eos: int, device, margins=None):
    """transformers generate(do_sample=False) for the prompts as one batch, left-padded. With a
    list `margins`, appends per row the gap between the best and second-best logit of every step
    (what decides whether another kernel's rounding can flip the choice: a near tie)."""
    longest = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), longest), eos, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, longest - len(p):] = torch.tensor(p)
        mask[r, longest - len(p):] = 1
    out = hf.generate(ids.to(device), attention_mask=mask.to(device), do_sample=False,
                      max_new_tokens=n, eos_token_id=eos, pad_token_id=eos,
                      return_dict_in_generate=True, output_scores=True)
    result = []
    for r in range(len(prompts)):
        row = out.sequences[r, longest:].tolist()
        if eos in row:
            row = row[:row.index(eos) + 1]
        result.append(row)
        if margins is not None:
            gaps = []
            for step in range(len(row)):
                top = out.scores[step][r].float().topk(2).values
                gaps.append({"gap": float(top[0] - top[1]), "top": float(top[0])})
            margins.append(gaps)
    return result


def pretrained_config(p, name: str, hc) -> dict:
    """The sizes of a pretrained model's config (TINY's keys). The step computes the plain rotary
    embedding only: a model whose config scales it (Llama 3's "llama3", YaRN, ...) is refused
    rather than exported wrong. transformers 5 keeps the rotary base in rope_parameters."""
    rope = dict(getattr(hc, "rope_parameters", None) or {})
    scaling = getattr(hc, "rope_scaling", None) or {}
    kind = rope.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if kind != "default":
        p.error(f"{name}: rotary embedding of type {kind!r}; this export computes the default one")
    theta = getattr(hc, "rope_theta", None) or rope.get("rope_theta")
    if theta is None:
        p.error(f"{name}: its config gives no rotary base (rope_theta)")
    config = {k: getattr(hc, k) for k in TINY if k != "rope_theta"}
    config["rope_theta"] = float(theta)
    config["num_key_value_heads"] = hc.num_key_value_heads or hc.num_attention_heads
    return config


def widen(model: nn.Module, out_gain: float = 1.0) -> None:
    """Random weights wider than HF's init (std 0.02): logits far apart, so greedy choices keep a
    margin that kernels of another libtorch version cannot flip. Norm weights stay ones.
    out_gain scales the layers' output projections (o_proj, down_proj): with a head tied to the
    embedding, a token's own embedding dominates its logits and greedy decoding repeats the last
    token for ever unless the layers' contributions outweigh it."""
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                continue
            if prm.dim() == 1:
                prm.normal_(0.0, 0.1)  # a bias (Qwen2's q, k, v)
            elif "embed_tokens" in name:
                prm.normal_(0.0, 1.0)
            else:
                gain = out_gain if ("o_proj" in name or "down_proj" in name) else 1.0
                prm.normal_(0.0, gain / math.sqrt(prm.shape[1]))


def scripted_with(config, eos: int):
    """NosLlama scripted, with scaled_dot_product_attention where this torch scripts it."""
    if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        try:
            model = NosLlama(config, eos, sdpa=True)
            torch.jit.script(model)
            return model, True
        except Exception as e:  # noqa: BLE001 - any scripting failure: the plain attention
            print(f"scaled_dot_product_attention does not script here ({e}); plain attention")
    return NosLlama(config, eos), False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../models/llm-tiny"))
    p.add_argument("--size", choices=sorted(SIZES), default="tiny",
                   help="tiny: the committed CI model; 271m: #17's benchmark model (needs"
                        " transformers; 20 random prompts x 64 tokens, fp32 and fp16 references);"
                        " h64: a small model with heads of 64 for the GPU suite")
    p.add_argument("--arch", choices=ARCHS, default="llama",
                   help="llama (LlamaForCausalLM) or qwen2 (Qwen2ForCausalLM: q, k and v"
                        " biases, tied embedding, rotary base 1e6); --pretrained reads it from"
                        " the model's config")
    p.add_argument("--plain", action="store_true", help="no transformers: NosLlama's own weights")
    p.add_argument("--pretrained", help="HF model name to export with its weights (network)")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--unfused", action="store_true",
                   help="export NosLlama's step as is, not FusedNosLlama (fewer kernels)")
    # On by default since the eighteenth session: on the H200 the 271m step went from 1.61 to
    # 1.24-1.26 ms a token; fp32 equal to transformers on 20 of 20 prompts and 16 of 16 batched,
    # fp16's differences all at near ties (benchmarks/README.md, generation-eighteenth).
    p.add_argument("--lean-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="fused step: RMSNorm with its weight in one kernel in the model's dtype"
                        " (fewer kernels; one rounding fewer than transformers: not bit-equal);"
                        " on by default, --no-lean-norm for transformers' roundings")
    p.add_argument("--fused-residual", action=argparse.BooleanOptionalAction, default=True,
                   help="fused step: each residual add in its projection's GEMM (addmm; fewer"
                        " kernels; in fp16 one rounding fewer than transformers); on by default,"
                        " --no-fused-residual for transformers' roundings")
    p.add_argument("--cudnn-attention", action=argparse.BooleanOptionalAction, default=True,
                   help="fused step: one-token decode steps on CUDA in fp16/bf16 call cuDNN's"
                        " attention kernel (FusedNosLlama.run says when); on by default,"
                        " --no-cudnn-attention for libtorch's SDPA choice")
    p.add_argument("--quick", action="store_true",
                   help="271m: fp32 single-prompt references only (no fp16, no batched, no check"
                        " of the export against them): for speed runs")
    args = p.parse_args()
    try:
        import transformers  # noqa: F401
        have_hf = True
    except ImportError:
        have_hf = False
    if args.pretrained and not have_hf:
        p.error("--pretrained needs transformers")
    if args.size != "tiny" and (args.plain or not have_hf):
        p.error("--size " + args.size + " needs transformers (its references come from generate)")
    from_hf = have_hf and not args.plain
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and args.size != "tiny" else "cpu")

    size = dict(SIZES[args.size])
    if args.arch == "qwen2":
        size.update(QWEN2)
    tok_doc, vocab, merges, eos = tokenizer_json(TINY["vocab_size"])
    if args.size != "tiny":
        eos = 2  # Llama's </s>
    config = dict(size)
    hf = None
    if from_hf:
        from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig,
                                  LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM)
        if args.pretrained:
            hf = AutoModelForCausalLM.from_pretrained(args.pretrained, torch_dtype=torch.float32)
            kind = hf.config.model_type
            if kind not in ARCHS:
                p.error(f"{args.pretrained} is a {kind} model; this script exports {ARCHS}")
            if kind == "llama" and (getattr(hf.config, "attention_bias", False)
                                    or getattr(hf.config, "mlp_bias", False)):
                p.error(f"{args.pretrained}: Llama with attention or MLP biases is not exported")
            if kind == "qwen2" and getattr(hf.config, "use_sliding_window", False):
                p.error(f"{args.pretrained}: Qwen2 with sliding-window attention is not exported")
            tok = AutoTokenizer.from_pretrained(args.pretrained)
            tok.save_pretrained(args.out)
            eos = int(hf.config.eos_token_id if isinstance(hf.config.eos_token_id, int)
                      else hf.config.eos_token_id[0])
            hc = hf.config
            config = pretrained_config(p, args.pretrained, hc)
            config["qkv_bias"] = kind == "qwen2"
        elif args.arch == "qwen2":
            settings = {k: v for k, v in size.items() if k != "qkv_bias"}
            hf = Qwen2ForCausalLM(Qwen2Config(**settings, use_sliding_window=False,
                                              eos_token_id=eos, bos_token_id=None,
                                              pad_token_id=None))
            if args.size == "tiny":
                # The committed CI model: HF's init (std 0.02) leaves greedy choices at near
                # ties that another libtorch's kernels may flip; the wider one keeps a margin.
                widen(hf, out_gain=6.0)
        else:
            hf = LlamaForCausalLM(LlamaConfig(**size, eos_token_id=eos, bos_token_id=None,
                                              pad_token_id=None))
        hf.eval()
    model, sdpa = scripted_with(config, eos)
    if hf is not None:
        state = {k: v for k, v in hf.state_dict().items() if "rotary_emb" not in k}
        model.load_state_dict(state, strict=True)
    else:
        widen(model)
    model.eval()
    variant = "sdpa" if sdpa else "plain"
    if hf is not None and sdpa and hasattr(torch, "rms_norm") and not args.unfused:
        # The cached step in fewer kernels (FusedNosLlama); the check below compares it with the
        # references like the plain export. Where this torch cannot script it: the plain one.
        try:
            fused = FusedNosLlama(model, args.lean_norm, args.fused_residual,
                                  args.cudnn_attention).eval()
            torch.jit.script(fused)
            model, variant = fused, "fused"
        except Exception as e:  # noqa: BLE001 - any scripting failure: the unfused export
            print(f"the fused step does not script here ({e}); unfused export")

    new_tokens = NEW_TOKENS if args.size == "tiny" else 64
    texts = PROMPTS
    if args.pretrained:
        prompts = [tok(text)["input_ids"] for text in PROMPTS]
    elif args.size != "tiny":
        prompts = random_prompts(20, config["vocab_size"], eos, args.seed)
        texts = [f"random prompt {i} ({len(q)} ids)" for i, q in enumerate(prompts)]
    else:
        prompts = [bpe_encode(text, vocab, merges) for text in PROMPTS]
        with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok_doc, f, ensure_ascii=False, indent=None)

    extra = {}
    with torch.no_grad():
        scripted = torch.jit.script(model)
        if hf is not None:
            hf.to(device)
            source = f"transformers {transformers.__version__} generate(do_sample=False) on {device}"
            m32, m16 = [], []
            expected_all = [hf_generate(hf, [ids], new_tokens, eos, device, m32)[0]
                            for ids in prompts]
            if args.size != "tiny":
                extra["margins_fp32"] = m32
            else:
                # How far greedy's choices are from a tie: another libtorch's kernels (NOS's)
                # must not flip them.
                extra["smallest_margin_fp32"] = min(g["gap"] for row in m32 for g in row)
                print(f"smallest gap between the two best logits: "
                      f"{extra['smallest_margin_fp32']:.3g}")
            if args.size != "tiny" and not args.quick:
                batch = prompts[:16]
                extra["batched16_fp32"] = hf_generate(hf, batch, new_tokens, eos, device)
                half = hf.half()
                extra["single_fp16"] = [hf_generate(half, [ids], new_tokens, eos, device, m16)[0]
                                        for ids in prompts]
                extra["margins_fp16"] = m16
                extra["batched16_fp16"] = hf_generate(half, batch, new_tokens, eos, device)
                hf.to("cpu")
        else:
            expected_all = [reference_greedy(model, ids, new_tokens, eos) for ids in prompts]
            source = "NosLlama full-sequence forward, no cache"
        # The exported step, as NOS runs it (a prefill, then one decode step per token), must
        # give the reference's tokens: on the tiny model exactly; on a large one with HF's small
        # random init, near-ties may flip on another kernel, so that is counted, not asserted.
        check = scripted.to(device)
        cases, agree, first_agree = [], 0, 0
        for text, ids, expected in zip(texts, prompts, expected_all):
            if args.quick:
                cases.append({"prompt": text, "prompt_ids": ids, "greedy_ids": expected})
                continue
            got = cached_greedy(check, model.info, ids, new_tokens, eos, device=device)
            if args.size == "tiny":
                assert got == expected, f"cached export disagrees on {text!r}: {got} vs {expected}"
            if check._c._has_method("decode_first"):
                # Views instead of gathered copies: the same numbers on the CPU; on a GPU a
                # kernel may differ for a large model, so there it is counted, as above.
                first = first_greedy(check, model.info, ids, new_tokens, eos, device=device)
                if args.size == "tiny":
                    assert first == got, \
                        f"decode_first disagrees with forward on {text!r}: {first} vs {got}"
                first_agree += first == got
            agree += got == expected
            cases.append({"prompt": text, "prompt_ids": ids, "greedy_ids": expected})
        if not args.quick:
            print(f"the exported step on {device} (fp32) equals the reference on {agree} of"
                  f" {len(cases)} prompts; decode_first equals forward on {first_agree}")
        if variant == "fused" and device.type == "cuda" and args.cudnn_attention:
            cudnn_step_check(model, device)
        scripted = check.to("cpu")
    scripted.save(os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump({"source": source, "torch": torch.__version__, "max_new_tokens": new_tokens,
                   "eos_token_id": eos, "sdpa": sdpa, "variant": variant, "cases": cases,
                   **extra}, f, indent=1)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({**config, "eos_token_id": eos, "seed": args.seed}, f, indent=1)
    if args.pretrained:
        # Its generation_config.json: nos-hub's TextGenerator.load(folder) stops where it says
        # (eos_token_id, often a list for instruction-tuned models: end of turn, end of text).
        hf.generation_config.save_pretrained(args.out)
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"{len(cases)} reference cases ({source}), step {variant}")


if __name__ == "__main__":
    main()
