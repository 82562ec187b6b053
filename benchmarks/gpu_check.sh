#!/usr/bin/env bash
# The CUDA paths on a real GPU, in one short run (~5 min on one H100/H200):
#   1. the CUDA tests (pytest -m gpu: AMP bf16/fp16 training, device fixtures of the
#      model/attribution tests that import without shap/pyfaidx);
#   2. training throughput on CUDA, fp32 (amp none) vs AMP auto, end to end (train_epoch) vs the same model
#      on ready tensors, basset and hybrid, synthetic 800 bp windows (no dataset needed);
#   3. the same on CPU threads of that machine, for the ratio GPU/CPU.
# Needs python3 with torch (CUDA), numpy, pandas, scikit-learn, scipy, numba, pytest, pyyaml;
# nothing is installed or downloaded. Run from the repository root:
#     bash benchmarks/gpu_check.sh [OUTPUT_FOLDER]     (default results/gpu-check)
# Copy the printed numbers into benchmarks/RESULTS.md ("GPU").
set -uo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
out=${1:-results/gpu-check}
mkdir -p "$out"
status=0

nvidia-smi -L || { echo "no NVIDIA GPU: nothing to check" >&2; exit 1; }
python3 - <<'PY' | tee "$out/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PY

echo "== CUDA tests"
python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_model_train.py 2>&1 \
    | tee "$out/pytest-gpu.log" || status=1

echo "== training throughput"
for model in basset hybrid; do
    for amp in none auto; do
        echo "-- $model, cuda, amp $amp"
        python3 benchmarks/train_throughput.py --synthetic 32768 --model "$model" \
            --device cuda --amp "$amp" --batch-size 256 --repeats 3 2>&1 \
            | tee "$out/throughput-$model-cuda-$amp.txt" || status=1
    done
    echo "-- $model, cpu"
    python3 benchmarks/train_throughput.py --synthetic 4096 --model "$model" --device cpu \
        --batch-size 256 --repeats 2 2>&1 | tee "$out/throughput-$model-cpu.txt" || status=1
done
exit $status
