#!/usr/bin/env bash
# On a GPU machine, beside run.sh and bundle.tar.xz (gpu-bundle.sh) and pytorch_vit_bench.py: ViT-S/16 at 224 px,
# training and inference images/s, ours (TornadoBench on the CUDA device, or DEVICE) and PyTorch's timm model in eager
# mode at the same precision (PRECISION=fp32, the default, with TF32 off; tf32; bf16: PyTorch's bf16 autocast, ours
# bf16 matrix products), in one run, then the ratio ours / PyTorch per attention and mode.
#   bash gpu-compare.sh [BATCH] [STEPS]        (defaults 128 and 10; JAVA_OPTS=-Dtornadovit.gemm=kernel for our GEMM,
#                                               BENCH_ARGS=--profile to add where our step's time goes)
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
batch="${1:-128}" steps="${2:-10}" precision="${PRECISION:-fp32}"
out=$(mktemp -d)
device="${DEVICE:-$(bash "$dir/run.sh" devices 2>/dev/null | awk '$2 == "cuda" {print $1; exit}')}"
device="${device:-tornado}"
read -ra extra <<<"${BENCH_ARGS:-}"
python3 "$dir/pytorch_vit_bench.py" --batch "$batch" --steps $((2 * steps)) --warmup 5 --precision "$precision" | tee "$out/torch.md"
bash "$dir/run.sh" bench --device "$device" --parts model --modes train,infer --batch "$batch" --steps "$steps" \
  --warmup 2 --precision "$precision" "${extra[@]}" | tee "$out/ours.md"
echo
echo "| attention | train: ours / PyTorch img/s | ratio | infer: ours / PyTorch img/s | ratio |"
echo "| --- | --- | --- | --- | --- |"
# rows: | model | attention | batch | train | infer | ... (ours: model rows start with "| ViT-S/16")
awk -F'|' '
  FNR == 1 { file++ }
  { for (i = 2; i <= 6; i++) gsub(/^ +| +$/, "", $i) }
  file == 1 && $2 ~ /^ViT-S\/16/ { train[$3] = $5; infer[$3] = $6 }
  file == 2 && $2 ~ /^PyTorch/ && ($3 in train) {
    printf "| %s | %s / %s | %.2f | %s / %s | %.2f |\n", $3, train[$3], $5, train[$3] / $5, infer[$3], $6, infer[$3] / $6
  }' "$out/ours.md" "$out/torch.md"
rm -rf "$out"
