#!/usr/bin/env python3
"""Builds, offline, small tokenizer.json files in the real formats of nos-hub's two text entries,
and what transformers' tokenizers make of ~40 test sentences with them, for nos-hub's
TokenizerParityTest (issue #19, "Real tokenizers").

  clip/tokenizer.json    openai/clip-vit-base-patch32's format: byte-level BPE with the "</w>"
                         end-of-word suffix, normalizer NFC + whitespace collapse + lower-case,
                         pre-tokenizer Split(CLIP's regex) + ByteLevel, <|startoftext|> and
                         <|endoftext|> added by a RobertaProcessing post-processor; the vocabulary
                         laid out as CLIP's (the 256 byte symbols, the same with "</w>", one entry
                         per merge in merge order, the two special tokens last, so <|endoftext|>
                         is the largest id, which the text tower's pooling relies on) with merges
                         learned here from CORPUS. One addition to openai's file: a padding block
                         saying how CLIPProcessor pads (to 77 with <|endoftext|>, which openai
                         keeps in tokenizer_config.json), so that a reader of tokenizer.json alone
                         (NOS) pads as CLIPProcessor does.
  minilm/tokenizer.json  sentence-transformers/all-MiniLM-L6-v2's format: BERT WordPiece ("##"),
                         BertNormalizer (lower-case, accents stripped, CJK characters split),
                         BertPreTokenizer, [CLS] $A [SEP] TemplateProcessing, the special tokens
                         at BERT's ids ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103) and,
                         as in that repository's file, truncation and padding blocks of 128 that
                         the pipeline overrides (SentenceTransformer truncates at 256); the
                         vocabulary learned here from CORPUS.
  expected.json          input_ids and attention_mask of every sentence of SENTENCES, per model,
                         from transformers' fast tokenizer classes loaded from those files
                         (CLIPTokenizerFast / BertTokenizerFast, tokenizer_file=) called as the
                         Python pipelines call them: CLIPProcessor pads to max_length 77,
                         truncating; SentenceTransformer("all-MiniLM-L6-v2") strips each text and
                         calls padding=True, truncation="longest_first", max_length=256 (its
                         max_seq_length), per sentence and once for the whole list as one batch.
                         Each is checked against the tokenizers library itself on the same file.

export_models.py reuses clip_tokenizer() and bert_tokenizer() for its random-weight exports.

Needs `tokenizers` and `transformers` (no torch, no network). Deterministic. From the repository
root:
    python3 scripts/hub/make_tokenizers.py [OUT_DIR]
OUT_DIR defaults to nos-hub/src/test/resources/ai/nos/hub/tokenizers.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter

DEFAULT_OUT = os.path.join("nos-hub", "src", "test", "resources", "ai", "nos", "hub", "tokenizers")

CLIP_ENTRY = "openai/clip-vit-base-patch32/text"
MINILM_ENTRY = "sentence-transformers/all-MiniLM-L6-v2"
CLIP_LENGTH = 77          # CLIPProcessor: padding="max_length", the tokenizer's model_max_length
MINILM_LENGTH = 256       # SentenceTransformer's max_seq_length for all-MiniLM-L6-v2
MINILM_FILE_LENGTH = 128  # the truncation/padding blocks of that repository's tokenizer.json
MINILM_MODEL_MAX = 512    # its tokenizer_config.json's model_max_length

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# transformers' CLIP converter's pattern (CLIPTokenizer's in transformers 5).
CLIP_PATTERN = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
                r"|[^\s\p{L}\p{N}]+")
CLIP_MERGES = 1500
BERT_WORDS = 1800

CORPUS = """\
A photo of a cat sitting on a mat. A photo of a dog playing in the park with a red ball.
Two people are walking along the beach at sunset, and the sky is orange and purple.
The quick brown fox jumps over the lazy dog. A man is eating food. A woman is playing the guitar.
There is a small house near the river, surrounded by tall green trees and yellow flowers.
An aerial view of the city at night, with bright lights, busy streets and many tall buildings.
Children are reading books in the library; their teacher is writing on the board.
The model serves embeddings for images and sentences. Search engines compare these vectors.
A plate of pasta with tomatoes, cheese and fresh basil on a wooden table in the kitchen.
Mountains covered with snow, a frozen lake, and a cabin in the forest during the winter.
The train arrives at the station at 10:45; passengers hurry to the platform with their bags.
I don't think it's raining, but they've said we'll need umbrellas if the clouds come back.
She'd rather stay home, I'm sure, and he'll be there before you're ready.
Numbers like 2024, 3.14159 and 1,000,000 appear in reports, tables and receipts.
Café, naïve, résumé, façade, jalapeño, über, São Paulo, Zürich and Ångström have accents.
Straße, Ελληνικά, русский язык, العربية, हिन्दी are written in other scripts.
我爱北京天安门。猫在桌子上睡觉。こんにちは世界、今日はいい天気です。안녕하세요 세계.
Emoji such as 😀, 👍 and ❤️ show up in messages, reviews and captions on social media.
Unbelievable! Amazing? Wonderful... interesting, interested, interestingly, uninteresting.
Running, runner, ran, runs; playing, played, player, plays; walking, walked, walker, walks.
Good morning, good evening, good night. Thank you very much for your help with the project.
Machine learning models learn patterns from data, and tokenizers split text into pieces.
The weather today is sunny with a light breeze from the west and a few white clouds.
A black and white photograph of an old car parked in front of a brick building downtown.
A bowl of fruit: apples, bananas, oranges, grapes, strawberries and a single pineapple.
"""

LONG = "the quick brown fox jumps over the lazy dog, and the cat watches it from the window."
SENTENCES = [
    "a photo of a cat",
    "A Photo Of A CAT",
    "A PHOTO OF A DOG PLAYING IN THE PARK.",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I don't think it's raining; they've said we'll need umbrellas.",
    "Numbers: 2024, 3.14159 and 1,000,000.",
    "email: someone@example.com, url: https://example.com/a?b=c&d=e#f",
    "Unbelievable!!! Amazing??? Wonderful...",
    "tabs\tand\nnewlines\r\nand   many    spaces",
    "   leading and trailing whitespace   ",
    "Café naïve résumé façade jalapeño",
    "Cafe\u0301 with a combining accent",
    "Straße ÅNGSTRÖM Zürich",
    "İstanbul ΑΘΗΝΑ Москва",
    "العربية هي لغة",
    "हिन्दी भाषा",
    "我爱北京天安门。",
    "猫在桌子上睡觉",
    "こんにちは世界",
    "안녕하세요 세계",
    "emoji 😀 👍🏽 ❤️",
    "family 👨\u200d👩\u200d👧 zero\u200bwidth",
    "non\u00a0breaking space",
    "control\u0000and\u0007chars",
    "a <|endoftext|> in the middle",
    "[CLS] and [SEP] typed as text",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 120,
    "interestingly uninteresting rerunning",
    "'s 't 're 've 'm 'll 'd",
    "#hashtag @mention $100 50% a+b=c",
    "",
    " ",
    "\t\n  \n",
    " ".join([LONG] * 4),
    " ".join([LONG] * 8),
    " ".join([LONG] * 14),
    " ".join([LONG] * 30),
    " ".join(["word"] * 300),
]


def bytes_to_unicode():
    """GPT-2's and CLIP's printable stand-in for each byte, in CLIP's vocabulary order."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def learn_bpe(words, count):
    """Up to count merges over words (a Counter of symbol tuples): each step merges the most
    frequent adjacent pair, ties broken by the pair's text, so the result is deterministic."""
    words = Counter(words)
    merges = []
    for _ in range(count):
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def clip_parts():
    from tokenizers import Regex, normalizers, pre_tokenizers

    normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    return normalizer, pre


def clip_tokenizer(path, merges_count=CLIP_MERGES, corpus=CORPUS):
    """Writes a CLIP-format tokenizer.json (see the module notes); returns (vocab size, EOS id)."""
    from tokenizers import AddedToken, Tokenizer, decoders, processors
    from tokenizers.models import BPE

    normalizer, pre = clip_parts()
    words = Counter()
    for line in corpus.splitlines():
        for piece, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)):
            words[tuple(piece[:-1]) + (piece[-1] + "</w>",)] += 1
    merges = learn_bpe(words, merges_count)
    base = list(bytes_to_unicode().values())
    tokens = base + [b + "</w>" for b in base]
    for merge in merges:
        # Two merges can make the same token from different splits; it gets one id.
        if "".join(merge) not in tokens:
            tokens.append("".join(merge))
    tokens += [BOS, EOS]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                        end_of_word_suffix="</w>", fuse_unk=False, unk_token=EOS))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(BOS, normalized=True), AddedToken(EOS, normalized=True)])
    # Positional: the keyword names of the binding differ between tokenizers versions
    # (tokenizers on the GPU machine refused cls=).
    tok.post_processor = processors.RobertaProcessing((EOS, vocab[EOS]), (BOS, vocab[BOS]),
                                                      False, False)
    tok.no_truncation()
    tok.enable_padding(pad_id=vocab[EOS], pad_token=EOS, length=CLIP_LENGTH)
    save(tok, path)
    return len(vocab), vocab[EOS]


def clip_padding(path):
    """Adds CLIPProcessor's padding (77 with <|endoftext|>) to a CLIP tokenizer.json in place,
    for openai's own file, which keeps it in tokenizer_config.json."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    eos = tok.token_to_id(EOS)
    if eos is None:
        raise SystemExit(f"{path}: not a CLIP tokenizer: no {EOS} token")
    tok.enable_padding(pad_id=eos, pad_token=EOS, length=CLIP_LENGTH)
    save(tok, path)


BERT_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


def bert_tokenizer(path, words_count=BERT_WORDS, corpus=CORPUS):
    """Writes an all-MiniLM-L6-v2-format tokenizer.json (see the module notes); returns the
    vocabulary size."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter()
    for line in corpus.splitlines():
        for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)):
            words[word] += 1
    # BERT's layout: [PAD], [unused0-98], [UNK], [CLS], [SEP], [MASK], then the word pieces.
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]",
                                                                "[MASK]"]
    chars = Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
    by_count = sorted(chars, key=lambda c: (-chars[c], c))
    tokens += by_count + ["##" + c for c in by_count]
    suffixes = Counter()
    for w, n in words.items():
        for k in (2, 3, 4):
            if len(w) > k + 1:
                suffixes["##" + w[-k:]] += n
    tokens += sorted((s for s in suffixes if suffixes[s] >= 3),
                     key=lambda s: (-suffixes[s], s))
    seen = set(tokens)
    for w in sorted(words, key=lambda w: (-words[w], w)):
        if len(tokens) >= words_count:
            break
        if w not in seen and len(w) > 1:
            seen.add(w)
            tokens.append(w)
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens)
    assert all(vocab[t] == i for t, i in BERT_SPECIAL.items())
    tok = Tokenizer(WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in BERT_SPECIAL])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.enable_truncation(max_length=MINILM_FILE_LENGTH)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=MINILM_FILE_LENGTH)
    save(tok, path)
    return len(vocab)


def save(tok, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tok.save(path)


# What the Python pipelines call, and how the tokenizers library is set to do the same.
def clip_call(tok, texts):
    return tok(texts, padding="max_length", max_length=CLIP_LENGTH, truncation=True)


def minilm_call(tok, texts):
    return tok([t.strip() for t in texts], padding=True, truncation="longest_first",
               max_length=MINILM_LENGTH)


def library_encode(path, kind, texts, batch):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    if kind == "clip":
        tok.enable_truncation(max_length=CLIP_LENGTH)
        tok.enable_padding(pad_id=tok.token_to_id(EOS), pad_token=EOS, length=CLIP_LENGTH)
    else:
        texts = [t.strip() for t in texts]
        tok.enable_truncation(max_length=MINILM_LENGTH)
        if batch:
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
        else:
            tok.no_padding()
    encoded = tok.encode_batch(texts)
    return [e.ids for e in encoded], [e.attention_mask for e in encoded]


CLASSES = {"clip": ("CLIPTokenizerFast", "CLIPTokenizer"),
           "minilm": ("BertTokenizerFast", "BertTokenizer")}
SPECIAL_KWARGS = {"clip": {},  # the classes' defaults are CLIP's: pad, unk and eos <|endoftext|>
                  "minilm": {"model_max_length": MINILM_MODEL_MAX}}


def transformers_tokenizer(kind, path):
    """The model's transformers tokenizer class reading path, checked to be the file's tokenizer
    (a class that rebuilt its own tokenizer instead would not be): CLIPTokenizerFast or
    BertTokenizerFast(tokenizer_file=path), else from_pretrained on a folder holding the file
    alone (transformers 5's classes). Returns (tokenizer, how it was made)."""
    import transformers

    call = clip_call if kind == "clip" else minilm_call
    want = library_encode(path, kind, SENTENCES, batch=False)
    tried = []
    for name in CLASSES[kind]:
        cls = getattr(transformers, name, None)
        if cls is None:
            tried.append(f"{name}: not in transformers {transformers.__version__}")
            continue
        folder = tempfile.mkdtemp()
        shutil.copyfile(path, os.path.join(folder, "tokenizer.json"))
        for how, make in ((f"{name}(tokenizer_file=...)",
                           lambda: cls(tokenizer_file=path, **SPECIAL_KWARGS[kind])),
                          (f"{name}.from_pretrained(folder with tokenizer.json)",
                           lambda: cls.from_pretrained(folder, **SPECIAL_KWARGS[kind]))):
            try:
                tok = make()
                got = [call(tok, [s]) for s in SENTENCES]
            except Exception as e:  # noqa: BLE001 -- every failure is reported below
                tried.append(f"{how}: {type(e).__name__}: {e}")
                continue
            ids = [g["input_ids"][0] for g in got]
            masks = [g["attention_mask"][0] for g in got]
            if (ids, masks) == want:
                return tok, how
            bad = next(i for i in range(len(SENTENCES))
                       if ids[i] != want[0][i] or masks[i] != want[1][i])
            tried.append(f"{how}: differs from the tokenizers library on sentence {bad} "
                         f"{SENTENCES[bad]!r}: {ids[bad]} vs {want[0][bad]}")
    raise SystemExit(f"no transformers tokenizer reads {path} as the tokenizers library does:\n  "
                     + "\n  ".join(tried))


def expected(out):
    import tokenizers
    import transformers

    models = {}
    for kind, entry, call in (("clip", CLIP_ENTRY, clip_call), ("minilm", MINILM_ENTRY,
                                                                   minilm_call)):
        path = os.path.join(out, kind, "tokenizer.json")
        tok, how = transformers_tokenizer(kind, path)
        single = []
        for s in SENTENCES:
            e = call(tok, [s])
            single.append({"input_ids": e["input_ids"][0],
                           "attention_mask": e["attention_mask"][0]})
        model = {"entry": entry, "tokenizer": f"{kind}/tokenizer.json",
                 "transformers": how, "single": single}
        if kind == "minilm":
            e = call(tok, SENTENCES)
            model["batch"] = {"input_ids": e["input_ids"], "attention_mask": e["attention_mask"]}
            if (e["input_ids"], e["attention_mask"]) != library_encode(path, kind, SENTENCES,
                                                                      batch=True):
                raise SystemExit("minilm: the batch differs from the tokenizers library's")
        models[kind] = model
    return {"about": "Made by scripts/hub/make_tokenizers.py: what transformers' tokenizers "
                     "make of each sentence with the tokenizer.json files beside this file, "
                     "called as CLIPProcessor and SentenceTransformer call them.",
            "versions": {"tokenizers": tokenizers.__version__,
                         "transformers": transformers.__version__},
            "sentences": SENTENCES, "models": models}


def write_expected(data, path):
    """Each list of ids or mask values on one line, so the file diffs by sentence and stays
    small."""
    text = json.dumps(data, indent=1, ensure_ascii=True)
    text = re.sub(r"\[[\d,\s]*\]", lambda m: re.sub(r"\s+", "", m.group(0)), text)
    with open(path, "w") as f:
        f.write(text + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=DEFAULT_OUT,
                        help=f"the directory to write into (default {DEFAULT_OUT})")
    args = parser.parse_args()
    out = args.out
    clip_size, eos = clip_tokenizer(os.path.join(out, "clip", "tokenizer.json"))
    bert_size = bert_tokenizer(os.path.join(out, "minilm", "tokenizer.json"))
    data = expected(out)
    write_expected(data, os.path.join(out, "expected.json"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"clip: {clip_size} tokens (<|endoftext|> = {eos}), read by "
          f"{data['models']['clip']['transformers']}")
    print(f"minilm: {bert_size} tokens, read by {data['models']['minilm']['transformers']}")
    print(f"{len(SENTENCES)} sentences; wrote {out} ({total} bytes)")
    if total > 1_000_000:
        raise SystemExit(f"{out} holds {total} bytes: more than the 1 MB these fixtures may take")
    return 0


if __name__ == "__main__":
    sys.exit(main())
