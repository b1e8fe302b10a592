#!/usr/bin/env python3
"""PyTorch's side of the attention comparison: scaled_dot_product_attention (softmax) in fp32 with TF32 off, at the
shapes of TornadoBench's `--parts attention` (768 batch·heads = ViT-S/16's 128 images × 6 heads, head dim 64, L = 197
and 785), median of 20 timed with CUDA events after 5 warm-ups. Forward: "training form", inputs that require
gradients, so PyTorch keeps what its backward needs (as our training-form kernel writes the scores and weights);
"inference", under torch.no_grad(). Backward alone: the gradients of q, k, v from one kept forward
(torch.autograd.grad with retain_graph), for SDPA's softmax and for ReLU/L composed as relu(q·kᵀ/√d)/L·v, whose
FLOP/s count the four products (8·BH·T²·d). Prints Markdown rows in TornadoBench's attention table format.

    python3 tornado-tasks/scripts/pytorch_attention_bench.py [--batch-heads 768] [--head-dim 64] [--tokens 197,785]
        [--map-rows] [--heads-in-place [--heads 6]]

--map-rows times instead the four products of attention that read or write the [T,T] maps (S = q·kᵀ, o = A·v,
dA = dO·vᵀ, dv = Aᵀ·dO) through cuBLAS's strided batches (torch.bmm into and from strided views, no copies), with the
maps' rows T floats apart and padded to a multiple of 8 (32 bytes), in fp32 with TF32 off, TF32 and bf16: what aligned
map rows would change in the products alone.

--heads-in-place times the forward products of softmax attention with q, k and v read in place from the qkv
product's [B,T,3·H·d] rows (lda 3·H·d, as our heads-in-place core reads them) and the output written in place into
the merged [B,T,H·d] rows, three ways: one strided batch of B images per head (H launches each, torch.bmm on strided
views, no copies: what our core does), one pointer-array batch of all B·H matrices (cublasSgemmBatched through
ctypes on PyTorch's own cuBLAS handle), and q, k copied into contiguous [B·H,T,d] first (the copies timed with it),
in fp32 with TF32 off; each checked against the first."""
import argparse
import ctypes
import glob
import os
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


def cublas_library():
    """The libcublas PyTorch loaded (its soname finds the loaded copy), or the one in site-packages' nvidia folders."""
    for name in ("libcublas.so.13", "libcublas.so.12"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    site = os.path.dirname(os.path.dirname(torch.__file__))
    for path in sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libcublas.so.*"))):
        return ctypes.CDLL(path)
    raise OSError("libcublas not found beside PyTorch")


def heads_in_place(args):
    torch.backends.cuda.matmul.allow_tf32 = False
    lib = cublas_library()
    sgemm_batched = lib.cublasSgemmBatched
    sgemm_batched.argtypes = [ctypes.c_void_p] + [ctypes.c_int] * 5 + [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_int]
    op_n, op_t = 0, 1
    heads, d = args.heads, args.head_dim
    images, width = args.batch_heads // heads, heads * d
    print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name()}: heads read in place, {images} images x "
          f"{heads} heads, d={d}, fp32 (TF32 off), median ms of 20")
    print()
    print("| L | product | per-head strided batches | one pointer-array batch | contiguous copies + one batch |")
    print("| --- | --- | --- | --- | --- |")
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    for tokens in (int(t) for t in args.tokens.split(",")):
        qkv = torch.randn(images, tokens, 3 * width, device="cuda")
        weights = torch.softmax(torch.randn(images, heads, tokens, tokens, device="cuda"), dim=-1)
        scores = [torch.empty(images, heads, tokens, tokens, device="cuda") for _ in range(3)]
        merged = [torch.empty(images, tokens, width, device="cuda") for _ in range(3)]

        def part(which, h):  # [B,T,d] view of q (0), k (1) or v (2) of head h, rows 3·H·d apart
            return qkv[:, :, which * width + h * d:which * width + (h + 1) * d]

        def per_head_scores():
            for h in range(heads):
                torch.bmm(part(0, h), part(1, h).transpose(1, 2), out=scores[0][:, h])

        def per_head_output():
            for h in range(heads):
                torch.bmm(weights[:, h], part(2, h), out=merged[0][:, :, h * d:(h + 1) * d])

        # matrix (b, h) of the pointer-array batch: image b's head h; column-major, so each product's operands swap
        b_index = torch.arange(images, device="cuda", dtype=torch.int64).repeat_interleave(heads)
        h_index = torch.arange(heads, device="cuda", dtype=torch.int64).repeat(images)
        floats = 4
        row0 = qkv.data_ptr() + b_index * tokens * 3 * width * floats + h_index * d * floats
        q_ptr, k_ptr, v_ptr = row0, row0 + width * floats, row0 + 2 * width * floats
        bh = torch.arange(images * heads, device="cuda", dtype=torch.int64) * tokens * tokens * floats
        s_ptr, w_ptr = scores[1].data_ptr() + bh, weights.data_ptr() + bh
        o_ptr = merged[1].data_ptr() + b_index * tokens * width * floats + h_index * d * floats
        handle = ctypes.c_void_p(torch.cuda.current_blas_handle())

        def batched_scores():  # S^T (col-major) = k^T·q: S[i,j] = q_i·k_j
            sgemm_batched(handle, op_t, op_n, tokens, tokens, d, ctypes.byref(one), k_ptr.data_ptr(), 3 * width,
                          q_ptr.data_ptr(), 3 * width, ctypes.byref(zero), s_ptr.data_ptr(), tokens, images * heads)

        def batched_output():  # O^T (col-major) = v^T·W^T
            sgemm_batched(handle, op_n, op_n, d, tokens, tokens, ctypes.byref(one), v_ptr.data_ptr(), 3 * width,
                          w_ptr.data_ptr(), tokens, ctypes.byref(zero), o_ptr.data_ptr(), width, images * heads)

        def copied_scores():
            q = qkv[:, :, :width].reshape(images, tokens, heads, d).transpose(1, 2).reshape(-1, tokens, d)
            k = qkv[:, :, width:2 * width].reshape(images, tokens, heads, d).transpose(1, 2).reshape(-1, tokens, d)
            torch.bmm(q, k.transpose(1, 2), out=scores[2].view(-1, tokens, tokens))

        def copied_output():
            v = qkv[:, :, 2 * width:].reshape(images, tokens, heads, d).transpose(1, 2).reshape(-1, tokens, d)
            o = torch.bmm(weights.view(-1, tokens, tokens), v)
            merged[2].copy_(o.view(images, heads, tokens, d).transpose(1, 2).reshape(images, tokens, width))

        for name, ways, results in (("S = q·kᵀ", (per_head_scores, batched_scores, copied_scores), scores),
                                    ("o = W·v", (per_head_output, batched_output, copied_output), merged)):
            ms = [timed(way) for way in ways]
            torch.cuda.synchronize()
            error = max((results[i] - results[0]).abs().max().item() for i in (1, 2))
            if error > 1e-3 * max(1.0, results[0].abs().max().item()):
                raise SystemExit(f"{name} at L={tokens}: the three ways differ by {error}")
            print(f"| {tokens} | {name} | " + " | ".join(f"{m:.3f}" for m in ms) + " |", flush=True)
        del qkv, weights, scores, merged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-heads", type=int, default=768)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--tokens", default="197,785")
    ap.add_argument("--map-rows", action="store_true", help="time the map products with rows T and padded apart")
    ap.add_argument("--heads-in-place", action="store_true",
                    help="time q·kᵀ and W·v on heads read in place: per-head batches, one pointer-array batch, copies")
    ap.add_argument("--heads", type=int, default=6)
    args = ap.parse_args()
    if args.map_rows:
        map_rows(args)
        return
    if args.heads_in_place:
        heads_in_place(args)
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
