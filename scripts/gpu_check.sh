#!/usr/bin/env bash
# The GPU checks in one run (docs/gpu.md "Checking it", docs/distributed.md "GPU (NCCL)",
# docs/benchmarks.md): builds a CUDA tree, runs the [cuda] tests (fused kernels, step state,
# graphs), memcheck on the new kernels, the one-rank NCCL equivalence, and `bench train`
# with and without CUDA graphs beside the PyTorch peers (bench/peers/torch_train.py).
#
#   scripts/gpu_check.sh [LOG_DIR] [STAGE...]
#
# Stages (all by default, in this order): build tests memcheck nccl quickstart bench profile bert peers.
# The build stage always runs (it is incremental); split the rest over calls that must each end
# within a time limit, e.g. `gpu_check.sh out tests memcheck nccl` then `gpu_check.sh out bench peers`.
#
# Environment: ROAST_CMAKE_ARGS (extra configure arguments, e.g. -DCMAKE_PREFIX_PATH=... where
# the packages of scripts/setup.sh live elsewhere: scripts/bundle_deps.sh), FASHION_MNIST_DIR (default
# /usr/share/datasets/fashion-mnist), BUILD_DIR (default build-gpu), SKIP_PEERS=1.
# Needs a GPU, nvcc, cmake, ninja; mpirun for the NCCL check; python3 with torch for peers.
# Each stage is bounded by `timeout`; a stage that fails is reported and the next one runs.
set -u
cd "$(dirname "$0")/.."
log_dir="${1:-gpu-check}"
shift || true
stages="${*:-tests memcheck nccl quickstart bench profile bert peers}"
want() { [[ " $stages " == *" $1 "* ]]; }
mkdir -p "$log_dir"
build="${BUILD_DIR:-build-gpu}"
fm="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
t0=$(date +%s)
stage() { echo; echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

stage "GPU and tools"
nvidia-smi -L || { echo "gpu_check: no NVIDIA GPU visible (nvidia-smi -L failed)" >&2; exit 2; }
stage configure
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROAST_USE_CUDA=ON ${ROAST_CMAKE_ARGS:-} \
  > "$log_dir/configure.log" 2>&1 || { tail -30 "$log_dir/configure.log"; exit 1; }
grep "roast" "$log_dir/configure.log" | grep -i "cuda\|mpi\|nccl"
stage build
cmake --build "$build" -j"$(nproc)" > "$log_dir/build.log" 2>&1 || { grep -B2 -A8 "error" "$log_dir/build.log" | head -60; exit 1; }
T="$build/tests/roast_tests"
R="$build/apps/roast-train"

if want tests; then
stage "[cuda] tests"
timeout 300 "$T" "[cuda]" 2>&1 | tail -25
fi
if want memcheck && command -v compute-sanitizer >/dev/null; then
  stage "memcheck: fused kernels, step state, bf16 products"
  timeout 240 compute-sanitizer --tool memcheck "$T" "[cuda][fused],[cuda][step_state],[cuda][attention],[cuda][bf16]~[train]" 2>&1 | tail -4
fi

if want nccl; then
stage "NCCL: one rank gives the losses of a run without it"
S="--set device=cuda --set deterministic=true --set train.max_steps=200 --set train.eval_every=20 --set data.path=$fm --quiet"
rm -rf /tmp/gpu_plain /tmp/gpu_nccl
timeout 120 "$R" train --config configs/quickstart.json $S --out /tmp/gpu_plain
timeout 120 mpirun --allow-run-as-root -np 1 "$R" train --config configs/quickstart.json $S --comm nccl --out /tmp/gpu_nccl
losses() { python3 -c "import json,sys;[print(m['step'],m.get('train_loss'),m.get('val_loss')) for m in map(json.loads,open(sys.argv[1]))]" "$1"; }
if diff <(losses /tmp/gpu_plain/metrics.jsonl) <(losses /tmp/gpu_nccl/metrics.jsonl) > /dev/null; then
  echo "NCCL: same train and validation losses at all $(wc -l < /tmp/gpu_plain/metrics.jsonl) logged steps"
else
  echo "NCCL: LOSSES DIFFER"; diff <(losses /tmp/gpu_plain/metrics.jsonl) <(losses /tmp/gpu_nccl/metrics.jsonl) | head
fi
timeout 60 mpirun --allow-run-as-root -np 1 "$R" bench allreduce --floats 42174 --device cuda --comm nccl

fi
if want quickstart; then
stage "quick start on the GPU, CUDA graphs off and on"
for g in false true; do
  timeout 180 /usr/bin/time -f "graphs=$g: %e s wall, %M KB peak RSS" "$R" train --config configs/quickstart.json \
    --set device=cuda --set data.path="$fm" --set train.cuda_graphs=$g --quiet --out "/tmp/qs_gpu_$g" 2>&1 | tail -2
  python3 -c "import json,sys;s=json.load(open('/tmp/qs_gpu_$g/summary.json'));print({k:s.get(k) for k in ('test_accuracy','samples_per_second','cuda_graph_replays')})"
done

fi
if want bench; then
stage "bench train: roast (graphs off / on) and the PyTorch peers, same run"
TX128="--set data.seq_len=128 --set model.dim=128 --set model.heads=4 --set model.ffn_dim=256 --set train.batch_size=64"
BERT="--set data.seq_len=128 --set model.dim=768 --set model.heads=12 --set model.ffn_dim=3072 --set model.layers=4"
B="timeout 90 $R bench train --synthetic --steps 30 --warmup 10 --set device=cuda --no-profile"
for prec in fp32 tf32; do
  for dense in "" "--set memory.scheme=dense --set memory.compression=1"; do
    for g in false true; do
      tag="$prec ${dense:+dense }graphs=$g"
      $B --config configs/quickstart.json --set precision=$prec $dense --set train.cuda_graphs=$g 2>&1 | sed -n 2p | sed "s/^/[cnn $tag] /"
      $B --config configs/imdb/transformer-base.json --set precision=$prec $dense --set train.cuda_graphs=$g 2>&1 | sed -n 2p | sed "s/^/[tx64 $tag] /"
      $B --config configs/imdb/transformer-base.json $TX128 --set precision=$prec $dense --set train.cuda_graphs=$g 2>&1 | sed -n 2p | sed "s/^/[tx128 $tag] /"
    done
  done
done
for g in false true; do
  $B --config configs/imdb/transformer-base.json $BERT --set precision=tf32 --set train.cuda_graphs=$g 2>&1 | sed -n 2,4p | sed "s/^/[bert roast10 tf32 graphs=$g] /"
done
fi
if want profile; then
stage "bench train: where a transformer step goes (profiled, uncaptured)"
timeout 90 "$R" bench train --synthetic --steps 20 --warmup 5 --config configs/imdb/transformer-base.json \
  --set device=cuda --set precision=tf32 --set train.cuda_graphs=false 2>&1 | head -30
fi
if want bert; then
  stage "BERT-base shape, ROAST 10x against the dense PyTorch peer (eager, compile), TF32 and bf16, same call"
  BERT="--set data.seq_len=128 --set model.dim=768 --set model.heads=12 --set model.ffn_dim=3072 --set model.layers=4"
  for prec in tf32 bf16; do
    timeout 90 "$R" bench train --synthetic --steps 30 --warmup 10 --set device=cuda --no-profile \
      --config configs/imdb/transformer-base.json $BERT --set precision=$prec 2>&1 | sed -n 2,4p | sed "s/^/[bert roast10 $prec] /"
    for c in "" --compile; do
      timeout 200 python3 bench/peers/torch_train.py --device cuda --steps 30 --warmup 10 --model transformer \
        --precision $prec --dim 768 --heads 12 --ffn 3072 --layers 4 --seq 128 --batch 32 $c 2>&1 | tail -2 | sed "s/^/[bert torch $prec$c] /"
    done
  done
fi
if want peers && [ "${SKIP_PEERS:-0}" != 1 ]; then
  stage "PyTorch peers, same shapes"
  P="timeout 150 python3 bench/peers/torch_train.py --device cuda --steps 30 --warmup 10"
  for prec in fp32 tf32; do
    $P --model cnn --precision $prec
    $P --model transformer --precision $prec
    $P --model transformer --precision $prec --dim 128 --heads 4 --ffn 256 --seq 128 --batch 64
  done
  $P --model transformer --precision tf32 --dim 768 --heads 12 --ffn 3072 --layers 4 --seq 128 --batch 32
  $P --model cnn --precision tf32 --compile
  $P --model transformer --precision tf32 --compile
  $P --model transformer --precision tf32 --dim 128 --heads 4 --ffn 256 --seq 128 --batch 64 --compile
  $P --model transformer --precision tf32 --dim 768 --heads 12 --ffn 3072 --layers 4 --seq 128 --batch 32 --compile
fi
stage done
