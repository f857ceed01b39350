#!/usr/bin/env python3
"""transformers' Whisper speed: the baseline NOS's WhisperBench is compared with, in the same lease
(scripts/gpu/bench.sh whisper; issue #18, "Fast").

The model is the one NOS runs: make_whisper.py --save-hf writes DIR/hf (fp32, reloaded and checked
equal to the export). The clips are whisper_clips.py's (CLIPS/long60.wav, CLIPS/clip_NN.wav),
read as NOS reads them (int16 / 32768).

What is timed, per precision (fp16 and fp32), each median of ROUNDS after one warm-up call, from
PCM in memory to token ids on the host (features included on both sides, as a user runs them):
  (a) real-time factor of the 60 s clip: cut into two consecutive 30 s windows, each padded to
      30 s by the feature extractor, and both decoded in ONE batched generate. This is what NOS
      does with it (SpeechRecognizer: consecutive windows, timestamps off, no conditioning on the
      previous window, all windows of a clip decoded at once), so both sides do the same work.
      rtf = wall / 60 s.
  (b) 64 x 30 s clips in one batched generate: audio_h_per_h = 64 x 30 s / wall.
Features: WhisperFeatureExtractor on the GPU (its torch path, device="cuda") where this
transformers version takes a device, else on the CPU (the line says which).

Decoding: greedy, the fixed prompt <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
as decoder_input_ids, max_new_tokens NEW (default 128, as WhisperBench), stopping at EOS per row
as NOS does (random weights rarely write it: the token counts are printed on both sides). The
call is transformers' GenerationMixin.generate on WhisperForConditionalGeneration, the very call
WhisperGenerationMixin.generate makes for each batch of 30 s windows, without its language
detection and timestamp bookkeeping that a fixed prompt does not need (and that a random-weight
config without Whisper's generation_config cannot run). The config's suppress_tokens and
begin_suppress_tokens are cleared: NOS applies neither yet, and both must compute the same ids.
Attention: the model's default implementation (printed); no torch.compile ("eager generate").

--ids-out FILE writes, per precision, the 60 s clip's new token ids per window (EOS included,
nothing after it), from features made on the CPU as make_whisper.py's references are: WhisperBench
compares NOS's ids with them (fp32 must be equal; fp16 is reported).

    python3 scripts/bench/hf_whisper.py --model DIR/hf --clips CLIPS [--precision fp16,fp32]
        [--rounds 3] [--new 128] [--ids-out FILE]
Lines (tables.py reads them):
  hf_whisper: rtf clip=60s precision=P windows=2 wall_ms=.. features_ms=.. rtf=.. tokens=.. times_ms ..
  hf_whisper: batch clips=64 precision=P wall_ms=.. features_ms=.. audio_h_per_h=.. tokens=.. times_ms ..
"""
import argparse
import glob
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np
import torch

RATE = 16_000
WINDOW = 30 * RATE
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from make_whisper import SPECIAL, special_tokens  # noqa: E402

# The prompt NOS's export runs (make_whisper.py); main() takes the model's own ids.
PROMPT = [SPECIAL["decoder_start"], SPECIAL["en"], SPECIAL["transcribe"], SPECIAL["no_timestamps"]]


def read_pcm(path):
    from scipy.io import wavfile
    rate, data = wavfile.read(path)
    if rate != RATE or data.dtype != np.int16 or data.ndim != 1:
        raise ValueError(f"{path}: expected {RATE} Hz mono int16 (whisper_clips.py), got {rate} Hz"
                         f" {data.dtype} shape {data.shape}")
    return data.astype(np.float32) / 32768.0


def windows(pcm):
    return [pcm[i:i + WINDOW] for i in range(0, len(pcm), WINDOW)]


class Features:
    """WhisperFeatureExtractor on a device where this transformers takes one."""

    def __init__(self, model_dir, n_mels, device):
        from transformers import WhisperFeatureExtractor
        try:
            self.fe = WhisperFeatureExtractor.from_pretrained(model_dir)
        except Exception:  # noqa: BLE001 - an export without the extractor's config
            self.fe = WhisperFeatureExtractor(feature_size=n_mels)
        self.device = device
        if device != "cpu":
            try:
                self.fe([np.zeros(RATE, np.float32)], sampling_rate=RATE, return_tensors="pt",
                        device=device)
            except TypeError:
                self.device = "cpu"
        self.where = f"WhisperFeatureExtractor on {self.device}" + (
            "" if self.device == device else f" (this transformers takes no device; {device}"
                                             " asked)")

    def __call__(self, pcms, dtype, device="auto"):
        d = self.device if device == "auto" else device
        kwargs = {"device": d} if d != "cpu" else {}
        out = self.fe(pcms, sampling_rate=RATE, return_tensors="pt", **kwargs).input_features
        return out.to("cuda", dtype)


def new_ids(sequences, eos):
    """Each row's new ids, EOS included and nothing after it (NOS's GeneratedTokens)."""
    out = []
    for row in sequences[:, len(PROMPT):].tolist():
        out.append(row[:row.index(eos) + 1] if eos in row else row)
    return out


def sync_time(fn):
    torch.cuda.synchronize()
    t = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t, result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="make_whisper.py --save-hf's OUT/hf")
    p.add_argument("--clips", required=True, help="whisper_clips.py's directory")
    p.add_argument("--precision", default="fp16,fp32")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--ids-out")
    args = p.parse_args()
    import transformers
    from transformers import GenerationConfig, WhisperForConditionalGeneration
    global PROMPT
    special = special_tokens(GenerationConfig.from_pretrained(args.model), args.model)
    PROMPT = [special["decoder_start"], special["en"], special["transcribe"],
              special["no_timestamps"]]
    try:
        from transformers.generation.utils import GenerationMixin
    except ImportError:
        from transformers import GenerationMixin

    long_pcm = read_pcm(os.path.join(args.clips, "long60.wav"))
    paths = sorted(glob.glob(os.path.join(args.clips, "clip_*.wav")))[:args.batch]
    if len(paths) < args.batch:
        raise SystemExit(f"hf_whisper: {args.clips} has {len(paths)} clip_*.wav, {args.batch}"
                         " needed (whisper_clips.py)")
    clips = [read_pcm(q) for q in paths]
    long_windows = windows(long_pcm)
    long_s, batch_s = len(long_pcm) / RATE, sum(len(c) for c in clips) / RATE
    ids_out = {"source": "transformers GenerationMixin.generate, greedy, CPU features",
               "transformers": transformers.__version__, "torch": torch.__version__,
               "prompt_ids": PROMPT, "max_new_tokens": args.new}
    failed = False
    for precision in [x.strip() for x in args.precision.split(",") if x.strip()]:
        dtype = {"fp16": torch.float16, "fp32": torch.float32}[precision]
        try:
            model = WhisperForConditionalGeneration.from_pretrained(args.model).to(
                "cuda", dtype).eval()
            gc = model.generation_config
            for key in ("suppress_tokens", "begin_suppress_tokens", "forced_decoder_ids"):
                if getattr(gc, key, None) is not None:
                    setattr(gc, key, None)
            eos = model.config.eos_token_id
            features = Features(args.model, model.config.num_mel_bins, "cuda")
            print(f"hf_whisper: transformers {transformers.__version__}, torch {torch.__version__},"
                  f" {torch.cuda.get_device_name(0)}, {sum(q.numel() for q in model.parameters())}"
                  f" parameters {precision}, attention"
                  f" {getattr(model.config, '_attn_implementation', '?')}, {features.where},"
                  f" prompt {PROMPT}, max_new_tokens {args.new}", flush=True)

            def generate(feats):
                prompt = torch.tensor([PROMPT], device="cuda").repeat(feats.shape[0], 1)
                with torch.no_grad():
                    out = GenerationMixin.generate(
                        model, feats, decoder_input_ids=prompt, max_new_tokens=args.new,
                        do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=eos)
                return new_ids(getattr(out, "sequences", out).cpu(), eos)

            def measure(pcms):
                walls, feats_t, tokens = [], [], None
                for r in range(args.rounds + 1):  # round 0: the warm-up
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    f_t, feats = sync_time(lambda: features(pcms, dtype))
                    ids = generate(feats)  # on the host, as NOS's transcripts
                    wall = time.perf_counter() - t
                    if r == 0:
                        continue
                    walls.append(wall)
                    feats_t.append(f_t)
                    tokens = sum(len(x) for x in ids)
                wall = statistics.median(walls)
                return wall, statistics.median(feats_t), tokens, walls

            wall, f_t, tokens, walls = measure(long_windows)
            print(f"hf_whisper: rtf clip={long_s:.0f}s precision={precision}"
                  f" windows={len(long_windows)} wall_ms={wall * 1000:.1f}"
                  f" features_ms={f_t * 1000:.1f} rtf={wall / long_s:.5f} tokens={tokens}"
                  f" times_ms " + " ".join(f"{w * 1000:.1f}" for w in walls), flush=True)
            wall, f_t, tokens, walls = measure(clips)
            print(f"hf_whisper: batch clips={len(clips)} precision={precision}"
                  f" wall_ms={wall * 1000:.1f} features_ms={f_t * 1000:.1f}"
                  f" audio_h_per_h={batch_s / wall:.1f} tokens={tokens}"
                  f" steps_max={args.new} times_ms " + " ".join(f"{w * 1000:.1f}" for w in walls),
                  flush=True)
            if args.ids_out and precision == "fp32":
                # Issue #18's parity: each of the 20 clips of 5-60 s alone, its windows as one
                # batch, CPU features, as NOS's transcript of the same file.
                parity = {}
                for q in sorted(glob.glob(os.path.join(args.clips, "parity_*.wav"))):
                    parity[os.path.basename(q)] = generate(
                        features(windows(read_pcm(q)), dtype, device="cpu"))
                ids_out["parity_fp32"] = parity
                print(f"hf_whisper: ids of {len(parity)} parity clips (fp32), windows "
                      f"{sum(len(v) for v in parity.values())}", flush=True)
            if args.ids_out:
                ids_out[precision] = generate(features(long_windows, dtype, device="cpu"))
                print(f"hf_whisper: ids clip={long_s:.0f}s precision={precision} per window"
                      f" {[len(x) for x in ids_out[precision]]} tokens, first"
                      f" {ids_out[precision][0][:8]}", flush=True)
            del model
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001 - the other precision may still run
            failed = True
            print(f"hf_whisper: precision={precision} FAILED: {type(e).__name__}: "
                  f"{str(e).splitlines()[0] if str(e) else ''}", flush=True)
            traceback.print_exc(limit=8)
    if args.ids_out:
        with open(args.ids_out, "w") as f:
            json.dump(ids_out, f)
        print(f"hf_whisper: wrote {args.ids_out}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
