"""The provider simulator: an aiohttp server on loopback imitating LLM providers' HTTP APIs.

Per provider prefix (see `providers.PROVIDERS`): `GET <prefix>/models` serves a recorded
real model-list body (with ETag / If-None-Match → 304) and `POST <prefix>/chat/completions`
answers OpenAI-shaped completions, streaming or not. Faults are scripted per provider and
model (see `script`), in-process through `Simulator.script(...)` or, for a separate process,
through the admin API under `/_simulator/`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from services.simulator import chat
from services.simulator.providers import (
    PROVIDERS,
    RECORDINGS,
    ModelList,
    ProviderSpec,
    recorded_models,
)
from services.simulator.script import Error, Fault, Plan, Rule, Script, rule_from_json

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it (Authorization included: this is test equipment)."""

    at: float
    provider: str
    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # decoded JSON, or the raw text when it was not JSON, None when empty

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class State:
    """Everything the handlers read: model lists, the rule book, the request log."""

    specs: dict[str, ProviderSpec]
    recorded: dict[str, ModelList]
    models: dict[str, ModelList]
    script: Script = field(default_factory=Script)
    record: bool = True
    log: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=10_000))

    @classmethod
    def load(
        cls, specs: Iterable[ProviderSpec] = PROVIDERS, recordings: Path = RECORDINGS
    ) -> State:
        by_name = {s.name: s for s in specs}
        recorded = {name: recorded_models(spec, recordings) for name, spec in by_name.items()}
        return cls(by_name, recorded, dict(recorded))

    def remember(self, provider: str, endpoint: str, request: web.Request, body: Any) -> None:
        if self.record:
            entry = RecordedRequest(
                time.time(),
                provider,
                endpoint,
                request.method,
                request.path_qs,
                dict(request.headers),
                body,
            )
            self.log.append(entry)

    def replace_models(self, provider: str, body: bytes) -> ModelList:
        """Serve `body` as `provider`'s model list from now on (a catalogue change)."""
        self.models[provider] = ModelList.of(body)
        return self.models[provider]

    def restore_models(self, provider: str) -> ModelList:
        """Serve the recorded model list of `provider` again."""
        self.models[provider] = self.recorded[provider]
        return self.models[provider]

    def requests(
        self, provider: str | None = None, endpoint: str | None = None
    ) -> list[RecordedRequest]:
        """The request log, oldest first, optionally filtered."""
        return [
            r for r in self.log if provider in (None, r.provider) and endpoint in (None, r.endpoint)
        ]


def build_app(state: State) -> web.Application:
    """The simulator's aiohttp application over `state`."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    for spec in state.specs.values():
        app.router.add_get(spec.models_path, _models_handler(state, spec.name))
        app.router.add_post(spec.chat_path, _chat_handler(state, spec.name))
    admin = Admin(state)
    app.router.add_get("/_simulator/health", admin.health)
    app.router.add_get("/_simulator/providers", admin.providers)
    app.router.add_post("/_simulator/script", admin.add_rule)
    app.router.add_get("/_simulator/script", admin.rules)
    app.router.add_delete("/_simulator/script", admin.clear_rules)
    app.router.add_put("/_simulator/models/{provider}", admin.replace_models)
    app.router.add_delete("/_simulator/models/{provider}", admin.restore_models)
    app.router.add_get("/_simulator/requests", admin.requests)
    app.router.add_delete("/_simulator/requests", admin.clear_requests)
    return app


# --- provider endpoints (the hot path) ------------------------------------------------


def _models_handler(state: State, provider: str) -> Handler:
    async def models(request: web.Request) -> web.StreamResponse:
        state.remember(provider, "models", request, None)
        plan = state.script.plan(provider, "models", None)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.error is not None:
            return _error(plan.error)
        current = state.models[provider]
        if request.headers.get("If-None-Match") == current.etag:
            return web.Response(status=304, headers={"ETag": current.etag})
        if plan.malformed:
            return web.Response(body=current.body[: len(current.body) // 2], content_type=JSON)
        if plan.drop_after is not None:
            return await _drop_mid_body(request, current.body)
        return web.Response(body=current.body, content_type=JSON, headers={"ETag": current.etag})

    return models


def _chat_handler(state: State, provider: str) -> Handler:
    async def chat_completions(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            state.remember(provider, "chat", request, raw.decode(errors="replace"))
            return _bad_request("body", "the body is not valid JSON")
        state.remember(provider, "chat", request, body)
        try:
            call = chat.parse_call(body)
        except chat.BadRequest as exc:
            return _bad_request(exc.param, str(exc))
        plan = state.script.plan(provider, "chat", call.model)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.error is not None:
            return _error(plan.error)
        ans = chat.answer(call, plan.reply)
        if call.stream:
            return await _stream(request, chat.stream_events(call, ans), plan)
        return await _complete(request, chat.completion_body(call, ans), plan)

    return chat_completions


async def _complete(request: web.Request, body: bytes, plan: Plan) -> web.StreamResponse:
    if plan.malformed:
        return web.Response(body=body[: len(body) // 2], content_type=JSON)
    if plan.drop_after is not None:
        return await _drop_mid_body(request, body)
    return web.Response(body=body, content_type=JSON)


async def _stream(request: web.Request, events: list[bytes], plan: Plan) -> web.StreamResponse:
    if plan.malformed:
        events = [events[0], b'data: {"id": "chatcmpl-broken", "choices": [\n\n', *events[1:]]
    if not plan.chunk_delay and plan.drop_after is None:
        # The whole stream in one write: the benchmarks' upstream stays cheap.
        return web.Response(body=b"".join(events), headers=SSE_HEADERS)
    resp = web.StreamResponse(headers=SSE_HEADERS)
    try:
        await resp.prepare(request)
        for sent, event in enumerate(events):
            if plan.drop_after is not None and sent >= plan.drop_after:
                _abort(request)
                return resp
            if plan.chunk_delay:
                await asyncio.sleep(plan.chunk_delay)
            await resp.write(event)
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the client left: nothing to finish
    return resp


async def _drop_mid_body(request: web.Request, body: bytes) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": JSON})
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    _abort(request)
    return resp


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


def _error(error: Error) -> web.Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = f"{error.retry_after:g}"
    if error.body is not None:
        return web.Response(
            status=error.status, text=error.body, content_type=JSON, headers=headers
        )
    message = f"simulator scripted error {error.status}"
    body = chat.error_body(error.status, message)
    return web.Response(status=error.status, body=body, content_type=JSON, headers=headers)


def _bad_request(param: str, message: str) -> web.Response:
    return web.Response(status=400, body=chat.error_body(400, message, param), content_type=JSON)


# --- admin API (scripting a simulator that runs as a separate process) ----------------


class Admin:
    def __init__(self, state: State) -> None:
        self.state = state

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def providers(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        listing = [
            {"name": s.name, "base_url": base + s.prefix, "models_path": s.models_path}
            for s in self.state.specs.values()
        ]
        return web.json_response({"providers": listing})

    async def add_rule(self, request: web.Request) -> web.Response:
        try:
            rule = rule_from_json(await _json(request))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if rule.provider != "*" and rule.provider not in self.state.specs:
            return web.json_response({"error": f"provider: unknown {rule.provider!r}"}, status=400)
        self.state.script.add(rule)
        return web.json_response(rule.to_json(), status=201)

    async def rules(self, request: web.Request) -> web.Response:
        return web.json_response({"rules": [r.to_json() for r in self.state.script.rules]})

    async def clear_rules(self, request: web.Request) -> web.Response:
        self.state.script.clear(request.query.get("provider"))
        return web.json_response({"rules": []})

    async def replace_models(self, request: web.Request) -> web.Response:
        provider = self._provider(request)
        served = self.state.replace_models(provider, await request.read())
        return web.json_response({"provider": provider, "etag": served.etag})

    async def restore_models(self, request: web.Request) -> web.Response:
        provider = self._provider(request)
        served = self.state.restore_models(provider)
        return web.json_response({"provider": provider, "etag": served.etag})

    async def requests(self, request: web.Request) -> web.Response:
        logged = self.state.requests(request.query.get("provider"))
        return web.json_response([r.to_json() for r in logged])

    async def clear_requests(self, request: web.Request) -> web.Response:
        self.state.log.clear()
        return web.json_response([])

    def _provider(self, request: web.Request) -> str:
        provider = request.match_info["provider"]
        if provider not in self.state.specs:
            raise web.HTTPNotFound(text=f"provider: unknown {provider!r}")
        return provider


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise ValueError(f"body: not valid JSON ({exc})") from None


# --- in-process use from tests -------------------------------------------------------


class Simulator:
    """The simulator on a real loopback port, for tests.

    async with Simulator(port=0) as s:
        s.script("openrouter", Error(429, retry_after=1), times=1)
        url = s.base_url("openrouter")   # http://127.0.0.1:PORT/openrouter/api/v1
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record: bool = True) -> None:
        self.host = host
        self.port = port
        self.state = State.load()
        self.state.record = record
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL of the server (no provider prefix)."""
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """What a providers file puts in `base_url` for `provider`."""
        return self.url + self.state.specs[provider].prefix

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.state.specs)

    async def start(self) -> Simulator:
        runner = web.AppRunner(build_app(self.state), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def script(
        self,
        provider: str,
        *faults: Fault,
        model: str | None = None,
        endpoint: str = "chat",
        times: int | None = None,
    ) -> Rule:
        """Apply `faults` to matching requests (`provider` may be "*"), `times` times or forever."""
        if provider != "*" and provider not in self.state.specs:
            raise KeyError(f"unknown provider {provider!r}; known: {', '.join(self.state.specs)}")
        return self.state.script.add(Rule(provider, model, endpoint, faults, times))

    def clear_script(self, provider: str | None = None) -> None:
        self.state.script.clear(provider)

    def replace_models(self, provider: str, body: bytes | dict[str, Any]) -> None:
        """Serve `body` as `provider`'s model list from now on (a catalogue change)."""
        self.state.replace_models(provider, body if isinstance(body, bytes) else chat.dumps(body))

    def restore_models(self, provider: str) -> None:
        self.state.restore_models(provider)

    def recorded_models(self, provider: str) -> dict[str, Any]:
        """The recorded model list of `provider`, decoded (to derive replacements from)."""
        decoded: dict[str, Any] = json.loads(self.state.recorded[provider].body)
        return decoded

    def requests(
        self, provider: str | None = None, endpoint: str | None = None
    ) -> list[RecordedRequest]:
        """The request log, oldest first, optionally filtered."""
        return self.state.requests(provider, endpoint)

    def clear_requests(self) -> None:
        self.state.log.clear()
