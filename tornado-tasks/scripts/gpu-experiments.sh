#!/usr/bin/env bash
# On a GPU machine, beside run.sh and bundle.tar.xz (gpu-bundle.sh), from the repository's root: one chunk of the
# research grid of docs/experiments.md at many keys, sized to finish in well under ten minutes on an H100, so that a
# grid spans several short device runs. Sweeps resume: a chunk whose runs are all finished is skipped, an interrupted
# run continues from its last checkpoint (if the checkpoint is still there).
#   bash gpu-experiments.sh CHUNK [OUT_DIR]
#   bash gpu-experiments.sh batch SECONDS CHUNK...   (the chunks side by side, one archive back; see below)
# CHUNK is one of the names below (`bash gpu-experiments.sh list` prints them). Run folders live in
# $EXPERIMENTS (default runs/gpu-experiments); the runs of the chunk's grid already committed under docs/experiments
# are copied in first and skipped, so a chunk trains only what its grid still lacks. Into OUT_DIR (default $OUT, the
# device tool's return folder) go CHUNK.tar.xz (each run's metrics.csv curves, config and the sweep's tables; no
# checkpoints, which are too large to return), CHUNK-sweep.log and CHUNK-probe.txt (the 10-shot probe of each run
# whose checkpoint is on the machine); DRY_RUN=1 prints the sweep's command instead. The bundled JDK draws no plots
# (no AWT): unpack the archive where the repository is and run the printed sweep command with --report, which writes
# the tables and plots from the finished runs and lists the others as pending.
#   Models: width 192, 3 heads, MLP ratio 4 (Ti-sized), depth 6; Fashion-MNIST 28×28 with 2×2 patches (L = 197 keys)
#   or 1×1 patches (L = 785 keys); 5 epochs (2 340 steps) at L = 197, 2 at L = 785; batch 128. On an
#   H100 a run at L = 197 takes ~100 s alone; four chunks side by side take ~240 s a run each (1.7× the throughput);
#   a run at L = 785 ~240 s beside one other chunk, ~350 s beside three. A run at L = 785 holds ~19 GB of the GPU
#   (the memory estimate of the CUDA backend's core: the maps [B,H,T,T] are most of it, one per block besides the
#   blocks' shared scratch): three such chunks fit on an 80 GB card with room; a fourth, or a test suite beside three,
#   is untried (an out-of-memory error ends the sweeps; the runs resume).
#   The depth chunks (experiment 3 on the GPU): the same width at depth 12, 24 or 32, 4×4 patches (L = 50 keys, so
#   that 32 blocks fit a chunk), 5 epochs, softmax and ReLU/L with and without Re-attention (BatchNorm), then DeepViT's
#   collapse measurements, plain and centred, on 500 test images (depth 12: ~190–270 s a run beside three chunks).
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
committed=""
chunk="${1:?usage: gpu-experiments.sh CHUNK [OUT_DIR] (gpu-experiments.sh list for the chunks)}"
experiments="${EXPERIMENTS:-runs/gpu-experiments}"
device="${DEVICE:-tornado}"

# batch SECONDS CHUNK...: the chunks side by side (a width-192 model leaves an H100 idle much of a step), each sweep
# stopped in time for its probe and collapse measurements to run on the runs it finished, everything returned as one
# archive, $OUT/experiments.tar.xz (the device tool returns a limited number of files).
if [ "$chunk" = batch ]; then
  seconds="${2:?usage: gpu-experiments.sh batch SECONDS CHUNK...}"
  shift 2
  out="${OUT:?set OUT, the folder to return}/experiments"
  mkdir -p "$out"
  start=$(date +%s)
  for c in "$@"; do
    # the sweep gets what is left of SECONDS after the measurements on its finished runs (the depth chunks measure more)
    reserve=$([[ $c == depth* ]] && echo "${COLLAPSE_RESERVE_S:-200}" || echo "${PROBE_RESERVE_S:-90}")
    sweep_s=$((seconds - reserve < seconds / 2 ? seconds / 2 : seconds - reserve))
    (rc=0; SWEEP_S=$sweep_s bash "$0" "$c" "$out" >"$out/$c.out" 2>&1 || rc=$?
     echo "$c: exit $rc after $(($(date +%s) - start)) s" >>"$out/$c.out") &
  done
  wait
  tail -n 3 "$out"/*.out
  tar -C "$(dirname "$out")" -cJf "$OUT/experiments.tar.xz" "$(basename "$out")" && rm -rf "$out"
  exit 0
fi

common=(--device "$device" --width 192 --heads 3 --mlp-ratio 4 --batch-size 128)
keys197=(--depth 6 --patch-size 2 --epochs 5)
keys785=(--depth 6 --patch-size 1 --epochs 2)
keys785e5=(--depth 6 --patch-size 1 --epochs 5)
depth50=(--attention softmax,relu --alpha 1 --reattention none,batchnorm --patch-size 4 --epochs 5 --seeds 0)
if [ -n "${SMOKE:-}" ]; then
  # a budget that finishes in seconds on a CPU, to check this script (use another EXPERIMENTS folder: it adds no
  # committed runs, whose settings differ)
  common=(--device "$device" --width 16 --heads 2 --mlp-ratio 2 --batch-size 50 --train-limit 300 --eval-limit 100)
  keys197=(--depth 1 --patch-size 7 --epochs 1)
  keys785=(--depth 1 --patch-size 14 --epochs 1)
  keys785e5=(--depth 1 --patch-size 14 --epochs 1)
  depth50=(--attention softmax,relu --alpha 1 --reattention none,batchnorm --patch-size 7 --epochs 1 --seeds 0)
fi
case "$chunk" in
  list)
    echo "exp1-197-s2      softmax, ReLU/L, relu α=0 at 197 keys, seed 2 (seeds 0 and 1 come from docs/experiments)"
    echo "exp1-785-softmax softmax at 785 keys, seeds 0, 1, 2 (seed 0 comes from docs/experiments)"
    echo "exp1-785-relu    ReLU/L and relu α=0 at 785 keys, seeds 0, 1, 2 (seed 0 comes from docs/experiments)"
    echo "exp1-785-relu-s1 ReLU/L and relu α=0 at 785 keys, seed 1 alone (with -s2: exp1-785-relu in two slots)"
    echo "exp1-785-relu-s2 ReLU/L and relu α=0 at 785 keys, seed 2 alone"
    for seed in 0 1 2; do
      echo "exp1-785-e5-softmax-s$seed  softmax at 785 keys trained 5 epochs, seed $seed (one run)"
      echo "exp1-785-e5-relu1-s$seed    ReLU/L at 785 keys trained 5 epochs, seed $seed (one run)"
      echo "exp1-785-e5-relu0-s$seed    relu α=0 at 785 keys trained 5 epochs, seed $seed (one run; a seed's three fit a 30-minute device lease side by side)"
    done
    echo "exp2-785-relu    relu at 785 keys, α ∈ {0.5, 1.5}, seed 0 (0 and 1 are exp1-785-relu's)"
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
    committed=exp1-keys-197-gpu ;;
  exp1-785-softmax) args=(--attention softmax --seeds 0,1,2 "${keys785[@]}" --sweep-dir "$experiments/exp1-keys-785-softmax")
    committed=exp1-keys-785-gpu-softmax ;;
  exp1-785-relu) args=(--attention relu --alpha 0,1 --seeds 0,1,2 "${keys785[@]}" --sweep-dir "$experiments/exp1-keys-785-relu")
    committed=exp1-keys-785-gpu-relu ;;
  exp1-785-relu-s1|exp1-785-relu-s2) seed=${chunk##*-s}
    # its own sweep folder (two sweeps side by side never share one); its finished runs join exp1-785-relu's
    args=(--attention relu --alpha 0,1 --seeds "$seed" "${keys785[@]}" --sweep-dir "$experiments/exp1-keys-785-relu-s$seed") ;;
  exp1-785-e5-softmax-s[012]|exp1-785-e5-relu[01]-s[012])
    # experiment 1 at 785 keys closer to convergence, a run a chunk: a 5-epoch run takes ~15 minutes beside two
    # others, so the three attentions of one seed finish within a 30-minute device lease (a new machine starts over)
    seed=${chunk##*-s} attention=${chunk#exp1-785-e5-}; attention=${attention%-s*}
    case $attention in
      softmax) which=(--attention softmax) ;;
      relu1) which=(--attention relu --alpha 1) ;;
      relu0) which=(--attention relu --alpha 0) ;;
    esac
    args=("${which[@]}" --seeds "$seed" "${keys785e5[@]}" --sweep-dir "$experiments/exp1-keys-785-e5-$attention-s$seed") ;;
  exp2-785-relu) args=(--attention relu --alpha 0.5,1.5 --seeds 0 "${keys785[@]}" --sweep-dir "$experiments/exp2-keys-785-relu")
    committed=exp2-keys-785-gpu-relu ;;
  exp2-197-relu) args=(--attention relu --alpha 0.25,0.5,0.75,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-relu")
    committed=exp2-keys-197-gpu-relu ;;
  exp2-197-relu2) args=(--attention relu2 --alpha 0,0.5,1,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-relu2")
    committed=exp2-keys-197-gpu-relu2 ;;
  exp2-197-gelu) args=(--attention gelu --alpha 0,0.5,1,1.5 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-gelu")
    committed=exp2-keys-197-gpu-gelu ;;
  exp2-197-soft-id) args=(--attention softplus,identity --alpha 0,1 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-soft-id")
    committed=exp2-keys-197-gpu-soft-id ;;
  exp2-197-bounded) args=(--attention relu6,sigmoid --alpha 0,1 --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/exp2-keys-197-bounded")
    committed=exp2-keys-197-gpu-bounded ;;
  qknorm-gate-197) args=(--attention relu --alpha 1 --qk-norm false,true --gate false,true --seeds 0 "${keys197[@]}" --sweep-dir "$experiments/qknorm-gate-keys-197")
    committed=qknorm-gate-keys-197-gpu ;;
  depth12-50|depth24-50|depth32-50) depth=${chunk%%-*}; depth=${depth#depth}
    args=(--depth "$depth" "${depth50[@]}" --sweep-dir "$experiments/exp3-depth$depth-keys-50")
    committed=exp3-depth$depth-keys-50-gpu ;;
  *) echo "gpu-experiments.sh: no chunk '$chunk'; 'gpu-experiments.sh list' prints them" >&2; exit 2 ;;
esac

sweep_dir="${args[-1]}"
# The runs already finished in docs/experiments (their folders without checkpoints) are copied in first, so that
# the sweep skips them and trains only what the grid still lacks.
if [ -n "$committed" ] && [ -z "${SMOKE:-}" ] && [ -d "docs/experiments/$committed" ]; then
  mkdir -p "$sweep_dir"
  for run in "docs/experiments/$committed"/*/; do
    [ -f "$run/metrics.csv" ] && cp -rn "${run%/}" "$sweep_dir/"
  done
fi
out="${2:-${OUT:-}}"
[ -n "$out" ] || { echo "gpu-experiments.sh: name OUT_DIR or set OUT" >&2; exit 2; }
if [ -n "${DRY_RUN:-}" ]; then
  echo "run.sh cli sweep ${common[*]} ${args[*]}"
  exit 0
fi
mkdir -p "$out"
status=0
# SWEEP_S: stop the sweep after that many seconds (a run stopped part-way continues from its checkpoint next time)
bash "$dir/run.sh" cli sweep "${common[@]}" "${args[@]}" >"$out/$chunk-sweep.log" 2>&1 &
sweep=$!
if [ -n "${SWEEP_S:-}" ]; then
  (sleep "$SWEEP_S"; kill -TERM "$sweep" 2>/dev/null) &
  timer=$!
fi
wait "$sweep" || status=$?
[ -n "${SWEEP_S:-}" ] && [ "$status" = 143 ] && echo "$chunk: sweep stopped at its time limit (SWEEP_S=$SWEEP_S)"
if [ -n "${timer:-}" ]; then kill "$timer" 2>/dev/null || true; fi
grep -vE " step +[0-9]+ " "$out/$chunk-sweep.log" | tail -20 || true
# the tables of whatever finished (the others listed as pending), and the measurements on the finished runs only
if [ -d "$sweep_dir" ]; then
  bash "$dir/run.sh" cli sweep "${common[@]}" "${args[@]}" --report >>"$out/$chunk-sweep.log" 2>&1 || status=$?
fi
finished=()
if [ -f "$sweep_dir/results.csv" ]; then
  while IFS=, read -r run state _; do
    [ "$state" = finished ] && [ -f "$sweep_dir/$run/best.safetensors" ] && finished+=("$sweep_dir/$run/best.safetensors")
  done < <(tail -n +2 "$sweep_dir/results.csv")
fi
if [ ${#finished[@]} -gt 0 ]; then
  # at 785 keys the probe's default batch of 256 needs more than a GPU shared by four chunks has
  bash "$dir/run.sh" cli probe "${finished[@]}" --shots 10 --seeds 0,1,2 --device "$device" \
    $([[ $chunk == *-785-* ]] && echo --batch-size 32) > "$out/$chunk-probe.txt" 2>&1 || status=$?
  grep -E "safetensors|10-shot test" "$out/$chunk-probe.txt" || true
  if [[ $chunk == depth* ]]; then
    for form in plain centred; do
      bash "$dir/run.sh" cli analyze collapse "${finished[@]}" --samples 500 --device "$device" \
        $([ $form = centred ] && echo --centred) --out "$sweep_dir/collapse-$form" > "$out/$chunk-collapse-$form.txt" 2>&1 \
        || status=$?
    done
  fi
fi
if [ -d "$sweep_dir" ]; then
  tar -C "$(dirname "$sweep_dir")" -cJf "$out/$chunk.tar.xz" --exclude='*.safetensors' --exclude='.lock' \
    "$(basename "$sweep_dir")"
  echo "$chunk: $out/$chunk.tar.xz"
else
  echo "$chunk: stopped before its first run started"
fi
exit $status
