#!/usr/bin/env bash
# Quick-start command 1: install what is needed, build, run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target roast-train
./build/apps/roast-train demo
