#!/usr/bin/env bash
# Quick-start command 1: install what is needed, build, and train a ROAST-compressed CNN
# (10x fewer parameters than the dense model) on Fashion-MNIST, the real dataset that
# scripts/setup.sh installs. Ends by printing the run directory and the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# CUDA kernels take most of a build; compile them only where a GPU can run them.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  cuda=AUTO
else
  cuda=OFF
  echo "quickstart: no NVIDIA GPU found, building for the CPU only (-DROAST_USE_CUDA=OFF; see README for a CUDA build)"
fi
# A unity build (several sources per compiler run) halves the cold build on two cores.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DROAST_USE_CUDA="$cuda" -DROAST_PRECOMPILED_HEADERS=ON \
  -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build build -j"$(nproc)" --target roast-train  # only the library and the CLI, not the tests
scripts/fetch_data.sh --only fashion-mnist
out="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
./build/apps/roast-train train --config configs/quickstart.json --out "$out" "$@"
