"""Parsing of provider model-list bodies into normalised ModelRecords.

``parse_models(body, provider)`` decodes the body, detects its format from its shape (or uses
the one forced by ``fmt``) and returns the records with warnings and the next page token.
Unknown shapes go to the generic parser, which is always reported (``generic=True`` and a
warning), never silent. Bodies that are not JSON, or hold no model-like object at all,
raise ParseError with a message that says what is wrong.

Free detection is not done here: see ``services.catalog.freeness.classify``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from services.catalog.formats import (
    anthropic,
    cloudflare,
    cohere,
    gemini,
    generic,
    github,
    huggingface,
    local,
    mistral,
    nock,
    openai,
    openrouter,
    pollinations,
    together,
)
from services.catalog.formats._common import Format, Json, Page, ShapeError, kind, text
from services.catalog.records import ModelRecord

__all__ = [
    "FORMATS",
    "FORMAT_ALIASES",
    "LOCAL_FORMATS",
    "ParseError",
    "ParseResult",
    "detect_format",
    "parse_models",
]


@dataclass(frozen=True)
class ParseResult:
    """The records of one body, the format used, and what the parser had to say about it."""

    records: list[ModelRecord]
    format: str
    generic: bool
    warnings: list[str]
    next_page: str | None


class ParseError(ValueError):
    """The body is not JSON, or not a model list at all; the message says why."""


# Detection order matters: the richer variants of the OpenAI list (OpenRouter, Anthropic,
# Mistral, llama.cpp, LM Studio) are tried before the plain OpenAI list.
_REGISTRY: tuple[Format, ...] = (
    Format(openrouter.NAME, openrouter.detect, openrouter.parse),
    Format(openrouter.ENDPOINTS, openrouter.detect_endpoints, openrouter.parse_endpoints),
    Format(anthropic.NAME, anthropic.detect, anthropic.parse),
    Format(mistral.NAME, mistral.detect, mistral.parse),
    Format(local.LLAMACPP, local.detect_llamacpp, local.parse_llamacpp),
    Format(local.LMSTUDIO, local.detect_lmstudio, local.parse_lmstudio),
    Format(openai.NAME, openai.detect, openai.parse),
    Format(gemini.NAME, gemini.detect, gemini.parse),
    Format(cohere.NAME, cohere.detect, cohere.parse),
    Format(local.OLLAMA, local.detect_ollama, local.parse_ollama),
    Format(cloudflare.NAME, cloudflare.detect, cloudflare.parse),
    Format(together.NAME, together.detect, together.parse),
    Format(huggingface.NAME, huggingface.detect, huggingface.parse),
    Format(github.NAME, github.detect, github.parse),
    Format(pollinations.NAME, pollinations.detect, pollinations.parse),
    Format(local.OLLAMA_SHOW, local.detect_ollama_show, local.parse_ollama_show),
)
_GENERIC = Format(generic.NAME, generic.detect, generic.parse)
_BY_NAME: dict[str, Format] = {f.name: f for f in (*_REGISTRY, _GENERIC)}

_OPENAI_COMPATIBLE = ("groq", "cerebras", "deepseek", "alibaba", "baseten", "xiaomi", "vllm")
FORMAT_ALIASES: dict[str, str] = dict.fromkeys(_OPENAI_COMPATIBLE, openai.NAME)
"""Provider names that serve the plain OpenAI-compatible list (accepted as ``fmt``)."""

FORMATS: tuple[str, ...] = (*_BY_NAME, nock.NAME, *FORMAT_ALIASES)
"""Every name ``parse_models(fmt=...)`` accepts besides ``"auto"``."""

LOCAL_FORMATS = frozenset({local.OLLAMA, local.OLLAMA_SHOW, local.LLAMACPP, local.LMSTUDIO})
"""Formats of local runtimes (their models are free: ``FreePolicy(mode="local")``)."""


def parse_models(body: bytes | str | object, provider: str, fmt: str = "auto") -> ParseResult:
    """Parse one model-list body. ``body`` may be raw bytes/str or already-decoded JSON."""
    if not provider:
        raise ParseError("provider name must not be empty")
    doc = _decode(body)
    notes: list[str] = []
    if fmt == nock.NAME or (fmt == "auto" and nock.detect(doc)):
        doc, fmt = _unwrap_nock(doc), "auto"
        notes.append("nock recording unwrapped: parsed its recorded response body")
    _reject_error_body(doc)
    chosen = _choose(doc, fmt)
    try:
        page = chosen.parse(doc, provider)
    except ShapeError as exc:
        raise ParseError(str(exc)) from None
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # A shape no parser foresaw must not stop the caller: report it as a bad body.
        reason = f"{type(exc).__name__}: {exc}"
        raise ParseError(f"{chosen.name}: cannot read this body ({reason})") from exc
    page.warnings[:0] = notes
    return _result(page, chosen, doc)


def _unwrap_nock(doc: Json) -> Json:
    try:
        return nock.unwrap(doc)[0]
    except ShapeError as exc:
        raise ParseError(str(exc)) from None


def detect_format(body: bytes | str | object) -> str:
    """The format name ``auto`` would use for this body ("generic" when none matches)."""
    doc = _decode(body)
    return nock.NAME if nock.detect(doc) else _detect(doc).name


def _choose(doc: Json, fmt: str) -> Format:
    if fmt == "auto":
        return _detect(doc)
    found = _BY_NAME.get(FORMAT_ALIASES.get(fmt, fmt))
    if found is None:
        raise ParseError(f"unknown format {fmt!r}; expected 'auto' or one of {', '.join(FORMATS)}")
    return found


def _detect(doc: Json) -> Format:
    return next((f for f in _REGISTRY if f.detect(doc)), _GENERIC)


def _result(page: Page, used: Format, doc: Json) -> ParseResult:
    warnings = list(page.warnings)
    records, duplicates = _merge_duplicates(page.records)
    if duplicates:
        warnings.append(f"duplicate ids merged into one record each: {', '.join(duplicates)}")
    page.records = records
    is_generic = used is _GENERIC
    if is_generic and not any(w.startswith("generic parser") for w in warnings):
        warnings.append("generic parser: body shape not recognised as a known provider format")
    if not page.records and not _explicitly_empty(doc):
        warnings.append(f"{used.name}: no models found in a non-empty body")
    elif not page.records:
        warnings.append(f"{used.name}: the body lists no models")
    return ParseResult(page.records, used.name, is_generic, warnings, page.next_page)


def _merge_duplicates(records: list[ModelRecord]) -> tuple[list[ModelRecord], list[str]]:
    """One record per id. Mistral lists some ids twice (a chat and a transcription entry):
    the first entry is kept, with the union of both entries' capabilities and modalities."""
    merged: dict[str, ModelRecord] = {}
    duplicates: list[str] = []
    for record in records:
        first = merged.get(record.id)
        if first is None:
            merged[record.id] = record
            continue
        duplicates.append(record.upstream_id)
        merged[record.id] = dataclasses.replace(
            first,
            context_window=max(first.context_window, record.context_window),
            max_output_tokens=max(first.max_output_tokens, record.max_output_tokens),
            input_modalities=_union(first.input_modalities, record.input_modalities),
            output_modalities=_union(first.output_modalities, record.output_modalities),
            capabilities=first.capabilities | record.capabilities,
        )
    if not duplicates:
        return records, []
    return list(merged.values()), list(dict.fromkeys(duplicates))


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def _explicitly_empty(doc: Json) -> bool:
    """True for bodies that are an empty list or whose only list is empty."""
    if isinstance(doc, list):
        return not doc
    if isinstance(doc, Mapping):
        lists = [v for v in doc.values() if isinstance(v, list)]
        return bool(lists) and all(not v for v in lists)
    return False


def _decode(body: bytes | str | object) -> Json:
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        try:
            body = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not UTF-8 text (byte {exc.start})") from None
    if not isinstance(body, str):
        return body
    if not body.strip():
        raise ParseError("body is empty")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ParseError("body is not valid JSON: nested too deeply") from None


def _reject_error_body(doc: Json) -> None:
    """Provider error envelopes (``{"error": ...}``, Cloudflare ``success: false``)."""
    if isinstance(doc, Mapping):
        error = doc.get("error")
        if error and not any(isinstance(v, list) and v for v in doc.values()):
            raise ParseError(f"body is an error response, not a model list: {_error_text(error)}")
        if doc.get("success") is False:
            raise ParseError(f"body is an error response (success=false): {doc.get('errors')}")
    elif doc is None or isinstance(doc, bool | int | float | str):
        raise ParseError(f"body is a JSON {kind(doc)}, not a model list")


def _error_text(error: Json) -> str:
    if isinstance(error, Mapping):
        return text(error.get("message")) or json.dumps(error)[:200]
    return str(error)[:200]
