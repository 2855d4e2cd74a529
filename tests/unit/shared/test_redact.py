"""Provider keys are masked out of text from outside, in every form a provider may echo
them, and out of every log line."""

from __future__ import annotations

import io
import json
import logging

from services.shared.logs import JsonFormatter, TextFormatter
from services.shared.providers import ProviderConfig
from services.shared.redact import MASK, Redactor, protect_providers, provider_secrets, redact

KEY = "sk-or-v1-0123456789abcdef/+="


def test_masks_the_key_and_its_encoded_forms() -> None:
    mask = Redactor([KEY])
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}})
    assert KEY not in mask(body)
    assert MASK in mask(body)
    assert mask("key=sk-or-v1-0123456789abcdef%2F%2B%3D") == f"key={MASK}"
    assert mask(f"Bearer {KEY}!") == f"Bearer {MASK}!"
    assert mask("nothing secret here") == "nothing secret here"


def test_a_key_containing_another_is_masked_whole() -> None:
    mask = Redactor(["abcdefgh", "abcdefgh-longer-key"])
    assert mask("abcdefgh-longer-key") == MASK


def test_keys_too_short_to_mask_safely_are_left_out() -> None:
    mask = Redactor(["abc"])
    assert mask("abc abc") == "abc abc"
    assert len(mask) == 0


def test_provider_secrets_are_keys_and_credential_headers() -> None:
    providers = [
        ProviderConfig(name="a", base_url="http://a", api_key_env="A_KEY"),
        ProviderConfig(
            name="b",
            base_url="http://b",
            headers={"x-api-key": "header-secret-123", "HTTP-Referer": "https://freeway"},
        ),
        ProviderConfig(name="c", base_url="http://c", api_key_env="C_KEY"),  # key not set
    ]
    secrets = provider_secrets(providers, {"A_KEY": KEY})
    assert secrets == {KEY, "header-secret-123"}


def test_log_lines_are_redacted_in_text_and_json() -> None:
    protect_providers([ProviderConfig(name="p", base_url="http://p", api_key_env="P")], {"P": KEY})
    assert redact(KEY) == MASK
    for formatter in (TextFormatter("test"), JsonFormatter("test")):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger = logging.getLogger(f"test.redact.{type(formatter).__name__}")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning("provider said %s", f"bad key {KEY}", extra={"detail": KEY})
            try:
                raise ValueError(f"echo {KEY}")
            except ValueError:
                logger.exception("crashed")
        finally:
            logger.removeHandler(handler)
        written = stream.getvalue()
        assert KEY not in written
        assert MASK in written
