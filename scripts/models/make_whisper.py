#!/usr/bin/env python3
"""Exports Whisper (transformers' WhisperForConditionalGeneration) to what NOS will load, with references.

Issue #18. Two TorchScript files, in the shape nos-core's generation engine runs a decoder (see
scripts/models/make_tiny_llama.py: NOS owns the key/value caches on the device, a step writes
into them in place, nothing but the sampled ids crosses to the host):

  encoder.pt   forward(input_features[B, n_mels, 3000] float) -> hidden[B, 1500, d_model]
               (HF's WhisperEncoder, traced; batch-size generic, the frame count is fixed at 3000
               as in Whisper itself.)
  decoder.pt   cross_kv(hidden[B, 1500, d], slots[B] int64, xk_cache[L, S, 1500, H, D],
                        xv_cache[L, S, 1500, H, D]) -> slots
                   once per window: each layer's cross-attention keys and values of the encoder
                   output written into rows `slots` of the cross caches (so the decode steps
                   never recompute them);
               forward(input_ids[B, T] int64, positions[B, T] int64, slots[B] int64,
                       k_cache[L, S, M, H, D], v_cache[L, S, M, H, D],
                       xk_cache, xv_cache) -> logits[B, V] of each row's last token
                   one prefill or decode step: self-attention through the slot's cache
                   (index_copy_ at slot*M + position, keys at positions <= its own visible),
                   cross-attention over the slot's 1500 audio positions;
               nos_generation() -> Dict[str, int]: layers, heads, head_dim, d_model, vocab_size,
                   max_positions (448), audio_positions (1500), n_mels, eos_token_id, and the
                   special tokens (decoder_start, transcribe, translate, no_timestamps,
                   timestamp_begin, en): what the decode loop needs to build the prompt
                   <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>].

The decoder is NosWhisperDecoder below: HF's WhisperDecoder's parameters under their own names
(model.decoder.*), so load_state_dict(strict=True) copies them 1:1, and the step written for a
cache NOS owns. Its greedy output with the cache is checked, before anything is written, against
HF's own full forward (WhisperForConditionalGeneration(input_features, decoder_input_ids), no
cache, argmax per token), on features from transformers' WhisperFeatureExtractor of the committed
clips in nos-hub/src/test/resources/ai/nos/hub/audio/mel/. With --pretrained the reference is
also HF's generate(language="en", task="transcribe", do_sample=False), which applies the
checkpoint's suppress_tokens and begin_suppress_tokens; so the checkpoint's generation config is
written to DIR/generation_config.json (HF's format, GenerationConfig.save_pretrained), from which
nos-hub's SpeechRecognizer reads the same two lists and applies them on the device. Random
weights get whisper-tiny's generation config (WHISPER_TINY_GENERATION below: the suppressed
lists, lang_to_id, task_to_id, no_timestamps_token_id, max_initial_timestamp_index), so every
export carries one and the references below exist for CI's micro export too. Each case also
holds transformers' generate(language="en", task="transcribe") ids ("generate_ids"), its ids with
return_timestamps=True ("timestamp_generate_ids": the timestamp rules of
WhisperTimeStampLogitsProcessor), both without the prompt, and detect_language's token id on
the clip ("detected_language_id"); nos-hub's SpeechRecognizerReferenceTest compares them and
skips while the committed export predates them.

Configs (written inline; the values of openai/whisper-tiny and openai/whisper-base's config.json):
random weights by default, --pretrained NAME loads a checkpoint (needs the network).

Run (needs torch and transformers; the GPU machine has them):
  python3 scripts/models/make_whisper.py --config tiny --out models/whisper-tiny-random
  python3 scripts/models/make_whisper.py --config base --out models/whisper-base-random
  python3 scripts/models/make_whisper.py --config micro --out models/whisper-micro   (CI's export)
  python3 scripts/models/make_whisper.py --pretrained openai/whisper-tiny --out DIR   (network)
Writes DIR/encoder.pt, DIR/decoder.pt, DIR/reference.json, DIR/config.json,
DIR/generation_config.json; with --save-hf also
DIR/hf, the same WhisperForConditionalGeneration (fp32, save_pretrained, with its feature
extractor's config), so that scripts/bench/hf_whisper.py measures transformers on the very weights
NOS runs (reloaded and compared with the exported ones before anything is written).
"""
import argparse
import json
import math
import os
from typing import Dict

import numpy as np
import torch
import torch.nn as nn

# this folder's module: the scripts run from here
from slot_cache import cudnn_attention, cudnn_half, greedy, slot_rows

COMMON = dict(vocab_size=51865, num_mel_bins=80, max_source_positions=1500,
              max_target_positions=448, activation_function="gelu", scale_embedding=False,
              pad_token_id=50257, bos_token_id=50257, eos_token_id=50257,
              decoder_start_token_id=50258)
CONFIGS = {
    "tiny": dict(COMMON, d_model=384, encoder_layers=4, decoder_layers=4,
                 encoder_attention_heads=6, decoder_attention_heads=6,
                 encoder_ffn_dim=1536, decoder_ffn_dim=1536),
    "base": dict(COMMON, d_model=512, encoder_layers=6, decoder_layers=6,
                 encoder_attention_heads=8, decoder_attention_heads=8,
                 encoder_ffn_dim=2048, decoder_ffn_dim=2048),
    # Not a published size: the whole path (features, encoder, cross caches, decoder, the real
    # vocabulary and special ids) small enough to commit (~4 MB) so CI transcribes on the CPU.
    "micro": dict(COMMON, d_model=16, encoder_layers=2, decoder_layers=2,
                  encoder_attention_heads=2, decoder_attention_heads=2,
                  encoder_ffn_dim=32, decoder_ffn_dim=32),
}
# The multilingual vocabulary's special tokens (whisper-tiny .. large-v2; large-v3 shifts them
# by one, so a checkpoint's own are read from its generation config: special_tokens below).
SPECIAL = dict(decoder_start=50258, en=50259, translate=50358, transcribe=50359,
               no_timestamps=50363, timestamp_begin=50364)
# openai/whisper-tiny's generation_config.json (the multilingual vocabulary's), for exports of
# random weights; a checkpoint brings its own.
WHISPER_TINY_GENERATION = dict(
    decoder_start_token_id=50258, bos_token_id=50257, eos_token_id=50257, pad_token_id=50257,
    max_length=448, is_multilingual=True, no_timestamps_token_id=50363, prev_sot_token_id=50361,
    max_initial_timestamp_index=50, begin_suppress_tokens=[220, 50257],
    suppress_tokens=[1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91,
                     92, 93, 359, 503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982,
                     2460, 2627, 3246, 3253, 3268, 3536, 3846, 3961, 4183, 4667, 6585, 6647, 7273,
                     9061, 9383, 10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635,
                     15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675, 22520, 26130, 26161,
                     26435, 28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870, 50254,
                     50258, 50358, 50359, 50360, 50361, 50362],
    task_to_id={"transcribe": 50359, "translate": 50358})
# openai-whisper's LANGUAGES in token order from <|en|> (nos-hub's TranscribeOptions.LANGUAGES).
LANGUAGES = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu "
             "ta no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn "
             "bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn "
             "mt sa lb my bo tl mg as tt haw ln ha ba jw su").split()
WHISPER_TINY_GENERATION["lang_to_id"] = {f"<|{c}|>": 50259 + i for i, c in enumerate(LANGUAGES)}


def special_tokens(gen, name):
    """The special ids the step and the decode loop use, from a generation config.

    NOS's decode loop writes <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>], so an
    English-only checkpoint (whisper-tiny.en ...: no language or task tokens, every special id
    one lower) is refused by name rather than exported with ids that are not its own; large-v3
    (one more language, every id after <|en|>'s block one higher) takes its own from here. The
    first timestamp token follows <|notimestamps|>, as transformers' timestamp rules take it.
    """
    lang = dict(getattr(gen, "lang_to_id", None) or {})
    task = dict(getattr(gen, "task_to_id", None) or {})
    if not getattr(gen, "is_multilingual", False) or "<|en|>" not in lang \
            or not {"transcribe", "translate"} <= set(task):
        raise SystemExit(
            f"{name}: an English-only Whisper checkpoint (is_multilingual="
            f"{getattr(gen, 'is_multilingual', None)}, {len(lang)} language tokens, task tokens"
            f" {sorted(task)}) is not supported: NOS's decode loop writes <|startoftranscript|>"
            " <|lang|> <|task|>, which such a vocabulary does not have. Export a multilingual"
            " checkpoint (openai/whisper-tiny rather than openai/whisper-tiny.en)")
    no_timestamps = int(gen.no_timestamps_token_id)
    return dict(decoder_start=int(gen.decoder_start_token_id), en=int(lang["<|en|>"]),
                translate=int(task["translate"]), transcribe=int(task["transcribe"]),
                no_timestamps=no_timestamps, timestamp_begin=no_timestamps + 1)


CLIPS = ["speechlike", "tone", "noise", "chirp", "silence"]
NEW_TOKENS = 24
CLIP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "../../nos-hub/src/test/resources/ai/nos/hub/audio/mel")


class Attention(nn.Module):
    """HF's WhisperAttention's parameters: q, v and out with bias, k without."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = d // heads
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(d, d, bias=True)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=True)
        self.out_proj = nn.Linear(d, d, bias=True)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               visible: torch.Tensor) -> torch.Tensor:
        # q [B, H, T, D]; k, v [B, H, K, D]; visible broadcastable to [B, H, T, K]
        w = torch.matmul(q * self.scaling, k.transpose(2, 3))
        w = w.masked_fill(~visible, float("-inf"))
        w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        b, t = q.size(0), q.size(2)
        return self.out_proj(torch.matmul(w, v).transpose(1, 2).reshape(b, t, self.heads *
                                                                          self.head_dim))

    def self_step(self, x: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                  k_cache: torch.Tensor, v_cache: torch.Tensor,
                  first: bool = False) -> torch.Tensor:
        # k_cache, v_cache: this layer's [S, M, H, D]; S == 0 means no cache (the reference).
        # first: row r is cache slot r (decode_first), so the first B slots are read as views.
        b, t, _ = x.shape
        h, d = self.heads, self.head_dim
        q = self.q_proj(x).view(b, t, h, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, h, d)
        v = self.v_proj(x).view(b, t, h, d)
        if k_cache.size(0) > 0:
            s, m = k_cache.size(0), k_cache.size(1)
            owner = torch.arange(b, device=x.device) if first else slots
            rows = (owner.unsqueeze(1) * m + positions).reshape(-1)
            k_cache.view(s * m, h, d).index_copy_(0, rows, k.reshape(b * t, h, d))
            v_cache.view(s * m, h, d).index_copy_(0, rows, v.reshape(b * t, h, d))
            keys = slot_rows(k_cache, slots, b, first)
            values = slot_rows(v_cache, slots, b, first)
            key_pos = torch.arange(m, device=x.device)
        else:
            keys = k.transpose(1, 2)
            values = v.transpose(1, 2)
            key_pos = positions[0]
        visible = key_pos.view(1, 1, 1, -1) <= positions.view(b, 1, t, 1)
        return self.attend(q, keys, values, visible)

    def cross_step(self, x: torch.Tensor, slots: torch.Tensor, xk_cache: torch.Tensor,
                   xv_cache: torch.Tensor, first: bool = False) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        keys = slot_rows(xk_cache, slots, b, first)
        values = slot_rows(xv_cache, slots, b, first)
        visible = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=x.device)
        return self.attend(q, keys, values, visible)

# The decoder step's attention (--attention, default sdpa): scaled_dot_product_attention on the
# gathered caches; --attention matmul is the first form, matmul + softmax (whose [B*H, ...]
# reshapes copy every gathered cache once more), kept for comparisons. On an H200 (fourteenth
# session, scripts/bench/profile_whisper_step.py) the captured whisper-tiny step at 64 rows in
# fp16 took 1.00 ms with SDPA against 3.20 ms with matmul; the fifteenth session's export with it
# held the references (20 of 20 parity clips token for token equal to transformers in fp32) and
# took 64 clips from 568.6 to 276.1 ms (benchmarks/README.md, "Whisper").
ATTENTION_SDPA = True
# --attention cudnn-cross: SDPA as above, but one-token steps' cross-attention on CUDA in half
# precision calls cuDNN's attention kernel itself. Opt-in, unmeasured in NOS: on the H200
# (twenty-second session, SdpaProbe at 64 rows, fp16) cuDNN's kernel took 0.033 ms for this
# attention over 1,500 audio positions against 0.092 for the flash kernel libtorch 2.10 picks,
# but beyond 1,024 positions under CUDA graphs cuDNN 9.13-9.15 has known illegal memory accesses
# (NVIDIA TransformerEngine disables it there), and the device's runtime cuDNN was 9.14.
CUDNN_CROSS = False


class SdpaAttention(Attention):
    """Attention with the same parameters, computed by scaled_dot_product_attention."""

    def __init__(self, d: int, heads: int):
        super().__init__(d, heads)
        self.cudnn_cross = CUDNN_CROSS

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               visible: torch.Tensor) -> torch.Tensor:
        # SDPA's default scale is this one, head_dim ** -0.5; a bool mask keeps the True keys.
        # Cross-attention's one-element mask (every audio position visible) is left out, so the
        # audio's attention runs unmasked, as profile_whisper_step.py measured it.
        b, t = q.size(0), q.size(2)
        if visible.numel() == 1:
            if self.cudnn_cross and t == 1 and cudnn_half(q):
                o = cudnn_attention(q, k, v, None)
            else:
                o = nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            o = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.out_proj(o.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        kind = SdpaAttention if ATTENTION_SDPA else Attention
        self.self_attn = kind(d, c["decoder_attention_heads"])
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = kind(d, c["decoder_attention_heads"])
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, c["decoder_ffn_dim"])
        self.fc2 = nn.Linear(c["decoder_ffn_dim"], d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor, xk_cache: torch.Tensor,
                xv_cache: torch.Tensor, first: bool = False) -> torch.Tensor:
        x = x + self.self_attn.self_step(self.self_attn_layer_norm(x), positions, slots, k_cache,
                                         v_cache, first)
        x = x + self.encoder_attn.cross_step(self.encoder_attn_layer_norm(x), slots, xk_cache,
                                             xv_cache, first)
        return x + self.fc2(nn.functional.gelu(self.fc1(self.final_layer_norm(x))))


class DecoderBody(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d, padding_idx=c["pad_token_id"])
        self.embed_positions = nn.Embedding(c["max_target_positions"], d)
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["decoder_layers"])])
        self.layer_norm = nn.LayerNorm(d)


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.decoder = DecoderBody(c)


class NosWhisperDecoder(nn.Module):
    """WhisperForConditionalGeneration's decoder parameters under their names; NOS's step."""

    def __init__(self, c, special=None):
        super().__init__()
        special = special or SPECIAL
        self.model = Model(c)
        heads = c["decoder_attention_heads"]
        self.heads = heads
        self.head_dim = c["d_model"] // heads
        self.embed_scale = math.sqrt(c["d_model"]) if c["scale_embedding"] else 1.0
        self.info = {"layers": c["decoder_layers"], "heads": heads, "kv_heads": heads,
                     "head_dim": self.head_dim, "d_model": c["d_model"],
                     "vocab_size": c["vocab_size"], "max_positions": c["max_target_positions"],
                     "audio_positions": c["max_source_positions"],
                     "n_mels": c["num_mel_bins"], "eos_token_id": c["eos_token_id"],
                     "decoder_start_token_id": special["decoder_start"],
                     "transcribe_token_id": special["transcribe"],
                     "translate_token_id": special["translate"],
                     "no_timestamps_token_id": special["no_timestamps"],
                     "timestamp_begin_token_id": special["timestamp_begin"],
                     "en_token_id": special["en"], "format_version": 1}

    @torch.jit.export
    def nos_generation(self) -> Dict[str, int]:
        return self.info

    @torch.jit.export
    def cross_kv(self, hidden: torch.Tensor, slots: torch.Tensor, xk_cache: torch.Tensor,
                 xv_cache: torch.Tensor) -> torch.Tensor:
        b, a, _ = hidden.shape
        i = 0
        for layer in self.model.decoder.layers:
            att = layer.encoder_attn
            k = att.k_proj(hidden).view(b, a, self.heads, self.head_dim)
            v = att.v_proj(hidden).view(b, a, self.heads, self.head_dim)
            xk_cache[i].index_copy_(0, slots, k)
            xv_cache[i].index_copy_(0, slots, v)
            i += 1
        return slots

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor, xk_cache: torch.Tensor,
                xv_cache: torch.Tensor) -> torch.Tensor:
        return self.run(input_ids, positions, slots, k_cache, v_cache, xk_cache, xv_cache, False)

    @torch.jit.export
    def decode_first(self, input_ids: torch.Tensor, positions: torch.Tensor,
                     slots: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                     xk_cache: torch.Tensor, xv_cache: torch.Tensor) -> torch.Tensor:
        """forward's decode step for rows that are cache slots 0..B-1 in order (the engine's
        compact slots, a bucket padded with the free slots after them): the caches' first B slots
        are read as views, no gather. `slots` is forward's argument, not read: row r is slot r."""
        return self.run(input_ids, positions, slots, k_cache, v_cache, xk_cache, xv_cache, True)

    def run(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
            k_cache: torch.Tensor, v_cache: torch.Tensor, xk_cache: torch.Tensor,
            xv_cache: torch.Tensor, first: bool) -> torch.Tensor:
        dec = self.model.decoder
        x = dec.embed_tokens(input_ids) * self.embed_scale + dec.embed_positions(positions)
        i = 0
        for layer in dec.layers:
            x = layer(x, positions, slots, k_cache[i], v_cache[i], xk_cache[i], xv_cache[i],
                      first)
            i += 1
        x = dec.layer_norm(x[:, -1, :])
        return torch.matmul(x, dec.embed_tokens.weight.t())  # proj_out is tied to the embedding


class Encoder(nn.Module):
    """HF's WhisperEncoder from its own modules: the two convolutions, the position table added
    whole (Whisper's 3000 frames always make its 1500 positions), the layers without a mask, the
    final norm. A trace of HF's forward bakes the tracing device into the graph (transformers 5
    indexes the table with torch.arange(1500, device=...)), so a CPU export failed on CUDA in
    NOS (WhisperTinyGpuTest, eleventh session: "index is on cpu, different from ... cuda:0")."""

    def __init__(self, hf_encoder):
        super().__init__()
        self.conv1 = hf_encoder.conv1
        self.conv2 = hf_encoder.conv2
        self.embed_positions = hf_encoder.embed_positions
        self.layers = hf_encoder.layers
        self.layer_norm = hf_encoder.layer_norm
        import inspect
        named = inspect.signature(self.layers[0].forward).parameters
        # transformers 4 takes attention_mask and layer_head_mask positionally, 5 a mask only.
        self.none_args = [k for k in ("attention_mask", "layer_head_mask") if k in named]

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.conv1(input_features))
        x = nn.functional.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.embed_positions.weight
        for layer in self.layers:
            out = layer(x, **{k: None for k in self.none_args})
            x = out[0] if isinstance(out, tuple) else out
        return self.layer_norm(x)


def hf_greedy(hf, features: torch.Tensor, prompt, n: int, eos: int):
    """HF's full forward per token, no cache, argmax: the reference for random weights."""
    ids = list(prompt)
    for _ in range(n):
        logits = hf(input_features=features, decoder_input_ids=torch.tensor([ids])).logits
        nxt = int(logits[0, -1].argmax())
        ids.append(nxt)
        if nxt == eos:
            break
    return ids[len(prompt):]


def first_greedy(encoder, decoder, info, features, prompt, n, eos, slots_total=3):
    """cached_greedy with NOS's compact slots: the request in slot 0, its prompt by forward,
    its decode steps by decode_first (rows are slots 0..B-1), in a batch of 2 whose second row
    is a padding row in the free slot 1 (token 0 at position 0, as the engine pads a bucket)."""
    L, H, D = info["layers"], info["heads"], info["head_dim"]
    M, A = info["max_positions"], info["audio_positions"]
    k, v = torch.randn(L, slots_total, M, H, D), torch.randn(L, slots_total, M, H, D)
    xk, xv = torch.randn(L, slots_total, A, H, D), torch.randn(L, slots_total, A, H, D)
    slots = torch.tensor([0])
    decoder.cross_kv(encoder(features), slots, xk, xv)
    logits = decoder(torch.tensor([prompt]), torch.arange(len(prompt)).unsqueeze(0), slots, k, v,
                     xk, xv)
    return greedy(logits, n, eos, lambda nxt, i: decoder.decode_first(
        torch.tensor([[nxt], [0]]), torch.tensor([[len(prompt) + i], [0]]),
        torch.tensor([0, 2]), k, v, xk, xv))


def cached_greedy(encoder, decoder, info, features, prompt, n, eos, slot=1, slots_total=3):
    """What NOS will do: encode, cross_kv into slot `slot`, one prefill, then one step per token."""
    L, H, D = info["layers"], info["heads"], info["head_dim"]
    M, A = info["max_positions"], info["audio_positions"]
    k, v = torch.randn(L, slots_total, M, H, D), torch.randn(L, slots_total, M, H, D)
    xk, xv = torch.randn(L, slots_total, A, H, D), torch.randn(L, slots_total, A, H, D)
    slots = torch.tensor([slot])
    decoder.cross_kv(encoder(features), slots, xk, xv)
    logits = decoder(torch.tensor([prompt]), torch.arange(len(prompt)).unsqueeze(0), slots, k, v,
                     xk, xv)
    return greedy(logits, n, eos, lambda nxt, i: decoder(
        torch.tensor([[nxt]]), torch.tensor([[len(prompt) + i]]), slots, k, v, xk, xv))


def new_ids(sequence, prompt):
    """generate's output without the prompt it starts with (transformers versions differ in
    whether short-form output carries it)."""
    return sequence[len(prompt):] if sequence[:len(prompt)] == list(prompt) else sequence


def save_hf(hf, fe, out: str):
    """hf (fp32) and fe to out, then reloaded: every tensor must equal the one exported, so a
    baseline read from out runs NOS's weights and not a re-initialised copy (a key save_pretrained
    dropped would come back random and silently)."""
    from transformers import WhisperForConditionalGeneration
    hf.float().save_pretrained(out)
    fe.save_pretrained(out)
    back = WhisperForConditionalGeneration.from_pretrained(out).float().eval()
    mine, theirs = hf.state_dict(), back.state_dict()
    assert mine.keys() == theirs.keys(), f"{out}: keys differ: {mine.keys() ^ theirs.keys()}"
    for k, v in mine.items():
        assert torch.equal(v, theirs[k]), f"{out}: {k} differs after save_pretrained and reload"
    print(f"saved the HF model to {out} ({len(mine)} tensors, reloaded equal)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    p.add_argument("--pretrained", help="HF checkpoint to export with its weights (network)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--save-hf", action="store_true",
                   help="also save the HF model (fp32) and feature extractor to OUT/hf")
    p.add_argument("--attention", choices=["matmul", "sdpa", "cudnn-cross"], default="sdpa",
                   help="the decoder step's attention (ATTENTION_SDPA and CUDNN_CROSS above);"
                        " default sdpa")
    args = p.parse_args()
    global ATTENTION_SDPA, CUDNN_CROSS
    ATTENTION_SDPA = args.attention != "matmul"
    CUDNN_CROSS = args.attention == "cudnn-cross"
    from scipy.io import wavfile
    from transformers import (WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    if args.pretrained:
        hf = WhisperForConditionalGeneration.from_pretrained(args.pretrained,
                                                             torch_dtype=torch.float32)
        config = {k: getattr(hf.config, k) for k in CONFIGS["tiny"]}
    else:
        config = dict(CONFIGS[args.config])
        hf = WhisperForConditionalGeneration(WhisperConfig(**config))
    hf.eval()
    if not args.pretrained:
        from transformers import GenerationConfig
        hf.generation_config = GenerationConfig(**WHISPER_TINY_GENERATION)
    special = special_tokens(hf.generation_config, args.pretrained or args.config)
    if not args.pretrained:
        assert special == SPECIAL, f"whisper-tiny's generation config gives {special}"
    decoder = NosWhisperDecoder(config, special)
    # model.decoder.* (proj_out is tied to embed_tokens and left out; the encoder is traced).
    state = {k: v for k, v in hf.state_dict().items() if k.startswith("model.decoder.")}
    decoder.load_state_dict(state, strict=True)
    decoder.eval()
    fe = WhisperFeatureExtractor(feature_size=config["num_mel_bins"])

    eos = config["eos_token_id"]
    prompt = [special["decoder_start"], special["en"], special["transcribe"],
              special["no_timestamps"]]
    with torch.no_grad():
        example = torch.zeros(1, config["num_mel_bins"], 3000)
        encoder = torch.jit.trace(Encoder(hf.model.encoder).eval(), example)
        two = torch.randn(2, config["num_mel_bins"], 3000)
        assert torch.allclose(encoder(two), hf.model.encoder(two).last_hidden_state, atol=1e-5), \
            "traced encoder disagrees with HF's at batch 2"
        if torch.cuda.is_available():
            # What NOS does with the file: load it on the CPU, move it, run it on CUDA.
            on_cuda = encoder.cuda()(two.cuda()).cpu()
            encoder.cpu()
            assert torch.allclose(on_cuda, encoder(two), atol=1e-3), \
                "traced encoder gives other values on CUDA"
            print("encoder: runs on CUDA (max abs difference to CPU %.2e)"
                  % float((on_cuda - encoder(two)).abs().max()))
        scripted = torch.jit.script(decoder)
        cases = []
        for clip in CLIPS:
            rate, audio = wavfile.read(os.path.join(CLIP_DIR, clip + ".wav"))
            assert rate == 16000, (clip, rate)
            features = torch.from_numpy(fe(audio.astype(np.float32), sampling_rate=16000,
                                           return_tensors="np").input_features)
            expected = hf_greedy(hf, features, prompt, NEW_TOKENS, eos)
            got = cached_greedy(encoder, scripted, decoder.info, features, prompt, NEW_TOKENS,
                                eos)
            assert got == expected, f"cached export disagrees on {clip}: {got} vs {expected}"
            first = first_greedy(encoder, scripted, decoder.info, features, prompt, NEW_TOKENS,
                                 eos)
            assert first == expected, \
                f"decode_first disagrees on {clip}: {first} vs {expected}"
            case = {"clip": clip, "prompt_ids": prompt, "greedy_ids": expected}
            try:  # generate's references: CI's tests skip without them; the export stands
                gen = hf.generate(features, language="en", task="transcribe", do_sample=False,
                                  max_new_tokens=NEW_TOKENS)
                case["generate_ids"] = new_ids(gen[0].tolist(), prompt)
                gen = hf.generate(features, language="en", task="transcribe", do_sample=False,
                                  return_timestamps=True, max_new_tokens=NEW_TOKENS)
                case["timestamp_generate_ids"] = new_ids(gen[0].tolist(), prompt[:3])
                case["detected_language_id"] = int(hf.detect_language(
                    input_features=features).reshape(-1)[0])
            except Exception as e:  # noqa: BLE001 (a transformers version without one of them)
                print(f"WARNING: {clip}: transformers' generate references not written: "
                      f"{type(e).__name__}: {e}")
            cases.append(case)
    if args.save_hf:
        save_hf(hf, fe, os.path.join(args.out, "hf"))
    encoder.save(os.path.join(args.out, "encoder.pt"))
    scripted.save(os.path.join(args.out, "decoder.pt"))
    import transformers
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump({"source": "transformers WhisperForConditionalGeneration full forward, greedy",
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "max_new_tokens": NEW_TOKENS, "eos_token_id": eos, "cases": cases}, f, indent=1)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({**config, "seed": args.seed, "pretrained": args.pretrained}, f, indent=1)
    generation_config = os.path.join(args.out, "generation_config.json")
    hf.generation_config.save_pretrained(args.out)
    print(f"wrote {generation_config}: suppress_tokens "
          f"{hf.generation_config.suppress_tokens}, begin_suppress_tokens "
          f"{hf.generation_config.begin_suppress_tokens}, max_initial_timestamp_index "
          f"{hf.generation_config.max_initial_timestamp_index}")
    print(f"wrote {args.out}: {sum(p.numel() for p in hf.parameters())} parameters, "
          f"{len(cases)} reference cases")


if __name__ == "__main__":
    main()
