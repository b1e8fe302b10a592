#!/usr/bin/env python3
"""Writes tiny random-weight ViT checkpoints in timm's and Hugging Face transformers' own layouts, with the
logits those libraries compute for fixed inputs, for the tests of TornadoViT's pretrained-checkpoint reader.

Needs torch, timm, transformers and safetensors (a virtual environment outside the repository):

    python scripts/make_pretrained_fixtures.py [--out src/test/resources/pretrained]

Each checkpoint is written by the library itself (timm's save_for_hf, transformers' save_pretrained, or
safetensors.torch.save_file of a timm state_dict for a bare file). expected.safetensors holds, per case,
"<case>.images" [B,C,H,W] and "<case>.logits" [B,K] computed in float64 from the float32 weights in the file,
and resample_abs_pos_embed's outputs for a few grids ("resample.*"). Deterministic.
"""

import argparse
import json
import os
import shutil

import torch
import timm
import transformers
from safetensors.torch import load_file, save_file
from timm.layers import resample_abs_pos_embed
from timm.models._hub import save_for_hf
from timm.models.vision_transformer import checkpoint_filter_fn

BATCH = 2
CLASS_NAMES = ["ant", "bee", "cat", "dog", "eel"]


def randomize(model, seed):
    """Weights of unit scale everywhere (an initialisation's near-zero heads would make logits uninformative)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=g)
            if p.dim() == 1 and ("norm" in name or "layernorm" in name):
                p.copy_((1 + 0.1 * z) if name.endswith("weight") else 0.1 * z)
            else:
                p.copy_(0.3 * z)
    return model


def logits64(model, images):
    m = model.double().eval()
    with torch.no_grad():
        out = m(images.double())
    model.float()
    return out.logits if hasattr(out, "logits") else out


def timm_model(seed, **kw):
    args = dict(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_ratio=2.0, num_classes=5)
    args.update(kw)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **args)
    cfg = dict(model.pretrained_cfg)
    cfg.update(input_size=(3, 32, 32), crop_pct=0.875, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    model.pretrained_cfg = cfg
    return randomize(model, seed), args


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test",
                                                  "resources", "pretrained"))
    out = os.path.normpath(ap.parse_args().out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.manual_seed(0)
    expected = {}
    gen = torch.Generator().manual_seed(7)

    def record(case, model, channels=3, size=32):
        images = torch.randn(BATCH, channels, size, size, generator=gen)
        expected[case + ".images"] = images.float().contiguous()
        expected[case + ".logits"] = logits64(model, images).contiguous()

    # timm hub folders: model.safetensors + config.json (architecture, model_args, pretrained_cfg)
    folders = {
        "timm_cls": dict(),
        "timm_gap_fc_norm": dict(global_pool="avg", class_token=False),
        "timm_gap_no_qkv_bias": dict(global_pool="avg", class_token=False, fc_norm=False, qkv_bias=False),
        "timm_no_embed_class": dict(no_embed_class=True),
    }
    for i, (case, kw) in enumerate(folders.items()):
        model, args = timm_model(100 + i, **kw)
        save_for_hf(model, os.path.join(out, case), model_config=dict(label_names=CLASS_NAMES), model_args=args,
                    safe_serialization=True)
        record(case, model)

    # timm loading timm_cls at 16 px: its own checkpoint filter resamples the 4x4 position grid to 2x2
    args = dict(json.load(open(os.path.join(out, "timm_cls", "config.json")))["model_args"], img_size=16)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **args)
    weights = load_file(os.path.join(out, "timm_cls", "model.safetensors"))
    model.load_state_dict(checkpoint_filter_fn(weights, model), strict=True)
    record("timm_cls_at_16px", model, size=16)

    # bare timm state_dict files: qk-norm (heads readable from q_norm's shape); what we refuse
    model, _ = timm_model(200, qk_norm=True, depth=1)
    save_file(model.state_dict(), os.path.join(out, "timm_qk_norm.safetensors"))
    record("timm_qk_norm", model)
    model, _ = timm_model(201, reg_tokens=2, class_token=False, global_pool="avg", depth=1)
    save_file(model.state_dict(), os.path.join(out, "timm_reg_tokens.safetensors"))
    model, _ = timm_model(202, init_values=1e-5, depth=1)
    save_file(model.state_dict(), os.path.join(out, "timm_layer_scale.safetensors"))

    # Hugging Face transformers: ViTForImageClassification with its image processor config; DeiT (refused)
    cfg = transformers.ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
                                 image_size=24, patch_size=6, num_channels=3, num_labels=4,
                                 id2label={i: n for i, n in enumerate(CLASS_NAMES[:4])},
                                 label2id={n: i for i, n in enumerate(CLASS_NAMES[:4])})
    model = randomize(transformers.ViTForImageClassification(cfg), 300)
    model.save_pretrained(os.path.join(out, "hf_vit"))
    transformers.ViTImageProcessor(size={"height": 24, "width": 24}, image_mean=[0.4, 0.5, 0.6],
                                   image_std=[0.3, 0.2, 0.1]).save_pretrained(os.path.join(out, "hf_vit"))
    record("hf_vit", model, size=24)
    dcfg = transformers.DeiTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                   image_size=16, patch_size=8, num_labels=3)
    model = randomize(transformers.DeiTForImageClassificationWithTeacher(dcfg), 301)
    model.save_pretrained(os.path.join(out, "hf_deit_distilled"))

    # timm's resample_abs_pos_embed (bicubic, antialiased), from a 4x4 grid with a class token
    pos = torch.randn(1, 1 + 16, 8, generator=gen)
    expected["resample.input"] = pos
    for h, w in [(6, 6), (3, 3), (2, 5), (4, 4)]:
        expected[f"resample.{h}x{w}"] = resample_abs_pos_embed(pos, [h, w], num_prefix_tokens=1).clone().contiguous()
    expected["resample.noprefix.7x3"] = resample_abs_pos_embed(pos[:, 1:], [7, 3], num_prefix_tokens=0).contiguous()

    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"),
              metadata={"torch": torch.__version__, "timm": timm.__version__, "transformers": transformers.__version__})
    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: {total} bytes; torch {torch.__version__}, timm {timm.__version__}, "
          f"transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
