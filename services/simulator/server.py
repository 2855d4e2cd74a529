"""The provider simulator: an aiohttp server on loopback imitating LLM providers' HTTP APIs.

Per provider prefix (see `providers.PROVIDERS`): `GET <prefix>/models` serves its recorded
model-list body (with ETag / If-None-Match → 304) and `POST <prefix>/chat/completions`
answers as that provider answered in its recorded exchanges (see `profiles`, `render`),
streaming or not. Every request is recorded, exactly as received. Faults are scripted per
provider and model (see `script`), in process through `Simulator.script(...)` or, for a
separate process, through the admin API under `/_simulator/` (see `admin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from services.simulator import chat, errors
from services.simulator.chat import BadRequest, ChatCall
from services.simulator.profiles import Book, Profile, features, load_books
from services.simulator.providers import PROVIDERS, ModelList, ProviderSpec, recorded_models
from services.simulator.recordings import Exchange, load
from services.simulator.render import Context, completion, situation_of, stream_events
from services.simulator.script import Fault, Plan, Rule, Script

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
CACHE_BLOCK = 64  # prompt-cache hits are counted in blocks of tokens (Baseten: 64)
CACHE_ENTRIES = 10_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it (Authorization included: it is test
    equipment, and redaction tests need to see what was sent)."""

    at: float
    provider: str
    endpoint: str  # "chat" | "models"
    method: str
    path: str  # with the query string
    headers: Mapping[str, str]
    body: Any  # the decoded JSON; the raw text when it was not JSON; None when empty
    raw: bytes  # the body's bytes exactly

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "model": self.model,
            "body": self.body,
            "raw": self.raw.decode("utf-8", errors="replace"),
        }


@dataclass
class State:
    """Everything the handlers read: model lists, recorded books, rules, the request log."""

    specs: dict[str, ProviderSpec]
    recorded: dict[str, ModelList]
    models: dict[str, ModelList]
    books: Mapping[str, Book]
    script: Script = field(default_factory=Script)
    record: bool = True
    log: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=10_000))
    prompt_cache: OrderedDict[str, int] = field(default_factory=OrderedDict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def load(cls, specs: Iterable[ProviderSpec] = PROVIDERS) -> State:
        by_name = {s.name: s for s in specs}
        recorded = {}
        for name, spec in by_name.items():
            models = recorded_models(spec)
            if models is not None:
                recorded[name] = models
        books = load_books(tuple(by_name.values()))
        return cls(by_name, recorded, dict(recorded), books)

    def remember(
        self, provider: str, endpoint: str, request: web.Request, raw: bytes, body: Any
    ) -> None:
        if self.record:
            entry = RecordedRequest(
                time.time(),
                provider,
                endpoint,
                request.method,
                request.path_qs,
                dict(request.headers),
                body,
                raw,
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
        self, provider: str | None = None, endpoint: str | None = None, model: str | None = None
    ) -> list[RecordedRequest]:
        """The request log, oldest first, optionally filtered."""
        return [
            r
            for r in self.log
            if provider in (None, r.provider)
            and endpoint in (None, r.endpoint)
            and model in (None, r.model)
        ]

    def cached_tokens(self, provider: str, call: ChatCall) -> int:
        """Prompt-cache hits: the tokens of this conversation's earlier turn (or of the same
        prompt) when it was sent before, in whole blocks; then this prompt is remembered."""
        messages = list(call.messages)
        seen = [
            self.prompt_cache.get(_fingerprint(provider, call.model, messages[:k]), 0)
            for k in (len(messages), len(messages) - 1)
        ]
        self.prompt_cache[_fingerprint(provider, call.model, messages)] = chat.prompt_tokens(call)
        while len(self.prompt_cache) > CACHE_ENTRIES:
            self.prompt_cache.popitem(last=False)
        return max(seen) // CACHE_BLOCK * CACHE_BLOCK


def _fingerprint(provider: str, model: str, messages: list[Any]) -> str:
    raw = json.dumps([provider, model, messages], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def build_app(state: State) -> web.Application:
    """The simulator's aiohttp application over `state`."""
    from services.simulator.admin import add_admin_routes

    app = web.Application(client_max_size=64 * 1024 * 1024)
    for spec in state.specs.values():
        if spec.name in state.recorded:
            app.router.add_get(spec.models_path, _models_handler(state, spec.name))
        app.router.add_post(spec.chat_path, _chat_handler(state, spec.name))
    add_admin_routes(app, state)
    return app


# --- provider endpoints (the hot path) ------------------------------------------------


def _models_handler(state: State, provider: str) -> Handler:
    async def models(request: web.Request) -> web.StreamResponse:
        state.remember(provider, "models", request, b"", None)
        plan = state.script.plan(provider, "models", None)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.hang:
            return await _hang(state)
        if plan.rejects:
            return _rejection(state, provider, request, plan, None)
        current = state.models[provider]
        if request.headers.get("If-None-Match") == current.etag:
            return web.Response(status=304, headers={"ETag": current.etag})
        if plan.malformed:
            return web.Response(body=current.body[: len(current.body) // 2], content_type=JSON)
        if plan.drop_after is not None:
            return await _drop_mid_body(request, current.body)
        if plan.truncate_after is not None:
            return web.Response(body=current.body[: len(current.body) // 2], content_type=JSON)
        return web.Response(body=current.body, content_type=JSON, headers={"ETag": current.etag})

    return models


def _chat_handler(state: State, provider: str) -> Handler:
    book = state.books[provider]

    async def chat_completions(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            state.remember(provider, "chat", request, raw, raw.decode(errors="replace"))
            return _canned(errors.shaped(book, 400, "We could not parse the JSON body.", "body"))
        state.remember(provider, "chat", request, raw, body)
        model = body.get("model") if isinstance(body, dict) else None
        plan = state.script.plan(provider, "chat", model if isinstance(model, str) else None)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.hang:
            return await _hang(state)
        if plan.rejects:
            return _rejection(state, provider, request, plan, model)
        recorded = book.replay(body) if isinstance(body, dict) and plan.reply is None else None
        if recorded is not None:
            return await _replay(request, recorded, plan, book)
        if isinstance(body, dict):  # what the model refused, it refuses before anything else
            refusal = book.profile(body).refusal(features(body), body.get("stream") is True)
            if refusal is not None:
                return await _replay(request, refusal.exchange, plan, book)
        try:
            call = chat.parse_call(body, book.default.model if book.model_optional else None)
        except BadRequest as exc:
            return _canned(errors.shaped(book, 400, str(exc), exc.param))
        profile = book.profile(call.body)
        validation = book.validation(call.body)
        if validation is not None:
            return _canned(errors.replay(validation))
        try:
            return await _answer(request, state, book, profile, call, plan)
        except BadRequest as exc:  # a tool's or response format's schema was unusable
            return _canned(errors.shaped(book, 400, str(exc), exc.param))

    return chat_completions


async def _answer(
    request: web.Request,
    state: State,
    book: Book,
    profile: Profile,
    call: ChatCall,
    plan: Plan,
) -> web.StreamResponse:
    cached = state.cached_tokens(book.spec.name, call)
    answer = chat.answer(call, reasons=profile.reasons, reply=plan.reply, cached=cached)
    situation = situation_of(call, answer)
    if call.stream:
        shape = profile.stream(situation)
        ctx = Context.of(call, profile, answer, situation, shape.recorded_id)
        events = stream_events(ctx)
        return await _stream(request, events, plan, book, shape.content_type, ctx)
    sync = profile.sync(situation)
    ctx = Context.of(call, profile, answer, situation, str(sync.template.get("id", "")))
    body, content_type = completion(ctx)
    return await _complete(request, body, content_type, plan, book)


def _canned(reply: errors.Canned, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=reply.status,
        body=reply.body,
        headers={"Content-Type": reply.content_type, **(headers or {})},
    )


def _rejection(
    state: State, provider: str, request: web.Request, plan: Plan, model: Any
) -> web.Response:
    book = state.books[provider]
    if plan.html_page is not None:
        return _canned(errors.html_page(state.books, plan.html_page))
    if plan.decommissioned:
        text = (
            f"The model `{model}` has been decommissioned and is no longer supported. Please "
            "refer to the provider's documentation for a recommendation on which model to use "
            "instead."
        )
        return _canned(errors.shaped(book, 400, text, "model", "model_decommissioned"))
    if plan.invalid_request is not None:
        fault = plan.invalid_request
        return _canned(errors.shaped(book, 400, fault.message, fault.param, "invalid_value"))
    if plan.echo_key is not None:
        text = errors.echo_key_message(_api_key(request))
        return _canned(errors.shaped(book, plan.echo_key, text, None, "invalid_api_key"))
    error = plan.error
    assert error is not None
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = f"{error.retry_after:g}"
    if error.body is not None:
        reply = errors.Canned(error.status, error.body.encode(), error.content_type)
        return _canned(reply, headers)
    return _canned(errors.shaped(book, error.status, None), headers)


def _api_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.headers.get("api-key") or auth


async def _hang(state: State) -> web.StreamResponse:
    """Never answer: wait until the simulator stops (the handler is cancelled when the
    client goes away first)."""
    await state.stopping.wait()
    raise web.HTTPServiceUnavailable(text="the simulator is stopping")


async def _replay(
    request: web.Request, exchange: Exchange, plan: Plan, book: Book
) -> web.StreamResponse:
    """A recorded response, byte for byte (faults still apply to its delivery)."""
    if not exchange.is_sse:
        body = exchange.body.encode()
        return await _complete(request, body, exchange.content_type, plan, book, exchange.status)
    newline = "\r\n" if "\r\n" in exchange.body else "\n"
    parts = exchange.body.split(newline * 2)
    events = [(p + newline * 2).encode() for p in parts[:-1]]
    if parts[-1]:
        events.append(parts[-1].encode())
    return await _stream(request, events, plan, book, exchange.content_type, None)


async def _complete(
    request: web.Request,
    body: bytes,
    content_type: str,
    plan: Plan,
    book: Book,
    status: int = 200,
) -> web.StreamResponse:
    headers = {"Content-Type": content_type}
    if plan.stream_error is not None and status == 200:
        return _canned(errors.shaped(book, 500, plan.stream_error.message), None)
    if plan.malformed:
        return web.Response(status=status, body=body[: len(body) // 2], headers=headers)
    if plan.drop_after is not None:
        return await _drop_mid_body(request, body)
    if plan.truncate_after is not None:  # a clean end: the length announced is what is sent
        return web.Response(status=status, body=body[: len(body) // 2], headers=headers)
    if plan.first_token_delay:
        await asyncio.sleep(plan.first_token_delay)
    return web.Response(status=status, body=body, headers=headers)


def _finish_at(events: list[bytes]) -> int:
    """Index of the first event carrying a finish reason (the answer's end), else the end."""
    for i, event in enumerate(events):
        if b'"finish_reason":"' in event or b'"finish_reason": "' in event:
            return i
    return len(events)


async def _stream(
    request: web.Request,
    events: list[bytes],
    plan: Plan,
    book: Book,
    content_type: str,
    ctx: Context | None,
) -> web.StreamResponse:
    headers = {**SSE_HEADERS, "Content-Type": content_type}
    if plan.malformed:
        events = [events[0], b'data: {"id": "chatcmpl-broken", "choices": [\n\n', *events[1:]]
    end = None
    if plan.truncate_after is not None:
        events = events[: min(plan.truncate_after, _finish_at(events))]
    if plan.stream_error is not None:
        cut = min(plan.stream_error.after_chunks, _finish_at(events))
        newline = "\r\n" if events and events[0].endswith(b"\r\n\r\n") else "\n"
        ids = {"id": ctx.id, "model": ctx.model, "created": ctx.created} if ctx else {}
        end = errors.stream_error_event(book, plan.stream_error.message, newline, ids)
        events = [*events[:cut], end]
    paced = plan.chunk_delay or plan.first_token_delay or plan.drop_after is not None
    if not paced:
        # The whole stream in one write: the benchmarks' upstream stays cheap.
        return web.Response(body=b"".join(events), headers=headers)
    resp = web.StreamResponse(headers=headers)
    try:
        await resp.prepare(request)
        for sent, event in enumerate(events):
            if plan.drop_after is not None and sent >= plan.drop_after:
                _abort(request)
                return resp
            if sent == 0 and plan.first_token_delay:
                await asyncio.sleep(plan.first_token_delay)
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


# --- in-process use from tests -------------------------------------------------------


class Simulator:
    """The simulator on a real loopback port, for tests, the demo and load tests.

    async with Simulator(port=0) as sim:
        sim.script("openrouter", Error(429, retry_after=1), times=1)
        url = sim.base_url("openrouter")   # http://127.0.0.1:PORT/openrouter/api/v1
        ...
        [sent] = sim.chat_requests("openrouter")   # the exact JSON body it received
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

    def chat_url(self, provider: str) -> str:
        """The full chat-completions URL of `provider`."""
        return self.url + self.state.specs[provider].chat_path

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.state.specs)

    async def start(self) -> Simulator:
        self.state.stopping = asyncio.Event()
        runner = web.AppRunner(
            build_app(self.state), access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        self.state.stopping.set()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
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

    # scripting

    def script(
        self,
        provider: str,
        *faults: Fault,
        model: str | None = None,
        endpoint: str = "chat",
        times: int | None = None,
        fraction: float | None = None,
    ) -> Rule:
        """Apply `faults` to matching requests (`provider` may be "*"): every one, the first
        `times`, or an evenly spread `fraction` of them."""
        if provider != "*" and provider not in self.state.specs:
            raise KeyError(f"unknown provider {provider!r}; known: {', '.join(self.state.specs)}")
        return self.state.script.add(Rule(provider, model, endpoint, faults, times, fraction))

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

    # what it received

    def requests(
        self, provider: str | None = None, endpoint: str | None = None, model: str | None = None
    ) -> list[RecordedRequest]:
        """Every request received, oldest first, optionally filtered."""
        return self.state.requests(provider, endpoint, model)

    def chat_requests(self, provider: str | None = None, model: str | None = None) -> list[Any]:
        """The JSON bodies of the chat requests received, oldest first."""
        return [r.body for r in self.state.requests(provider, "chat", model)]

    def last_request(self, provider: str | None = None, endpoint: str = "chat") -> RecordedRequest:
        """The latest request received (LookupError when there is none)."""
        found = self.state.requests(provider, endpoint)
        if not found:
            raise LookupError(f"the simulator received no {endpoint} request for {provider}")
        return found[-1]

    def clear_requests(self) -> None:
        self.state.log.clear()

    # what it answers from

    def recordings(self, provider: str | None = None) -> list[Exchange]:
        """The recorded exchanges it answers from (see recordings/INDEX.md)."""
        return [e for e in load() if provider in (None, e.provider)]

    def recording(self, key: str) -> Exchange:
        """One recorded exchange by "provider/folder/cassette"; sending its `request` gets
        its recorded response back byte for byte."""
        for exchange in load():
            if exchange.key == key:
                return exchange
        raise KeyError(f"no recorded exchange {key!r}")


class BackgroundSimulator:
    """A Simulator serving from its own thread and event loop, for synchronous callers
    (pytest fixtures of any scope, load generators, notebooks):

        with BackgroundSimulator() as sim:
            httpx.post(sim.chat_url("groq"), json=...)
            sim.script("groq", Error(503), times=1)
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record: bool = True) -> None:
        self.simulator = Simulator(host, port, record=record)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Simulator:
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.simulator.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.simulator.stop())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="simulator", daemon=True)
        self._thread.start()
        if not ready.wait(60):
            raise RuntimeError("the simulator did not start within 60 s")
        return self.simulator

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
