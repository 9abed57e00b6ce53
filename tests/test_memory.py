"""Tests of dlfs.memory: `import dlfs` keeps freed memory for the next step (glibc), and DLFS_MALLOC=glibc opts out.

Each case runs in a new Python, since the setting is process-wide and this test process imported dlfs already.
The workload is a training step's pattern: three large float32 temporaries (29, 9 and 20 MiB, the sizes of week 4's
columns and their neighbours) allocated, filled and freed ten times, after one warm-up; it counts the page faults.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.library,
    pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                       reason="dlfs.memory sets glibc's malloc only"),
]

STEP = """
import json, resource
import numpy as np
import dlfs
from dlfs import memory

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def step():
    a = np.ones(29 << 18, np.float32); b = np.ones(9 << 18, np.float32); c = np.ones(20 << 18, np.float32)
    del a, b, c

step()
before = faults()
for _ in range(10):
    step()
print(json.dumps({"applied": memory.applied, "faults": faults() - before}))
"""


def _run(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DLFS_MALLOC"}
    if env_value is not None:
        env["DLFS_MALLOC"] = env_value
    done = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_keeps_freed_memory_and_the_opt_out_restores_glibc_defaults():
    kept, default = _run(None), _run("glibc")
    assert kept["applied"] is True
    assert default["applied"] is False
    # 10 steps of 58 MiB: with glibc's defaults the blocks go back to the OS and fault in again (about 15,000
    # faults measured); kept, the heap serves them again (about 500 measured, from its first growth)
    assert default["faults"] > 3000, default
    assert kept["faults"] * 5 < default["faults"], (kept, default)


def test_the_settings_are_the_documented_ones():
    from dlfs import memory

    assert memory.SETTINGS == {-3: 32 << 20, -1: 512 << 20, -2: 64 << 20}
    assert memory.keep_freed_memory() is True  # idempotent: setting them again succeeds
