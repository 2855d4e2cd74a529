"""Gateway overhead: client → Envoy → edge → router → upstream, against the same client
going straight to the upstream, in one run.

The upstream is Envoy's `direct_response` with a canned chat completion (and a canned SSE
stream when the request accepts text/event-stream; a 200-chunk one for the `benchlong`
provider): it answers in microseconds, so it cannot be the bottleneck. Load comes from wrk
(cheap per request). For each case we report requests/s, p50/p99 latency, the added
p50/p99 against the direct path, and CPU µs per request summed over every Freeway process
(Envoy, edge, router, catalog, analytics) — per chunk for the long stream. The `tools`
and `image` cases send a tool definition and a 16 KB base64 image beside the same prompt:
what they cost beyond the plain case is what their bytes cost. The `cached` case repeats a
deterministic request: the response cache answers it (CPU per hit against a miss).

    python -m bench.gateway [--duration 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from services.local.envoy import envoy_command, http_connection_manager, listener, write_config
from services.local.supervisor import Suite, child_env, free_port, loopback_settings
from services.shared.settings import SuiteSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KEY = "bench-key"
MODEL = "fast-8b"

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1760000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    },
    separators=(",", ":"),
)


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["choices"] = []
        body["usage"] = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"


LONG_CHUNKS = 200
LONG = (
    _chunk({"role": "assistant", "content": ""})
    + "".join(_chunk({"content": f" tok{i}"}) for i in range(LONG_CHUNKS))
    + _chunk({}, "stop")
    + _chunk({}, usage=True)
    + "data: [DONE]\n\n"
)
STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "Hello "})
    + _chunk({"content": "from "})
    + _chunk({"content": "upstream."})
    + _chunk({}, "stop")
    + _chunk({}, usage=True)
    + "data: [DONE]\n\n"
)

MODELS = json.dumps(
    {
        "object": "list",
        "data": [
            {
                "id": MODEL,
                "object": "model",
                "created": 1760000000,
                "owned_by": "bench",
                "context_window": 131072,
            }
        ],
    }
)


def upstream_config(addr: str, admin: str) -> dict[str, Any]:
    routes: list[dict[str, Any]] = []
    for match, body, ctype in (
        (
            {
                "prefix": "/v1/chat/completions",
                "headers": [{"name": "x-bench-long", "string_match": {"exact": "1"}}],
            },
            LONG,
            "text/event-stream",
        ),
        (
            {
                "prefix": "/v1/chat/completions",
                "headers": [{"name": "accept", "string_match": {"contains": "text/event-stream"}}],
            },
            STREAM,
            "text/event-stream",
        ),
        ({"prefix": "/v1/chat/completions"}, COMPLETION, "application/json"),
        ({"prefix": "/v1/models"}, MODELS, "application/json"),
    ):
        routes.append(
            {
                "match": match,
                "direct_response": {"status": 200, "body": {"inline_string": body}},
                "response_headers_to_add": [
                    {
                        "header": {"key": "content-type", "value": ctype},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
            }
        )
    manager = http_connection_manager(routes, False, 1 << 20)
    manager["route_config"]["max_direct_response_body_size_bytes"] = 1 << 20  # the long stream
    return {
        "admin": {
            "address": {
                "socket_address": {
                    "address": "127.0.0.1",
                    "port_value": int(admin.rsplit(":", 1)[1]),
                }
            }
        },
        "static_resources": {"listeners": [listener("upstream", addr, "upstream", manager)]},
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
%(accept)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d,"mean_us":%%f}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50),
    latency:percentile(99), latency.mean))
end
"""


@dataclass
class Load:
    requests: int
    rps: float
    p50_us: float
    p99_us: float
    errors: int


PROMPT = "Say hello in five words."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    }
]
IMAGE = "data:image/png;base64," + "iVBORw0KGgo" * 1490  # ~16 KB of base64


def body_of(case: str, model: str = "auto") -> dict[str, Any]:
    """The request body of a case: plain text, with tools, or with an image."""
    content: Any = PROMPT
    body: dict[str, Any] = {"model": model}
    if case == "image":
        content = [
            {"type": "text", "text": PROMPT},
            {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
        ]
    body["messages"] = [{"role": "user", "content": content}]
    if case == "tools":
        body["tools"] = TOOLS
    if case == "cached":  # deterministic: after its first answer, the response cache answers
        body["temperature"] = 0
    return body


def wrk(
    url: str,
    connections: int,
    duration: float,
    stream: bool,
    workdir: Path,
    case: str = "plain",
    model: str = "auto",
) -> Load:
    body = {**body_of(case, model), "stream": stream}
    script = workdir / f"wrk-{case}-{int(stream)}-{model.replace('/', '_')}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "body": json.dumps(body),
            "key": KEY,
            "accept": 'wrk.headers["Accept"] = "text/event-stream"' if stream else "",
        }
    )
    threads = 1 if connections == 1 else 2
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(row for row in done.stdout.splitlines() if row.startswith('{"requests"'))
    data = json.loads(line)
    seconds = data["duration_us"] / 1e6
    return Load(
        data["requests"],
        data["requests"] / seconds,
        data["p50_us"],
        data["p99_us"],
        data["errors"] + data["non2xx"],
    )


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, all threads) used so far by each process."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return used


async def wait_models(envoy: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(150):
            r = await client.get(
                f"http://{envoy}/v1/models", headers={"Authorization": f"Bearer {KEY}"}
            )
            if r.status_code == 200 and any(m["id"] != "auto" for m in r.json()["data"]):
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("the catalog never listed the upstream's model")


def bench_suite(tmp: Path, providers: Path, name: str, **extra: str) -> tuple[SuiteSettings, Suite]:
    """The whole suite on loopback over `providers`, embedded (no PostgreSQL or Redis),
    unthrottled, quiet; `extra` settings beside."""
    settings = loopback_settings(tmp / f"var-{name}", providers)
    env = child_env(
        settings,
        {
            "FREEWAY_ADMIN_KEY": KEY,
            "FREEWAY_LOG_LEVEL": "WARNING",
            "FREEWAY_EDGE_RPM": "100000000",
            "FREEWAY_CONFIG": "",
            **extra,
        },
    )
    for key in ("DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)
    return settings, Suite(settings, env, log_dir=tmp / f"logs-{name}")


def run(duration: float, connections: list[int]) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("bench-gateway needs wrk: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="freeway-bench-"))
    up_addr, up_admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    upstream = subprocess.Popen(
        envoy_command(write_config(upstream_config(up_addr, up_admin), tmp / "upstream.json")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    providers = tmp / "providers.toml"
    providers.write_text(
        f'[[providers]]\nname = "bench"\nbase_url = "http://{up_addr}/v1"\n'
        'format = "openai"\nfree_policy = "free_tier"\ncapabilities = ["tools", "vision"]\n'
        f'\n[[providers]]\nname = "benchlong"\nbase_url = "http://{up_addr}/v1"\n'
        'format = "openai"\nfree_policy = "free_tier"\n'
        'headers = { "x-bench-long" = "1" }\n'
    )
    settings, suite = bench_suite(tmp, providers, "main")
    results: dict[str, Any] = {"cases": {}, "duration_s": duration}
    try:
        asyncio.run(suite.start())
        asyncio.run(wait_models(settings.envoy_addr))
        pids = suite.pids()
        gateway = f"http://{settings.envoy_addr}/v1/chat/completions"
        direct = f"http://{up_addr}/v1/chat/completions"
        cases = [(c, False, "plain", "auto") for c in connections]
        cases += [(c, True, "plain", "auto") for c in connections]
        cases += [(16, False, "tools", "auto"), (16, False, "image", "auto")]
        cases += [(16, False, "cached", "auto")]
        cases += [(16, True, "long", f"benchlong/{MODEL}")]
        for conns, stream, case, model in cases:
            kind = "long" if case == "long" else case
            wrk(gateway, conns, 1, stream, tmp, kind, model)  # warm-up
            base = wrk(direct, conns, duration, stream, tmp, kind, MODEL)
            before = cpu_seconds(pids)
            load = wrk(gateway, conns, duration, stream, tmp, kind, model)
            after = cpu_seconds(pids)
            per_process = {n: (after[n] - before[n]) / max(load.requests, 1) * 1e6 for n in pids}
            cpu = (sum(after.values()) - sum(before.values())) / max(load.requests, 1) * 1e6
            name = f"{'stream' if stream else 'unary'}/c{conns}" if case == "plain" else case
            results["cases"][name] = {
                "gateway": asdict(load),
                "direct": asdict(base),
                "added_p50_us": load.p50_us - base.p50_us,
                "added_p99_us": load.p99_us - base.p99_us,
                "cpu_us_per_request": cpu,
                "cpu_us_per_request_by_process": per_process,
            }
            if case == "long":
                results["cases"][name]["cpu_us_per_chunk"] = cpu / LONG_CHUNKS
    finally:
        asyncio.run(suite.stop())
    try:
        results["unary_calls"] = unary_contract(tmp, providers, duration)
    finally:
        upstream.terminate()
        upstream.wait()
    results["cases"]["paced"] = paced_stream(tmp, duration)
    return results


def unary_contract(tmp: Path, providers: Path, duration: float) -> dict[str, Any]:
    """unary/c16 again with the edge calling the router one unary call per request
    (FREEWAY_EDGE_ROUTER_STREAMS=0), the contract before Exchange: its CPU beside ours."""
    settings, suite = bench_suite(tmp, providers, "unary", FREEWAY_EDGE_ROUTER_STREAMS="0")
    try:
        asyncio.run(suite.start())
        asyncio.run(wait_models(settings.envoy_addr))
        pids = suite.pids()
        gateway = f"http://{settings.envoy_addr}/v1/chat/completions"
        wrk(gateway, 16, 1, False, tmp)
        before = cpu_seconds(pids)
        load = wrk(gateway, 16, duration, False, tmp)
        after = cpu_seconds(pids)
    finally:
        asyncio.run(suite.stop())
    per_process = {n: (after[n] - before[n]) / max(load.requests, 1) * 1e6 for n in pids}
    return {
        "gateway": asdict(load),
        "cpu_us_per_request": sum(per_process.values()),
        "cpu_us_per_request_by_process": per_process,
    }


def paced_stream(tmp: Path, duration: float) -> dict[str, Any]:
    """A 200-chunk stream whose chunks the provider simulator sends 5 ms apart (merging
    cannot help: each chunk is a network read of its own), through a suite whose only
    provider is that simulator. CPU per chunk of every Freeway process."""
    sim_addr = f"127.0.0.1:{free_port()}"
    simulator = subprocess.Popen(
        [sys.executable, "-m", "services.simulator", "--addr", sim_addr, "--no-record"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    providers = tmp / "paced.toml"
    providers.write_text(
        f'[[providers]]\nname = "paced"\nbase_url = "http://{sim_addr}/groq/openai/v1"\n'
        'format = "openai"\nfree_policy = "free_tier"\n'
    )
    settings, suite = bench_suite(tmp, providers, "paced", FREEWAY_ROUTER_QUOTA="false")
    try:
        asyncio.run(suite.start())
        model = asyncio.run(pace(settings.envoy_addr, sim_addr))
        pids = suite.pids()
        gateway = f"http://{settings.envoy_addr}/v1/chat/completions"
        wrk(gateway, 16, 1, True, tmp, "plain", model)
        before = cpu_seconds(pids)
        load = wrk(gateway, 16, max(duration, 4.0), True, tmp, "plain", model)
        after = cpu_seconds(pids)
    finally:
        asyncio.run(suite.stop())
        simulator.terminate()
        simulator.wait()
    per_process = {n: (after[n] - before[n]) / max(load.requests, 1) * 1e6 for n in pids}
    cpu = sum(per_process.values())
    return {
        "gateway": asdict(load),
        "cpu_us_per_request": cpu,
        "cpu_us_per_request_by_process": per_process,
        "cpu_us_per_chunk": cpu / LONG_CHUNKS,
    }


async def pace(envoy: str, sim_addr: str) -> str:
    """Script the simulator's groq to answer every chat with LONG_CHUNKS words, 5 ms apart,
    and return the catalogue id of one of its chat models (as `paced/...`)."""
    async with httpx.AsyncClient(timeout=5) as client:
        rule = {
            "provider": "groq",
            "faults": [
                {"kind": "reply", "text": " ".join(["word"] * LONG_CHUNKS)},
                {"kind": "chunk_delay", "seconds": 0.005},
            ],
        }
        (await client.post(f"http://{sim_addr}/_simulator/script", json=rule)).raise_for_status()
        for _ in range(150):
            r = await client.get(
                f"http://{envoy}/v1/models", headers={"Authorization": f"Bearer {KEY}"}
            )
            ids = [m["id"] for m in r.json().get("data", []) if m["id"].startswith("paced/")]
            chat = [i for i in ids if "llama" in i] or ids
            if chat:
                return str(chat[0])
            await asyncio.sleep(0.2)
    raise RuntimeError("the catalog never listed the simulator's models")


def table(results: dict[str, Any]) -> str:
    rows = [
        "case          gw req/s  direct req/s  gw p50 µs  gw p99 µs  +p50 µs  +p99 µs"
        "  CPU µs/req  errors"
    ]
    for name, c in results["cases"].items():
        g = c["gateway"]
        if "direct" not in c:  # paced: the simulator is the upstream, there is no direct path
            rows.append(
                f"{name:<13} {g['rps']:>8.0f}  {'-':>12}  {g['p50_us']:>9.0f}  {g['p99_us']:>9.0f}"
                f"  {'-':>7}  {'-':>7}  {c['cpu_us_per_request']:>10.0f}  {g['errors']:>6}"
            )
            continue
        d = c["direct"]
        rows.append(
            f"{name:<13} {g['rps']:>8.0f}  {d['rps']:>12.0f}  {g['p50_us']:>9.0f}"
            f"  {g['p99_us']:>9.0f}  {c['added_p50_us']:>7.0f}  {c['added_p99_us']:>7.0f}"
            f"  {c['cpu_us_per_request']:>10.0f}  {g['errors']:>6}"
        )
    cases = results["cases"]
    plain = cases.get("unary/c16", {}).get("cpu_us_per_request")
    for name in ("tools", "image"):
        if plain and name in cases:
            extra = cases[name]["cpu_us_per_request"] / plain
            rows.append(f"{name}: {extra:.2f}x the CPU of a plain request (same prompt)")
    if plain and "cached" in cases:
        hit = cases["cached"]["cpu_us_per_request"]
        rows.append(f"cache hit: {hit:.0f} CPU µs, {hit / plain:.2f}x a miss ({plain:.0f} µs)")
    if "long" in cases:
        rows.append(
            f"long stream ({LONG_CHUNKS} chunks): {cases['long']['cpu_us_per_chunk']:.1f} "
            "CPU µs per chunk, end to end"
        )
    if "paced" in cases:
        rows.append(
            f"paced stream ({LONG_CHUNKS} chunks 5 ms apart, nothing to merge): "
            f"{cases['paced']['cpu_us_per_chunk']:.1f} CPU µs per chunk, end to end"
        )
    unary = results.get("unary_calls")
    if plain and unary:
        rows.append(
            f"unary/c16 over one unary router call per request (before Exchange): "
            f"{unary['cpu_us_per_request']:.0f} CPU µs; over Exchange {plain:.0f} µs "
            f"= {plain / unary['cpu_us_per_request']:.2f}x"
        )
    rows.append(
        "CPU µs/req sums Envoy + edge + router + catalog + analytics; compare peers with "
        "the peer harness (shared/peers-bench), which runs them on the same core in one run."
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="2 s per case")
    args = parser.parse_args()
    results = run(2.0 if args.quick else args.duration, [1, 16])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"wrote {RESULTS / 'gateway.json'}")


if __name__ == "__main__":
    main()
