"""The selector module picks the compiled twin unless told not to."""

from __future__ import annotations

import os
import subprocess
import sys

from native import kernel


def test_compiled_kernel_is_active_by_default() -> None:
    expected = "py" if os.environ.get("FREEWAY_NO_EXTENSIONS", "") not in ("", "0") else "c"
    assert expected == kernel.IMPLEMENTATION


def test_env_switch_forces_the_pure_python_twin() -> None:
    code = "from native import kernel; print(kernel.IMPLEMENTATION, kernel.score.__module__)"
    env = {**os.environ, "FREEWAY_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["py", "native._kernel_py"]


def test_selector_exports_the_documented_api() -> None:
    assert kernel.FEATURE_NAMES[-1] == "lexical"
    assert len(kernel.FEATURE_NAMES) == len(kernel.DENSE_FEATURE_NAMES) + 1
    assert (kernel.STRATEGY_FREE_FIRST, kernel.STRATEGY_CASCADE) == (1, 6)
    assert (kernel.CAP_TOOLS, kernel.CAP_VISION, kernel.CAP_JSON, kernel.CAP_REASONING) == (
        1,
        2,
        4,
        8,
    )
    assert (kernel.BREAKER_CLOSED, kernel.BREAKER_HALF_OPEN, kernel.BREAKER_OPEN) == (0, 1, 2)
