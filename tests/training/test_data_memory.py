"""fit, evaluate and predict make no copy of the user's arrays on the CPU backend.

Runs `benchmarks/data_memory.py` (one fresh process per call, peak RSS from the kernel's
high-water mark) on a 205 MB array, read in place (the default) and streamed in chunks: at most
a quarter of the data in extra memory at the peak, and nothing held after the call returns.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "data_memory.py")


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="reads Linux's /proc")
@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("contender", ["kerasx", "kerasx_stream"], ids=["in_place", "streamed"])
def test_calls_on_a_large_array_hold_no_copy_of_it(contender, call):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--worker", f"{contender}:{call}", "--rows", "50000",
         "--features", "1024"], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["data_gb"] > 0.2
    assert result["peak_extra"] <= 0.25, result
    assert result["held_after"] <= 0.05, result
