"""Edge settings (the admin key is only ever kept hashed) and API-key identification."""

from __future__ import annotations

import hashlib

import pytest

from services.edge import errors
from services.edge.accounts import Limits
from services.edge.auth import Keyring
from services.edge.config import EdgeSettings, edge_settings, key_digest
from services.edge.middlewares import incoming_request_id
from services.shared.config import ConfigError
from services.shared.errors import Unauthenticated


def test_admin_key_is_stored_as_its_digest_only() -> None:
    settings = edge_settings({"FREEWAY_ADMIN_KEY": "s3cret", "FREEWAY_CONFIG": ""}, {})
    assert settings.admin_key == "sha256:" + hashlib.sha256(b"s3cret").hexdigest()
    assert "s3cret" not in repr(settings)


def test_a_digest_is_accepted_as_is() -> None:
    digest = key_digest("k")
    assert EdgeSettings(admin_key=digest).admin_key == digest


def test_defaults_never_throttle_a_single_key_install() -> None:
    settings = edge_settings({}, {})
    assert settings.default_limits == Limits(rpm=0, rpd=0, tpm=0, concurrent=0)  # 0: unlimited
    assert settings.admin_key == ""
    assert settings.unknown_price == "refuse"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FREEWAY_EDGE_RPM": "-1"}, "FREEWAY_EDGE_RPM"),
        ({"FREEWAY_EDGE_RPM": "many"}, "FREEWAY_EDGE_RPM"),
        ({"FREEWAY_EDGE_CONCURRENT": "-2"}, "FREEWAY_EDGE_CONCURRENT"),
        ({"FREEWAY_BUDGET_UNKNOWN_PRICE": "free"}, "FREEWAY_BUDGET_UNKNOWN_PRICE"),
        ({"FREEWAY_BUDGET_RESERVE_USD": "0"}, "FREEWAY_BUDGET_RESERVE_USD"),
        ({"FREEWAY_KEYS_SYNC_S": "0"}, "FREEWAY_KEYS_SYNC_S"),
        ({"FREEWAY_JWT_JWKS_URL": "ftp://x"}, "FREEWAY_JWT_JWKS_URL"),
        ({"FREEWAY_JWT_DEFAULT_ROLE": "root"}, "FREEWAY_JWT_DEFAULT_ROLE"),
        ({"FREEWAY_EDGE_RPC_TIMEOUT_S": "0"}, "FREEWAY_EDGE_RPC_TIMEOUT_S"),
        ({"FREEWAY_EDGE_MAX_BODY_BYTES": "10"}, "FREEWAY_EDGE_MAX_BODY_BYTES"),
    ],
)
def test_bad_settings_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        edge_settings(env, {})


def test_toml_section_is_read() -> None:
    assert edge_settings({}, {"edge": {"rpm": 5}}).rpm == 5


def test_admin_key_identifies_as_admin() -> None:
    caller = Keyring(key_digest("k1")).identify("Bearer k1")
    assert caller.key_id == "admin"
    assert caller.admin


def test_other_keys_identify_by_their_id() -> None:
    keyring = Keyring(key_digest("admin"), {key_digest("user-key"): "key_42"})
    caller = keyring.identify("bearer user-key")
    assert caller.key_id == "key_42"
    assert not caller.admin


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "didn't provide an API key"),
        ("", "didn't provide an API key"),
        ("Basic abc", "Bearer"),
        ("Bearer ", "Bearer"),
        ("Bearer wrong", "Incorrect API key"),
    ],
)
def test_bad_authorization_is_unauthenticated(header: str | None, says: str) -> None:
    with pytest.raises(Unauthenticated, match=says):
        Keyring(key_digest("k1")).identify(header)


def test_no_admin_key_configured_accepts_nothing() -> None:
    for key in ("k1", "sha256:", "admin"):
        with pytest.raises(Unauthenticated, match="Incorrect API key"):
            Keyring().identify(f"Bearer {key}")


@pytest.mark.parametrize(
    ("status", "http"),
    [
        ("INVALID_ARGUMENT", 400),
        ("NOT_FOUND", 404),
        ("UNAUTHENTICATED", 401),
        ("PERMISSION_DENIED", 403),
        ("RESOURCE_EXHAUSTED", 429),
        ("FAILED_PRECONDITION", 503),
        ("UNAVAILABLE", 503),
        ("DEADLINE_EXCEEDED", 504),
        ("INTERNAL", 502),
        ("UNKNOWN", 502),
        ("DATA_LOSS", 502),
        ("CANCELLED", 502),
    ],
)
def test_status_mapping(status: str, http: int) -> None:
    assert errors.for_status(status).status == http


def test_incoming_request_id_is_kept_when_sane() -> None:
    assert incoming_request_id("abc-123") == "abc-123"
    generated = incoming_request_id(None)
    assert len(generated) == 32
    assert incoming_request_id("x" * 500) != "x" * 500
    assert incoming_request_id("bad\nid") != "bad\nid"
