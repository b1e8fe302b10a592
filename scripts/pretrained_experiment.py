#!/usr/bin/env python3
"""The fine-tuning experiment of docs/pretrained.md, in two steps around TornadoViT's own commands.

    python scripts/pretrained_experiment.py digits DIGITS_CSV_GZ OUT_FOLDER
        Writes scikit-learn's handwritten digits (digits.csv.gz: 1797 8x8 images, 17 grey levels; Debian's
        python3-sklearn ships it) as an image folder: OUT/train/<digit>/*.png (1000 images) and OUT/test/ (797),
        split by a fixed seed.

    python scripts/pretrained_experiment.py export-timm CHECKPOINT OUT_FOLDER
        Writes a TornadoViT checkpoint out in timm's own layout through timm (needs torch, timm, safetensors):
        builds timm's VisionTransformer with the checkpoint's architecture, loads the weights strictly, and saves
        a hub folder (model.safetensors, config.json with model_args and pretrained_cfg) with save_for_hf.
        Softmax attention only (timm has no pointwise attention, gate or Re-attention).
"""

import argparse
import gzip
import json
import os
import random


def digits(csv_gz, out):
    from PIL import Image
    with gzip.open(csv_gz, "rt") as fh:
        rows = [[int(float(v)) for v in line.split(",")] for line in fh if line.strip()]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    for n, i in enumerate(order):
        *pixels, label = rows[i]
        split = "train" if n < 1000 else "test"
        folder = os.path.join(out, split, str(label))
        os.makedirs(folder, exist_ok=True)
        img = Image.new("L", (8, 8))
        img.putdata([round(p * 255 / 16) for p in pixels])
        img.save(os.path.join(folder, f"{i:04d}.png"))
    print(f"{len(rows)} digits: 1000 in {out}/train, {len(rows) - 1000} in {out}/test")


def export_timm(checkpoint, out):
    import timm
    import torch
    from safetensors import safe_open
    from timm.models._hub import save_for_hf
    with safe_open(checkpoint, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k).float() for k in f.keys() if not k.startswith("optimizer.")}
    cfg = json.loads(meta["config"])
    att = cfg["attention"]
    if att["weights"] != "softmax" or att["gate"] or att["reattention"] != "none" or cfg["pos_embed"] != "learned":
        raise SystemExit(f"{checkpoint}: timm's ViT has softmax attention without gate or Re-attention and learned "
                         f"position embeddings; this checkpoint's attention is {att}, pos_embed {cfg['pos_embed']}")
    pool = cfg["pool"]
    args = dict(img_size=(cfg["image_height"], cfg["image_width"]), patch_size=cfg["patch_size"],
                in_chans=cfg["channels"], num_classes=cfg["num_classes"], embed_dim=cfg["width"],
                depth=cfg["depth"], num_heads=cfg["heads"], mlp_ratio=cfg["mlp_dim"] / cfg["width"],
                qk_norm=att["qk_norm"], class_token=pool == "cls",
                global_pool="token" if pool == "cls" else "avg", fc_norm=pool == "gap_fc_norm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **args)
    model.load_state_dict(tensors, strict=True)
    pre = json.loads(meta.get("preprocessing", "{}"))
    pcfg = dict(model.pretrained_cfg)
    pcfg.update(input_size=(cfg["channels"], cfg["image_height"], cfg["image_width"]), crop_pct=1.0,
                num_classes=cfg["num_classes"])
    if "mean" in pre:
        pcfg.update(mean=tuple(pre["mean"]), std=tuple(pre["std"]))
    model.pretrained_cfg = pcfg
    args["img_size"] = list(args["img_size"])
    save_for_hf(model, out, model_config=dict(label_names=pre.get("class_names", [])), model_args=args,
                safe_serialization=True)
    print(f"wrote {out} (timm {timm.__version__}): {sum(t.numel() for t in tensors.values())} weights")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("digits")
    d.add_argument("csv_gz")
    d.add_argument("out")
    e = sub.add_parser("export-timm")
    e.add_argument("checkpoint")
    e.add_argument("out")
    a = ap.parse_args()
    if a.what == "digits":
        digits(a.csv_gz, a.out)
    else:
        export_timm(a.checkpoint, a.out)


if __name__ == "__main__":
    main()
