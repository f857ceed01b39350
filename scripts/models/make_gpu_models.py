#!/usr/bin/env python3
"""Makes the models of the GPU benchmarks, with random weights (seed 0), as TorchScript:
  resnet50.pt    torchvision ResNet-50      image float32 [N,3,224,224] -> logits [N,1000]
  vit_b_16.pt    torchvision ViT-B/16       image float32 [N,3,224,224] -> logits [N,1000]
  bert_base.pt   transformers BERT-base     input_ids, attention_mask int64 [N,128]
                                            -> last_hidden_state [N,128,768], pooler_output [N,768]
They are hundreds of MB, so they are made on the GPU machine and never committed.

Run:  python3 scripts/models/make_gpu_models.py OUT_DIR
"""
import os
import sys

import torch
import torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
with torch.no_grad():
    for name, ctor in [("resnet50", torchvision.models.resnet50), ("vit_b_16", torchvision.models.vit_b_16)]:
        m = ctor(weights=None).eval()
        torch.jit.trace(m, torch.randn(1, 3, 224, 224)).save(os.path.join(out, name + ".pt"))
    from transformers import BertConfig, BertModel
    bert = BertModel(BertConfig(), add_pooling_layer=True).eval()
    bert.config.return_dict = False
    ids = torch.randint(0, 30522, (1, 128))
    mask = torch.ones(1, 128, dtype=torch.int64)
    torch.jit.trace(bert, (ids, mask), strict=False).save(os.path.join(out, "bert_base.pt"))
print("made", sorted(os.listdir(out)))
