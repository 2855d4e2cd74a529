"""Every kernel test runs on both twins (STYLE.md §9, like propcache's tests/conftest.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from native._common import Weights, load_weights

TWINS = ("py", "c")


@pytest.fixture(params=TWINS, ids=[f"kernel_{name}" for name in TWINS])
def kernel(request: pytest.FixtureRequest) -> ModuleType:
    """One twin: ``native._kernel_py`` or ``native._kernel_c`` (must be built)."""
    return importlib.import_module(f"native._kernel_{request.param}")


@pytest.fixture(scope="session")
def py_kernel() -> ModuleType:
    return importlib.import_module("native._kernel_py")


@pytest.fixture(scope="session")
def c_kernel() -> ModuleType:
    return importlib.import_module("native._kernel_c")


@pytest.fixture(scope="session")
def weights() -> Weights:
    """The shipped, fitted weights."""
    return load_weights()
