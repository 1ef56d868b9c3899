#!/usr/bin/env bash
# Quick-start command 1: install what is needed, build, and train a ROAST-compressed CNN
# (10x fewer parameters than the dense model) on Fashion-MNIST, the real dataset that
# scripts/setup.sh installs. Ends by printing the run directory and the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target roast-train
scripts/fetch_data.sh --only fashion-mnist
out="runs/quickstart-$(date +%Y%m%d-%H%M%S)"
./build/apps/roast-train train --config configs/quickstart.json --out "$out" "$@"
