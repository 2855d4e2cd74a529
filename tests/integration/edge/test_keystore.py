"""The key store on both adapters (SQLite embedded, PostgreSQL), and `freeway keys`."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.edge import keys_cli
from services.edge.accounts import ApiKey, Limits, Team, key_digest
from services.edge.auth import Keyring
from services.edge.keystore import KeyStore
from services.edge.keysync import KeySync
from services.shared.db import open_database
from services.shared.errors import NotFound


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema"))


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[KeyStore]:
    db = await open_database(database_url, tmp_path / "edge.sqlite3")
    made = KeyStore(db)
    await made.migrate()
    await made.migrate()  # idempotent
    yield made
    await db.close()


def key(key_id: str, secret: str, team: str = "default") -> ApiKey:
    return ApiKey(key_id, secret[:12], key_digest(secret), team_id=team, limits=Limits(rpm=5))


async def test_keys_round_trip_and_every_change_is_audited(store: KeyStore) -> None:
    assert await store.version() == 0
    made = await store.create_key(key("key_a", "fwk-secret-a", "data"), "admin")
    assert (await store.key("key_a")).limits == Limits(rpm=5)
    assert [t.id for t in await store.teams()] == ["data"]  # made with its first key
    await store.revoke_key("key_a", "ops")
    await store.put_team(Team("data", limits=Limits(rpm=9)), "ops")
    assert (await store.team("data")).limits.rpm == 9
    assert await store.version() == 3
    entries = await store.audit()
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("team.updated", "ops", "data"),
        ("key.revoked", "ops", "key_a"),
        ("key.created", "admin", "key_a"),
    ]
    assert entries[1].details["revoked_at"]["old"] is None
    assert "digest" not in entries[2].details
    assert made.digest not in str([e.to_json() for e in entries])
    assert [e.target for e in await store.audit(limit=5, before=entries[1].id)] == ["key_a"]
    assert await store.keys(include_revoked=False) == []
    with pytest.raises(NotFound):
        await store.key("key_b")


async def test_the_keyring_follows_the_store(store: KeyStore) -> None:
    keyring = Keyring()
    sync = KeySync(store, keyring, Limits(7, 7, 7, 7), interval_s=60)
    await sync.load()
    assert keyring.lookup("fwk-secret-a") is None
    await store.create_key(key("key_a", "fwk-secret-a"), "admin")
    assert await sync.poll()
    found = keyring.lookup("fwk-secret-a")
    assert found is not None
    assert (found.key_id, found.limits) == ("key_a", Limits(rpm=5, rpd=7, tpm=7, concurrent=7))
    assert not await sync.poll()  # nothing changed
    await store.rotate_key("key_a", "fwk-secret-b", "admin")
    assert await sync.poll()
    assert keyring.lookup("fwk-secret-a") is None
    assert keyring.lookup("fwk-secret-b") is not None


async def test_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = await open_database(None, tmp_path / "edge.sqlite3")
    store = KeyStore(db)
    await store.migrate()

    async def cli(*argv: str) -> str:
        args: argparse.Namespace = keys_cli.parser().parse_args(list(argv))
        assert await keys_cli.run(args, store, "cli:tester") == 0
        return capsys.readouterr().out

    try:
        out = await cli("create", "--name", "ci", "--team", "data", "--rpm", "60", "--free-only")
        secret = next(line for line in out.splitlines() if line.startswith("fwk-"))
        (made,) = await store.keys()
        assert made.digest == key_digest(secret)
        assert (made.team_id, made.limits.rpm, made.scopes.paid) == ("data", 60, False)
        listed = await cli("list")
        assert made.prefix in listed
        assert secret not in listed
        rotated = await cli("rotate", made.id)
        new_secret = next(line for line in rotated.splitlines() if line.startswith("fwk-"))
        assert new_secret != secret
        await cli("revoke", made.id)
        assert await cli("list") == ""
        assert made.id in await cli("list", "--all")
        assert '"monthly_usd":3.0' in await cli("team", "data", "--monthly-usd", "3")
        actions = [(e.action, e.actor) for e in await store.audit()]
        assert actions == [
            ("team.updated", "cli:tester"),
            ("key.revoked", "cli:tester"),
            ("key.rotated", "cli:tester"),
            ("key.created", "cli:tester"),
        ]
    finally:
        await db.close()
