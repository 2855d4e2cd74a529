"""Provider stand-in: test equipment imitating LLM providers on loopback (never product code).

    from tests.standin import StandIn, Error, Latency
    async with StandIn(port=0) as s:
        s.script("openrouter", Error(429, retry_after=1), times=1)
        s.base_url("openrouter")  # http://127.0.0.1:PORT/openrouter/api/v1

As a process: `python -m tests.standin --port 8090` (script it through `/_standin/…`).
"""

from tests.standin.providers import PROVIDERS, ProviderSpec
from tests.standin.script import ChunkDelay, Drop, Error, Fault, Latency, Malformed, Reply, Rule
from tests.standin.server import RecordedRequest, StandIn, State, build_app

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
    "StandIn",
    "State",
    "build_app",
]
