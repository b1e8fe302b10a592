#!/usr/bin/env bash
# Runs on the GPU machine, beside bundle.tar.xz (made by gpu-bundle.sh): unpacks it once into $TVIT_ROOT
# (default: tvit in the temporary folder), then
#   bash run.sh devices                 lists the TornadoVM devices
#   bash run.sh tests [DEVICE...]       runs the module's tests on each device (default: every device), bailout off;
#                                       TESTS=REGEX picks test classes by simple or full name; run it from the repository's root
#                                       (the PyTorch fixtures are read from src/test/resources/fixtures, or FIXTURES)
#   bash run.sh bench [ARGS...]         runs dev.tornadovit.tornado.bench.TornadoBench
#   bash run.sh opencl-il               lists the OpenCL devices and whether they ingest SPIR-V (TornadoVM's SPIR-V
#                                       backend needs that)
#   bash run.sh cli COMMAND [ARGS...]   runs the tornadovit command line (e.g. cli demo --device tornado), from the
#                                       repository's root so that it finds the bundled data
# Test logs go to $LOGS (default $TVIT_ROOT/logs).
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${TVIT_ROOT:-${TMPDIR:-/tmp}/tvit}"
if [ ! -x "$root/jdk/bin/java" ]; then
  mkdir -p "$root"
  tar -C "$root" -xJf "$dir/bundle.tar.xz"
fi
export JAVA_HOME="$root/jdk"
sdk="$root/sdk"
logs="${LOGS:-$root/logs}"
mkdir -p "$logs"

# NVIDIA's OpenCL library is installed there but not registered with the ICD loader: register it, so that
# TornadoVM's OpenCL backend finds the GPU too (next to its PTX backend).
if ldconfig -p 2>/dev/null | grep -q 'libnvidia-opencl.so.1'; then
  mkdir -p "$root/icd"
  echo libnvidia-opencl.so.1 >"$root/icd/nvidia.icd"
  export OCL_ICD_VENDORS="$root/icd"
fi

# The CUDA backend compiles kernels with NVRTC and the cuBLAS library tasks call cuBLAS: both come with PyTorch's
# NVIDIA wheels (nvidia/cu13/lib in its site-packages), not on the default library path; NVRTC finds the CUDA headers
# of half-precision kernels through CUDA_PATH. Set TVIT_CUDA_LIBS to use another folder.
cuda_libs="${TVIT_CUDA_LIBS:-}"
if [ -z "$cuda_libs" ] && command -v python3 >/dev/null; then
  cuda_libs=$(python3 -c 'import nvidia, os; print(next(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null || true)
fi
if [ -n "$cuda_libs" ] && [ -d "$cuda_libs" ]; then export LD_LIBRARY_PATH="$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
if [ -z "${CUDA_PATH:-}" ] && [ -d /usr/local/cuda/include ]; then export CUDA_PATH=/usr/local/cuda; fi

# TornadoVM's flags from the SDK's argfile, pointed at where the SDK now is, without the backends whose native
# libraries are missing here (tornado-flags.sh, shared with scripts/tornadovm.sh).
source "$dir/tornado-flags.sh"
tornado_sdk_flags "$sdk"
flags=("${TORNADO_SDK_FLAGS[@]}")
# Every device tensor has an off-heap host copy (a TornadoVM FloatArray): ViT-S/16 at batch 128 needs more than the
# default direct-memory limit (the heap's size).
flags+=(--add-opens tornado.api/uk.ac.manchester.tornado.api=ALL-UNNAMED -Dtornado.recover.bailout=false
  -Dtornado.tvm.maxbytecodesize=1048576 --add-modules jdk.incubator.vector -XX:MaxDirectMemorySize=96g)
# Extra JVM options, e.g. JAVA_OPTS="-Dtornado.printKernel=true -Dtornado.print.kernel.dir=kernels.ptx"
read -ra extra <<<"${JAVA_OPTS:-}"
flags+=("${extra[@]}")
cp="$root/app/lib/*"
java="$JAVA_HOME/bin/java"

mode="${1:-devices}"
shift || true
case "$mode" in
  devices)
    "$java" "${flags[@]}" -cp "$cp" dev.tornadovit.tornado.TornadoDevices ;;
  tests)
    # the PyTorch fixtures, from the repository this runs in
    fixtures="${FIXTURES:-$PWD/src/test/resources/fixtures}"
    devices=("$@")
    if [ ${#devices[@]} -eq 0 ]; then
      read -ra devices <<<"$("$java" "${flags[@]}" -cp "$cp" dev.tornadovit.tornado.TornadoDevices --ids | tr '\n' ' ')"
    fi
    status=0
    for device in "${devices[@]}"; do
      echo "== tests on $device"
      if ! "$java" "${flags[@]}" -Xmx8g -Dtornadovit.test.device="$device" -Dtornadovit.fixtures="$fixtures" \
          -cp "$cp:$root/app/test-classes" dev.tornadovit.tornado.DeviceTestRunner "${TESTS:-.*Test}" \
          >"$logs/tests-${device//:/_}.log" 2>&1; then
        status=1
      fi
      grep -E "tests (successful|failed|found)|^FAILED|^ABORTED|^DeviceTestRunner:" "$logs/tests-${device//:/_}.log" | head -40 || true
      # A failed driver call (TornadoVM's JNI layer prints it and carries on) fails the run even when every
      # comparison happened to pass: its data may be stale next time.
      driver_errors=$(grep -c -- "-JNI\] ERROR" "$logs/tests-${device//:/_}.log" || true)
      if [ "$driver_errors" -gt 0 ]; then
        echo "$driver_errors TornadoVM driver errors, the first:"
        grep -m 3 -- "-JNI\] ERROR" "$logs/tests-${device//:/_}.log"
        status=1
      fi
    done
    exit $status ;;
  opencl-il)
    "$java" --enable-native-access=ALL-UNNAMED -cp "$cp" dev.tornadovit.tornado.OpenClIntermediateLanguages ;;
  bench)
    "$java" "${flags[@]}" -Xmx8g -cp "$cp" dev.tornadovit.tornado.bench.TornadoBench "$@" ;;
  cli)
    # exec: a signal to this script's process (a time limit) reaches the JVM
    exec "$java" "${flags[@]}" -Xmx16g -Xss4m -cp "$cp" dev.tornadovit.cli.Main "$@" ;;
  *)
    echo "usage: run.sh devices | tests [DEVICE...] | opencl-il | bench [ARGS...] | cli COMMAND [ARGS...]" >&2
    exit 2 ;;
esac
