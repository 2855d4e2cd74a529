"""The admin REST API (admin role only: the auth middleware checks every `/v1/admin` route).

- `POST /v1/admin/keys` — create a key; the answer is the only time the key is shown;
- `GET /v1/admin/keys[?team=&revoked=true]`, `GET /v1/admin/keys/{id}` — keys by prefix;
- `PATCH /v1/admin/keys/{id}` — name, team, role, expiry, scopes, limits, budgets;
- `POST /v1/admin/keys/{id}/revoke`, `POST /v1/admin/keys/{id}/rotate` (a new secret);
- `GET /v1/admin/teams`, `PUT /v1/admin/teams/{id}` — teams with their limits and budgets;
- `GET /v1/admin/audit[?limit=&before=]` — every admin action, newest first.

Every change is recorded in the audit log with who made it, and this edge's keyring is
reloaded at once (the other replicas follow within `FREEWAY_KEYS_SYNC_S`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from services.edge import accounts, queries
from services.edge.accounts import ApiKey, Team
from services.edge.keys import CALLER, KEYSTORE, KEYSYNC
from services.shared.errors import InvalidArgument

JSON = "application/json"
KEY_FIELDS = ("name", "team", "role", "expires_at", "scopes", "limits", "budgets")
TEAM_FIELDS = ("name", "limits", "budgets")
MAX_AUDIT = 1000


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/admin/keys", create_key)
    router.add_get("/v1/admin/keys", list_keys, allow_head=False)
    router.add_get("/v1/admin/keys/{id}", get_key, allow_head=False)
    router.add_patch("/v1/admin/keys/{id}", update_key)
    router.add_post("/v1/admin/keys/{id}/revoke", revoke_key)
    router.add_post("/v1/admin/keys/{id}/rotate", rotate_key)
    router.add_get("/v1/admin/teams", list_teams, allow_head=False)
    router.add_put("/v1/admin/teams/{id}", put_team)
    router.add_get("/v1/admin/audit", list_audit, allow_head=False)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type=JSON)


async def _body(request: web.Request, known: tuple[str, ...]) -> Mapping[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("expected a JSON object")
    for name in body:
        if name not in known:
            raise InvalidArgument(f"unknown field (known: {', '.join(known)})", field=name)
    return body


def _actor(request: web.Request) -> str:
    return request[CALLER].key_id


def new_key(body: Mapping[str, Any], now: float) -> tuple[str, ApiKey]:
    """A key from an admin's JSON (or `freeway keys create`): the secret, and its record."""
    secret = accounts.new_secret()
    key = ApiKey(
        id=accounts.new_key_id(),
        prefix=secret[: accounts.SHOWN_CHARS],
        digest=accounts.key_digest(secret),
        name=accounts.text(body.get("name"), "name"),
        team_id=accounts.identifier(body.get("team"), "team", accounts.DEFAULT_TEAM),
        role=accounts.role(body.get("role")),
        scopes=accounts.scopes(body.get("scopes")),
        limits=accounts.limits(body.get("limits")),
        budgets=accounts.budgets(body.get("budgets")),
        expires_at=accounts.timestamp(body.get("expires_at"), "expires_at", now),
    )
    return secret, key


def changed_key(key: ApiKey, body: Mapping[str, Any], now: float) -> ApiKey:
    """`key` with the fields of a PATCH body (limits, budgets and scopes field by field)."""
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = accounts.text(body["name"], "name")
    if "team" in body:
        changes["team_id"] = accounts.identifier(body["team"], "team", accounts.DEFAULT_TEAM)
    if "role" in body:
        changes["role"] = accounts.role(body["role"])
    if "expires_at" in body:
        changes["expires_at"] = accounts.timestamp(body["expires_at"], "expires_at", now)
    if "scopes" in body:
        changes["scopes"] = accounts.scopes(body["scopes"], base=key.scopes)
    if "limits" in body:
        changes["limits"] = accounts.limits(body["limits"], base=key.limits)
    if "budgets" in body:
        changes["budgets"] = accounts.budgets(body["budgets"], base=key.budgets)
    return replace(key, **changes)


async def create_key(request: web.Request) -> web.Response:
    body = await _body(request, KEY_FIELDS)
    secret, key = new_key(body, time.time())
    stored = await request.app[KEYSTORE].create_key(key, _actor(request))
    await request.app[KEYSYNC].load()
    return _json({**stored.to_json(), "key": secret}, status=201)


async def list_keys(request: web.Request) -> web.Response:
    revoked = queries.boolean(request.query, "revoked", default=False)
    team = request.query.get("team", "")
    keys = await request.app[KEYSTORE].keys(include_revoked=revoked, team=team)
    return _json({"object": "list", "data": [k.to_json() for k in keys]})


async def get_key(request: web.Request) -> web.Response:
    key = await request.app[KEYSTORE].key(request.match_info["id"])
    return _json(key.to_json())


async def update_key(request: web.Request) -> web.Response:
    body = await _body(request, KEY_FIELDS)
    now = time.time()
    store = request.app[KEYSTORE]
    key = await store.update_key(
        request.match_info["id"],
        lambda k: changed_key(k, body, now),
        _actor(request),
        "key.updated",
    )
    await request.app[KEYSYNC].load()
    return _json(key.to_json())


async def revoke_key(request: web.Request) -> web.Response:
    key = await request.app[KEYSTORE].revoke_key(request.match_info["id"], _actor(request))
    await request.app[KEYSYNC].load()
    return _json(key.to_json())


async def rotate_key(request: web.Request) -> web.Response:
    secret = accounts.new_secret()
    store = request.app[KEYSTORE]
    key = await store.rotate_key(request.match_info["id"], secret, _actor(request))
    await request.app[KEYSYNC].load()
    return _json({**key.to_json(), "key": secret})


async def list_teams(request: web.Request) -> web.Response:
    teams = await request.app[KEYSTORE].teams()
    return _json({"object": "list", "data": [t.to_json() for t in teams]})


def team_from(team_id: str, body: Mapping[str, Any], base: Team | None) -> Team:
    base = base or Team(accounts.identifier(team_id, "id", ""))
    return replace(
        base,
        name=accounts.text(body.get("name"), "name", base.name),
        limits=accounts.limits(body.get("limits"), base=base.limits),
        budgets=accounts.budgets(body.get("budgets"), base=base.budgets),
    )


async def put_team(request: web.Request) -> web.Response:
    body = await _body(request, TEAM_FIELDS)
    store = request.app[KEYSTORE]
    team_id = request.match_info["id"]
    known = {t.id: t for t in await store.teams()}
    team = await store.put_team(team_from(team_id, body, known.get(team_id)), _actor(request))
    await request.app[KEYSYNC].load()
    return _json(team.to_json())


async def list_audit(request: web.Request) -> web.Response:
    limit = queries.integer(request.query, "limit", default=100, low=1, high=MAX_AUDIT)
    before = queries.integer(request.query, "before", default=0, low=0, high=2**62) or None
    entries = await request.app[KEYSTORE].audit(limit, before)
    return _json({"object": "list", "data": [e.to_json() for e in entries]})
