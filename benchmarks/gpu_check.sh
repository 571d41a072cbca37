#!/usr/bin/env bash
# One script for a GPU machine (CuPy, numba, torch preinstalled, no network), 5 minutes at most:
#   1. machine and versions            2. smoke: every CuPy kernel once, a CUDA training step
#   3. the CuPy kernel tests           4. every other cuda-marked test (the op suite on "cuda", ...)
#   5. CPU tests that route NumPy scalars to the device path (they only matter where CuPy imports)
#   6. training step CPU vs GPU        7. fused kernels vs reference on the GPU
# Usage, from anywhere:  bash benchmarks/gpu_check.sh
# Full logs go to $OUT/gpu_check (the device tool's folder) or /tmp/gpu_check; a summary table ends the
# output, and the exit code is non-zero when any step failed.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, installed or not
export CI=1                                          # tests/conftest.py: derandomized hypothesis examples
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-/tmp/gpu_check_cupy_cache}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-/tmp/gpu_check_numba_cache}"
LOG="${OUT:-/tmp}/gpu_check"
mkdir -p "$LOG"
declare -a NAMES=() CODES=() SECS=()

BUDGET=${GPU_CHECK_BUDGET:-300}  # seconds for the whole script: later steps get what is left, or are skipped

step() {  # step NAME TIMEOUT_S COMMAND...: run with a SIGINT timeout (pytest then still prints its summary)
  local name=$1 limit=$2; shift 2
  local start=$SECONDS left=$((BUDGET - SECONDS))
  echo
  if [ "$left" -lt 20 ]; then
    echo "== $name SKIPPED: ${SECONDS}s used of the ${BUDGET}s budget"
    NAMES+=("$name"); CODES+=("skipped"); SECS+=(0)
    : > "$LOG/$name.log"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s, log $LOG/$name.log)"
  timeout -s INT -k 15 "$limit" "$@" > "$LOG/$name.log" 2>&1
  local code=$?
  NAMES+=("$name"); CODES+=("$code"); SECS+=("$((SECONDS - start))")
  return $code
}

show_pytest() {  # the failures' one-line reasons and pytest's closing lines
  grep -E "^(FAILED|ERROR) " "$LOG/$1.log" | cut -c1-400 | head -40
  grep -E "slowest|^[0-9.]+s (call|setup)" "$LOG/$1.log" | head -12
  tail -3 "$LOG/$1.log"
}

step machine 60 bash -c '
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || echo "no nvidia-smi"
  python - <<PY
import platform, sys
print("python", platform.python_version())
for name in ("numpy", "cupy", "numba", "torch", "hypothesis"):
    try:
        print(name, __import__(name).__version__)
    except Exception as err:
        print(name, "IMPORT FAILED:", err)
for what, call in (("cupy devices", "cupy.cuda.runtime.getDeviceCount()"),
                   ("cuda runtime", "cupy.cuda.runtime.runtimeGetVersion()"),
                   ("cuda driver", "cupy.cuda.runtime.driverGetVersion()"), ("nvrtc", "cupy.cuda.nvrtc.getVersion()"),
                   ("torch.cuda", "torch.cuda.is_available()")):
    try:
        import cupy, torch
        print(what, eval(call))
    except Exception as err:
        print(what, "FAILED:", err)
import tinygrad_opt as tg
print("tinygrad_opt", tg.__file__, "cuda_is_available", tg.cuda_is_available())
sys.exit(0 if tg.cuda_is_available() else 3)
PY'
cat "$LOG/machine.log"

step smoke 120 python - <<'PY'
"""Each CuPy kernel compiled and run once against the reference, then one CUDA training step (errors in full)."""
import time, traceback
import numpy as np
import cupy as cp
import tinygrad_opt as tg
from tinygrad_opt.kernels import gpu, reference

rng = np.random.default_rng(0)
x32 = rng.standard_normal((64, 10)).astype(np.float32)
t = rng.integers(0, 10, 64)
failed = 0


def check(name, fn):
    global failed
    start = time.perf_counter()
    try:
        detail = fn()
        print(f"  ok    {name:<28}{(time.perf_counter() - start) * 1e3:8.0f} ms  {detail or ''}")
    except Exception:
        failed += 1
        print(f"  FAIL  {name}\n" + traceback.format_exc())


def differ(a, b):
    a, b = cp.asnumpy(a), cp.asnumpy(b)
    return f"max |gpu - reference| = {float(np.max(np.abs(a - b))) if a.size else 0.0:.3g}"


def xent():
    loss, dz = gpu.softmax_cross_entropy(cp.asarray(x32), cp.asarray(t), 0.1)
    ref_loss, ref_dz = reference.softmax_cross_entropy(x32.copy(), t, 0.1)
    return differ(loss, ref_loss) + "; dz " + differ(dz, ref_dz)


def update(name, n_state, **options):
    def run():
        p, g = cp.asarray(x32), cp.asarray(x32[::-1].copy())
        ours = [p.copy()] + [cp.zeros_like(p) for _ in range(n_state)]
        theirs = [a.copy() for a in ours]
        getattr(gpu, name)(ours[0], g, *ours[1:], **options)
        getattr(reference, name)(theirs[0], g, *theirs[1:], **options)
        same = all(bool((a == b).all()) for a, b in zip(ours, theirs))
        return "bitwise equal" if same else differ(ours[0], theirs[0])
    return run


d32 = cp.asarray(x32)
check("relu_backward", lambda: differ(gpu.relu_backward(d32, d32), reference.relu_backward(d32, d32)))
check("dropout (= host mask)", lambda: differ(gpu.dropout(d32, 12345, 0.3), reference.dropout(x32, 12345, 0.3)))
check("softmax_cross_entropy", xent)
for norm_type in (2.0, 1.0, float("inf")):
    check(f"grad_norm {norm_type}", lambda n=norm_type: differ(gpu.grad_norm([d32], n), reference.grad_norm([x32], n)))
check("sgd_update", update("sgd_update", 1, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.1, nesterov=True,
                           maximize=False, first_step=False))
check("adam_update (amsgrad)", update("adam_update", 3, step=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                      weight_decay=0.1, amsgrad=True, maximize=False, decoupled_weight_decay=True))
check("rmsprop_update", update("rmsprop_update", 3, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.1, momentum=0.5,
                               centered=True, maximize=False))
check("adagrad_update", update("adagrad_update", 1, step=2, lr=0.1, lr_decay=0.01, weight_decay=0.1, eps=1e-10,
                               maximize=False))


def train():
    from tinygrad_opt import nn, optim
    import tinygrad_opt.nn.functional as F
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10)).cuda()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = tg.Tensor(x32, device="cuda"), tg.Tensor(t, device="cuda")
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    return f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in 20 steps"


check("CUDA training step", train)
raise SystemExit(1 if failed else 0)
PY
cat "$LOG/smoke.log"

step kernel_tests 90 python -m pytest -q -p no:cacheprovider -rfE tests/test_kernels_gpu.py
show_pytest kernel_tests

step cuda_tests 210 python -m pytest -q -p no:cacheprovider -rfE --maxfail=40 --durations=10 -m cuda tests/ \
  --ignore=tests/test_kernels_gpu.py
show_pytest cuda_tests

step cpu_tests_with_cupy 60 python -m pytest -q -p no:cacheprovider -rfE tests/test_kernels_ops.py \
  tests/test_kernels_registry.py
show_pytest cpu_tests_with_cupy

if [ -f benchmarks/step.py ]; then
  step bench_step 75 python benchmarks/step.py --device cuda --quick
  tail -30 "$LOG/bench_step.log"
fi
if [ -f benchmarks/kernels.py ]; then
  step bench_kernels 45 python benchmarks/kernels.py --device cuda --quick
  tail -35 "$LOG/bench_kernels.log"
fi

echo
echo "== summary (exit code 124 = stopped at its time limit, 137 = killed after it; logs in $LOG)"
status=0
for i in "${!NAMES[@]}"; do
  printf '  %-22s exit %-4s %5ss\n' "${NAMES[$i]}" "${CODES[$i]}" "${SECS[$i]}"
  [ "${CODES[$i]}" = 0 ] || status=1
done
echo "  total ${SECONDS}s"
exit $status
