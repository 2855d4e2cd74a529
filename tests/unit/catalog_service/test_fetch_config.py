"""Pagination URLs and settings validation."""

from __future__ import annotations

import pytest

from services.catalog.config import catalog_settings
from services.catalog.fetch import next_page_url
from services.shared.config import ConfigError

URL = "https://api.example.com/v1/models?limit=100"


def test_links_are_followed_as_given_or_joined() -> None:
    assert next_page_url(URL, "https://api.example.com/v1/models?page=2", "x").endswith("page=2")
    assert (
        next_page_url(URL, "/v1/models?page=3", "x") == "https://api.example.com/v1/models?page=3"
    )


def test_bare_tokens_become_the_formats_parameter() -> None:
    assert next_page_url(URL, "abc", "anthropic") == URL + "&after_id=abc"
    assert next_page_url(URL, "tok", "gemini") == URL + "&pageToken=tok"
    assert next_page_url(URL + "&page=2", "3", "cloudflare") == URL + "&page=3"
    assert next_page_url(URL, "m-9", "unknown") == URL + "&after=m-9"


def test_settings_from_env_and_file() -> None:
    settings = catalog_settings(
        {
            "FREEWAY_CATALOG_WEBHOOKS": "http://a/hook, https://b/hook",
            "FREEWAY_CATALOG_PRICE_FILES": "var/litellm.json,var/models.dev",
        },
        {"catalog": {"misses_before_removal": 5}},
    )

    assert settings.webhooks == ("http://a/hook", "https://b/hook")
    assert settings.price_files == ("var/litellm.json", "var/models.dev")
    assert catalog_settings({}, {}).price_files == ()
    assert settings.misses_before_removal == 5


@pytest.mark.parametrize(
    ("key", "value"),
    [("misses_before_removal", 0), ("jitter_fraction", 1.5), ("webhooks", ["ftp://x"])],
)
def test_bad_settings_name_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        catalog_settings({}, {"catalog": {key: value}})
