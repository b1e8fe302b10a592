#!/usr/bin/env bash
# Trains and runs the same ViT in TornadoViT and then in PyTorch, right after each other on this machine, and
# prints both tables and the ratio ours / PyTorch. PYTHON names an interpreter with PyTorch (default /usr/bin/python3),
# e.g. a venv with pip's CPU build: python3 -m venv v && v/bin/pip install torch==2.13.0+cpu; PYTHON=v/bin/python.
#
#   scripts/compare-model.sh [threads=2] [model=small|S/16|small,S/16]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
model=${2:-small}
python=${PYTHON:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "# $(date -Is)  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
./tornadovit bench --what model --model "$model" --threads "$threads" | tee "$out/ours.txt"
echo "# load between: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" "$python" \
  scripts/bench_model_torch.py --threads "$threads" --model "$model" | tee "$out/torch.txt"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Ratio ours / PyTorch"
printf '%-16s %-14s %12s %12s\n' model attention train infer
# Model rows start with the model name; join the two tables on (model, attention), which both print in columns of 16
# and 14 characters (model names have two or three words). Ours has a second table whose rows start with the model
# name too (arithmetic rates): only the first row of each (model, attention) is the images/s one.
awk 'FNR == 1 { file++ } /^(small ViT|ViT-S)/ {
       model = substr($0, 1, 16); attention = substr($0, 18, 14);
       sub(/ +$/, "", model); sub(/ +$/, "", attention); key = model "|" attention;
       if (file == 1) { if (!(key in train)) { train[key] = $(NF-2); infer[key] = $(NF-1) } }
       else if (key in train) printf "%-16s %-14s %11.2fx %11.2fx\n", model, attention, train[key] / $(NF-1), infer[key] / $NF
     }' "$out/ours.txt" "$out/torch.txt"
