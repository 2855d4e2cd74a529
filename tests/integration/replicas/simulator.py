"""The provider simulator, imported in one place (it moves from `tests/standin` to
`services/simulator`: repoint this import and nothing else)."""

from __future__ import annotations

from tests.standin.server import StandIn as Simulator

__all__ = ["Simulator"]
