#!/usr/bin/env bash
# Checks our bf16 tensor-core GEMM (-Dtornadovit.gemm=mma, kernels/MmaGemmKernels) on a GPU machine, from the
# repository's root, with the bundle that gpu-bundle.sh packed and gpu-run.sh (copied as run.sh beside it) runs:
#   bash tornado-tasks/scripts/gpu-mma-check.sh [RUN_SH] [DEVICE]     defaults: .device/tvit/run.sh tornado:0:0
# DEVICE must be on TornadoVM's CUDA backend (the default device where the bundle's flags make CUDA the default
# backend). It runs, in order:
#   1. the devices TornadoVM sees;
#   2. MmaGemmTest (each layout against the CPU's bf16 emulation, the rounding value by value), with the generated
#      CUDA source of its kernels written to $LOGS/mma-kernels.cu (the start of the first tensor-core kernel is
#      printed if a test fails);
#   3. the suites the GEMM strategy touches (GemmStrategyTest: our bf16 kernels against the CPU and cuBLAS bf16 on the
#      model's products; GemmLayoutsTest; DevicePrecisionTest);
#   4. the linear-layer rows of TornadoBench (GFLOP/s of ViT-S/16's twelve products at batch 128, and 1024³): bf16
#      through cuBLAS and through our tensor-core kernels, then fp32 through cuBLAS and through our fp32 kernels.
# Logs go to $LOGS (default ./mma-logs); the exit status is 1 if a test failed.
set -uo pipefail
run="${1:-.device/tvit/run.sh}"
device="${2:-tornado:0:0}"
export LOGS="${LOGS:-$PWD/mma-logs}"
mkdir -p "$LOGS"
status=0

echo "== devices"
bash "$run" devices

echo "== MmaGemmTest on $device"
if ! JAVA_OPTS="-Dtornado.printKernel=true -Dtornado.print.kernel.dir=$LOGS/mma-kernels.cu ${JAVA_OPTS:-}" \
    TESTS='.*MmaGemmTest' bash "$run" tests "$device"; then
  status=1
fi
# one line per test. ABORTED is skipped by an assumption: on a CUDA device only the refusal test may be.
grep -E -A1 "^(SUCCESSFUL|FAILED|ABORTED)" "$LOGS/tests-${device//:/_}.log" | cut -c1-400 | head -80
if grep "^ABORTED" "$LOGS/tests-${device//:/_}.log" | grep -qv "aDeviceWhoseBackendCannotRunMma"; then
  echo "MmaGemmTest was skipped on $device: is it on TornadoVM's CUDA backend?"
  status=1
fi
cp "$LOGS/tests-${device//:/_}.log" "$LOGS/mma-tests.log"
if [ "$status" -ne 0 ] && [ -f "$LOGS/mma-kernels.cu" ]; then
  echo "== the generated source of the first tensor-core kernel ($LOGS/mma-kernels.cu)"
  awk '/__global__/ { inside = /mma(NN|NT|TN)/ } inside' "$LOGS/mma-kernels.cu" | head -150
fi

echo "== GemmStrategyTest, GemmLayoutsTest, DevicePrecisionTest on $device"
if ! TESTS='.*(GemmStrategyTest|GemmLayoutsTest|DevicePrecisionTest)' bash "$run" tests "$device"; then
  status=1
fi
grep -E -A1 "^(FAILED|ABORTED)" "$LOGS/tests-${device//:/_}.log" | cut -c1-400 | head -60

echo "== bench: linear layers in bf16, cuBLAS and our tensor-core kernels"
bash "$run" bench --device "$device" --parts gemm --precision bf16 --gemm cublas,mma --steps 20 || status=1
echo "== bench: linear layers in fp32, cuBLAS and our fp32 kernels"
bash "$run" bench --device "$device" --parts gemm --precision fp32 --gemm cublas,kernel --steps 20 || status=1
exit $status
