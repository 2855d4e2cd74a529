"""The provider simulator: LLM providers imitated on loopback, from their recorded exchanges.

Shipped test equipment for `freeway demo`, the test suite and load tests: it serves the
providers' real recorded model lists and answers chat completions as they did, with faults
scripted per provider and model. The routing path never imports it.

    from services.simulator import Simulator, Error, Latency
    async with Simulator(port=0) as s:
        s.script("openrouter", Error(429, retry_after=1), times=1)
        s.base_url("openrouter")  # http://127.0.0.1:PORT/openrouter/api/v1

As a process: `python -m services.simulator --port 8090` (script it through `/_simulator/…`).
"""

from services.simulator.providers import PROVIDERS, ProviderSpec
from services.simulator.script import (
    ChunkDelay,
    Drop,
    Error,
    Fault,
    Latency,
    Malformed,
    Reply,
    Rule,
)
from services.simulator.server import RecordedRequest, Simulator, State, build_app

__all__ = [
    "PROVIDERS",
    "ChunkDelay",
    "Drop",
    "Error",
    "Fault",
    "Latency",
    "Malformed",
    "ProviderSpec",
    "RecordedRequest",
    "Reply",
    "Rule",
    "Simulator",
    "State",
    "build_app",
]
