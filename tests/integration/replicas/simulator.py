"""The provider simulator, imported in one place (should it move, repoint this import)."""

from __future__ import annotations

from services.simulator.server import Simulator

__all__ = ["Simulator"]
