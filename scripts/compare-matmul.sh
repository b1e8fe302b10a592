#!/usr/bin/env bash
# Times our Matmul (dev.tornadovit.bench.MatmulBench) and then PyTorch (bench_matmul_torch.py) on
# the same shapes, right after each other, and prints both tables and the ratio ours/PyTorch per row.
#
#   scripts/compare-matmul.sh [threads=2] [seconds-per-row=1] [rounds=1]
#
# With several rounds, ours and PyTorch alternate (ours, torch, ours, torch, ...) and the summary
# takes each row's median over the rounds: on a shared, loaded machine a single pass mostly
# measures what the neighbours were doing.
#
# PyTorch: Debian's torch calls libblas.so.3, which is the slow reference BLAS unless OpenBLAS is
# the system's alternative. If it is not, point OPENBLAS_DIR at a directory holding OpenBLAS's
# libblas.so.3 (e.g. one unpacked from the libopenblas0-pthread .deb); it is put first on
# LD_LIBRARY_PATH for PyTorch only. The PyTorch header line names the BLAS actually loaded.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${1:-2}
seconds=${2:-1}
rounds=${3:-1}
source scripts/jdk.sh
java="$JAVA_HOME/bin/java"
python=${PYTHON:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Build (every time: a no-op when the classes are current, and never a stale measurement), and write the runtime
# classpath once (the benchmark itself only needs target/classes, but the CLI's dependencies come along so that the
# same command works as the code grows).
goals=(compile)
if [[ ! -s target/classpath.txt ]]; then
  goals+=(dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime)
fi
nice -n 10 mvn -q -B "${goals[@]}" >&2
classpath="target/classes:$(cat target/classpath.txt)"

blas_dir=${OPENBLAS_DIR:-/usr/lib/x86_64-linux-gnu/openblas-pthread}
torch_env=(OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads")
if [[ -f "$blas_dir/libblas.so.3" ]]; then
  torch_env+=(LD_LIBRARY_PATH="$blas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi

for round in $(seq 1 "$rounds"); do
  echo "# round $round/$rounds $(date -Is)  load before ours: $(cut -d' ' -f1-3 /proc/loadavg)"
  # The tornadovit script's flags: native access lets the GEMM align its packed panels (ArrayAlignment).
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp "$classpath" \
    dev.tornadovit.bench.MatmulBench --threads "$threads" --seconds "$seconds" \
    2> >(grep -v '^WARNING: Using incubator' >&2) | tee "$out/ours.$round.txt"
  echo "# load before PyTorch: $(cut -d' ' -f1-3 /proc/loadavg)"
  env "${torch_env[@]}" "$python" scripts/bench_matmul_torch.py --threads "$threads" --seconds "$seconds" \
    | tee "$out/torch.$round.txt"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Both tables have fixed-width columns: shape (22), form (18), ms, GFLOP/s.
"$python" - "$out" "$rounds" <<'EOF'
import statistics
import sys

def rows(path):
    result = {}
    for line in open(path):
        if line.startswith("#") or line.startswith("shape"):
            continue
        shape, form = line[:22].strip(), line[23:41].strip()
        ms, gflops = line[41:].split()
        result[(shape, form)] = float(gflops)
    return result

out, rounds = sys.argv[1], int(sys.argv[2])
ours = [rows(f"{out}/ours.{r}.txt") for r in range(1, rounds + 1)]
torch = [rows(f"{out}/torch.{r}.txt") for r in range(1, rounds + 1)]
print()
print(f"# GFLOP/s, median of {rounds} round(s)")
print(f"{'shape':<22} {'form':<18} {'ours':>8} {'torch':>8} {'ours/torch':>10}")
for key in ours[0]:
    g = statistics.median(run[key] for run in ours)
    t_values = [run[key] for run in torch if key in run]
    t = statistics.median(t_values) if t_values else None
    t_text = f"{t:8.1f}" if t else f"{'-':>8}"
    ratio = f"{g / t:10.2f}" if t else f"{'-':>10}"
    print(f"{key[0]:<22} {key[1]:<18} {g:8.1f} {t_text} {ratio}")
EOF
