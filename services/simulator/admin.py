"""The admin API under /_simulator/: scripting and inspecting a simulator that runs as a
separate process (the demo, e2e tests, load tests). Same operations as `Simulator`'s methods:

    GET    /_simulator/health                      {"status": "ok"}
    GET    /_simulator/providers                   name, base_url, models_path, chat_path
    POST   /_simulator/script                      add a rule: {"provider", "model", "endpoint",
                                                   "times", "fraction", "faults": [{"kind", …}]}
    GET    /_simulator/script                      the rules, with their hits
    DELETE /_simulator/script[?provider=P]         clear the rules (of one provider)
    PUT    /_simulator/models/<provider>           serve this body as the model list
    DELETE /_simulator/models/<provider>           serve the recorded list again
    GET    /_simulator/requests[?provider&endpoint&model]   what it received, oldest first
    DELETE /_simulator/requests                    forget it
    GET    /_simulator/recordings[?provider=P]     the recorded exchanges it answers from
    GET    /_simulator/recordings/<provider>/<folder>/<cassette>   one, request and response
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.simulator.recordings import load
from services.simulator.script import rule_from_json
from services.simulator.server import State


def add_admin_routes(app: web.Application, state: State) -> None:
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
    app.router.add_get("/_simulator/recordings", admin.recordings)
    app.router.add_get("/_simulator/recordings/{provider}/{folder}/{cassette}", admin.recording)


class Admin:
    def __init__(self, state: State) -> None:
        self.state = state

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def providers(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        listing = [
            {
                "name": s.name,
                "base_url": base + s.prefix,
                "models_path": s.models_path if s.name in self.state.recorded else None,
                "chat_path": s.chat_path,
            }
            for s in self.state.specs.values()
        ]
        return web.json_response({"providers": listing})

    async def add_rule(self, request: web.Request) -> web.Response:
        try:
            rule = rule_from_json(await _json(request))
            if rule.provider != "*" and rule.provider not in self.state.specs:
                raise ValueError(f"provider: unknown {rule.provider!r}")
            self.state.script.add(rule)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
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
        query = request.query
        logged = self.state.requests(
            query.get("provider"), query.get("endpoint"), query.get("model")
        )
        return web.json_response([r.to_json() for r in logged])

    async def clear_requests(self, request: web.Request) -> web.Response:
        self.state.log.clear()
        return web.json_response([])

    async def recordings(self, request: web.Request) -> web.Response:
        provider = request.query.get("provider")
        listing = [
            {
                "key": e.key,
                "provider": e.provider,
                "folder": e.folder,
                "cassette": e.cassette,
                "model": e.request.get("model"),
                "stream": e.stream,
                "status": e.status,
            }
            for e in load()
            if provider in (None, e.provider)
        ]
        return web.json_response(listing)

    async def recording(self, request: web.Request) -> web.Response:
        info = request.match_info
        key = f"{info['provider']}/{info['folder']}/{info['cassette']}"
        for exchange in load():
            if exchange.key == key:
                found: dict[str, Any] = {
                    "key": key,
                    "request": exchange.request,
                    "status": exchange.status,
                    "headers": dict(exchange.headers),
                    "body": exchange.body,
                }
                return web.json_response(found)
        return web.json_response({"error": f"recording: no {key!r}"}, status=404)

    def _provider(self, request: web.Request) -> str:
        provider = request.match_info["provider"]
        if provider not in self.state.recorded:
            raise web.HTTPNotFound(text=f"provider: no model list for {provider!r}")
        return provider


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise ValueError(f"body: not valid JSON ({exc})") from None
