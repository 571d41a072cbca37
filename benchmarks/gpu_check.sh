#!/usr/bin/env bash
# One script for a GPU machine (CuPy, numba, torch preinstalled, no network):
# the CUDA test run, then the CPU-vs-GPU benchmarks, in well under 5 minutes.
#   bash benchmarks/gpu_check.sh            (from the repository root)
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CI=1  # derandomized hypothesis profile: the same examples as CI
echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python - <<'PY'
import tinygrad_opt as tg
print("cuda available:", tg.cuda_is_available())
try:
    import cupy, numba, numpy, torch
    print("cupy", cupy.__version__, "numba", numba.__version__, "numpy", numpy.__version__, "torch", torch.__version__,
          "torch.cuda", torch.cuda.is_available())
except Exception as err:  # report, do not stop: the tests below say the rest
    print("import problem:", err)
PY
echo "== CUDA tests (every test parametrised on device, cuda side)"
timeout 240 python -m pytest -q -p no:cacheprovider -m cuda -x tests/ 2>&1 | tail -25
if [ -f benchmarks/step.py ]; then
  echo "== training step, CPU vs GPU"
  timeout 150 python benchmarks/step.py --device cuda --quick 2>&1 | tail -30
fi
if [ -f benchmarks/kernels.py ]; then
  echo "== fused kernels on GPU"
  timeout 60 python benchmarks/kernels.py --device cuda --quick 2>&1 | tail -30
fi
echo "== done"
