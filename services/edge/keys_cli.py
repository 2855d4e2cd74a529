"""`freeway keys create | list | revoke | rotate | team`: the key store, from the shell.

Works on the same database as the edge (`DATABASE_URL`, else SQLite under
`FREEWAY_DATA_DIR`), so it needs no running edge — the first admin key of an install is
made this way. Every change goes to the audit log as `cli:<user>`; running edges see it
within `FREEWAY_KEYS_SYNC_S`. A created or rotated key is printed once, then never again.

    freeway keys create --name ci --team data --role member --rpm 60 --daily-usd 5
    freeway keys list [--all] [--team data] [--json]
    freeway keys revoke key_0123abcd…
    freeway keys rotate key_0123abcd…
    freeway keys team data --rpm 600 --monthly-usd 100
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from services.edge import admin
from services.edge.accounts import ROLES, ApiKey, new_secret
from services.edge.keystore import SQLITE_FILE, KeyStore
from services.shared.db import open_database
from services.shared.errors import FreewayError
from services.shared.settings import SuiteSettings, suite_settings

LIMIT_FLAGS = ("rpm", "rpd", "tpm", "concurrent")
BUDGET_FLAGS = ("daily_usd", "monthly_usd", "reserve_usd")


def _csv(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (0: unlimited) and budgets (USD)")
    for name in LIMIT_FLAGS:
        group.add_argument(f"--{name}", type=int, help=f"{name} limit")
    for name in BUDGET_FLAGS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="freeway keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="verb", required=True)
    create = sub.add_parser("create", help="make a key (printed once)")
    create.add_argument("--name", default="")
    create.add_argument("--team", default=None)
    create.add_argument("--role", choices=ROLES, default="member")
    create.add_argument("--expires-in-days", type=float, default=None)
    create.add_argument("--models", type=_csv, default=None, help="allowed model ids, a,b,…")
    create.add_argument("--providers", type=_csv, default=None, help="allowed providers")
    create.add_argument("--strategies", type=_csv, default=None, help="allowed strategies")
    create.add_argument("--free-only", action="store_true", help="no paid models")
    _limit_options(create)
    listing = sub.add_parser("list", help="keys by prefix (never the key)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.add_argument("--team", default="")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for verb, text in (("revoke", "stop a key at once"), ("rotate", "a new secret, same key")):
        sub.add_parser(verb, help=text).add_argument("id")
    team = sub.add_parser("team", help="create a team or set its limits and budgets")
    team.add_argument("id")
    team.add_argument("--name", default=None)
    _limit_options(team)
    return top


def _picked(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def create_body(args: argparse.Namespace, now: float) -> dict[str, Any]:
    """The admin API's JSON for `keys create` (validated by the same code)."""
    scopes: dict[str, Any] = {
        k: getattr(args, k)
        for k in ("models", "providers", "strategies")
        if getattr(args, k) is not None
    }
    if args.free_only:
        scopes["paid"] = False
    body: dict[str, Any] = {
        "name": args.name,
        "team": args.team,
        "role": args.role,
        "scopes": scopes,
        "limits": _picked(args, LIMIT_FLAGS),
        "budgets": _picked(args, BUDGET_FLAGS),
    }
    if args.expires_in_days is not None:
        body["expires_at"] = now + args.expires_in_days * 86_400
    return body


def _line(key: ApiKey) -> str:
    state = "revoked" if key.revoked_at else "active"
    if key.revoked_at is None and key.expires_at is not None and key.expires_at <= time.time():
        state = "expired"
    return f"{key.id}\t{key.prefix}…\t{key.team_id}\t{key.role}\t{state}\t{key.name}"


async def run(args: argparse.Namespace, store: KeyStore, actor: str) -> int:
    now = time.time()
    if args.verb == "create":
        secret, key = admin.new_key(create_body(args, now), now)
        key = await store.create_key(key, actor)
        print(f"{_line(key)}\n\n{secret}\n\nThe key is shown this once: keep it now.")
    elif args.verb == "list":
        for key in await store.keys(include_revoked=args.all, team=args.team):
            print(orjson.dumps(key.to_json()).decode() if args.json else _line(key))
    elif args.verb == "revoke":
        print(_line(await store.revoke_key(args.id, actor)))
    elif args.verb == "rotate":
        secret = new_secret()
        key = await store.rotate_key(args.id, secret, actor)
        print(f"{_line(key)}\n\n{secret}\n\nThe new key is shown this once; the old one is void.")
    else:
        body = {
            "name": args.name,
            "limits": _picked(args, LIMIT_FLAGS),
            "budgets": _picked(args, BUDGET_FLAGS),
        }
        known = {t.id: t for t in await store.teams()}
        team = await store.put_team(admin.team_from(args.id, body, known.get(args.id)), actor)
        print(orjson.dumps(team.to_json()).decode())
    return 0


async def with_store(suite: SuiteSettings, work: Callable[[KeyStore], Awaitable[int]]) -> int:
    db = await open_database(suite.database_url, suite.data_dir / SQLITE_FILE)
    try:
        store = KeyStore(db)
        await store.migrate()
        return await work(store)
    finally:
        await db.close()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    actor = f"cli:{getpass.getuser()}"
    try:
        return asyncio.run(with_store(suite_settings(), lambda store: run(args, store, actor)))
    except FreewayError as exc:
        print(f"freeway keys: {exc}", file=sys.stderr)
        return 2
