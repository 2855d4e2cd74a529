"""A scriptable model-list server on loopback for the catalog's tests.

Serves an OpenRouter-shaped body (a real recorded list, then whatever the test edits),
split into pages linked by `links.next` when `page_size` is set, with ETag/If-None-Match
and Last-Modified/If-Modified-Since, and scripted failures (status + headers) taken first.

The catalog reaches it through `LoopbackTransport`, which sends requests for the provider's
public-looking host to this server: a loopback base URL would make every model "free" as a
local runtime, which is not what these tests are about.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib
import json
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
from aiohttp import web

from tests import corpus

HOST = "openrouter.test"
BASE_URL = f"http://{HOST}/api/v1"
MODELS_PATH = "/api/v1/models"
HOOK_PATH = "/hooks/catalog"
HOOK_URL = f"http://{HOST}{HOOK_PATH}"
# data/providers: OpenRouter's list of 2026-04-13 (350 models, 24 ":free")
RECORDED = "openrouter/maruel-genai/2026-04-13_c7b9de78_openrouter__TestClient_Warmup.body.json"


@dataclass
class Seen:
    path_qs: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeProvider:
    """The model list it serves (`models`), paging, validators, scripted faults, a log."""

    models: list[dict[str, Any]]
    page_size: int = 0
    etag: bool = True
    last_modified: bool = False
    gzip: bool = False
    brotli: bool = False
    faults: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    hook_faults: deque[int] = field(default_factory=deque)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    hook_attempts: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    _stamp: float = 1_700_000_000.0

    @classmethod
    def recorded(cls) -> FakeProvider:
        doc = json.loads(corpus.read("providers", RECORDED))
        return cls(models=doc["data"])

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(MODELS_PATH, self._models)
        app.router.add_post(HOOK_PATH, self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append((status, headers or {}))

    def edit(self, model_id: str, **changes: Any) -> None:
        for model in self.models:
            if model["id"] == model_id:
                model.update(changes)
                self._touch()
                return
        raise KeyError(model_id)

    def remove(self, model_id: str) -> dict[str, Any]:
        index = next(i for i, m in enumerate(self.models) if m["id"] == model_id)
        self._touch()
        return self.models.pop(index)

    def add(self, model: dict[str, Any]) -> None:
        self.models.append(copy.deepcopy(model))
        self._touch()

    def _touch(self) -> None:
        self._stamp += 60

    async def _models(self, request: web.Request) -> web.Response:
        seen = Seen(request.path_qs, dict(request.headers))
        self.seen.append(seen)
        response = self._respond(request)
        seen.status = response.status
        return response

    async def _hook(self, request: web.Request) -> web.Response:
        self.hook_attempts += 1
        if self.hook_faults:
            return web.Response(status=self.hook_faults.popleft())
        self.hooks.append(await request.json())
        return web.Response(status=204)

    def _respond(self, request: web.Request) -> web.Response:
        if self.faults:
            status, headers = self.faults.popleft()
            text = json.dumps({"error": f"HTTP {status}"})
            return web.Response(status=status, headers=headers, text=text)
        page = int(request.query.get("page", "1"))
        body = json.dumps(self._page(page)).encode()
        headers = self._validators(body)
        if self._not_modified(request, headers):
            return web.Response(status=304, headers=headers)
        if self.brotli and "br" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "br"
            body = importlib.import_module("brotli").compress(body)
        elif self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body)
        return web.Response(body=body, headers=headers, content_type="application/json")

    def _page(self, page: int) -> dict[str, Any]:
        if not self.page_size:
            return {"data": self.models}
        start = (page - 1) * self.page_size
        doc: dict[str, Any] = {"data": self.models[start : start + self.page_size]}
        if start + self.page_size < len(self.models):
            doc["links"] = {"next": f"{MODELS_PATH}?page={page + 1}"}
        return doc

    def _validators(self, body: bytes) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["ETag"] = '"' + hashlib.sha1(body).hexdigest() + '"'
        if self.last_modified:
            headers["Last-Modified"] = formatdate(self._stamp, usegmt=True)
        return headers

    def _not_modified(self, request: web.Request, headers: dict[str, str]) -> bool:
        if "ETag" in headers and request.headers.get("If-None-Match") == headers["ETag"]:
            return True
        since = request.headers.get("If-Modified-Since")
        return bool(since) and "ETag" not in headers and since == headers.get("Last-Modified")

    def statuses(self) -> list[int]:
        return [s.status for s in self.seen]


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Routes every request to 127.0.0.1:`port` (the Host header keeps the public name)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
