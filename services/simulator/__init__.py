"""The provider simulator: LLM providers imitated on loopback, from their recorded exchanges.

Shipped test equipment for `freeway demo`, the test suite and load tests: it serves the
providers' real recorded model lists and answers chat completions as they did (their
recorded shapes, refusals and quirks), with faults scripted per provider and model, and
records every request it receives. The routing path never imports it.

    from services.simulator import Simulator, Error, Latency
    async with Simulator(port=0) as sim:
        sim.script("openrouter", Error(429, retry_after=1), times=1)
        sim.base_url("openrouter")  # http://127.0.0.1:PORT/openrouter/api/v1
        sim.chat_requests("openrouter")  # the JSON bodies it received

As a process: `python -m services.simulator --port 8090` (script it through `/_simulator/…`,
see `admin`).
"""

from services.simulator.providers import PROVIDERS, ProviderSpec
from services.simulator.recordings import Exchange
from services.simulator.script import (
    ChunkDelay,
    Decommissioned,
    Drop,
    EchoKey,
    Error,
    Fault,
    FirstTokenDelay,
    Hang,
    HtmlPage,
    InvalidRequest,
    Latency,
    Malformed,
    Reply,
    Rule,
    StreamError,
    Truncate,
)
from services.simulator.server import (
    BackgroundSimulator,
    RecordedRequest,
    Simulator,
    State,
    build_app,
)

__all__ = [
    "PROVIDERS",
    "BackgroundSimulator",
    "ChunkDelay",
    "Decommissioned",
    "Drop",
    "EchoKey",
    "Error",
    "Exchange",
    "Fault",
    "FirstTokenDelay",
    "Hang",
    "HtmlPage",
    "InvalidRequest",
    "Latency",
    "Malformed",
    "ProviderSpec",
    "RecordedRequest",
    "Reply",
    "Rule",
    "Simulator",
    "State",
    "StreamError",
    "Truncate",
    "build_app",
]
