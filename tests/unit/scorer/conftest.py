"""Fixtures of the scorer tooling's tests."""

from __future__ import annotations

import pytest

from native._common import Weights, load_weights


@pytest.fixture(scope="session")
def weights() -> Weights:
    """The shipped, fitted weights."""
    return load_weights()
