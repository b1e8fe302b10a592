#!/usr/bin/env python3
"""PyTorch's side of `bench --parts memory`: the memory-bound operations of a ViT block (GELU, residual add, LayerNorm,
softmax and ReLU/L's φ on the attention maps, and their backward passes) as PyTorch's eager kernels run them, one by
one at ViT-S/16's shapes (batch 128: 197 tokens, width 384, MLP 1536, 6 heads), fp32, median of 20 timed with CUDA
events after 5 warm-ups. Each row's "MB moved" is what the operation must read and write once (the same count as
TornadoBench's rows), so GB/s is effective bandwidth and the two tables compare row by row. Where eager PyTorch runs an
operation as two kernels (a residual add and then LayerNorm; relu(s)/L as relu then a multiply), the row times both.

    python3 tornado-tasks/scripts/pytorch_memory_bench.py [--batch 128] [--tokens 197] [--width 384] [--hidden 1536]
        [--heads 6] [--device cuda]

--device cpu runs the same rows on the CPU (wall-clock medians), to check the script where no GPU is."""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from pytorch_attention_bench import timed


def timed_on(fn, device, reps=20, warmup=5):
    """Median milliseconds of fn: CUDA events on the GPU (pytorch_attention_bench's timing), the wall clock elsewhere."""
    if device == "cuda":
        return timed(fn, reps, warmup)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=197)
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    dev = args.device
    torch.manual_seed(0)
    rows, width, hidden, keys = args.batch * args.tokens, args.width, args.hidden, args.tokens
    map_rows = rows * args.heads
    randn = lambda *shape: torch.randn(*shape, device=dev)  # noqa: E731
    a, b, dy = randn(rows, width), randn(rows, width), randn(rows, width)
    gamma, beta = randn(width), randn(width)
    h, dh = randn(rows, hidden), randn(rows, hidden)
    h_out = torch.empty_like(h)
    scores, d_weights = randn(map_rows, keys), randn(map_rows, keys)
    out = torch.empty_like(a)
    _, mean, rstd = torch.ops.aten.native_layer_norm(a, [width], gamma, beta, 1e-6)
    weights = torch.softmax(scores, dim=-1)
    inv_l = 1.0 / keys
    relu_weights = F.relu(scores) * inv_l

    ops = [
        ("copy (the yardstick)", rows * hidden, 2, lambda: h_out.copy_(h)),
        ("GELU forward", rows * hidden, 2, lambda: F.gelu(h)),
        ("GELU backward", rows * hidden, 3, lambda: torch.ops.aten.gelu_backward(dh, h)),
        ("residual add", rows * width, 3, lambda: torch.add(a, b, out=out)),
        ("LayerNorm forward", rows * width, 2, lambda: F.layer_norm(a, (width,), gamma, beta, 1e-6)),
        ("residual add + LayerNorm", rows * width, 4,
         lambda: F.layer_norm(torch.add(a, b, out=out), (width,), gamma, beta, 1e-6)),
        ("LayerNorm backward", rows * width, 3,
         lambda: torch.ops.aten.native_layer_norm_backward(dy, a, [width], mean, rstd, gamma, beta,
                                                           [True, True, True])),
        ("softmax forward, maps", map_rows * keys, 2, lambda: torch.softmax(scores, dim=-1)),
        ("softmax backward, maps", map_rows * keys, 3,
         lambda: torch.ops.aten._softmax_backward_data(d_weights, weights, -1, torch.float32)),
        ("ReLU/L φ forward, maps", map_rows * keys, 2, lambda: F.relu(scores) * inv_l),
        ("ReLU/L φ backward, maps", map_rows * keys, 3,
         lambda: torch.ops.aten.threshold_backward(d_weights, relu_weights, 0.0) * inv_l),
    ]
    name = torch.cuda.get_device_name() if dev == "cuda" else "CPU"
    print(f"PyTorch {torch.__version__} on {name}, eager fp32, batch {args.batch} × {args.tokens} tokens, "
          f"width {width}, MLP {hidden}, {args.heads} heads")
    print("| PyTorch memory-bound kernel, fp32 | elements | MB moved | ms | GB/s |")
    print("| --- | --- | --- | --- | --- |")
    with torch.no_grad():
        for label, elements, values, fn in ops:
            ms = timed_on(fn, dev)
            megabytes = elements * values * 4 / 1e6
            print(f"| {label} | {elements} | {megabytes:.3f} | {ms:.4f} | {megabytes / ms:.1f} |")


if __name__ == "__main__":
    main()
