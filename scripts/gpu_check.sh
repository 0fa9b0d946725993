#!/usr/bin/env bash
# The prepared GPU check (bench/gpu_check.py, python -m bench.gpu_check): on one CUDA GPU, within 10 minutes, wvm-5b at random init
# (bf16 labelling throughput, one sharded training step with/without activation checkpointing), a full-size
# π0.5 policy_ft step and `curate label-values` with a wvm-5b run. Writes bench/results/gpu_check.{json,md}.
#   scripts/gpu_check.sh            # GPU
#   scripts/gpu_check.sh --dry-run  # CPU: wvm-tiny + tiny π0.5 through the same code paths
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MUJOCO_GL=egl PYOPENGL_PLATFORM=egl
PY="${PYTHON:-.venv/bin/python}"
exec timeout 600 "$PY" -m bench.gpu_check "$@"
