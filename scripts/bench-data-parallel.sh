#!/usr/bin/env bash
# Data-parallel scaling of CPU ranks on this machine: runs `tornadovit bench --what data-parallel` under Open MPI's
# mpirun for each rank count, the cores shared out evenly (threads per rank = cores / ranks, ranks not pinned), each
# rank training on its own --batch images, and prints images/s, the all-reduce's share of a step and the scaling
# efficiency: images/s over that of 1 rank (the same cores in all rows, so 1.0 is perfect). Several ranks run twice:
# the gradient all-reduce overlapped with the backward pass (overlap yes, training's default) and after it (no).
#   scripts/bench-data-parallel.sh                 1 and 2 ranks, the small ViT, ReLU/L, batch 32 per rank
#   OVERLAP=true scripts/bench-data-parallel.sh    only the overlapped all-reduce on several ranks
#   RANKS="1 2 4 8" scripts/bench-data-parallel.sh --batch 64 --steps 30 --attention softmax
# Extra arguments go to the bench command. Build the jar first (./tornadovit --version) so ranks do not race to.
# MPIRUN names the mpirun to use (default: mpirun on PATH), TORNADOVIT the command that runs the command line (default:
# this checkout's ./tornadovit); each may be several words, e.g. on a machine without Open MPI or Maven, with the GPU
# bundle's JDK and jar and a carried Open MPI (tornado-tasks/scripts/gpu-cpu-ranks.sh):
#   MPIRUN="$TVIT_ROOT/openmpi/mpirun" TORNADOVIT="bash .device/tvit/run.sh cli" RANKS="1 2 4 8" scripts/bench-data-parallel.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -ra mpirun <<<"${MPIRUN:-mpirun}"
read -ra tornadovit <<<"${TORNADOVIT:-$here/tornadovit}"
command -v "${mpirun[0]}" >/dev/null || { echo "error: ${mpirun[0]} not found; install Open MPI (apt-get install openmpi-bin) or name one with MPIRUN" >&2; exit 2; }
cores="${CORES:-$(nproc)}"
ranks="${RANKS:-1 2}"
overlaps="${OVERLAP:-true false}"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--batch 32 --steps 20 --attention relu)
"${tornadovit[@]}" --version >/dev/null
# Root may run mpirun only when told that it is meant.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
printf '%-6s %-8s %-8s %-10s %-10s %-12s %-11s %s\n' ranks threads overlap img/s ms/step all-reduce efficiency model
declare -A base  # images/s of the first rank count, per model and attention
for n in $ranks; do
  threads=$(( cores / n )); [ "$threads" -ge 1 ] || threads=1
  # One rank sums nothing: it runs once.
  for overlap in $( [ "$n" -gt 1 ] && echo "$overlaps" || echo true ); do
    out=$("${mpirun[@]}" -np "$n" --oversubscribe --bind-to none "${tornadovit[@]}" bench --what data-parallel \
      --threads "$threads" --overlap-allreduce "$overlap" "${args[@]}" | grep '^data-parallel')
    while read -r line; do
      field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
      ips=$(field img_per_s)
      key="$(field model)/$(field attention)"
      [ -n "${base[$key]:-}" ] || base[$key]="$ips"
      printf '%-6s %-8s %-8s %-10s %-10s %-12s %-11s %s\n' "$n" "$threads" \
        "$( [ "$n" -gt 1 ] && { [ "$(field overlap)" = true ] && echo yes || echo no; } || echo -)" "$ips" \
        "$(field ms_per_step)" "$(awk -v s="$(field allreduce_share)" 'BEGIN { printf "%.1f %%", 100 * s }')" \
        "$(awk -v a="$ips" -v b="${base[$key]}" 'BEGIN { printf "%.2f", a / b }')" \
        "$(field model) $(field attention), $(field batch_per_rank)/rank"
    done <<<"$out"
  done
done
