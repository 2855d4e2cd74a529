"""Envoy's own replies are OpenAI's error shape in both configs, alike."""

from __future__ import annotations

from typing import Any

from services.local.envoy import LOCAL_REPLY_ERRORS, gateway_config, local_reply_config
from tests.unit.deploy.facts import envoy_config


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def test_static_and_generated_configs_shape_local_replies_alike() -> None:
    local = gateway_config("127.0.0.1:8080", "127.0.0.1:9901", "127.0.0.1:8081")
    assert _manager(local)["local_reply_config"] == local_reply_config()
    assert _manager(envoy_config())["local_reply_config"] == local_reply_config()


def test_every_local_reply_is_an_openai_error() -> None:
    config = local_reply_config()
    assert "body_format" not in config  # it would rewrite a 2xx direct_response too
    assert all(_lowest_status(m) >= 400 for m in config["mappers"])
    formats = [m["body_format_override"] for m in config["mappers"]]
    for body_format in formats:
        assert body_format["content_type"] == "application/json"
        error = body_format["json_format"]["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["message"] == "%LOCAL_REPLY_BODY%"
        assert error["param"] is None
    server_errors = {s for s, (kind, _) in LOCAL_REPLY_ERRORS.items() if kind == "server_error"}
    assert server_errors == {502, 503, 504}


def _lowest_status(mapper: dict[str, Any]) -> int:
    comparison = mapper["filter"]["status_code_filter"]["comparison"]
    value: int = comparison["value"]["default_value"]
    assert comparison["op"] in {"EQ", "GE"}
    return value
