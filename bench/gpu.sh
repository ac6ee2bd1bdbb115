#!/usr/bin/env bash
# The benchmark report on a CUDA host: checks that a GPU and onnxruntime's CUDA provider are
# usable, then runs `npm run bench -- --execution-provider cuda` (servers and the in-process limit
# on CUDA, pinned as on CPU) into bench/results/<date>-<gpu>/ with nvidia-smi's view of the GPU.
# Fails with the reason, before measuring anything, where no GPU or no CUDA provider is present.
#   bench/gpu.sh [extra npm run bench arguments, e.g. --quick]
# The CUDA provider ships only when onnxruntime-node is installed with ONNXRUNTIME_NODE_INSTALL=cuda12
# (e.g. `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`), as the CUDA image does (deploy/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "bench/gpu.sh: $*" >&2
  exit 1
}

command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this host, so no GPU to measure"
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
[ -n "$gpu_name" ] || fail "nvidia-smi lists no GPU (driver loaded but no device visible: check CUDA_VISIBLE_DEVICES and the container's GPU request)"

model_dir="models/shapes-mobilenetv3"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --model-dir) model_dir="${args[i + 1]:-$model_dir}" ;;
    --model-dir=*) model_dir="${args[i]#--model-dir=}" ;;
  esac
done
node --import tsx bench/lib/cuda-check.ts "$model_dir" ||
  fail "onnxruntime's CUDA execution provider is not usable here (reason above); install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and check the CUDA 12 / cuDNN 9 libraries"

slug="$(printf '%s' "$gpu_name" | tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//')"
out="bench/results/$(date -u +%F)-${slug}"
mkdir -p "$out"
nvidia-smi >"$out/nvidia-smi.txt"
echo "bench/gpu.sh: ${gpu_name}; writing ${out}" >&2
npm run bench -- --execution-provider cuda --out "$out" "$@"
