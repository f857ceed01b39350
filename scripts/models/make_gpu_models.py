#!/usr/bin/env python3
"""Makes the models of the GPU benchmarks, with random weights (seed 0), as TorchScript:
  resnet50.pt    torchvision ResNet-50      image float32 [N,3,224,224] -> logits [N,1000]
  vit_b_16.pt    torchvision ViT-B/16       image float32 [N,3,224,224] -> logits [N,1000]
  bert_base.pt   BERT-base-sized encoder    input_ids, attention_mask int64 [N,128]
                                            -> last_hidden_state [N,128,768], pooler_output [N,768]
  overhead.pt    ResNet-50's signature, next to no work: a mean per channel and a linear layer
                 (image float32 [N,3,224,224] -> logits [N,1000]); timing it times a call's
                 copies and bookkeeping (bench.sh overhead)
They are hundreds of MB, so they are made on the GPU machine and never committed.

Run:  python3 scripts/models/make_gpu_models.py OUT_DIR [NAME ...]
With NAMEs (resnet50 vit_b_16 overhead bert_base) only those files are written; the models
before them are still built and their example inputs drawn, so each file's weights are the
same as when all are made (bench.sh callpath makes vit_b_16 alone).
"""
import os
import sys

import torch
import torchvision


class BertSized(torch.nn.Module):
    """A BERT-base-sized encoder (12 layers, width 768, 12 heads, 110M parameters) built from
    torch.nn, scripted so that no device is baked into the graph. A traced transformers BertModel
    bakes a CPU tensor into its attention mask and fails on CUDA (seen on torch 2.11 /
    transformers 5.17), so it cannot be moved between devices by a model manager."""

    def __init__(self):
        super().__init__()
        self.tokens = torch.nn.Embedding(30522, 768)
        self.positions = torch.nn.Embedding(512, 768)
        self.norm = torch.nn.LayerNorm(768)
        layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, activation="gelu", batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
        self.pooler = torch.nn.Linear(768, 768)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        positions = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        x = self.norm(self.tokens(input_ids) + self.positions(positions))
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        return x, torch.tanh(self.pooler(x[:, 0]))


class Overhead(torch.nn.Module):
    """ResNet-50's inputs and outputs around almost no compute (optim_baseline.py has the same)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(image.mean(dim=(2, 3)))


out = sys.argv[1]
known = ["resnet50", "vit_b_16", "overhead", "bert_base"]
wanted = sys.argv[2:] or known
unknown = [n for n in wanted if n not in known]
if unknown:
    sys.exit("unknown model name(s) %s; known: %s" % (unknown, known))
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
with torch.no_grad():
    for name, ctor in [("resnet50", torchvision.models.resnet50), ("vit_b_16", torchvision.models.vit_b_16)]:
        m = ctor(weights=None).eval()
        example = torch.randn(1, 3, 224, 224)
        if name in wanted:
            torch.jit.trace(m, example).save(os.path.join(out, name + ".pt"))
    overhead = Overhead().eval()  # built, then its input drawn: the order of a full run
    example = torch.randn(1, 3, 224, 224)
    if "overhead" in wanted:
        torch.jit.trace(overhead, example).save(os.path.join(out, "overhead.pt"))
    if "bert_base" in wanted:
        bert = BertSized().eval()
        torch.jit.script(bert).save(os.path.join(out, "bert_base.pt"))
print("made", sorted(os.listdir(out)))
