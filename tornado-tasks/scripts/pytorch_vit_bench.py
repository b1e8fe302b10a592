#!/usr/bin/env python3
"""PyTorch's side of the GPU comparison: timm's vit_small_patch16_224 (ViT-S/16, 224 px, 1000 classes) in eager mode,
fp32 with TF32 off (or --precision tf32: TF32 matrix products; bf16: bf16 autocast), on synthetic data, AdamW; prints
training and inference images/s as the Markdown rows TornadoBench prints, so that both land in one table. Runs where PyTorch and timm are installed (the GPU machine has both); without
timm the same model is built from plain PyTorch modules (same shapes and parameter count).

    python3 tornado-tasks/scripts/pytorch_vit_bench.py [--batch 128] [--steps 20] [--warmup 5] [--device cuda]
        [--attention softmax,relu/L] [--precision fp32|tf32|bf16] [--profile]

--profile adds, per attention, where the device time of one training step and one inference pass goes: the CUDA
kernels torch.profiler records over --steps passes, ms per pass, as a Markdown table.

ReLU/L replaces softmax(q·kᵀ/√d) by relu(q·kᵀ/√d)/L (L tokens), as TornadoViT's ReLU/L attention."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReluOverLAttention(nn.Module):
    """timm's Attention with relu(scores)/L in place of softmax, on timm's own qkv and proj weights."""

    def __init__(self, timm_attention):
        super().__init__()
        self.inner = timm_attention

    def forward(self, x, attn_mask=None, **kwargs):
        a = self.inner
        b, t, c = x.shape
        qkv = a.qkv(x).reshape(b, t, 3, a.num_heads, c // a.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        weights = F.relu(q @ k.transpose(-2, -1) * a.scale) / t
        x = (weights @ v).transpose(1, 2).reshape(b, t, c)
        return a.proj(x)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class PlainViT(nn.Module):
    """ViT-S/16 from plain PyTorch modules, for machines without timm (softmax attention only)."""

    def __init__(self, image=224, patch=16, dim=384, depth=12, heads=6, mlp=1536, classes=1000):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


def build(attention):
    try:
        import timm
        model = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=1000)
        if attention == "relu/L":
            for block in model.blocks:
                block.attn = ReluOverLAttention(block.attn)
        return model, "timm " + timm.__version__
    except ImportError:
        if attention != "softmax":
            raise SystemExit("ReLU/L needs timm's model (pip install timm)")
        return PlainViT(), "plain PyTorch (no timm)"


def timed(fn, warmup, steps, device):
    for _ in range(warmup):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def kernel_profile(fn, passes, title):
    """Prints the CUDA kernels of `passes` calls of fn by device time, ms per pass, as recorded by torch.profiler."""
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(passes):
            fn()
        torch.cuda.synchronize()
    rows = []
    for event in prof.key_averages():
        us = getattr(event, "self_device_time_total", None)
        us = event.self_cuda_time_total if us is None else us
        if us > 0:
            rows.append((us / passes / 1000, event.count / passes, event.key))
    rows.sort(reverse=True)
    total = sum(ms for ms, _, _ in rows)
    print(f"\n{title}: {total:.2f} ms of kernels a pass ({passes} passes profiled)\n")
    print("| kernel | launches a pass | ms a pass | share |")
    print("| --- | --- | --- | --- |")
    for ms, count, name in rows[:25]:
        print(f"| {name[:110]} | {count:g} | {ms:.3f} | {100 * ms / total:.1f} % |")
    rest = sum(ms for ms, _, _ in rows[25:])
    if rest:
        print(f"| {len(rows) - 25} other kernels | | {rest:.3f} | {100 * rest / total:.1f} % |")
    print(flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--attention", default="softmax,relu/L")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--profile", action="store_true", help="print the CUDA kernels of a step and a pass")
    args = ap.parse_args()
    # fp32: no TF32 in matrix products or convolutions; tf32: TF32 in both; bf16: autocast to bf16 (fp32 weights)
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    autocast = torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16,
                              enabled=args.precision == "bf16")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    described = {"fp32": "fp32, TF32 off", "tf32": "fp32 with TF32 matrix products", "bf16": "bf16 autocast"}
    print(f"PyTorch {torch.__version__} on {name}, eager {described[args.precision]}, batch {args.batch}")
    print("| model | attention | batch | train img/s | infer img/s |")
    print("| --- | --- | --- | --- | --- |")
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = torch.randn(args.batch, 3, 224, 224, generator=generator).to(args.device)
    labels = torch.randint(0, 1000, (args.batch,), generator=generator).to(args.device)
    for attention in args.attention.split(","):
        torch.manual_seed(0)
        model, source = build(attention)
        model = model.to(args.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()

        model.train()
        train = timed(train_step, args.warmup, args.steps, args.device)
        model.eval()
        with torch.no_grad(), autocast:
            infer = timed(lambda: model(images), args.warmup, args.steps, args.device)
        print(f"| PyTorch ViT-S/16 224px ({source}) | {attention} | {args.batch} | {args.batch / train:.1f} | "
              f"{args.batch / infer:.1f} |", flush=True)
        if args.profile and args.device.startswith("cuda"):
            model.train()
            kernel_profile(train_step, args.steps, f"PyTorch {attention}, {args.precision}, training step")
            model.eval()

            def infer_pass():
                with torch.no_grad(), autocast:
                    model(images)
            kernel_profile(infer_pass, args.steps, f"PyTorch {attention}, {args.precision}, inference pass")
        del model, optimizer
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
