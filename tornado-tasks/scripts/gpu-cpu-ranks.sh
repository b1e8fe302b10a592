#!/usr/bin/env bash
# On the GPU machine (which has neither Java nor Open MPI), beside run.sh, bundle.tar.xz and openmpi.tar.xz
# (gpu-bundle.sh): data-parallel scaling of CPU ranks on the machine's cores, scripts/bench-data-parallel.sh's table
# (images/s, ms per step, the all-reduce's share of a step, scaling efficiency) for 1, 2, 4 and 8 ranks, run with the
# carried Open MPI's mpirun and the bundle's JDK and jar. Run it from the repository's root:
#   bash .device/tvit/gpu-cpu-ranks.sh [BENCH ARGS...]   (default: --batch 64 --steps 20 --attention relu, the small ViT)
#   RANKS="1 2" OVERLAP="true false" bash .device/tvit/gpu-cpu-ranks.sh --batch 16 --steps 4
# RANKS (default "1 2 4 8"), OVERLAP (default "true": the overlapped all-reduce, as training does; "true false" adds
# the blocking one) and CORES (default: all) go to bench-data-parallel.sh. Open MPI is unpacked once into
# $TVIT_ROOT/openmpi (default: tvit in the temporary folder, beside the unpacked GPU bundle); MPIRUN names another.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f scripts/bench-data-parallel.sh ] || { echo "error: run this from the repository's root (scripts/bench-data-parallel.sh is not in $PWD)" >&2; exit 2; }
root="${TVIT_ROOT:-${TMPDIR:-/tmp}/tvit}"
export TVIT_ROOT="$root"
start=$SECONDS

if [ -z "${MPIRUN:-}" ]; then
  if [ -f "$dir/openmpi.tar.xz" ]; then
    if [ ! -x "$root/openmpi/mpirun" ] || [ "$dir/openmpi.tar.xz" -nt "$root/openmpi/mpirun" ]; then
      mkdir -p "$root"
      rm -rf "$root/openmpi"
      tar -C "$root" -m -xJf "$dir/openmpi.tar.xz"  # -m: the files dated now, newer than the archive
    fi
    MPIRUN="$root/openmpi/mpirun"
  elif command -v mpirun >/dev/null; then
    MPIRUN=mpirun
  else
    echo "error: no openmpi.tar.xz beside $0 (gpu-bundle.sh packs it where Open MPI is installed) and no mpirun here" >&2
    exit 2
  fi
fi
export MPIRUN

# One host: the ranks talk through shared memory only (no TCP transport looking for network interfaces).
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}"

# Open MPI's shared-memory transport copies a large message straight from one rank's memory into another's
# (process_vm_readv), which a container may forbid between sibling processes; the ranks would then fail in their first
# all-reduce. Where it is forbidden, messages go through the shared segment instead (copy in, copy out).
if [ -z "${OMPI_MCA_btl_vader_single_copy_mechanism:-}" ] && ! python3 - <<'PY' 2>/dev/null
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
source = ctypes.create_string_buffer(b"tornadovit", 16)
ready_r, ready_w = os.pipe()
done_r, done_w = os.pipe()
holder = os.fork()
if holder == 0:  # keeps its copy of the buffer alive until the reader is done
    os.write(ready_w, b"x"); os.read(done_r, 1); os._exit(0)
os.read(ready_r, 1)
reader = os.fork()
if reader == 0:  # a sibling of the holder, as two ranks are
    target = ctypes.create_string_buffer(16)
    local, remote = IoVec(ctypes.addressof(target), 16), IoVec(ctypes.addressof(source), 16)
    n = libc.process_vm_readv(holder, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    os._exit(0 if n == 16 and target.value == b"tornadovit" else 1)
status = os.waitpid(reader, 0)[1]
os.write(done_w, b"x"); os.waitpid(holder, 0)
sys.exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1)
PY
then
  echo "# cross-process memory copies (CMA) are not allowed here: shared memory copies in and out" >&2
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
fi

# Open MPI's shared-memory segments (4 MiB a rank) live in /dev/shm, which a container may make small or leave out:
# then in the temporary folder.
shm_free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
if [ -z "${OMPI_MCA_btl_vader_backing_directory:-}" ] && { [ ! -w /dev/shm ] || [ "${shm_free_kb:-0}" -lt 262144 ]; }; then
  echo "# /dev/shm is missing or small: shared-memory segments in $root" >&2
  export OMPI_MCA_btl_vader_backing_directory="$root"
fi

# Unpacks the GPU bundle once, before the ranks start (each rank runs run.sh).
bash "$dir/run.sh" cli --version >&2
mpi_version=$(${MPIRUN} --version | sed -n 1p)  # fails here, with its reason, if this Open MPI cannot run
echo "# $(nproc) cores, $mpi_version ($MPIRUN), JDK $("$root/jdk/bin/java" -version 2>&1 | sed -n 1p)"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--batch 64 --steps 20 --attention relu)
# The garbage collector ./tornadovit runs the command line with (run.sh adds JAVA_OPTS to its JVM flags).
export JAVA_OPTS="${JAVA_OPTS:--XX:+UseParallelGC}"
# Each rank's JVM says that it uses the incubating Vector API, and TornadoVM which backends it leaves out: once is enough.
RANKS="${RANKS:-1 2 4 8}" OVERLAP="${OVERLAP:-true}" TORNADOVIT="bash $dir/run.sh cli" \
  bash scripts/bench-data-parallel.sh "${args[@]}" 2> >(grep -v --line-buffered -E '^WARNING: Using incubator modules|^TornadoVM: left out' >&2)
echo "# $((SECONDS - start)) s in all"
