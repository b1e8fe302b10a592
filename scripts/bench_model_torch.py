#!/usr/bin/env python3
"""PyTorch twin of `tornadovit bench --what model`: the same ViT (scripts/make_fixtures.py's modules, which
follow our model spec exactly) in float32 with AdamW on synthetic data; prints training and inference images/s of
the median step, the attention variants of a model interleaved step by step (as `tornadovit bench`).

Run with any recent PyTorch (a venv with pip's CPU build: torch 2.13, oneDNN): python scripts/bench_model_torch.py --threads 2
(set OMP_WAIT_POLICY=PASSIVE, as scripts/compare-model.sh does). On a GPU: --device cuda --model S/16 --s16-batch 128
(the peer of tornado-tasks' TornadoBench; float32 matrix products at PyTorch's default precision, no TF32)."""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as spec  # noqa: E402  (the float64 default it sets is undone below)
import torch  # noqa: E402

torch.set_default_dtype(torch.float32)


def config(model, attention):
    att = {"weights": "softmax"} if attention == "softmax" else {"weights": "pointwise", "activation": attention, "alpha": 1.0}
    if model == "small":
        return spec.make_config(image_height=32, image_width=32, channels=3, patch_size=4, num_classes=10,
                                width=192, depth=6, heads=3, mlp_dim=768, attention=att)
    return spec.make_config(image_height=224, image_width=224, channels=3, patch_size=16, num_classes=1000,
                            width=384, depth=12, heads=6, mlp_dim=1536, attention=att)


def bench(model_name, attentions, batch, steps, warmup, device="cpu"):
    """Training and inference images/s of the median step for each attention variant of one model. The variants run
    interleaved, one step each per round, as `tornadovit bench` does, so a load spike hits them alike."""
    runs = []
    for attention in attentions:
        cfg = config(model_name, attention)
        model = spec.VisionTransformer(cfg).float().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        images = torch.randn(batch, cfg["channels"], cfg["image_height"], cfg["image_width"], device=device)
        labels = torch.randint(0, cfg["num_classes"], (batch,), device=device)
        runs.append((model, opt, images, labels))

    def train_step(model, opt, images, labels):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    def infer_step(model, opt, images, labels):
        with torch.no_grad():
            model(images)
        if device != "cpu":
            torch.cuda.synchronize()  # the step's kernels are only queued until then

    def median_seconds(step, training):
        for model, *_ in runs:
            model.train(training)
        for _ in range(warmup):
            for run in runs:
                step(*run)
        times = [[] for _ in runs]
        for _ in range(steps):
            for i, run in enumerate(runs):
                t0 = time.perf_counter()
                step(*run)
                times[i].append(time.perf_counter() - t0)
        return [statistics.median(t) for t in times]

    train = median_seconds(train_step, True)
    infer = median_seconds(infer_step, False)
    return [(batch / t, batch / i) for t, i in zip(train, infer)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="small", help="small or S/16 (comma list)")
    ap.add_argument("--attention", default="softmax,relu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--s16-batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    where = (f"{torch.cuda.get_device_name()}, float32 matmul precision {torch.get_float32_matmul_precision()}"
             if a.device != "cpu" else f"{a.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"# PyTorch {torch.__version__}, {where}")
    print(f"{'model':<16} {'attention':<14} {'batch':>6} {'train img/s':>12} {'infer img/s':>12}")
    for m in a.model.split(","):
        small = m == "small"
        batch = a.batch if small else a.s16_batch
        steps = a.steps if small else max(2, a.steps // 4)
        attentions = a.attention.split(",")
        results = bench("small" if small else "S/16", attentions, batch, steps, max(2, steps // 4), a.device)
        for att, (train, infer) in zip(attentions, results):
            label = "softmax" if att == "softmax" else f"{att}/L^1.0"
            print(f"{'small ViT 32px' if small else 'ViT-S/16 224px':<16} {label:<14} {batch:>6} {train:>12.1f} {infer:>12.1f}")

if __name__ == "__main__":
    main()
