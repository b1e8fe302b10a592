#!/usr/bin/env python3
"""PyTorch's side of the attention comparison: scaled_dot_product_attention (softmax) in fp32 with TF32 off, at the
shapes of TornadoBench's `--parts attention` (768 batch·heads = ViT-S/16's 128 images × 6 heads, head dim 64, L = 197
and 785), median of 20 timed with CUDA events after 5 warm-ups. Forward: "training form", inputs that require
gradients, so PyTorch keeps what its backward needs (as our training-form kernel writes the scores and weights);
"inference", under torch.no_grad(). Backward alone: the gradients of q, k, v from one kept forward
(torch.autograd.grad with retain_graph), for SDPA's softmax and for ReLU/L composed as relu(q·kᵀ/√d)/L·v, whose
FLOP/s count the four products (8·BH·T²·d). Prints Markdown rows in TornadoBench's attention table format.

    python3 tornado-tasks/scripts/pytorch_attention_bench.py [--batch-heads 768] [--head-dim 64] [--tokens 197,785]
        [--map-rows]

--map-rows times instead the four products of attention that read or write the [T,T] maps (S = q·kᵀ, o = A·v,
dA = dO·vᵀ, dv = Aᵀ·dO) through cuBLAS's strided batches (torch.bmm into and from strided views, no copies), with the
maps' rows T floats apart and padded to a multiple of 8 (32 bytes), in fp32 with TF32 off, TF32 and bf16: what aligned
map rows would change in the products alone."""
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


def map_rows(args):
    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name()}: attention's map products, "
          f"{args.batch_heads} batch·heads, d={args.head_dim}, median ms of 20")
    print()
    print("| precision | L | map row | S = q·kᵀ | o = A·v | dA = dO·vᵀ | dv = Aᵀ·dO | all four | GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    bh, d = args.batch_heads, args.head_dim
    for precision in ("fp32", "tf32", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        for tokens in (int(t) for t in args.tokens.split(",")):
            q, k, v, d_o, o, dv = (torch.randn(bh, tokens, d, device="cuda", dtype=dtype) for _ in range(6))
            for row in sorted({tokens, (tokens + 7) // 8 * 8}):
                # three [BH,T,row] buffers seen as [BH,T,T]: rows `row` floats apart
                s, a, da = (torch.randn(bh, tokens, row, device="cuda", dtype=dtype)[:, :, :tokens]
                            for _ in range(3))
                products = [lambda: torch.bmm(q, k.transpose(1, 2), out=s), lambda: torch.bmm(a, v, out=o),
                            lambda: torch.bmm(d_o, v.transpose(1, 2), out=da),
                            lambda: torch.bmm(a.transpose(1, 2), d_o, out=dv)]
                ms = [timed(p) for p in products]
                flops = 8.0 * bh * tokens * tokens * d
                print(f"| {precision} | {tokens} | {row} | " + " | ".join(f"{m:.3f}" for m in ms)
                      + f" | {sum(ms):.3f} | {flops / (sum(ms) * 1e6):.0f} |", flush=True)
                del s, a, da
            del q, k, v, d_o, o, dv
    torch.backends.cuda.matmul.allow_tf32 = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-heads", type=int, default=768)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--tokens", default="197,785")
    ap.add_argument("--map-rows", action="store_true", help="time the map products with rows T and padded apart")
    args = ap.parse_args()
    if args.map_rows:
        map_rows(args)
        return
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
