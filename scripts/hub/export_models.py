#!/usr/bin/env python3
"""Exports the artifacts of nos-hub's builtin catalog (nos-hub/src/main/resources/ai/nos/hub/
catalog.json) and writes each file's lock file (<file>.lock.json: {"sha256": ..., "size": ...})
beside it, plus OUT_DIR/provenance.json saying what was exported and how. Serve OUT_DIR to NOS
with Hub.builder().baseDirectory(Path.of(OUT_DIR)), or the system property nos.hub.baseUri set
to OUT_DIR (an absolute path) or to the URL of a server serving it.

What each entry is comes from the table scripts/hub/provenance.json, which this script
dispatches on and which nos-hub's BuiltinCatalogTest compares with the catalog:

  architecture  the model's own implementation and published config:
                  torchvision/resnet50               torchvision resnet50
                  google/vit-base-patch16-224        transformers ViTForImageClassification
                  openai/clip-vit-base-patch32/image transformers CLIPVisionModelWithProjection
                  openai/clip-vit-base-patch32/text  transformers CLIPTextModelWithProjection
                  sentence-transformers/all-MiniLM-L6-v2  transformers BertModel (the facade
                                                     mean-pools and L2-normalizes, as
                                                     sentence-transformers' Pooling + Normalize)
                random weights by default; the published weights with --pretrained (downloads
                them: needs network access, which the NOS build machines do not have).
  look_alike    ultralytics/yolov8n: ultralytics is not installed where NOS exports, so a small
                detector with YOLOv8n's input and raw output contract stands in; it cannot hold
                YOLOv8n's weights, and --pretrained does not change it.

Tokenizers: with --pretrained, the model's own tokenizer.json from the HuggingFace hub (CLIP's
with CLIPProcessor's padding added, scripts/hub/make_tokenizers.py's clip_padding). Without it,
a tokenizer of the model's own type and format with a small vocabulary learned offline by
make_tokenizers.py (the `tokenizers` library): CLIP's byte-level BPE for CLIP, BERT's WordPiece
for MiniLM; nos-hub's TokenizerParityTest checks NOS reads that format as transformers does.

Every transformers entry is exported through a small wrapper (VitLogits, ClipVision, ClipText,
BertTokens) that calls the model's own embedding, layer, norm and head modules and builds the
attention masks from the inputs alone (none for the image towers): a plain trace of the
transformers forward bakes the tracing device into its masks (docs/gpu.md, "Traced transformers
BERT fails on CUDA"; transformers 5's ViT fails the same way on CUDA). Every transformers export is
checked at export time against the transformers model's own forward on the same inputs (padded
rows included), and, where CUDA is available, every export is run on CUDA and compared with its
CPU result.

OUT_DIR/_python/ID holds the same weights in the Python implementation's own format
(save_pretrained, or a torchvision state dict) for scripts/hub/make_parity.py; the catalog never
points there.

Run (needs torch, torchvision; transformers and tokenizers for the transformers entries; an entry
whose library is missing is skipped, named, and the exit status is 1):
    python3 scripts/hub/export_models.py OUT_DIR [--pretrained] [--only ID ...]
    python3 scripts/hub/export_models.py --check     # the table against this script; no torch
"""
import argparse
import hashlib
import json
import os
import sys

torch = None  # imported by main(): --check runs without it
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "provenance.json")
EXPORTERS = {}


def exporter(provenance):
    """Registers an export function under its name, with what it makes."""

    def register(fn):
        fn.provenance = provenance
        EXPORTERS[fn.__name__] = fn
        return fn

    return register


def table():
    """(id, export function) for each entry this script exports, after checking the table."""
    with open(TABLE) as f:
        rows = json.load(f)["entries"]
    entries, used = [], set()
    for entry_id, row in rows.items():
        if "exporter" not in row:
            continue  # exported by another script, named in the row
        fn = EXPORTERS.get(row["exporter"])
        if fn is None:
            raise SystemExit(f"{TABLE}: {entry_id}: no export function {row['exporter']!r}")
        if fn.provenance != row["provenance"]:
            raise SystemExit(f"{TABLE}: {entry_id} is listed as {row['provenance']!r} but "
                             f"{fn.__name__} makes {fn.provenance!r}")
        used.add(fn.__name__)
        entries.append((entry_id, fn))
    unused = sorted(set(EXPORTERS) - used)
    if unused:
        raise SystemExit(f"{TABLE}: export functions not in the table: {unused}")
    return entries


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


def python_copy(out, entry_id, model):
    """The exported weights in the Python implementation's own format, under OUT_DIR/_python/ID
    (save_pretrained for transformers, a state dict for torchvision): make_parity.py runs the
    Python pipelines on them, so its references have the export's random weights. The catalog
    never points there."""
    path = os.path.join(out, "_python", entry_id)
    os.makedirs(path, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(path)
    else:
        torch.save(model.state_dict(), os.path.join(path, "state_dict.pt"))


def hub_file(repo, name, path):
    """Copies a file of a HuggingFace hub repository (downloaded once into its cache) to path."""
    import shutil

    from huggingface_hub import hf_hub_download

    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(hf_hub_download(repo, name), path)
    lock(path)


def imagenet_labels():
    import torchvision

    labels = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert len(labels) == 1000, len(labels)
    return labels


def check_same(name, exported, reference, atol=1e-4):
    import torch

    error = (exported - reference).abs().max().item()
    if not torch.allclose(exported, reference, rtol=1e-4, atol=atol):
        raise SystemExit(f"{name}: the export differs from the reference implementation by "
                         f"{error} (max abs)")
    print(f"  {name}: matches the reference implementation (max abs difference {error:.2e})")


def check_cuda(name, module, *inputs):
    """Runs the exported module on CUDA when there is one and compares with its CPU result: a
    trace must bake no device (a CPU constant fails on CUDA) and no value of the tracing run."""
    import torch

    if not torch.cuda.is_available():
        return
    cpu = module(*inputs)
    # fp32 means fp32 (as make_parity.py and NOS set it) for modules that read the flags when
    # they run; traces carry the flag of their tracing moment (main sets it off before any).
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        cuda = module.cuda()(*[x.cuda() for x in inputs]).cpu()
    finally:
        module.cpu()
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    # CUDA and CPU kernels differ in summation order (docs/gpu.md: 4.3e-4 for ResNet-50).
    error = ((cuda - cpu).abs().max() / cpu.abs().max().clamp_min(1e-12)).item()
    if error > 1e-3:
        raise SystemExit(f"{name}: CUDA and CPU results of the export differ by {error:.2e} "
                         "(max abs / max |cpu|), more than 1e-3")
    print(f"  {name}: runs on CUDA (relative difference to CPU {error:.2e})")


def layer_kwargs(layer, **wanted):
    """Of wanted, the keyword arguments the layer's forward names: transformers 4 and 5 differ
    (CLIP's causal_attention_mask), and a None sent into **kwargs would reach the attention."""
    import inspect

    named = inspect.signature(layer.forward).parameters
    open_ended = any(p.kind == p.VAR_KEYWORD for p in named.values())
    return {k: v for k, v in wanted.items() if k in named or (open_ended and v is not None)}


def text_inputs(vocab, length, eos=None):
    """Two rows of token ids, the second padded after 5 tokens; eos, if given, ends each row."""
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab - 2, (2, length), generator=g)
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    if eos is not None:
        ids[0, -1] = eos
        ids[1, 4] = eos
    return ids, mask


def submodule(owner, *paths):
    """The first of the dotted attribute paths owner has: transformers 5 moved the encoder layers
    up (ViTModel.layers where 4.x had ViTModel.encoder.layer), so each wrapper names both."""
    for path in paths:
        obj = owner
        for name in path.split("."):
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise AttributeError(f"{type(owner).__name__} has none of {paths}")


def layer_output(out):
    # transformers returns a tuple from an encoder layer in 4.x and a tensor in later versions.
    return out[0] if isinstance(out, tuple) else out


def yolo_shaped():
    """The class, made once torch is imported (main() imports it into this module's globals,
    where torch.jit.script resolves the names of scripted methods)."""

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
                [torch.nn.Sequential(block(c, 64, 1), torch.nn.Conv2d(64, 84, 1))
                 for c in (64, 128, 256)])

        def forward(self, images):
            x = self.stem(images)
            p3 = self.p3(x)
            p4 = self.p4(p3)
            p5 = self.p5(p4)
            return torch.cat([self.decode(self.heads[0](p3), 8),
                              self.decode(self.heads[1](p4), 16),
                              self.decode(self.heads[2](p5), 32)], 2)

        def decode(self, y: torch.Tensor, stride: int):
            h = y.size(2)
            w = y.size(3)
            grid = torch.meshgrid([torch.arange(h, device=y.device),
                                   torch.arange(w, device=y.device)], indexing="ij")
            gy = grid[0].flatten().to(y.dtype)
            gx = grid[1].flatten().to(y.dtype)
            cx = (gx + 0.5 + torch.tanh(y[:, 0].flatten(1))) * stride
            cy = (gy + 0.5 + torch.tanh(y[:, 1].flatten(1))) * stride
            wh = torch.sigmoid(y[:, 2:4].flatten(2)) * stride * 8
            scores = torch.sigmoid(y[:, 4:].flatten(2))
            return torch.cat([cx.unsqueeze(1), cy.unsqueeze(1), wh, scores], 1)

    return YoloShaped


def tokenizer_json(kind, path):
    """make_tokenizers.py's tokenizer of the model's format at path, locked; returns its
    vocabulary size and, for CLIP, its <|endoftext|> id."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizers

    made = (make_tokenizers.clip_tokenizer(path) if kind == "clip"
            else (make_tokenizers.bert_tokenizer(path), None))
    lock(path)
    return made


def clip_tokenizer_pretrained(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizers

    hub_file(CLIP, "tokenizer.json", path)
    make_tokenizers.clip_padding(path)
    lock(path)


def calibrate_batch_norm(torch, model, batches=8):
    """Random weights keep BatchNorm's initial running statistics (mean 0, variance 1), which
    normalize nothing: activations grow block by block and the logits come out as differences of
    large numbers, so two correct fp32 kernels (CPU and CUDA, or two convolution algorithms)
    differed by 4e-4 of the largest logit on the H200. Training would have set the statistics from
    the data: so set them here, as cumulative averages over a few batches of noise images in
    train mode (seeded). The weights stay random; every layer's output is then normalized as in a
    trained network, and an fp32 comparison measures the kernels, not the growth."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
    generator = torch.Generator().manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(16, 3, 224, 224, generator=generator))
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            # A channel the noise never lit (ReLU'd to zero) has variance ~0, and dividing by
            # sqrt(0 + eps) would multiply its rounding by ~300: a guard (not measured to matter:
            # with it, CUDA vs CPU 2.25e-5 on the H200 once the trace is made with TF32 off).
            m.running_var.clamp_(min=1e-2)
    model.eval()


@exporter("architecture")
def resnet50(out, pretrained):
    import torch
    import torchvision

    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2 if pretrained else None
    model = torchvision.models.resnet50(weights=weights).eval()
    if not pretrained:
        calibrate_batch_norm(torch, model)
    image = torch.randn(2, 3, 224, 224)
    traced = torch.jit.trace(model, image)
    check_cuda("resnet50", traced, image)
    save_script(traced, f"{out}/torchvision/resnet50/model.pt")
    python_copy(out, "torchvision/resnet50", model)
    save_text(imagenet_labels(), f"{out}/torchvision/resnet50/labels.txt")


VIT = "google/vit-base-patch16-224"
CLIP = "openai/clip-vit-base-patch32"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"




def vit_module(torch):
    class VitLogits(torch.nn.Module):
        """ViTForImageClassification's logits from its own modules: patch and position
        embeddings, the encoder layers without a mask, the final layer norm, the classifier on
        the [CLS] state. A trace of the transformers forward bakes a CPU tensor made by its mask
        helpers (transformers 5, masking_utils) into the attention, which then fails on CUDA."""

        def __init__(self, model):
            super().__init__()
            self.embeddings = model.vit.embeddings
            self.layers = submodule(model.vit, "layers", "encoder.layer")
            self.layernorm = model.vit.layernorm
            self.classifier = model.classifier

        def forward(self, pixel_values):
            x = self.embeddings(pixel_values)
            for layer in self.layers:
                x = layer_output(layer(x))
            x = self.layernorm(x)
            return self.classifier(x[:, 0, :])

    return VitLogits


def clip_vision_module(torch):
    class ClipVision(torch.nn.Module):
        """CLIPVisionModelWithProjection's image_embeds from its own modules, for the same reason
        as VitLogits: embeddings, pre-layernorm, the encoder layers without masks, the [CLS] state
        through the post-layernorm and the projection."""

        def __init__(self, model):
            super().__init__()
            vision = model.vision_model
            self.embeddings = vision.embeddings
            self.pre_layrnorm = submodule(vision, "pre_layrnorm", "pre_layernorm")
            self.layers = submodule(vision, "encoder.layers", "layers")
            self.post_layernorm = vision.post_layernorm
            self.visual_projection = model.visual_projection
            self.kwargs = layer_kwargs(self.layers[0], attention_mask=None,
                                       causal_attention_mask=None)

        def forward(self, pixel_values):
            x = self.pre_layrnorm(self.embeddings(pixel_values))
            for layer in self.layers:
                x = layer_output(layer(x, **self.kwargs))
            return self.visual_projection(self.post_layernorm(x[:, 0, :]))

    return ClipVision


@exporter("architecture")
def vit_b16(out, pretrained):
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    if pretrained:
        model = ViTForImageClassification.from_pretrained(VIT, attn_implementation="eager")
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    else:
        # google/vit-base-patch16-224's config.json, labels aside.
        labels = imagenet_labels()
        config = ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, hidden_act="gelu", layer_norm_eps=1e-12,
                           image_size=224, patch_size=16, num_channels=3, qkv_bias=True,
                           id2label=dict(enumerate(labels)),
                           label2id={l: i for i, l in enumerate(labels)})
        config._attn_implementation = "eager"
        model = ViTForImageClassification(config)
    model.eval()
    wrapped = vit_module(torch)(model).eval()
    image = torch.randn(2, 3, 224, 224)
    traced = torch.jit.trace(wrapped, image)
    check_same("vit logits", traced(image), model(pixel_values=image).logits)
    check_cuda("vit", traced, image)
    save_script(traced, f"{out}/{VIT}/model.pt")
    python_copy(out, VIT, model)
    save_text(labels, f"{out}/{VIT}/labels.txt")


def clip_config():
    """openai/clip-vit-base-patch32's config.json (ViT-B/32 image tower, 12 x 512 text tower,
    512-d projections); eos_token_id 2 is that file's value, which makes transformers pool the
    text at the largest token id (CLIP's end-of-text token is its last)."""
    from transformers import CLIPConfig

    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=8,
                         max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                           num_attention_heads=12, image_size=224, patch_size=32,
                           hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=512)
    config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    return config


@exporter("architecture")
def clip_image(out, pretrained):
    import torch
    from transformers import CLIPVisionModelWithProjection

    if pretrained:
        model = CLIPVisionModelWithProjection.from_pretrained(CLIP, attn_implementation="eager")
    else:
        model = CLIPVisionModelWithProjection(clip_config().vision_config)
    model.eval()
    wrapped = clip_vision_module(torch)(model).eval()
    image = torch.randn(2, 3, 224, 224)
    traced = torch.jit.trace(wrapped, image)
    check_same("clip image_embeds", traced(image), model(pixel_values=image).image_embeds)
    check_cuda("clip image", traced, image)
    save_script(traced, f"{out}/{CLIP}/image.pt")
    python_copy(out, CLIP + "/image", model)


def clip_text_module(torch):
    class ClipText(torch.nn.Module):
        """CLIPTextModelWithProjection's forward on its own modules, with masks built from the
        inputs only (so the trace follows the device of its inputs): causal attention plus the
        padding mask, the final layer norm, the state at the end-of-text token, the projection."""

        def __init__(self, model):
            super().__init__()
            text = model.text_model
            self.embeddings = text.embeddings
            self.layers = submodule(text, "encoder.layers", "layers")
            self.final_layer_norm = text.final_layer_norm
            self.text_projection = model.text_projection
            self.eos = getattr(text, "eos_token_id", None) or model.config.eos_token_id

        def forward(self, input_ids, attention_mask):
            x = self.embeddings(input_ids=input_ids)
            ones = torch.ones_like(x[0, :, :1]) * torch.ones_like(x[0, :1, :1])
            square = ones * ones.transpose(0, 1)  # [tokens, tokens] on the input's device
            low = torch.finfo(x.dtype).min
            causal = torch.triu(square, 1) * low
            padding = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * low
            mask = causal[None, None] + padding
            for layer in self.layers:
                x = layer_output(layer(x, **layer_kwargs(layer, attention_mask=mask,
                                                         causal_attention_mask=None)))
            x = self.final_layer_norm(x)
            if self.eos == 2:
                last = input_ids.argmax(-1)
            else:
                last = (input_ids == self.eos).int().argmax(-1)
            pooled = x.gather(1, last[:, None, None].expand(-1, 1, x.size(2))).squeeze(1)
            return self.text_projection(pooled)

    return ClipText


@exporter("architecture")
def clip_text(out, pretrained):
    import torch
    from transformers import CLIPTextModelWithProjection

    if pretrained:
        model = CLIPTextModelWithProjection.from_pretrained(CLIP, attn_implementation="eager")
        clip_tokenizer_pretrained(f"{out}/{CLIP}/tokenizer.json")
        vocab, eos = 49408, 49407
    else:
        model = CLIPTextModelWithProjection(clip_config().text_config)
        # Its <|endoftext|> is its largest id, as CLIP's: the pooling takes the argmax id.
        vocab, eos = tokenizer_json("clip", f"{out}/{CLIP}/tokenizer.json")
    model.eval()
    wrapped = clip_text_module(torch)(model).eval()
    ids, mask = text_inputs(vocab, 77, eos=eos)
    traced = torch.jit.trace(wrapped, (ids, mask))
    check_same("clip text_embeds", traced(ids, mask),
               model(input_ids=ids, attention_mask=mask).text_embeds)
    check_cuda("clip text", traced, ids, mask)
    save_script(traced, f"{out}/{CLIP}/text.pt")
    python_copy(out, CLIP + "/text", model)


def bert_tokens_module(torch):
    class BertTokens(torch.nn.Module):
        """BertModel's last_hidden_state from its own modules, with the padding mask built from
        the inputs only (so the trace follows the device of its inputs); token type 0."""

        def __init__(self, model):
            super().__init__()
            self.embeddings = model.embeddings
            self.layers = submodule(model, "encoder.layer", "layers", "encoder.layers")

        def forward(self, input_ids, attention_mask):
            x = self.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
            low = torch.finfo(x.dtype).min
            mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * low
            for layer in self.layers:
                x = layer_output(layer(x, attention_mask=mask))
            return x

    return BertTokens


@exporter("architecture")
def minilm(out, pretrained):
    import torch
    from transformers import BertConfig, BertModel

    if pretrained:
        model = BertModel.from_pretrained(MINILM, attn_implementation="eager",
                                          add_pooling_layer=False)
        hub_file(MINILM, "tokenizer.json", f"{out}/{MINILM}/tokenizer.json")
    else:
        # sentence-transformers/all-MiniLM-L6-v2's config.json.
        config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                            num_attention_heads=12, intermediate_size=1536, hidden_act="gelu",
                            max_position_embeddings=512, type_vocab_size=2,
                            layer_norm_eps=1e-12)
        config._attn_implementation = "eager"
        model = BertModel(config, add_pooling_layer=False)
        tokenizer_json("bert", f"{out}/{MINILM}/tokenizer.json")
    model.eval()
    wrapped = bert_tokens_module(torch)(model).eval()
    ids, mask = text_inputs(30522, 16)
    traced = torch.jit.trace(wrapped, (ids, mask))
    reference = model(input_ids=ids, attention_mask=mask).last_hidden_state
    # Padded positions are not compared: the facade's mean pooling never reads them.
    keep = mask[:, :, None].bool()
    check_same("minilm last_hidden_state", traced(ids, mask) * keep, reference * keep)
    longer, longer_mask = text_inputs(30522, 40)
    check_same("minilm last_hidden_state, another length", traced(longer, longer_mask)[0],
               model(input_ids=longer, attention_mask=longer_mask).last_hidden_state[0])
    if pretrained:
        sentence_check(model, f"{out}/{MINILM}/tokenizer.json", traced)
    check_cuda("minilm", traced, ids, mask)
    save_script(traced, f"{out}/{MINILM}/model.pt")
    python_copy(out, MINILM, model)


def sentence_check(model, tokenizer_json, traced):
    """Mean pooling and L2 normalization of the export against SentenceTransformer.encode, where
    sentence-transformers is installed (it needs the downloaded weights, so --pretrained only)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("  minilm: sentence-transformers not installed; encode() parity not checked")
        return
    import torch
    from tokenizers import Tokenizer

    texts = ["A man is eating food.", "NOS serves models on GPUs."]
    tok = Tokenizer.from_file(tokenizer_json)
    tok.enable_padding(pad_id=0)
    encoded = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in encoded])
    mask = torch.tensor([e.attention_mask for e in encoded])
    states = traced(ids, mask)
    pooled = (states * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
    ours = torch.nn.functional.normalize(pooled, dim=1)
    theirs = torch.from_numpy(SentenceTransformer(MINILM, device="cpu").encode(texts))
    check_same("minilm sentence embeddings vs SentenceTransformer.encode", ours, theirs, 1e-5)


@exporter("look_alike")
def yolov8n_look_alike(out, pretrained):
    import torchvision

    coco = [c for c in torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.DEFAULT
            .meta["categories"] if c not in ("__background__", "N/A")]
    assert len(coco) == 80, len(coco)
    yolo = yolo_shaped()().eval()
    y = yolo(torch.zeros(1, 3, 640, 640))
    assert tuple(y.shape) == (1, 84, 8400), y.shape
    # Scripted, not traced: a trace would bake the device of its meshgrid into the graph.
    scripted = torch.jit.script(yolo)
    check_cuda("yolov8n look-alike", scripted, torch.rand(1, 3, 640, 640))
    save_script(scripted, f"{out}/ultralytics/yolov8n/model.pt")
    save_text(coco, f"{out}/ultralytics/yolov8n/labels.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="the directory to export into")
    parser.add_argument("--pretrained", action="store_true",
                        help="the published weights and tokenizers (downloads them)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="export these entries only")
    parser.add_argument("--check", action="store_true",
                        help="check scripts/hub/provenance.json against this script and stop")
    args = parser.parse_args()
    entries = table()
    if args.check:
        print(f"{TABLE}: {len(entries)} entries, each made as listed")
        return 0
    if args.out is None:
        parser.error("OUT_DIR is required")
    known = [entry_id for entry_id, _ in entries]
    for entry_id in args.only or []:
        if entry_id not in known:
            parser.error(f"--only {entry_id}: not an entry of {TABLE} exported here ({known})")
    global torch
    import torch

    # fp32 means fp32 in what is exported: torch.jit.trace bakes the current
    # torch.backends.cudnn.allow_tf32 (True by default) into every aten::_convolution as its
    # cudnn_tf32 argument, so a trace made with the defaults runs its convolutions in TF32 on any
    # GPU, whatever the loader sets (H200: a BatchNorm-calibrated ResNet-50 traced with the
    # default read 2.05e-2 from the CPU, traced with it off 2.25e-5; thirteenth session).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

    out = os.path.abspath(args.out)
    made, skipped = {}, []
    for entry_id, fn in entries:
        if args.only and entry_id not in args.only:
            continue
        print(f"{entry_id} ({fn.provenance}, {fn.__name__})")
        torch.manual_seed(0)
        try:
            with torch.no_grad():
                fn(out, args.pretrained)
        except ImportError as e:
            print(f"  skipped: {e} (install it and run again with --only {entry_id})")
            skipped.append(entry_id)
            continue
        made[entry_id] = {"provenance": fn.provenance, "exporter": fn.__name__,
                          "weights": "pretrained" if args.pretrained and
                          fn.provenance == "architecture" else "random"}
    versions = {"torch": torch.__version__}
    for name in ("torchvision", "transformers", "tokenizers"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    os.makedirs(out, exist_ok=True)
    manifest = os.path.join(out, "provenance.json")
    previous = {}
    if os.path.exists(manifest):
        with open(manifest) as f:
            previous = json.load(f).get("entries", {})
    previous.update(made)
    with open(manifest, "w") as f:
        json.dump({"versions": versions, "entries": previous}, f, indent=2)
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out)
                   for f in fs)
    print(f"exported {len(made)} entries, {len(files)} files:", *files, sep="\n  ")
    if skipped:
        print("skipped (a library is missing):", *skipped, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
