#!/usr/bin/python3
"""Times PyTorch on the same shapes and forms as dev.tornadovit.bench.MatmulBench and prints the
same table (shape, form, median ms per call, GFLOP/s), so the two can be compared row by row.

Run with Debian's system python (torch 1.13):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/bench_matmul_torch.py --threads 2

Which BLAS PyTorch uses matters: Debian's torch calls libblas.so.3, which is the slow reference
BLAS unless OpenBLAS is installed (or put first on LD_LIBRARY_PATH); the header line says which.
"""
import argparse
import math
import time

import torch

VIT_ROWS, VIT_WIDTH = 64 * 65, 192
BATCH, TOKENS, HEADS, HEAD_DIM = 64, 65, 3, 64


def blas_library():
    """The BLAS shared object actually mapped into this process."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    return ", ".join(sorted(libs)) or "unknown"


def linear_cases(shape, m, k, n):
    """Shape label is M x K x N: x[M,K], w[N,K], y[M,N], as in MatmulBench."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(m, k, generator=g) * 2 - 1
    w = torch.rand(n, k, generator=g) * 2 - 1
    b = torch.rand(n, generator=g) * 2 - 1
    dy = torch.rand(m, n, generator=g) * 2 - 1
    y = torch.empty(m, n)
    dx = torch.empty(m, k)
    dw = torch.zeros(n, k)
    db = torch.zeros(n)
    flops = 2.0 * m * n * k

    def backward_weight():
        dw.addmm_(dy.t(), x)  # dw += dyᵀ·x, gradients accumulate
        db.add_(dy.sum(0))

    return [
        (shape, "forward", flops, lambda: torch.addmm(b, x, w.t(), out=y)),
        (shape, "backward-input", flops, lambda: torch.mm(dy, w, out=dx)),
        (shape, "backward-weight", flops, backward_weight),
    ]


def attention_cases():
    """q, k, v as views of a [B,T,3,H,hd] qkv buffer, as a ViT block computes them."""
    g = torch.Generator().manual_seed(1)
    qkv = torch.rand(BATCH, TOKENS, 3, HEADS, HEAD_DIM, generator=g) * 2 - 1
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B,H,T,hd], strided
    p = torch.rand(BATCH, HEADS, TOKENS, TOKENS, generator=g) * 2 - 1
    dout = torch.rand(BATCH, HEADS, TOKENS, HEAD_DIM, generator=g) * 2 - 1
    scale = 1.0 / math.sqrt(HEAD_DIM)
    count = BATCH * HEADS
    flops = 2.0 * count * TOKENS * TOKENS * HEAD_DIM
    return [
        (f"{count}x(65x64x65)", "attn q.kT (NT)", flops, lambda: torch.matmul(q, k.transpose(-2, -1)).mul_(scale)),
        (f"{count}x(65x65x64)", "attn p.v (NN)", flops, lambda: torch.matmul(p, v)),
        (f"{count}x(65x65x64)", "attn pT.dout (TN)", flops, lambda: torch.matmul(p.transpose(-2, -1), dout)),
    ]


def run_for(op, seconds):
    """Calls op repeatedly for about `seconds`, and at least twice."""
    end = time.perf_counter() + seconds
    calls = 0
    while calls < 2 or time.perf_counter() < end:
        op()
        calls += 1


def measure(op, seconds):
    """Median time of one call after a warm-up, like MatmulBench."""
    run_for(op, 0.2 * seconds)
    samples = []
    end = time.perf_counter() + seconds
    while len(samples) < 5 or time.perf_counter() < end:
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per row")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cases = []
    cases += linear_cases("1024x1024x1024", 1024, 1024, 1024)
    cases += linear_cases("4160x192x576 qkv", VIT_ROWS, VIT_WIDTH, 3 * VIT_WIDTH)
    cases += linear_cases("4160x192x192 proj", VIT_ROWS, VIT_WIDTH, VIT_WIDTH)
    cases += linear_cases("4160x192x768 fc1", VIT_ROWS, VIT_WIDTH, 4 * VIT_WIDTH)
    cases += linear_cases("4160x768x192 fc2", VIT_ROWS, 4 * VIT_WIDTH, VIT_WIDTH)
    cases += attention_cases()

    print(f"# PyTorch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {blas_library()}")
    print(f"{'shape':<22} {'form':<18} {'ms':>10} {'GFLOP/s':>10}")
    with torch.no_grad():
        for _, _, _, op in cases:  # warm up every case first, as MatmulBench does
            run_for(op, max(0.3, 0.2 * args.seconds))
        for shape, form, flops, op in cases:
            seconds = measure(op, args.seconds)
            print(f"{shape:<22} {form:<18} {seconds * 1e3:10.3f} {flops / seconds * 1e-9:10.1f}", flush=True)


if __name__ == "__main__":
    main()
