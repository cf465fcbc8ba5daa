#!/usr/bin/env bash
# One prepared GPU benchmark call: `bash benchmarks/gpu/run_all.sh [OUT_DIR]` from the repository root.
set -euo pipefail
out="${1:-${OUT:-gpu-results}}"
mkdir -p "$out"
python3 -m venv .venv-gpu
. .venv-gpu/bin/activate
pip install -q -e . "jax[cuda12]" scipy
python -c "import jax; print(jax.devices())" | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory --format=csv | tee "$out/gpu.txt" || true
python benchmarks/matvec.py --sizes 100k,1M --repeats 100 --json "$out/matvec.json" | tee "$out/matvec.txt"
python benchmarks/gpu/monodomain_gpu.py --json "$out/monodomain_gpu.json" | tee "$out/monodomain_gpu.txt"
# eikonal (no peer on the GPU: fim-python's GPU mode needs cupy) and the eikonal -> ECG pipeline with its gradient
python benchmarks/eikonal_vs_fim.py --sizes 26,56,80 --no-fim --threads 16 --json "$out/eikonal_gpu.json" | tee "$out/eikonal_gpu.txt"
python benchmarks/ecg_pipeline.py --h 1.05 --threads 16 --json "$out/ecg_pipeline_gpu.json" | tee "$out/ecg_pipeline_gpu.txt"
# 0D virtual cohorts (Regazzoni closed loop, 3 of its 30 cycles): N = 1000, 10000, 100000 models, float32 and float64
python benchmarks/gpu/zerod_cohort_gpu.py --json "$out/zerod_cohort_gpu.json" | tee "$out/zerod_cohort_gpu.txt"
