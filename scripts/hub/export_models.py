#!/usr/bin/env python3
"""Exports the artifacts of nos-hub's builtin catalog (nos-hub/src/main/resources/ai/nos/hub/
catalog.json) with RANDOM weights, for tests and benchmarks on machines without network access,
and writes each file's lock file (<file>.lock.json: {"sha256": ..., "size": ...}) beside it.
Serve OUT_DIR to NOS with Hub.builder().baseUri(URI.create("file:" + OUT_DIR + "/")) or the
system property nos.hub.baseUri.

  OUT_DIR/torchvision/resnet50/{model.pt, labels.txt}          torchvision ResNet-50
  OUT_DIR/google/vit-base-patch16-224/{model.pt, labels.txt}   ViT-B/16 (torchvision's)
  OUT_DIR/openai/clip-vit-base-patch32/image.pt                ViT-B/32 + 512-d projection
  OUT_DIR/openai/clip-vit-base-patch32/{text.pt, tokenizer.json}
                                                               CLIP-sized text encoder (12 x 512,
                                                               causal, EOS pooling, projection)
  OUT_DIR/sentence-transformers/all-MiniLM-L6-v2/{model.pt, tokenizer.json}
                                                               MiniLM-sized encoder (6 x 384)
  OUT_DIR/ultralytics/yolov8n/{model.pt, labels.txt}           a YOLOv8n-sized detector:
                                                               [N,3,640,640] -> [N,84,8400]

The architectures have the sizes and the input/output contracts of the catalog's models, so the
GPU table of the task facades measures realistic work; the weights are random, so outputs are
meaningless. Text models are torch.nn modules compiled with torch.jit.script, not traced
transformers models: a traced transformers BERT bakes a CPU tensor into its attention mask
(docs/gpu.md). The tokenizers are WordPiece tokenizers built offline from a generated vocabulary
(special tokens, characters, and frequent English words) with the `tokenizers` library.
Labels: ImageNet's and COCO's class names as torchvision ships them (no download).

Run (needs torch, torchvision, tokenizers; no network):
    python3 scripts/hub/export_models.py OUT_DIR
"""
import hashlib
import json
import os
import sys

import torch
import torchvision


def lock(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    with open(path + ".lock.json", "w") as f:
        json.dump({"sha256": digest.hexdigest(), "size": os.path.getsize(path)}, f)


def save_script(module, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    module.save(path)
    lock(path)


def save_text(lines, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    lock(path)


class Projected(torch.nn.Module):
    """A torchvision ViT whose classification head is replaced by a projection (CLIP image)."""

    def __init__(self, vit, dim):
        super().__init__()
        vit.heads = torch.nn.Identity()
        self.vit = vit
        self.proj = torch.nn.Linear(768, dim, bias=False)

    def forward(self, pixel_values):
        return self.proj(self.vit(pixel_values))


class TextEncoder(torch.nn.Module):
    """A transformer text encoder: CLIP's text tower (causal, EOS pooling, projection) when
    `clip`, else a BERT-style encoder returning the token states (mean pooling is the facade's)."""

    def __init__(self, vocab, width, layers, heads, ffn, max_len, clip, proj):
        super().__init__()
        self.clip = clip
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Embedding(max_len, width)
        layer = torch.nn.TransformerEncoderLayer(width, heads, ffn, activation="gelu",
                                                 batch_first=True, norm_first=clip)
        self.encoder = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(width)
        self.proj = torch.nn.Linear(width, proj, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        n = input_ids.size(1)
        positions = torch.arange(n, device=input_ids.device).unsqueeze(0)
        x = self.tokens(input_ids) + self.positions(positions)
        padding = attention_mask == 0
        if self.clip:
            causal = torch.triu(torch.full([n, n], float("-inf"), device=input_ids.device), 1)
            x = self.norm(self.encoder(x, mask=causal, src_key_padding_mask=padding))
            # CLIP pools the state at the end-of-text token: the last real token.
            last = attention_mask.sum(1) - 1
            return self.proj(x[torch.arange(x.size(0), device=x.device), last])
        return self.norm(self.encoder(x, src_key_padding_mask=padding))


class YoloShaped(torch.nn.Module):
    """A YOLOv8n-sized detector with YOLOv8's output contract: boxes (cx, cy, w, h in input
    pixels) and 80 class scores for the 8400 cells of strides 8, 16 and 32."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, stride):
            return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                       torch.nn.BatchNorm2d(cout), torch.nn.SiLU())

        self.stem = torch.nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1))
        self.p3 = torch.nn.Sequential(block(32, 64, 2), block(64, 64, 1))
        self.p4 = torch.nn.Sequential(block(64, 128, 2), block(128, 128, 1))
        self.p5 = torch.nn.Sequential(block(128, 256, 2), block(256, 256, 1))
        self.heads = torch.nn.ModuleList(
            [torch.nn.Sequential(block(c, 64, 1), torch.nn.Conv2d(64, 84, 1)) for c in (64, 128, 256)])

    def forward(self, images):
        x = self.stem(images)
        p3 = self.p3(x)
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        return torch.cat([self.decode(self.heads[0](p3), 8), self.decode(self.heads[1](p4), 16),
                          self.decode(self.heads[2](p5), 32)], 2)

    def decode(self, y: torch.Tensor, stride: int):
        h = y.size(2)
        w = y.size(3)
        grid = torch.meshgrid([torch.arange(h, device=y.device), torch.arange(w, device=y.device)],
                              indexing="ij")
        gy = grid[0].flatten().to(y.dtype)
        gx = grid[1].flatten().to(y.dtype)
        cx = (gx + 0.5 + torch.tanh(y[:, 0].flatten(1))) * stride
        cy = (gy + 0.5 + torch.tanh(y[:, 1].flatten(1))) * stride
        wh = torch.sigmoid(y[:, 2:4].flatten(2)) * stride * 8
        scores = torch.sigmoid(y[:, 4:].flatten(2))
        return torch.cat([cx.unsqueeze(1), cy.unsqueeze(1), wh, scores], 1)


def wordpiece(path, vocab_size):
    """A WordPiece tokenizer.json built offline: special tokens, printable characters with their
    ## continuations, and generated words up to vocab_size entries."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127)]
    vocab += chars + ["##" + c for c in chars]
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    seen = set(vocab)
    i = 0
    while len(vocab) < vocab_size:
        word, k = "", i
        while True:
            word += letters[k % 26]
            k //= 26
            if k == 0:
                break
        if word not in seen:
            seen.add(word)
            vocab.append(word)
        i += 1
    tok = Tokenizer(WordPiece({w: j for j, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path)
    lock(path)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    imagenet = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    coco = [c for c in torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.DEFAULT
            .meta["categories"] if c not in ("__background__", "N/A")]
    assert len(imagenet) == 1000 and len(coco) == 80, (len(imagenet), len(coco))
    with torch.no_grad():
        image = torch.randn(1, 3, 224, 224)
        resnet = torchvision.models.resnet50(weights=None).eval()
        save_script(torch.jit.trace(resnet, image), f"{out}/torchvision/resnet50/model.pt")
        save_text(imagenet, f"{out}/torchvision/resnet50/labels.txt")

        vit = torchvision.models.vit_b_16(weights=None).eval()
        save_script(torch.jit.trace(vit, image), f"{out}/google/vit-base-patch16-224/model.pt")
        save_text(imagenet, f"{out}/google/vit-base-patch16-224/labels.txt")

        clip_image = Projected(torchvision.models.vit_b_32(weights=None), 512).eval()
        save_script(torch.jit.trace(clip_image, image), f"{out}/openai/clip-vit-base-patch32/image.pt")

        clip_text = TextEncoder(49408, 512, 12, 8, 2048, 77, clip=True, proj=512).eval()
        save_script(torch.jit.script(clip_text), f"{out}/openai/clip-vit-base-patch32/text.pt")
        wordpiece(f"{out}/openai/clip-vit-base-patch32/tokenizer.json", 49408)

        minilm = TextEncoder(30522, 384, 6, 12, 1536, 512, clip=False, proj=384).eval()
        save_script(torch.jit.script(minilm), f"{out}/sentence-transformers/all-MiniLM-L6-v2/model.pt")
        wordpiece(f"{out}/sentence-transformers/all-MiniLM-L6-v2/tokenizer.json", 30522)

        yolo = YoloShaped().eval()
        y = yolo(torch.zeros(1, 3, 640, 640))
        assert tuple(y.shape) == (1, 84, 8400), y.shape
        # Scripted, not traced: a trace would bake the device of its meshgrid into the graph.
        save_script(torch.jit.script(yolo), f"{out}/ultralytics/yolov8n/model.pt")
        save_text(coco, f"{out}/ultralytics/yolov8n/labels.txt")

        # Each text model once on the device it will serve on would bake nothing: check that a
        # scripted module runs on CUDA when there is one.
        if torch.cuda.is_available():
            ids = torch.ones(2, 77, dtype=torch.long, device="cuda")
            clip_text.cuda()(ids, torch.ones_like(ids))
            minilm.cuda()(ids, torch.ones_like(ids))
    made = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    print("exported", len(made), "files:", *made, sep="\n  ")


if __name__ == "__main__":
    main()
