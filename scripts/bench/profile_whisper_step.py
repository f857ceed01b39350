"""Where a 64-row Whisper decode step spends its device time (issue #18), recorded as a CUDA graph.

WhisperBench measured 64 concurrent 30 s clips at 554 ms (fp16) against transformers' 487 ms:
about 4 ms per decode step at 64 rows where one row costs well under 1 ms. Reading
make_whisper.py's step (docs/speech.md, "64 windows: where the step goes") says the rows' caches
are gathered and copied every step: per layer, self-attention index_selects each row's whole
slot (448 positions, whatever the row's position) and cross-attention each row's 1500 encoder
positions, and torch.matmul copies both gathered tensors once more (their heads are not
adjacent to the batch, so the [B*H, ...] reshape of bmm is a copy). This script times that step
and the alternatives, on whisper-tiny's shapes with random weights:

  gather     NosWhisperDecoder as `make_whisper.py --attention matmul` exports it (index_select
             + matmul attention; the default before the fifteenth session), TorchScript with
             the executor's optimization off, as NOS replays it
  eager      the same step written out in Python (the reference of the variants below)
  sdpa       index_select as today, attention by scaled_dot_product_attention on the strided
             views (no reshape copies): make_whisper.py's default export since the fifteenth
  headmajor  cross caches laid out [L, S, H, A, D]: the gather gives [B, H, A, D] contiguous
             and matmul reads it in place (self-attention as today)
  slice      no gather at all: the rows hold slots 0..B-1 and read caches[:, :B] (views), with
             SDPA: the floor of an engine that keeps its active rows in the first slots

  slice-B    slice with SDPA held to one backend B (flash, efficient, cudnn, math:
             torch.nn.attention.sdpa_kernel): which of them the step's 0.58 ms is, and what the
             others cost (libtorch 2.10 in NOS may pick another than Python's torch)
  export     NOS's own file (--export, make_whisper.py's decoder.pt): its decode_first, scripted,
             executor optimization off, as NOS records it, in this Python's torch. WhisperBench's
             64-row step took 0.94 ms against slice's 0.58 (nineteenth session): if `export` is
             near slice, the export is not the cause and NOS's libtorch or its loop is
             (DecodeStepProbe's `replay` line times the same file in NOS)

  loop       slice, with GenerationEngine.decode's work around the replay as NOS does it (the
             step's inputs in one pageable upload and three copies, the logits' float cast,
             Whisper's suppressed ids filled with -inf, argmax, the seen-token update, the ids
             back to the host): wall ms per step, to set beside WhisperBench's `ms_per_step`
             (0.98 ms at 64 rows in the sixteenth session, against slice's 0.58 of device time)

For B in --rows (default 1,64): device ms per step (CUDA events around back-to-back replays of
the captured step), kernels per step and the top kernels from torch.profiler, the max |logits
difference| to `eager`, and the analytic bytes the step's gathers and copies move.

    python3 scripts/bench/profile_whisper_step.py [--rows 1,64] [--dtype fp16] [--replays 300]
"""
import argparse
import contextlib
import os
import sys
import time
import traceback

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "models"))
sys.path.insert(0, HERE)
import make_whisper as mw  # noqa: E402
import profile_step as ps  # noqa: E402  (capture, device_times, kernels, median)

STARTED = time.perf_counter()


def say(msg):
    print(f"profile_whisper_step: {msg}", flush=True)


def self_attention(att, x, positions, slots, k_cache, v_cache, mode):
    b, t, _ = x.shape
    h, d = att.heads, att.head_dim
    q = att.q_proj(x).view(b, t, h, d).transpose(1, 2)
    k = att.k_proj(x).view(b, t, h, d)
    v = att.v_proj(x).view(b, t, h, d)
    s, m = k_cache.size(0), k_cache.size(1)
    rows = (slots.unsqueeze(1) * m + positions).reshape(-1)
    k_cache.view(s * m, h, d).index_copy_(0, rows, k.reshape(b * t, h, d))
    v_cache.view(s * m, h, d).index_copy_(0, rows, v.reshape(b * t, h, d))
    if mode == "slice":
        keys, values = k_cache[:b].transpose(1, 2), v_cache[:b].transpose(1, 2)
    else:
        keys = k_cache.index_select(0, slots).transpose(1, 2)
        values = v_cache.index_select(0, slots).transpose(1, 2)
    key_pos = torch.arange(m, device=x.device)
    visible = key_pos.view(1, 1, 1, -1) <= positions.view(b, 1, t, 1)
    if mode in ("sdpa", "slice"):
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
        return att.out_proj(out.transpose(1, 2).reshape(b, t, h * d))
    return att.attend(q, keys, values, visible)


def cross_attention(att, x, slots, xk, xv, mode):
    b, t, _ = x.shape
    h, d = att.heads, att.head_dim
    q = att.q_proj(x).view(b, t, h, d).transpose(1, 2)
    if mode == "headmajor":  # xk, xv: [S, H, A, D]
        keys, values = xk.index_select(0, slots), xv.index_select(0, slots)
    elif mode == "slice":
        keys, values = xk[:b].transpose(1, 2), xv[:b].transpose(1, 2)
    else:
        keys = xk.index_select(0, slots).transpose(1, 2)
        values = xv.index_select(0, slots).transpose(1, 2)
    if mode in ("sdpa", "slice"):
        out = F.scaled_dot_product_attention(q, keys, values)
        return att.out_proj(out.transpose(1, 2).reshape(b, t, h * d))
    visible = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=x.device)
    return att.attend(q, keys, values, visible)


def step(dec, ids, positions, slots, k, v, xk, xv, mode):
    """make_whisper.py's NosWhisperDecoder.forward with the attention of `mode`."""
    body = dec.model.decoder
    x = body.embed_tokens(ids) * dec.embed_scale + body.embed_positions(positions)
    for i, layer in enumerate(body.layers):
        x = x + self_attention(layer.self_attn, layer.self_attn_layer_norm(x), positions, slots,
                               k[i], v[i], mode)
        x = x + cross_attention(layer.encoder_attn, layer.encoder_attn_layer_norm(x), slots,
                                xk[i], xv[i], mode)
        x = x + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))
    x = body.layer_norm(x[:, -1, :])
    return torch.matmul(x, body.embed_tokens.weight.t())


def sdpa_only(name):
    """A context in which scaled_dot_product_attention may use backend `name` only."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    if name not in backends:
        raise ValueError(f"mode slice-{name}: the SDPA backend must be one of"
                         f" {sorted(backends)}, got {name!r}")
    return sdpa_kernel([backends[name]])


SDP_BACKENDS = ["math", "flash_attention", "efficient_attention", "cudnn_attention",
                "overrideable"]


def sdp_choices(rows, dtype):
    """The SDPA backend this torch names (aten::_fused_sdp_choice) for the decode step's two
    attentions at `rows` rows, on the shapes and strides SdpaProbe gives NOS's libtorch."""
    heads, dim = 6, 64
    q = torch.randn(rows, 1, heads, dim, device="cuda", dtype=dtype).transpose(1, 2)
    keys = torch.randn(rows + 1, 448, heads, dim, device="cuda", dtype=dtype)[:rows].transpose(1, 2)
    mask = (torch.arange(448, device="cuda").view(1, 1, 1, 448) <= 68).expand(rows, 1, 1, 448)
    audio = torch.randn(rows + 1, 1500, heads, dim, device="cuda", dtype=dtype)[:rows]
    for what, k, m in (("self (mask, 448 positions)", keys, mask),
                       ("cross (no mask, 1500 positions)", audio.transpose(1, 2), None)):
        b = torch._fused_sdp_choice(q, k, k, m)
        name = SDP_BACKENDS[b] if 0 <= b < len(SDP_BACKENDS) else "?"
        say(f"sdp choice rows {rows} {what}: backend {b} ({name}); cuDNN"
            f" {torch.backends.cudnn.version()}")


def gathered_bytes(c, rows, length, elem):
    """Bytes today's step moves for its gathers and copies (see the docstring): per layer, the
    self slot [M, H, D] and the cross row [A, H, D] of each row, K and V, each written by
    index_select, read and written by matmul's reshape copy, read by bmm: 5 passes."""
    d = c["d_model"]
    per_layer = 2 * rows * (length + c["max_source_positions"]) * d * elem * 5
    return per_layer * c["decoder_layers"]


# Whisper's suppress_tokens (generation_config.json of whisper-tiny/base): the ids NOS's sampler
# fills with -inf every step.
SUPPRESSED = [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92,
              93, 359, 503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627,
              3246, 3253, 3268, 3536, 3846, 3961, 4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428,
              10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635, 15265, 15618, 16553, 16604,
              18362, 18956, 20075, 21675, 22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302,
              32470, 36865, 42863, 47425, 49870, 50254, 50258, 50358, 50359, 50360, 50361, 50362]


def nos_loop(dec, info, ids, positions, slots, k, v, xk, xv, slot_count, b, args):
    """`loop` (see the module notes): wall ms per step, median."""
    def fn():
        return step(dec, ids, positions, slots, k, v, xk, xv, "slice")
    with torch.no_grad():
        graph, out = ps.capture(fn)
    vocab = info["vocab_size"]
    seen = torch.zeros(slot_count, vocab, dtype=torch.bool, device="cuda")
    suppressed = torch.tensor([i for i in SUPPRESSED if i < vocab], device="cuda")
    host = ids.view(-1).tolist() + positions.view(-1).tolist() + slots.tolist()

    def nos_like():
        with torch.no_grad():
            on_device = torch.tensor(host).to("cuda")  # pageable, waits (Sampler.longs)
            ids.copy_(on_device[:b].view(b, 1))  # GraphBuckets: one copy per static input
            positions.copy_(on_device[b:2 * b].view(b, 1))
            slots.copy_(on_device[2 * b:])
            graph.replay()
            logits = out.float()  # Sampler.choose: the float cast, the suppression, argmax
            logits.index_fill_(1, suppressed, float("-inf"))
            nxt = logits.argmax(1)
            seen.view(-1).index_fill_(0, slots.mul(vocab).add(nxt), True)  # KvCache.markSeen
            return nxt.cpu()  # GenerationEngine.toHost
    wall = ps.wall_times(nos_like, args.replays)
    ms = ps.median(wall)
    prof = ps.kernels(nos_like, 10)
    say(f"rows {b} loop     : wall {ms:.3f} ms/step median (min {min(wall):.3f}); slice's replay"
        f" with NOS's work around it, {prof['per_step']:.0f} kernels/step,"
        f" {prof['ms_per_step']:.3f} ms of kernels ({prof['source']})")
    for name, kms, count in prof["top"][:args.top]:
        say(f"  rows {b} loop top kernel {kms:8.4f} ms/step x{count:5.1f}  {name[:100]}")
    return ms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="tiny", choices=sorted(mw.CONFIGS))
    p.add_argument("--rows", default="1,64")
    p.add_argument("--slots", type=int, default=64, help="generator slots (the scratch is +1)")
    p.add_argument("--position", type=int, default=68, help="the rows' position (mid-window)")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    p.add_argument("--replays", type=int, default=300)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--modes", default="gather,eager,sdpa,headmajor,slice,loop")
    p.add_argument("--export", default="/tmp/whisper-tiny-hf/decoder.pt",
                   help="NOS's decoder file for the `export` mode")
    args = p.parse_args()
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    elem = 2 if dtype == torch.float16 else 4
    c = mw.CONFIGS[args.config]
    torch.manual_seed(18)
    # The forms below are written against the matmul export (make_whisper.py --attention matmul):
    # `gather` is that export scripted, `eager` its attend(); `sdpa` is today's default export.
    mw.ATTENTION_SDPA = False
    with torch.no_grad():
        dec = mw.NosWhisperDecoder(c).to("cuda", dtype).eval().requires_grad_(False)
        scripted = torch.jit.script(dec)
    info = dec.info
    L, H, D = info["layers"], info["heads"], info["head_dim"]
    M, A = info["max_positions"], info["audio_positions"]
    S = args.slots + 1
    g = torch.Generator(device="cuda").manual_seed(1)
    k = torch.randn(L, S, M, H, D, device="cuda", dtype=dtype, generator=g)
    v = torch.randn(L, S, M, H, D, device="cuda", dtype=dtype, generator=g)
    xk = torch.randn(L, S, A, H, D, device="cuda", dtype=dtype, generator=g)
    xv = torch.randn(L, S, A, H, D, device="cuda", dtype=dtype, generator=g)
    xk_hm = xk.permute(0, 1, 3, 2, 4).contiguous()  # [L, S, H, A, D]: same values
    xv_hm = xv.permute(0, 1, 3, 2, 4).contiguous()
    say(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; whisper-{args.config}"
        f" decoder {args.dtype}: layers {L}, heads {H}x{D}, self cache [{L}, {S}, {M}, {H}, {D}],"
        f" cross [{L}, {S}, {A}, {H}, {D}]; rows at position {args.position}")
    summary = []
    for b in [int(x) for x in args.rows.split(",")]:
        try:
            sdp_choices(b, dtype)
        except Exception as e:  # noqa: BLE001 - a report, not a mode: the modes still run
            say(f"sdp choice rows {b} FAILED: {type(e).__name__}: {str(e).splitlines()[0]}")
        ids = torch.randint(0, info["vocab_size"], (b, 1), device="cuda", generator=g)
        positions = torch.full((b, 1), args.position, device="cuda")
        slots_perm = torch.randperm(args.slots, device="cuda", generator=g)[:b]
        slots_first = torch.arange(b, device="cuda")
        say(f"rows {b}: today's gathers and copies move {gathered_bytes(c, b, M, elem) / 1e9:.3f}"
            f" GB per step (self {M} + cross {A} positions per row and layer, K and V, 5"
            f" passes); SDPA on the gathered views: 3 passes; slice: 1 pass (the reads)")
        with torch.no_grad():
            ref = step(dec, ids, positions, slots_perm, k, v, xk, xv, "eager").float()
            ref_first = step(dec, ids, positions, slots_first, k, v, xk, xv, "eager").float()
        for mode in args.modes.split(","):
            if mode == "loop":
                try:
                    summary.append((b, mode, nos_loop(dec, info, ids, positions, slots_first, k, v,
                                                      xk, xv, S, b, args), float("nan")))
                except Exception as e:  # noqa: BLE001 - as the other modes
                    say(f"rows {b} loop FAILED: {type(e).__name__}: {str(e).splitlines()[0]}")
                    traceback.print_exc(limit=3)
                continue
            try:
                first = mode == "slice" or mode.startswith("slice-") or mode == "export"
                slots = slots_first if first else slots_perm
                against = ref_first if first else ref
                context = contextlib.nullcontext()
                if mode.startswith("slice-"):
                    context = sdpa_only(mode[len("slice-"):])
                if mode == "export":
                    exported = torch.jit.load(args.export, map_location="cuda").to(dtype).eval()
                    with torch.no_grad(), torch.jit.optimized_execution(False):
                        against = exported.decode_first(ids, positions, slots, k, v, xk,
                                                        xv).float()

                    def fn():
                        with torch.jit.optimized_execution(False):
                            return exported.decode_first(ids, positions, slots, k, v, xk, xv)
                elif mode.startswith("slice-"):
                    def fn():
                        return step(dec, ids, positions, slots, k, v, xk, xv, "slice")
                elif mode == "gather":
                    def fn():
                        with torch.jit.optimized_execution(False):
                            return scripted(ids, positions, slots, k, v, xk, xv)
                elif mode == "headmajor":
                    def fn():
                        return step(dec, ids, positions, slots, k, v, xk_hm, xv_hm, mode)
                else:
                    def fn(mode=mode, slots=slots):
                        return step(dec, ids, positions, slots, k, v, xk, xv, mode)
                with torch.no_grad(), context:
                    graph, out = ps.capture(fn)
                    dev = ps.device_times(graph.replay, args.replays)
                    diff = float((out.float() - against).abs().max())
                    prof = ps.kernels(graph.replay, 10, fn)
                ms = ps.median(dev)
                summary.append((b, mode, ms, prof["per_step"]))
                say(f"rows {b} {mode:9s}: device {ms:.3f} ms/step median (min {min(dev):.3f});"
                    f" {prof['per_step']:.0f} kernels/step, {prof['ms_per_step']:.3f} ms of"
                    f" kernels ({prof['source']}); max |logits - eager| {diff:.3g}")
                for name, kms, count in prof["top"][:args.top]:
                    say(f"  rows {b} {mode} top kernel {kms:8.4f} ms/step x{count:5.1f}"
                        f"  {name[:100]}")
            except Exception as e:  # noqa: BLE001 - each mode reports and the next one runs
                say(f"rows {b} {mode} FAILED: {type(e).__name__}: {str(e).splitlines()[0]}")
                traceback.print_exc(limit=3)
    say("summary (device ms per step of the captured step; kernels per step):")
    for b, mode, ms, n in summary:
        kind = "wall, the loop" if mode == "loop" else f"{n:5.0f} kernels"
        say(f"  rows {b:3d}  {mode:9s}  {ms:7.3f} ms  {kind}")
    say(f"done in {time.perf_counter() - STARTED:.0f} s")


if __name__ == "__main__":
    main()
