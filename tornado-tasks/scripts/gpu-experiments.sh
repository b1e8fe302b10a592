#!/usr/bin/env bash
# On a GPU machine, beside run.sh and bundle.tar.xz (gpu-bundle.sh), from the repository's root: one chunk of the
# research grid of docs/experiments.md at many keys, sized to finish in well under ten minutes on an H100, so that a
# grid spans several short device runs. Sweeps resume: a chunk whose runs are all finished is skipped, an interrupted
# run continues from its last checkpoint (if the checkpoint is still there).
#   bash gpu-experiments.sh CHUNK [OUT_DIR]
# CHUNK is one of the names below (`bash gpu-experiments.sh list` prints them). Run folders live in
# $EXPERIMENTS (default runs/gpu-experiments). Into OUT_DIR (default $OUT, the device tool's return folder) go
# CHUNK.tar.xz (each run's results, metrics.csv curves, config and the sweep's tables and plots; no checkpoints, which
# are too large to return), CHUNK-sweep.log and CHUNK-probe.txt (the 10-shot probe of each finished run); DRY_RUN=1
# prints the sweep's command instead. To continue a grid in a later
# run, unpack the returned archives into $EXPERIMENTS first: finished runs are then skipped.
#   Models: width 192, 3 heads, MLP ratio 4 (Ti-sized), depth 6; Fashion-MNIST 28×28 with 2×2 patches (L = 197 keys)
#   or 1×1 patches (L = 785 keys); 5 epochs at L = 197 (~100 s a run on an H100), 2 at L = 785 (not yet timed);
#   batch 128. The depth chunks (experiment 3 on the GPU): the same width at depth 12, 24 or 32, 4×4 patches (L = 50
#   keys, so that 32 blocks fit a chunk), 5 epochs, softmax and ReLU/L with and without Re-attention (BatchNorm), then
#   DeepViT's collapse measurements, plain and centred, on 500 test images (not yet timed).
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chunk="${1:?usage: gpu-experiments.sh CHUNK [OUT_DIR] (gpu-experiments.sh list for the chunks)}"
experiments="${EXPERIMENTS:-runs/gpu-experiments}"
device="${DEVICE:-tornado}"

common=(--device "$device" --width 192 --heads 3 --mlp-ratio 4 --batch-size 128)
keys197=(--depth 6 --patch-size 2 --epochs 5)
keys785=(--depth 6 --patch-size 1 --epochs 2)
depth50=(--attention softmax,relu --alpha 1 --reattention none,batchnorm --patch-size 4 --epochs 5 --seeds 0)
case "$chunk" in
  list)
    echo "exp1-197-s2      softmax, ReLU/L, relu α=0 at 197 keys, seed 2 (seeds 0 and 1 come from docs/experiments)"
    echo "exp1-785-softmax softmax at 785 keys, seed 0"
    echo "exp1-785-relu    ReLU/L and relu α=0 at 785 keys, seed 0"
    echo "exp2-197-relu    relu at 197 keys, α ∈ {0.25, 0.5, 0.75, 1.5}, seed 0 (0.5 and 1.5 come from docs/experiments)"
    echo "exp2-197-relu2   relu² at 197 keys, α ∈ {0, 0.5, 1, 1.5}, seed 0"
    echo "exp2-197-gelu    gelu at 197 keys, α ∈ {0, 0.5, 1, 1.5}, seed 0"
    echo "exp2-197-soft-id softplus and identity at 197 keys, α ∈ {0, 1}, seed 0"
    echo "exp2-197-bounded relu6 and sigmoid at 197 keys, α ∈ {0, 1}, seed 0"
    echo "qknorm-gate-197  ReLU/L at 197 keys with qk-norm, with the gate, with both, seed 0"
    echo "depth12-50       depth 12 at 50 keys: softmax, ReLU/L, each with and without Re-attention; collapse"
    echo "depth24-50       the same at depth 24"
    echo "depth32-50       the same at depth 32"
    exit 0 ;;
  exp1-197-s2) args=(--attention softmax,relu --alpha 0,1 --seeds 0,1,2 "${keys197[@]}" --sweep-dir "$experiments/exp1-keys-197")
    # seeds 0 and 1 ran already: their committed run folders (no checkpoints) make the sweep skip them
    mkdir -p "$experiments/exp1-keys-197"
    cp -rn docs/experiments/exp1-keys-197-gpu/*-s[01] "$experiments/exp1-keys-197/" 2>/dev/null || true ;;
  exp1-785-softmax) args=(--attention softmax --seeds 0 "${keys785[@]}" --sweep-dir "$experiments/exp1-keys-785-softmax") ;;
  exp1-785-relu) args=(--attention relu --alpha 0,1 --seeds 0 "${keys785[@]}" --sweep-dir "$experiments/exp1-keys-785-relu") ;;
  exp2-197-relu) args=(--attention relu --alpha 0.25,0.5,0.75,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-relu")
    # α = 0.5 and 1.5 ran already: their committed run folders make the sweep skip them
    mkdir -p "$experiments/exp2-keys-197-relu"
    cp -rn docs/experiments/exp2-keys-197-gpu-relu/relu-a* "$experiments/exp2-keys-197-relu/" 2>/dev/null || true ;;
  exp2-197-relu2) args=(--attention relu2 --alpha 0,0.5,1,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-relu2") ;;
  exp2-197-gelu) args=(--attention gelu --alpha 0,0.5,1,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-gelu") ;;
  exp2-197-soft-id) args=(--attention softplus,identity --alpha 0,1 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-soft-id") ;;
  exp2-197-bounded) args=(--attention relu6,sigmoid --alpha 0,1 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-bounded") ;;
  qknorm-gate-197) args=(--attention relu --alpha 1 --qk-norm false,true --gate false,true --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/qknorm-gate-keys-197") ;;
  depth12-50|depth24-50|depth32-50) depth=${chunk%%-*}; depth=${depth#depth}
    args=(--depth "$depth" "${depth50[@]}" --sweep-dir "$experiments/exp3-depth$depth-keys-50") ;;
  *) echo "gpu-experiments.sh: no chunk '$chunk'; 'gpu-experiments.sh list' prints them" >&2; exit 2 ;;
esac

sweep_dir="${args[-1]}"
out="${2:-${OUT:-}}"
[ -n "$out" ] || { echo "gpu-experiments.sh: name OUT_DIR or set OUT" >&2; exit 2; }
if [ -n "${DRY_RUN:-}" ]; then
  echo "run.sh cli sweep ${common[*]} ${args[*]}"
  exit 0
fi
mkdir -p "$out"
status=0
bash "$dir/run.sh" cli sweep "${common[@]}" "${args[@]}" >"$out/$chunk-sweep.log" 2>&1 || status=$?
grep -vE " step +[0-9]+ " "$out/$chunk-sweep.log" | tail -20 || true
if compgen -G "$sweep_dir/*/best.safetensors" >/dev/null; then
  bash "$dir/run.sh" cli probe "$sweep_dir"/*/best.safetensors --shots 10 --seeds 0,1,2 --device "$device" \
    > "$out/$chunk-probe.txt" 2>&1 || status=$?
  grep -E "safetensors|10-shot test" "$out/$chunk-probe.txt" || true
  if [[ $chunk == depth* ]]; then
    for form in plain centred; do
      bash "$dir/run.sh" cli analyze collapse "$sweep_dir"/*/best.safetensors --samples 500 --device "$device" \
        $([ $form = centred ] && echo --centred) --out "$sweep_dir/collapse-$form" > "$out/$chunk-collapse-$form.txt" 2>&1 \
        || status=$?
    done
  fi
fi
tar -C "$(dirname "$sweep_dir")" -cJf "$out/$chunk.tar.xz" --exclude='*.safetensors' --exclude='.lock' \
  "$(basename "$sweep_dir")"
echo "$chunk: $out/$chunk.tar.xz"
exit $status
