"""A service process needs the service token: from FREEWAY_SERVICE_TOKEN or a secret file,
long and plain enough to travel as a header; settings never show it in their repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.shared.config import ConfigError
from services.shared.settings import service_settings, suite_settings

TOKEN = "a-service-token-of-enough-length"


def test_a_service_without_a_token_fails_fast_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="FREEWAY_SERVICE_TOKEN: required"):
        service_settings({"FREEWAY_CONFIG": ""})


def test_the_token_comes_from_the_env_or_a_secret_file(tmp_path: Path) -> None:
    assert service_settings({"FREEWAY_SERVICE_TOKEN": TOKEN}).service_token == TOKEN
    secret = tmp_path / "service-token"
    secret.write_text(TOKEN + "\n")
    suite = service_settings({"FREEWAY_SERVICE_TOKEN_FILE": str(secret)})
    assert suite.service_token == TOKEN
    assert TOKEN not in repr(suite)
    with pytest.raises(ConfigError, match="FREEWAY_SERVICE_TOKEN_FILE: cannot read"):
        service_settings({"FREEWAY_SERVICE_TOKEN_FILE": str(tmp_path / "missing")})
    secret.write_text("")
    with pytest.raises(ConfigError, match="required"):
        service_settings({"FREEWAY_SERVICE_TOKEN_FILE": str(secret)})


@pytest.mark.parametrize(
    ("token", "problem"), [("short", "at least 16"), ("has spaces in it, too many", "only letters")]
)
def test_a_weak_or_unsendable_token_is_refused(token: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        suite_settings({"FREEWAY_SERVICE_TOKEN": token})


def test_replica_lists_are_checked_address_by_address() -> None:
    suite = suite_settings({"FREEWAY_ROUTER_ADDR": "127.0.0.1:1, 127.0.0.1:2"})
    assert suite.router_addr == "127.0.0.1:1, 127.0.0.1:2"
    with pytest.raises(ConfigError, match="FREEWAY_ROUTER_ADDR"):
        suite_settings({"FREEWAY_ROUTER_ADDR": "127.0.0.1:1,router"})


def test_tls_needs_both_the_certificate_and_its_key() -> None:
    with pytest.raises(ConfigError, match="set both"):
        suite_settings({"FREEWAY_ENVOY_TLS_CERT": "cert.pem"})
