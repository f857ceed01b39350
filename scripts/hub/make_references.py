"""Makes the reference data of nos-hub's pre- and post-processing tests.

Writes, under nos-hub/src/test/resources/ai/nos/hub/reference/:
  - four small test images of odd sizes: rgb.png (37x23 RGB), rgba.png (31x50 RGBA),
    gray.png (19x41 grayscale) and photo.jpg (45x29 RGB, quality 90);
  - tokenizer.json, a tiny BERT-style WordPiece tokenizer (18 tokens, lower-casing);
  - references.json: what Pillow makes of each image under several pre-processing settings
    (torchvision's PIL path: Image.resize, then center crop with torchvision's rounding):
    all the uint8 pixels [H, W, RGB] after resize and crop, and the model input tensor (/255
    and (x - mean) / std in float32, channels first, in the setting's channel order, mean and
    std given in that order) at some
    sampled flat indices; and
    softmax/top-k of given logits, class-wise NMS of given boxes, YOLOv8 decoding of a sparse
    head output, and mean/CLS pooling with L2 normalization of given token vectors.

Needs only numpy and Pillow (Debian: apt-get install python3-numpy python3-pil). Deterministic:
running it again rewrites the same files. Run from the repository root:
    python3 scripts/hub/make_references.py
"""

import json
import os

import numpy as np
from PIL import Image

OUT = os.path.join("nos-hub", "src", "test", "resources", "ai", "nos", "hub", "reference")

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}

# Pre-processing settings, named as in the catalog's "image" objects.
SETTINGS = [
    {"name": "shorter_bilinear_crop", "resize": 16, "resizeMode": "shorter_side",
     "interpolation": "bilinear", "crop": 12, "mean": [0.485, 0.456, 0.406],
     "std": [0.229, 0.224, 0.225], "channels": "rgb"},
    {"name": "shorter_bilinear_upscale", "resize": 30, "resizeMode": "shorter_side",
     "interpolation": "bilinear", "crop": 27, "mean": [0.5, 0.5, 0.5],
     "std": [0.5, 0.5, 0.5], "channels": "rgb"},
    {"name": "exact_bicubic_bgr", "resize": 20, "resizeMode": "exact",
     "interpolation": "bicubic", "mean": [0.48145466, 0.4578275, 0.40821073],
     "std": [0.26862954, 0.26130258, 0.27577711], "channels": "bgr"},
    {"name": "exact_nearest", "resize": 13, "resizeMode": "exact",
     "interpolation": "nearest", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
     "channels": "rgb"},
    {"name": "letterbox", "resize": 24, "resizeMode": "letterbox",
     "interpolation": "bilinear", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
     "channels": "rgb", "padValue": 114},
]


def make_images():
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:23, 0:37]
    rgb = np.stack([x * 7, y * 11, (x * y) % 256], axis=-1).astype(np.uint8)
    rgb[5:9, 10:20] = rng.integers(0, 256, (4, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb.png"))
    rgba = rng.integers(0, 256, (50, 31, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "rgba.png"))
    y, x = np.mgrid[0:41, 0:19]
    gray = ((x * 13 + y * 5) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(os.path.join(OUT, "gray.png"))
    y, x = np.mgrid[0:29, 0:45]
    photo = np.stack([128 + 100 * np.sin(x / 5.0), 128 + 100 * np.cos(y / 4.0),
                      (x + y) * 3], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(photo, "RGB").save(os.path.join(OUT, "photo.jpg"), quality=90)
    return ["rgb.png", "rgba.png", "gray.png", "photo.jpg"]


def preprocess(image, s):
    """Returns the resized and cropped uint8 image [H, W, 3] and the tensor [3, H, W] made of it."""
    im = image.convert("RGB")
    w, h = im.size
    size, mode, flt = s["resize"], s["resizeMode"], FILTERS[s["interpolation"]]
    if mode == "shorter_side":
        short, long = min(w, h), max(w, h)
        new_long = int(size * long / short)
        new = (size, new_long) if w <= h else (new_long, size)
        im = im.resize(new, flt)
    elif mode == "exact":
        im = im.resize((size, size), flt)
    else:
        scale = min(size / h, size / w)
        new = (int(round(w * scale)), int(round(h * scale)))
        if new != (w, h):
            im = im.resize(new, flt)
        left = int(round((size - new[0]) / 2 - 0.1))
        top = int(round((size - new[1]) / 2 - 0.1))
        canvas = Image.new("RGB", (size, size), (s["padValue"],) * 3)
        canvas.paste(im, (left, top))
        im = canvas
    if s.get("crop"):
        c = s["crop"]
        cw, ch = im.size
        ct = int(round((ch - c) / 2.0))
        cl = int(round((cw - c) / 2.0))
        im = im.crop((cl, ct, cl + c, ct + c))
    pixels = np.asarray(im, dtype=np.uint8)
    a = pixels.astype(np.float32) / np.float32(255)
    if s["channels"] == "bgr":
        a = a[:, :, ::-1]
    a = (a - np.array(s["mean"], dtype=np.float32)) / np.array(s["std"], dtype=np.float32)
    return pixels, a.transpose(2, 0, 1).astype(np.float32)


def softmax(logits):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if union <= 0 else inter / union


def nms(boxes, scores, classes, iou_threshold, max_detections):
    """Greedy class-wise NMS: highest score first (ties: lower index), drop IoU > threshold."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(classes[k] != classes[i] or iou(boxes[k], boxes[i]) <= iou_threshold
               for k in keep):
            keep.append(i)
    return keep[:max_detections]


def yolo_case():
    """A sparse YOLOv8 head output for a 50x31 image letterboxed to 64, and its detections."""
    classes, anchors = 80, 8400
    width, height, size = 50, 31, 64
    entries = [  # anchor, cx, cy, w, h (input pixels), {class: score}
        [0, 20.0, 30.0, 10.0, 12.0, {3: 0.9, 5: 0.2}],
        [7, 21.0, 31.0, 10.0, 12.0, {3: 0.8}],        # overlaps anchor 0, same class: dropped
        [8, 21.0, 31.0, 10.0, 12.0, {4: 0.7}],        # same place, other class: kept
        [100, 50.0, 20.0, 8.0, 6.0, {79: 0.3}],
        [4000, 10.0, 40.0, 30.0, 20.0, {0: 0.24}],    # under the score threshold
        [8399, 60.0, 45.0, 20.0, 10.0, {1: 0.5, 2: 0.5}],  # tie: the lower class wins
        [2, 40.0, 40.0, 4.0, 4.0, {6: 0.25}],         # exactly at the threshold: kept
    ]
    score_threshold, iou_threshold, max_detections = 0.25, 0.45, 300
    scale = min(size / height, size / width)
    new = (int(round(width * scale)), int(round(height * scale)))
    left = int(round((size - new[0]) / 2 - 0.1))
    top = int(round((size - new[1]) / 2 - 0.1))
    cand = []
    for anchor, cx, cy, w, h, scores in sorted(entries, key=lambda e: e[0]):
        row = np.zeros(classes, dtype=np.float32)
        for c, v in scores.items():
            row[c] = v
        c = int(np.argmax(row))
        if row[c] >= np.float32(score_threshold):
            cand.append((anchor, c, float(row[c]),
                         [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    keep = nms([b for _, _, _, b in cand], [s for _, _, s, _ in cand],
               [c for _, c, _, _ in cand], iou_threshold, max_detections)
    detections = []
    for i in keep:
        anchor, c, s, b = cand[i]
        x1 = min(max((b[0] - left) / scale, 0.0), width)
        y1 = min(max((b[1] - top) / scale, 0.0), height)
        x2 = min(max((b[2] - left) / scale, 0.0), width)
        y2 = min(max((b[3] - top) / scale, 0.0), height)
        detections.append({"class": c, "score": s, "box": [x1, y1, x2, y2]})
    return {"width": width, "height": height, "size": size, "classes": classes,
            "anchors": anchors, "scoreThreshold": score_threshold,
            "iouThreshold": iou_threshold, "maxDetections": max_detections,
            "entries": [{"anchor": e[0], "box": e[1:5],
                         "scores": {str(k): v for k, v in e[5].items()}} for e in entries],
            "detections": detections}


def pooling_case():
    rng = np.random.default_rng(7)
    tokens = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=np.int64)
    m = mask[:, :, None].astype(np.float64)
    mean = (tokens.astype(np.float64) * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    cls = tokens[:, 0, :].astype(np.float64)
    norm = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return {"tokens": tokens.tolist(), "mask": mask.tolist(), "mean": mean.tolist(),
            "meanNormalized": norm(mean).tolist(), "cls": cls.tolist(),
            "clsNormalized": norm(cls).tolist()}


def write_tokenizer():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "!", ",", "the",
             "cat", "sat", "un", "##believ", "##able", "on", "mat", "."]
    special = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, t in enumerate(vocab[:5])]
    cls_sep = {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
               "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": cls_sep},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {t: i for i, t in enumerate(vocab)}},
    }
    with open(os.path.join(OUT, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    names = make_images()
    write_tokenizer()
    images = []
    for name in names:
        image = Image.open(os.path.join(OUT, name))
        image.load()
        for s in SETTINGS:
            pixels, tensor = preprocess(image, s)
            flat = tensor.ravel()
            samples = sorted({0, flat.size - 1, *range(7, flat.size, max(1, flat.size // 23))})
            images.append({"image": name, "setting": s["name"], "shape": list(tensor.shape),
                           "pixels": [int(v) for v in pixels.ravel()],
                           "samples": [[i, float(flat[i])] for i in samples]})
    logits = [1.5, -0.25, 3.0, 3.0, 0.0, -7.0, 2.25, 3.0, 1e-3, -2.0]
    p = softmax(logits)
    topk = [int(i) for i in np.argsort(-p, kind="stable")]
    boxes = [[10, 10, 50, 50], [12, 12, 52, 52], [100, 100, 150, 140], [11, 9, 49, 51],
             [0, 0, 20, 20], [30, 30, 60, 60], [101, 99, 149, 141], [5, 5, 5, 30]]
    scores = [0.9, 0.85, 0.8, 0.95, 0.5, 0.6, 0.8, 0.7]
    classes = [0, 0, 1, 1, 0, 0, 1, 2]
    refs = {
        "settings": SETTINGS,
        "images": images,
        "softmax": {"logits": logits, "probabilities": p.tolist(), "topk": topk},
        "nms": {"boxes": boxes, "scores": scores, "classes": classes,
                "cases": [{"iou": t, "max": m, "keep": nms(boxes, scores, classes, t, m)}
                          for t, m in [(0.5, 100), (0.0, 100), (1.0, 100), (0.5, 2)]]},
        "yolov8": yolo_case(),
        "pooling": pooling_case(),
    }
    with open(os.path.join(OUT, "references.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
