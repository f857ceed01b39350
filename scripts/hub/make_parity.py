#!/usr/bin/env python3
"""Parity data of nos-hub's image and text entries against the Python pipelines (issue #19).

Two steps, run from the repository root:

  python3 scripts/hub/make_parity.py [--parity DIR]
      Pre-processing references (needs numpy, Pillow, torch, torchvision, transformers; no GPU,
      no network). Writes into nos-hub/src/test/resources/ai/nos/hub/parity/:
        images/*.png|jpg   20 test images made here, deterministically: gradients, noise, drawn
                           shapes and text-like strokes, photo-like blends; square, wide, tall,
                           tiny (17x9, 5x80), large (1280x720); RGB, grayscale, RGBA, palette;
                           PNG and JPEG (4:2:0 and 4:4:4)
        images/*.jpg.pil.png  Pillow's decoding of each JPEG, lossless: Java's ImageIO and
                           libjpeg-turbo round differently (within 3 levels, ReferenceTest), so
                           PreprocessingParityTest compares the pre-processing from the same
                           decoded pixels, and the decoders apart
        references.json.gz per image: its decoded pixels' size, SHA-256 and channel sums; per
                           image and pipeline, the model input the pipeline's own processor makes
                           of it: shape, per-channel sums and sums of squares (float64 over the
                           float32 values), min, max, and the values at SAMPLES fixed flat
                           indices (the same for every image).
      The pipelines, each given the image as the Python pipelines load one (PIL.Image.open, then
      .convert("RGB"), as transformers' load_image and torchvision's examples do):
        torchvision/resnet50                torchvision ResNet50_Weights.IMAGENET1K_V2.transforms()
        google/vit-base-patch16-224         ViTImageProcessor with that repository's
                                            preprocessor_config.json values
        openai/clip-vit-base-patch32/image  CLIPImageProcessor (CLIPProcessor's image processor)
                                            with that repository's preprocessor_config.json values
      The processors are built from those explicit values (no download). In transformers 5 the
      plain class names are the torchvision-backed processors (uint8 tensors resized by
      torchvision, crop offset floored; the "Fast" names are deprecated aliases, so
      "fast_max_abs", the largest difference from the "Fast" class where one exists, is 0);
      nos-hub's catalog follows them ("resampler": "torch", "cropRounding": "floor").

  python3 scripts/hub/make_parity.py [--parity DIR] --models EXPORT_DIR --out OUT_DIR
      Model references of DIR's images on CUDA, fp32 with TF32 off (needs a GPU, torch, torchvision,
      transformers; sentence-transformers where installed). EXPORT_DIR is export_models.py's
      output: its _python/ID folders hold the exported weights in the Python implementations'
      own format. Writes into OUT_DIR:
        references.json    images_dir (DIR/images, absolute); per image entry and image: the output (resnet50 and ViT: the full
                           logits and the top-5; CLIP image: the L2-normalized image_embeds);
                           per text entry: the L2-normalized embeddings of make_tokenizers.py's
                           SENTENCES, and how they were computed
        inputs/ENTRY/IMAGE.f32  the pipeline's model input for that image, raw little-endian
                           float32 [1, 3, 224, 224]: HubParityGpuTest feeds it to NOS's model to
                           hold the model apart from the pre-processing
      Each from the Python pipeline itself: torchvision resnet50 on transforms(), transformers
      ViTForImageClassification on ViTImageProcessor, CLIPVisionModelWithProjection and
      CLIPTextModelWithProjection (CLIPModel's towers with their projections) on CLIPProcessor's
      image processor and CLIPTokenizerFast called as CLIPProcessor calls it (padding to 77,
      truncating), and SentenceTransformer(modules=[Transformer, Pooling(mean), Normalize]) over
      the exported BertModel and tokenizer.json; without sentence-transformers, the documented
      equivalent (its tokenizer call, BertModel, mean pooling over the mask, L2 normalization),
      named in the file.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys

import numpy as np

PARITY = os.path.join("nos-hub", "src", "test", "resources", "ai", "nos", "hub", "parity")
IMAGES = os.path.join(PARITY, "images")  # both set from --parity by main()
SAMPLES = 2048          # sampled values per image and pipeline
SIDE = 224              # every pipeline's model input is [1, 3, 224, 224]
MAX_IMAGE_BYTES = 1_600_000

RESNET = "torchvision/resnet50"
VIT = "google/vit-base-patch16-224"
CLIP_IMAGE = "openai/clip-vit-base-patch32/image"
CLIP_TEXT = "openai/clip-vit-base-patch32/text"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

def grid(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return x / max(w - 1, 1), y / max(h - 1, 1)


def to_u8(a):
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def gradient(w, h, rng):
    x, y = grid(w, h)
    return to_u8(np.stack([255 * x, 255 * y, 255 * (1 - x) * (1 - y) + 60 * x * y], -1))


def noise(w, h, rng):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def photo_like(w, h, rng):
    """A smooth scene: sky gradient, a sun, hills and soft texture, blended with a blurred
    noise field (a photo's low-frequency look, compressible as PNG)."""
    x, y = grid(w, h)
    sky = np.stack([90 + 80 * y, 140 + 70 * y, 230 - 40 * y], -1)
    sun = np.exp(-(((x - 0.72) * w) ** 2 + ((y - 0.25) * h) ** 2) / (0.01 * w * h))
    sky += sun[..., None] * np.array([165, 115, 0])
    hill = y > 0.6 + 0.12 * np.sin(6 * x + 1.3) + 0.05 * np.sin(17 * x)
    ground = np.stack([60 + 50 * x, 120 + 40 * np.sin(9 * x * y * 3), 50 + 30 * y], -1)
    img = np.where(hill[..., None], ground, sky)
    coarse = rng.normal(0, 12, (h // 8 + 2, w // 8 + 2, 3))
    img += np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    return to_u8(img)


def shapes(w, h, rng, mode="RGB"):
    from PIL import Image, ImageDraw

    im = Image.fromarray(gradient(w, h, rng)).convert(mode)
    d = ImageDraw.Draw(im)
    for i in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(4, w // 2 + 5)), y0 + int(rng.integers(4, h // 2 + 5))
        colour = tuple(int(v) for v in rng.integers(0, 256, 4))[:len(mode)]
        if mode == "L":
            colour = colour[0]
        [d.rectangle, d.ellipse, d.line][i % 3](
            [x0, y0, x1, y1], **({"fill": colour} if i % 3 < 2 else
                                  {"fill": colour, "width": 3}))
    return im


def strokes(w, h, rng, mode="L"):
    """Text-like: rows of short dark pen strokes and dots on a light page."""
    from PIL import Image, ImageDraw

    im = Image.new(mode, (w, h), 235 if mode == "L" else (240, 236, 225, 255)[:len(mode)])
    d = ImageDraw.Draw(im)
    ink = 25 if mode == "L" else (20, 20, 60, 255)[:len(mode)]
    line = max(h // 6, 8)
    for top in range(4, h - line, line):
        x = 6
        while x < w - 12:
            glyph = int(rng.integers(3, 9))
            for _ in range(int(rng.integers(1, 4))):
                pts = [(x + int(rng.integers(0, glyph)), top + int(rng.integers(0, line - 3)))
                       for _ in range(3)]
                d.line(pts, fill=ink, width=int(rng.integers(1, 3)))
            x += glyph + int(rng.integers(1, 4)) + (6 if rng.random() < 0.2 else 0)
    return im


def make_images():
    """(file name, PIL image, save options) of the 20 images; the same every run."""
    from PIL import Image

    rng = np.random.default_rng(19)
    a = Image.fromarray
    rgba_text = strokes(400, 300, rng, "RGBA")
    alpha = np.array(rgba_text)
    alpha[..., 3] = to_u8(255 * grid(400, 300)[0])
    made = [
        ("gradient_square.png", a(gradient(256, 256, rng)), {}),
        ("gradient_wide.jpg", a(gradient(640, 200, rng)), {"quality": 90}),
        ("noise_tall.png", a(noise(120, 300, rng)), {}),
        ("noise_small.jpg", a(noise(64, 48, rng)), {"quality": 85}),
        ("shapes.png", shapes(320, 240, rng), {}),
        ("shapes_rgba.png", shapes(200, 150, rng, "RGBA"), {}),
        ("strokes_gray.png", strokes(300, 100, rng), {}),
        ("tiny.png", a(noise(17, 9, rng)), {}),
        ("tiny_gray.jpg", a(noise(9, 17, rng)[..., 0]), {"quality": 95}),
        ("photo_large.png", a(photo_like(1280, 720, rng)), {"optimize": True}),
        ("photo_square.jpg", a(photo_like(360, 360, rng)), {"quality": 85}),
        ("photo_tall.jpg", a(photo_like(180, 403, rng)), {"quality": 80}),
        ("exact_224.png", shapes(224, 224, rng), {}),
        ("sliver.png", a(gradient(5, 80, rng)), {}),
        ("gray_odd.png", a(gradient(233, 231, rng)[..., 1]), {}),
        ("strokes_rgba.png", a(alpha, "RGBA"), {}),
        ("gray_large.jpg", a(photo_like(640, 480, rng)).convert("L"), {"quality": 88}),
        ("photo_wide.png", a(photo_like(300, 121, rng)), {}),
        ("photo_444.jpg", a(photo_like(256, 195, rng)), {"quality": 92, "subsampling": 0}),
        ("palette.png", shapes(160, 120, rng).quantize(64), {}),
    ]
    assert len(made) == 20 and len({m[0] for m in made}) == 20
    return made


def write_images():
    """Writes the images (and Pillow's decoding of each JPEG); returns their file names."""
    from PIL import Image

    os.makedirs(IMAGES, exist_ok=True)
    total = 0
    names = []
    for name, im, options in make_images():
        path = os.path.join(IMAGES, name)
        im.save(path, **options)
        if name.endswith(".jpg"):
            with Image.open(path) as decoded:
                decoded.load()
                decoded.save(path + ".pil.png")
            total += os.path.getsize(path + ".pil.png")
        total += os.path.getsize(path)
        names.append(name)
    print(f"{len(names)} images, {total} bytes with the decoded JPEGs, in {IMAGES}")
    if total > MAX_IMAGE_BYTES:
        raise SystemExit(f"the images take {total} bytes, more than {MAX_IMAGE_BYTES}")
    return names


def load_rgb(path):
    """The image as the Python pipelines load one: opened by Pillow, converted to RGB."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


# ---------------------------------------------------------------------------------------------
# Pre-processing
# ---------------------------------------------------------------------------------------------

def processors():
    """{entry: (processor name, settings, function PIL RGB image -> float32 [1, 3, 224, 224],
    the Fast class's function or None)}, built from explicit values."""
    import torchvision
    import transformers
    from transformers import CLIPImageProcessor, ViTImageProcessor

    tv = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    vit_settings = dict(do_resize=True, size={"height": 224, "width": 224}, resample=2,
                        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    clip_settings = dict(do_resize=True, size={"shortest_edge": 224}, resample=3,
                         do_center_crop=True, crop_size={"height": 224, "width": 224},
                         do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                         image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True)

    def hf(cls, settings):
        if cls is None:
            return None
        p = cls(**settings)
        return lambda im: np.asarray(p(images=im, return_tensors="np")["pixel_values"],
                                     dtype=np.float32)

    return {
        RESNET: ("torchvision ResNet50_Weights.IMAGENET1K_V2.transforms()", repr(tv),
                 lambda im: tv(im).unsqueeze(0).numpy().astype(np.float32), None),
        VIT: ("transformers ViTImageProcessor", vit_settings,
              hf(ViTImageProcessor, vit_settings),
              hf(getattr(transformers, "ViTImageProcessorFast", None), vit_settings)),
        CLIP_IMAGE: ("transformers CLIPImageProcessor", clip_settings,
                     hf(CLIPImageProcessor, clip_settings),
                     hf(getattr(transformers, "CLIPImageProcessorFast", None), clip_settings)),
    }


def sample_indices():
    rng = np.random.default_rng(2019)
    return np.sort(rng.choice(3 * SIDE * SIDE, SAMPLES, replace=False))


def summary(x, indices):
    """Compact but strict: any pixel one level off moves a sum by >= 1 / (255 * std)."""
    assert x.shape == (1, 3, SIDE, SIDE) and x.dtype == np.float32, (x.shape, x.dtype)
    c = x[0].reshape(3, -1).astype(np.float64)
    return {"shape": list(x.shape), "sum": c.sum(1).tolist(), "sumsq": (c * c).sum(1).tolist(),
            "min": float(x.min()), "max": float(x.max()),
            "samples": [float(v) for v in x.reshape(-1)[indices]]}


def preprocessing_references(names):
    import PIL
    import torch
    import torchvision
    import transformers

    indices = sample_indices()
    pipelines = processors()
    images = []
    for name in names:
        path = os.path.join(IMAGES, name)
        from PIL import Image

        with Image.open(path) as im:
            mode, size = im.mode, im.size
        rgb = load_rgb(path)
        pixels = np.asarray(rgb, dtype=np.uint8)
        row = {"image": name, "mode": mode, "width": size[0], "height": size[1],
               "decoded": name + ".pil.png" if name.endswith(".jpg") else name,
               "rgb_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
               "rgb_sum": pixels.reshape(-1, 3).sum(0, dtype=np.int64).tolist(),
               "pipelines": {}}
        for entry, (_, _, run, fast) in pipelines.items():
            x = run(rgb)
            ref = summary(x, indices)
            if fast is not None:
                ref["fast_max_abs"] = float(np.abs(fast(rgb) - x).max())
            row["pipelines"][entry] = ref
        images.append(row)
        print(f"  {name} {mode} {size[0]}x{size[1]}")
    data = {"about": "scripts/hub/make_parity.py: what the Python pipelines' own processors make "
                     "of images/ (see the script's docstring)",
            "versions": {"numpy": np.__version__, "Pillow": PIL.__version__,
                         "torch": torch.__version__, "torchvision": torchvision.__version__,
                         "transformers": transformers.__version__},
            "pipelines": {e: {"processor": p[0], "settings": p[1]} for e, p in pipelines.items()},
            "sample_indices": indices.tolist(), "images": images}
    path = os.path.join(PARITY, "references.json.gz")
    # mtime=0: the same bytes every run.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(data, indent=1, default=str).encode())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


# ---------------------------------------------------------------------------------------------
# Model references (GPU)
# ---------------------------------------------------------------------------------------------

def python_dir(models, entry):
    path = os.path.join(models, "_python", entry)
    if not os.path.isdir(path):
        raise SystemExit(f"{path} is missing: run scripts/hub/export_models.py {models} first "
                         "(it saves the exported weights there)")
    return path


def image_models(models, device):
    """{entry: function float32 [1, 3, 224, 224] tensor on device -> output [1, n]}."""
    import torch
    import torchvision
    from transformers import CLIPVisionModelWithProjection, ViTForImageClassification

    resnet = torchvision.models.resnet50()
    resnet.load_state_dict(torch.load(os.path.join(python_dir(models, RESNET), "state_dict.pt"),
                                      map_location="cpu"))
    resnet = resnet.eval().to(device)
    vit = ViTForImageClassification.from_pretrained(
        python_dir(models, VIT), attn_implementation="eager").eval().to(device)
    clip = CLIPVisionModelWithProjection.from_pretrained(
        python_dir(models, CLIP_IMAGE), attn_implementation="eager").eval().to(device)
    return {RESNET: resnet,
            VIT: lambda x: vit(pixel_values=x).logits,
            CLIP_IMAGE: lambda x: torch.nn.functional.normalize(
                clip(pixel_values=x).image_embeds, dim=-1)}


def clip_text_embeddings(models, device, sentences):
    import torch
    from transformers import CLIPTextModelWithProjection

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizers

    tokenizer_file = os.path.join(models, "openai/clip-vit-base-patch32/tokenizer.json")
    tok, how = make_tokenizers.transformers_tokenizer("clip", tokenizer_file)
    model = CLIPTextModelWithProjection.from_pretrained(
        python_dir(models, CLIP_TEXT), attn_implementation="eager").eval().to(device)
    batch = make_tokenizers.clip_call(tok, sentences)
    ids = torch.tensor(batch["input_ids"], device=device)
    mask = torch.tensor(batch["attention_mask"], device=device)
    out = model(input_ids=ids, attention_mask=mask).text_embeds
    return (torch.nn.functional.normalize(out, dim=-1),
            f"CLIPTextModelWithProjection text_embeds, L2-normalized; tokens: {how}, called as "
            "CLIPProcessor (padding='max_length', max_length=77, truncation=True)")


def minilm_embeddings(models, device, sentences):
    import shutil
    import tempfile

    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizers

    tokenizer_file = os.path.join(models, MINILM, "tokenizer.json")
    tok, how = make_tokenizers.transformers_tokenizer("minilm", tokenizer_file)
    # A folder in all-MiniLM-L6-v2's layout: the exported BertModel and its tokenizer.
    folder = tempfile.mkdtemp()
    for f in os.listdir(python_dir(models, MINILM)):
        shutil.copy(os.path.join(python_dir(models, MINILM), f), folder)
    tok.save_pretrained(folder)
    try:
        from sentence_transformers import SentenceTransformer, models as st
    except ImportError:
        st = None
    if st is not None:
        body = st.Transformer(folder, max_seq_length=make_tokenizers.MINILM_LENGTH)
        model = SentenceTransformer(
            modules=[body, st.Pooling(body.get_word_embedding_dimension(), "mean"),
                     st.Normalize()], device=str(device))
        out = model.encode(sentences, batch_size=len(sentences), convert_to_tensor=True)
        return out, (f"SentenceTransformer(Transformer(max_seq_length=256), Pooling(mean), "
                     f"Normalize()).encode over the exported BertModel; tokenizer {how}")
    from transformers import BertModel

    bert = BertModel.from_pretrained(folder).eval().to(device)
    batch = make_tokenizers.minilm_call(tok, sentences)
    ids = torch.tensor(batch["input_ids"], device=device)
    mask = torch.tensor(batch["attention_mask"], device=device)
    states = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask[:, :, None].to(states.dtype)
    pooled = (states * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return (torch.nn.functional.normalize(pooled, dim=-1),
            "sentence-transformers not installed: its equivalent, BertModel last_hidden_state, "
            f"mean over the attention mask, L2-normalized; tokens: {how}, called as "
            "SentenceTransformer (stripped, padding=True, truncation, max_length=256)")


def model_references(models, out):
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_tokenizers

    if not torch.cuda.is_available():
        raise SystemExit("--models needs CUDA: the references are CUDA fp32")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as NOS sets libtorch
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda:0")
    names = sorted(f for f in os.listdir(IMAGES) if not f.endswith(".pil.png"))
    if len(names) != 20:
        raise SystemExit(f"{IMAGES} holds {len(names)} images, not 20: run without --models "
                         "first")
    pipelines = processors()
    runs = image_models(models, device)
    data = {"device": torch.cuda.get_device_name(0), "tf32": False,
            "images_dir": os.path.abspath(IMAGES), "images": names, "entries": {}}
    with torch.no_grad():
        for entry, run in runs.items():
            outputs = []
            folder = os.path.join(out, "inputs", entry)
            os.makedirs(folder, exist_ok=True)
            for name in names:
                x = pipelines[entry][2](load_rgb(os.path.join(IMAGES, name)))
                x.astype("<f4").tofile(os.path.join(folder, name + ".f32"))
                y = run(torch.from_numpy(x).to(device)).float().cpu().numpy()[0]
                row = {"image": name, "output": [float(v) for v in y]}
                if entry != CLIP_IMAGE:
                    row["top5"] = [int(i) for i in np.argsort(-y, kind="stable")[:5]]
                outputs.append(row)
            data["entries"][entry] = {"kind": "embedding" if entry == CLIP_IMAGE else "logits",
                                      "pipeline": pipelines[entry][0], "outputs": outputs}
            print(f"  {entry}: {len(outputs)} images")
        sentences = list(make_tokenizers.SENTENCES)
        for entry, make in ((CLIP_TEXT, clip_text_embeddings), (MINILM, minilm_embeddings)):
            vectors, how = make(models, device, sentences)
            data["entries"][entry] = {
                "kind": "text", "pipeline": how, "sentences": sentences,
                "outputs": [[float(v) for v in row] for row in vectors.float().cpu().numpy()]}
            print(f"  {entry}: {len(sentences)} sentences ({how})")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "references.json"), "w") as f:
        json.dump(data, f)
    print(f"wrote {out}/references.json and {out}/inputs/")


def main():
    global PARITY, IMAGES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="export_models.py's output directory (GPU step)")
    parser.add_argument("--out", help="where the GPU step writes its references")
    parser.add_argument("--parity", help=f"the images and pre-processing references ({PARITY})")
    args = parser.parse_args()
    if (args.models is None) != (args.out is None):
        parser.error("--models and --out go together")
    if args.parity:
        PARITY = args.parity
        IMAGES = os.path.join(PARITY, "images")
    elif not os.path.isdir(os.path.join("nos-hub", "src")):
        parser.error("run from the repository root, or give --parity")
    if args.models is None:
        preprocessing_references(write_images())
    else:
        model_references(os.path.abspath(args.models), os.path.abspath(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
