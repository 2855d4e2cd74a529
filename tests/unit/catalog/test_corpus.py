"""Every recorded model-list body vendored in data/providers parses, with the right counts.

Expected counts are computed here straight from the raw JSON, without the parsers: count the
entries of the body's model list, and count free models by the provider's own marks
(``:free`` / ``-Free`` ids, OpenRouter-style ``"0"`` price strings on text models, local
runtimes).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from services.catalog.formats import ParseError, detect_format, parse_models
from services.catalog.freeness import FreePolicy, classify
from tests import corpus

LOCAL = {"ollama", "llamacpp", "lmstudio"}
HAS_BROTLI = importlib.util.find_spec("brotli") is not None
RECORDED = corpus.files("providers")  # "<provider>/<source>/<file>.json" -> bytes
BODIES = sorted(name for name in RECORDED if not name.endswith(".nock.json"))
NOCKS = sorted(name for name in RECORDED if name.endswith(".nock.json"))


def _provider(name: str) -> str:
    return name.split("/", 1)[0]


def _model_list(doc: Any) -> list[Any]:
    """The raw entries a body lists, found by looking at it."""
    if isinstance(doc, list):
        return doc
    for key in ("data", "models", "result"):
        if isinstance(doc.get(key), list):
            return list(doc[key])
    if isinstance(doc.get("data"), dict):  # OpenRouter endpoints: one model
        return [doc["data"]]
    return list(doc.values())  # map of model name → details


def _name(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    return str(entry.get("id") or entry.get("name") or "")


def _zero_priced_text_model(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("pricing"), dict):
        return False
    pricing = entry["pricing"]
    if pricing.get("prompt") != "0" or pricing.get("completion") != "0":
        return False
    if pricing.get("request", "0") != "0":
        return False
    outputs = (entry.get("architecture") or {}).get("output_modalities") or ["text"]
    return set(outputs) <= {"text"}


def _expected_free(provider: str, entries: list[Any]) -> int:
    if provider in LOCAL:
        return len(entries)
    names = [_name(e).lower() for e in entries]
    if provider == "together":
        return sum(n.endswith("-free") for n in names)
    return sum(
        n.endswith(":free") or _zero_priced_text_model(e)
        for n, e in zip(names, entries, strict=True)
    )


def _policy(provider: str) -> FreePolicy:
    return FreePolicy(mode="local") if provider in LOCAL else FreePolicy()


def test_the_corpus_is_vendored() -> None:
    assert len(BODIES) >= 100
    assert len(NOCKS) >= 5


@pytest.mark.parametrize("path", BODIES)
def test_every_body_parses_with_independent_counts(path: str) -> None:
    raw = RECORDED[path]
    provider = _provider(path)
    entries = _model_list(json.loads(raw))

    result = parse_models(raw, provider)
    records = [classify(r, _policy(provider)) for r in result.records]

    assert not result.generic, f"{path} fell back to the generic parser"
    distinct = list({_name(e): e for e in reversed(entries)}.values())  # same id twice: one model
    assert len(records) == len(distinct)
    assert sum(r.is_free for r in records) == _expected_free(provider, distinct)
    assert all(r.id == f"{provider}/{r.upstream_id}" and r.upstream_id for r in records)
    assert len({r.id for r in records}) == len(records)


@pytest.mark.parametrize("path", BODIES)
def test_no_price_is_negative_and_unknown_is_never_free_by_price(path: str) -> None:
    provider = _provider(path)
    for parsed in parse_models(RECORDED[path], provider).records:
        record = classify(parsed, _policy(provider))
        prices = (record.input_price_per_mtok, record.output_price_per_mtok, record.request_price)
        assert all(p is None or p >= 0 for p in prices), record.id
        if record.free_reason == "zero_price":
            assert record.priced, record.id


def test_the_corpus_covers_every_provider_of_the_issue() -> None:
    formats = {detect_format(RECORDED[p]) for p in BODIES}
    assert formats >= {
        "openrouter", "openai", "anthropic", "gemini", "mistral", "together", "huggingface",
        "cloudflare", "cohere", "github", "pollinations", "ollama", "llamacpp", "lmstudio",
    }  # fmt: skip


@pytest.mark.parametrize("path", NOCKS)
def test_nock_recordings_match_their_decoded_bodies(path: str) -> None:
    raw = RECORDED[path]
    if not HAS_BROTLI:
        with pytest.raises(ParseError, match="brotli"):
            parse_models(raw, "openrouter")
        return
    body = RECORDED[path.replace(".nock.json", ".body.json")]
    from_nock = parse_models(raw, "openrouter").records
    assert from_nock == parse_models(body, "openrouter").records


def test_openrouter_snapshots_match_the_documented_free_counts() -> None:
    """SOURCES.md: the 2025 OpenRouter snapshots list 301–321 models, 59–70 with ``:free`` ids."""
    snapshots = [p for p in BODIES if p.startswith("openrouter/cline/")]
    snapshots = [p for p in snapshots if p.endswith("openrouter-models.body.json")]
    assert len(snapshots) == 3
    for path in snapshots:
        records = parse_models(RECORDED[path], "openrouter").records
        free_ids = [r for r in records if r.upstream_id.endswith(":free")]
        assert 301 <= len(records) <= 321
        assert 59 <= len(free_ids) <= 70
