#!/usr/bin/env bash
# Fetches NCCL's library and header from NVIDIA's wheel (nvidia-nccl-cu13) into target/nccl/, for reading its API and
# for NcclLibraryTest, which loads target/nccl/nvidia/nccl/lib/libnccl.so.2 when present (ncclGetVersion and
# ncclGetUniqueId run without a GPU). Nothing of it is committed: target/ is ignored.
#   scripts/fetch-nccl.sh              NCCL 2.30.7
#   NCCL_VERSION=2.28.9 scripts/fetch-nccl.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${NCCL_VERSION:-2.30.7}"
out="$here/target/nccl"
mkdir -p "$out"
python3 -m pip download --no-deps --only-binary=:all: -d "$out" "nvidia-nccl-cu13==$version" >&2
wheel=$(ls "$out"/nvidia_nccl_cu13-"$version"-*.whl | head -1)
unzip -o -q "$wheel" 'nvidia/nccl/lib/libnccl.so.2' 'nvidia/nccl/include/nccl.h' -d "$out"
rm -f "$wheel"
echo "$out/nvidia/nccl/lib/libnccl.so.2"
