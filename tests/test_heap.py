"""kernels/heap.py: with keep_freed_memory(), a step that frees tens of MiB reuses those pages next time."""
import json
import os
import subprocess
import sys

import pytest

# Allocate, touch and free 8 blocks of 4 MiB, 6 times: glibc (its sliding thresholds at about 4 and
# 8 MiB after the first round) trims the 32 MiB freed at the heap's top after every round, so each
# round faults the pages in again; with the fixed thresholds they stay mapped.
STEP_SCRIPT = """
import json, resource, sys
import numpy as np
from numpy._core.multiarray import _set_madvise_hugepage
_set_madvise_hugepage(False)  # 4 KiB pages, as in MLP_SCRIPT below
from tinygrad_opt.kernels.heap import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None

def round_():
    blocks = [np.ones(1 << 20, np.float32) for _ in range(8)]
    del blocks

round_()
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    round_()
print(json.dumps({"applied": applied, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 6}))
"""

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                           reason="mallopt and the fault counts are glibc's")


def run_rounds(mode: str, env_value: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    if env_value is not None:
        env["TINYGRAD_OPT_MALLOC"] = env_value
    done = subprocess.run([sys.executable, "-c", STEP_SCRIPT, mode], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@glibc
def test_freed_blocks_stay_mapped_with_the_policy_and_are_faulted_in_again_without():
    kept, system = run_rounds("keep"), run_rounds("system")
    assert kept["applied"] is True
    assert kept["faults"] < 100  # a round touches 8 * 1024 pages; the kept heap needs none of them anew
    assert system["faults"] > 2000  # about half the pages, on glibc 2.3x


@glibc
def test_environment_variable_system_leaves_malloc_alone():
    result = run_rounds("keep", env_value="system")
    assert result["applied"] is False
    assert result["faults"] > 2000


def test_a_bad_environment_value_is_named():
    done = subprocess.run([sys.executable, "-c", "from tinygrad_opt.kernels.heap import keep_freed_memory as k; k()"],
                          capture_output=True, text=True, env={**os.environ, "TINYGRAD_OPT_MALLOC": "sometimes"})
    assert done.returncode != 0
    assert "TINYGRAD_OPT_MALLOC must be 'keep' or 'system', got 'sometimes'" in done.stderr


@pytest.mark.parametrize("first_use", [
    "import tinygrad_opt.nn.functional as F\n"
    "F.conv2d(tg.Tensor(np.ones((1, 1, 4, 4), np.float32)), tg.Tensor(np.ones((1, 1, 3, 3), np.float32)))",
    "from tinygrad_opt import optim\n"
    "optim.SGD([tg.Tensor(np.ones(3, np.float32), requires_grad=True)], lr=0.1)",
], ids=["the first CPU convolution", "an optimizer of CPU parameters"])
def test_the_policy_is_applied_at_its_first_use(first_use):
    script = ("import numpy as np, tinygrad_opt as tg\n"
              "from tinygrad_opt.kernels import heap\n"
              "assert heap._applied is None\n"
              f"{first_use}\n"
              "print(heap._applied)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ("True" if sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION")
                                   else "False")


# The seed MLP's eager step at batch 4096 (784-256-10, Adam): its (4096, 256) activations and gradients are
# freed at the end of each step; with the optimizer's policy they come back from the kept heap. The control
# leaves malloc to glibc with a fixed mmap threshold, so every large block is mapped afresh and unmapped at
# free: it counts the pages the step's large arrays need. (glibc's default sliding thresholds keep some of
# them some of the time, from under a hundred to a thousand pages a step from run to run, so they cannot
# be the control.) NumPy's huge-page advice is off in both: where the kernel grants a 2 MiB page, one fault
# maps 512 pages, so the count would depend on the machine's free memory and the blocks' alignment.
MLP_SCRIPT = """
import json, resource
import numpy as np
from numpy._core.multiarray import _set_madvise_hugepage
_set_madvise_hugepage(False)  # 4 KiB pages: NumPy asks for huge ones where it can, which fault 2 MiB at a time
import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn, optim
from tinygrad_opt.kernels import background
rng = np.random.default_rng(0)
data = [(tg.Tensor(rng.random((4096, 784), dtype=np.float32)), tg.Tensor(rng.integers(0, 10, 4096))) for _ in range(4)]
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
opt = optim.Adam(model.parameters(), lr=1e-3)

def step(i=[0]):
    x, y = data[i[0] % 4]  # batches in turn, as a loader hands them out
    i[0] += 1
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()

for _ in range(4):
    step()
background.wait_idle(120)  # a kernel compiled in the background (a cold cache) allocates too
for _ in range(4):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
print(json.dumps({"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4}))
"""


@glibc
def test_a_large_batch_mlp_step_reuses_the_freed_pages():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    kept = subprocess.run([sys.executable, "-c", MLP_SCRIPT], capture_output=True, text=True, env=env, check=True)
    mapped_afresh = subprocess.run([sys.executable, "-c", MLP_SCRIPT], capture_output=True, text=True, check=True,
                                   env={**env, "TINYGRAD_OPT_MALLOC": "system", "MALLOC_MMAP_THRESHOLD_": "131072"})
    kept_faults = json.loads(kept.stdout.strip().splitlines()[-1])["faults"]
    fresh_faults = json.loads(mapped_afresh.stdout.strip().splitlines()[-1])["faults"]
    assert kept_faults < 100
    assert fresh_faults > 1024  # a (4096, 256) float32 array alone is 1024 pages
