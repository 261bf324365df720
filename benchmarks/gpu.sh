#!/usr/bin/env bash
# hpo on one GPU under JAX (how the lent H100/H200 machines run it): per-epoch time GPU vs CPU,
# GPU utilisation sampled with nvidia-smi while training, the mixed-precision speed-up, and
# trials per minute with `hpo worker --gpus 0 --per-gpu 1, 2, 4`. Results: benchmarks/results/gpu-*.json.
#
#   bash benchmarks/gpu.sh            # on a machine with an NVIDIA GPU and jax[cuda] installed
#   bash benchmarks/gpu.sh --cpu-only # the same script without a GPU (checks it runs; no GPU numbers)
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
export PYTHONUNBUFFERED=1
python benchmarks/gpu_study.py "$@"
