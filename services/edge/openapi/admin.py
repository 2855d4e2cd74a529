"""The admin routes (`services/edge/admin.py`, admin role only): keys, teams, the audit log."""

from __future__ import annotations

from services.edge.accounts import MAX_NAME, ROLES
from services.edge.admin import KEY_FIELDS, MAX_AUDIT, TEAM_FIELDS
from services.edge.openapi.document import ApiDocument, Json, ok
from services.shared.vocabulary import STRATEGY_BY_NAME

COUNT: Json = {"type": ["integer", "null"], "minimum": 0, "description": "0 or null: unlimited"}
USD: Json = {"type": ["number", "null"], "minimum": 0, "description": "null: no budget"}
STAMP: Json = {"type": ["number", "null"], "description": "Unix seconds"}
NAMES: Json = {"type": "array", "items": {"type": "string"}}

LIMITS: Json = {
    "type": "object",
    "additionalProperties": False,
    "description": "requests per minute / day, tokens per minute, requests at once",
    "properties": dict.fromkeys(("rpm", "rpd", "tpm", "concurrent"), COUNT),
}

BUDGETS: Json = {
    "type": "object",
    "additionalProperties": False,
    "description": "USD per UTC day and month; `reserve_usd` is held per request until its "
    "cost is known",
    "properties": dict.fromkeys(("daily_usd", "monthly_usd", "reserve_usd"), USD),
}

SCOPES: Json = {
    "type": "object",
    "additionalProperties": False,
    "description": "what the key may use (empty lists: everything)",
    "properties": {
        "models": NAMES,
        "providers": NAMES,
        "strategies": {"type": "array", "items": {"enum": list(STRATEGY_BY_NAME)}},
        "paid": {"type": "boolean", "description": "false: free models only"},
    },
}

NAME: Json = {"type": ["string", "null"], "maxLength": MAX_NAME}

KEY_INPUT: Json = {
    "type": "object",
    "additionalProperties": False,
    "description": "Every field optional; a PATCH changes limits, budgets and scopes "
    "field by field.",
    "properties": {
        "name": NAME,
        "team": NAME,
        "role": {"enum": [*ROLES, None]},
        "expires_at": STAMP,
        "scopes": SCOPES,
        "limits": LIMITS,
        "budgets": BUDGETS,
    },
}

KEY: Json = {
    "type": "object",
    "required": ["id", "prefix", "team", "role", "scopes", "limits", "budgets"],
    "properties": {
        "id": {"type": "string", "examples": ["key_0123456789abcdef"]},
        "prefix": {"type": "string", "description": "the key's first characters"},
        "name": {"type": "string"},
        "team": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "scopes": SCOPES,
        "limits": LIMITS,
        "budgets": BUDGETS,
        "created_at": {"type": "number"},
        "created_by": {"type": "string"},
        "expires_at": STAMP,
        "revoked_at": STAMP,
        "key": {"type": "string", "description": "the secret: only on create and rotate"},
    },
}

TEAM_INPUT: Json = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"name": NAME, "limits": LIMITS, "budgets": BUDGETS},
}

TEAM: Json = {
    "type": "object",
    "required": ["id", "limits", "budgets"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "limits": LIMITS,
        "budgets": BUDGETS,
        "created_at": {"type": "number"},
    },
}

AUDIT: Json = {
    "type": "object",
    "required": ["id", "at", "actor", "action", "target"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "number"},
        "actor": {"type": "string", "description": "the key id that acted"},
        "action": {"type": "string", "examples": ["key.created", "key.revoked"]},
        "target": {"type": "string"},
        "details": {"type": "object"},
    },
}

KEY_ID: Json = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _list(item: Json) -> Json:
    return {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": item}},
    }


def _query(name: str, schema: Json, description: str) -> Json:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def describe(doc: ApiDocument) -> None:
    if set(KEY_INPUT["properties"]) != set(KEY_FIELDS) or set(TEAM_INPUT["properties"]) != set(
        TEAM_FIELDS
    ):
        raise ValueError("the admin input schemas no longer name the fields admin.py reads")
    key = doc.schema("ApiKey", KEY)
    key_input = doc.schema("ApiKeyInput", KEY_INPUT)
    team = doc.schema("Team", TEAM)
    tags = ["admin"]
    doc.operation(
        "post",
        "/v1/admin/keys",
        operation_id="createKey",
        summary="Create a key (the answer is the only time its secret is shown)",
        body=key_input,
        responses={"201": ok("the key, with `key`", key)},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/admin/keys",
        operation_id="listKeys",
        summary="Keys, without their secrets",
        parameters=[
            _query("team", {"type": "string"}, "only this team's keys"),
            _query("revoked", {"enum": ["true", "false", "1", "0", "yes", "no"]}, "add revoked"),
        ],
        responses={"200": ok("the keys", _list(key))},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/admin/keys/{id}",
        operation_id="getKey",
        summary="One key",
        parameters=[KEY_ID],
        responses={"200": ok("the key", key)},
        tags=tags,
    )
    doc.operation(
        "patch",
        "/v1/admin/keys/{id}",
        operation_id="updateKey",
        summary="Change a key's name, team, role, expiry, scopes, limits or budgets",
        parameters=[KEY_ID],
        body=key_input,
        responses={"200": ok("the key as changed", key)},
        tags=tags,
    )
    doc.operation(
        "post",
        "/v1/admin/keys/{id}/revoke",
        operation_id="revokeKey",
        summary="Revoke a key (every replica refuses it within FREEWAY_KEYS_SYNC_S)",
        parameters=[KEY_ID],
        responses={"200": ok("the revoked key", key)},
        tags=tags,
    )
    doc.operation(
        "post",
        "/v1/admin/keys/{id}/rotate",
        operation_id="rotateKey",
        summary="Give a key a new secret (the old one stops working)",
        parameters=[KEY_ID],
        responses={"200": ok("the key, with its new `key`", key)},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/admin/teams",
        operation_id="listTeams",
        summary="Teams with their limits and budgets",
        responses={"200": ok("the teams", _list(team))},
        tags=tags,
    )
    doc.operation(
        "put",
        "/v1/admin/teams/{id}",
        operation_id="putTeam",
        summary="Create or change a team",
        parameters=[{**KEY_ID, "description": "the team id"}],
        body=doc.schema("TeamInput", TEAM_INPUT),
        responses={"200": ok("the team", team)},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/admin/audit",
        operation_id="listAudit",
        summary="Every admin action, newest first",
        parameters=[
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT}, "how many"),
            _query("before", {"type": "integer", "minimum": 0}, "entries before this id"),
        ],
        responses={"200": ok("the entries", _list(doc.schema("AuditEntry", AUDIT)))},
        tags=tags,
    )
