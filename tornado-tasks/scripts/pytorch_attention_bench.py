#!/usr/bin/env python3
"""PyTorch's side of the attention comparison: scaled_dot_product_attention (softmax) in fp32 with TF32 off, at the
shapes of TornadoBench's `--parts attention` (768 batch·heads = ViT-S/16's 128 images × 6 heads, head dim 64, L = 197
and 785), median of 20 timed with CUDA events after 5 warm-ups. Forward: "training form", inputs that require
gradients, so PyTorch keeps what its backward needs (as our training-form kernel writes the scores and weights);
"inference", under torch.no_grad(). Backward alone: the gradients of q, k, v from one kept forward
(torch.autograd.grad with retain_graph), for SDPA's softmax and for ReLU/L composed as relu(q·kᵀ/√d)/L·v, whose
FLOP/s count the four products (8·BH·T²·d). Prints Markdown rows in TornadoBench's attention table format.

    python3 tornado-tasks/scripts/pytorch_attention_bench.py [--batch-heads 768] [--head-dim 64] [--tokens 197,785]"""
import argparse
import statistics

import torch
import torch.nn.functional as F


def timed(fn, reps=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-heads", type=int, default=768)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--tokens", default="197,785")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name()}, fp32, TF32 off")
    print()
    print(f"| PyTorch attention, fp32, {args.batch_heads} batch·heads, d={args.head_dim} | L | ms | GFLOP/s |")
    print("| --- | --- | --- | --- |")
    for tokens in (int(t) for t in args.tokens.split(",")):
        shape = (1, args.batch_heads, tokens, args.head_dim)
        q, k, v = (torch.randn(shape, device="cuda") for _ in range(3))
        flops = 4.0 * args.batch_heads * tokens * tokens * args.head_dim
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        rows = [("SDPA softmax, training form", lambda: F.scaled_dot_product_attention(qg, kg, vg))]

        def inference():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v)

        def composed():
            with torch.no_grad():
                torch.softmax(q @ k.transpose(-2, -1) * args.head_dim ** -0.5, dim=-1) @ v

        rows += [("SDPA softmax, inference", inference), ("softmax composed (q·kᵀ, softmax, ·V), inference", composed)]
        for name, fn in rows:
            ms = timed(fn)
            print(f"| {name} | {tokens} | {ms:.3f} | {flops / (ms * 1e6):.0f} |")
        grad_out = torch.randn(shape, device="cuda")
        sdpa = F.scaled_dot_product_attention(qg, kg, vg)
        relu_l = (torch.relu(qg @ kg.transpose(-2, -1) * args.head_dim ** -0.5) / tokens) @ vg
        for name, out in (("SDPA softmax, backward", sdpa), ("ReLU/L composed, backward", relu_l)):
            ms = timed(lambda: torch.autograd.grad(out, (qg, kg, vg), grad_out, retain_graph=True))
            print(f"| {name} | {tokens} | {ms:.3f} | {2 * flops / (ms * 1e6):.0f} |")
        del sdpa, relu_l


if __name__ == "__main__":
    main()
