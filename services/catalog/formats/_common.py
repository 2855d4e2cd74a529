"""Helpers shared by the format parsers: coercion of loosely typed JSON values into record fields.

Provider bodies are untrusted input: every helper accepts any JSON value and returns a safe
default (0, None, empty) instead of raising, so one odd model never sinks a whole list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from services.catalog.records import ModelRecord

Json = Any  # a decoded JSON value; parsers narrow it with isinstance checks
JsonObject = Mapping[str, Json]


@dataclass(slots=True)
class Page:
    """What one format parser returns for one body."""

    records: list[ModelRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_page: str | None = None


class ShapeError(ValueError):
    """The body does not have the shape the forced format expects (message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class Format:
    """A named provider format: a shape test for auto-detection and the parser itself."""

    name: str
    detect: Callable[[Json], bool]
    parse: Callable[[Json, str], Page]


_MILLION = Decimal(1_000_000)
_THOUSAND = Decimal(1_000)

# Provider vocabulary → our capability names (the vocabulary's API names).
_CAPABILITY_WORDS: dict[str, tuple[str, ...]] = {
    "tools": ("tools",),
    "tool_choice": ("tools",),
    "tool-calling": ("tools",),
    "tool_calling": ("tools",),
    "function_calling": ("tools",),
    "function-calling": ("tools",),
    "functions": ("tools",),
    "strict_tools": ("tools",),
    "tool_use": ("tools",),
    "vision": ("vision",),
    "image_input": ("vision",),
    "image-input": ("vision",),
    "json_mode": ("json",),
    "json-mode": ("json",),
    "response_format": ("json",),
    # structured outputs: a JSON schema, and so JSON mode as well
    "json_schema": ("json", "json_schema"),
    "structured_outputs": ("json", "json_schema"),
    "structured-outputs": ("json", "json_schema"),
    "structured_output": ("json", "json_schema"),
    "reasoning": ("reasoning",),
    "include_reasoning": ("reasoning",),
    "reasoning_effort": ("reasoning",),
    "thinking": ("reasoning",),
    "seed": ("seed",),
    "logprobs": ("logprobs",),
    "top_logprobs": ("logprobs",),
    "frequency_penalty": ("penalties",),
    "presence_penalty": ("penalties",),
    "logit_bias": ("logit_bias",),
    "audio_input": ("audio",),
}

_MEDIA_FOR_VISION = frozenset({"image", "video"})


def decimal_of(value: Json) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def per_token_to_mtok(value: Json) -> float | None:
    """USD per token → USD per million tokens. Negative or non-numeric → None (unknown)."""
    return _scaled(value, _MILLION)


def per_ktok_to_mtok(value: Json) -> float | None:
    """USD per thousand tokens → USD per million tokens. Negative or non-numeric → None."""
    return _scaled(value, _THOUSAND)


def per_mtok(value: Json) -> float | None:
    """A price already per million tokens. Negative or non-numeric → None."""
    return _scaled(value, Decimal(1))


def usd(value: Json) -> float | None:
    """A plain amount in USD (e.g. per request). Negative or non-numeric → None."""
    return _scaled(value, Decimal(1))


def _scaled(value: Json, factor: Decimal) -> float | None:
    number = decimal_of(value)
    if number is None or number < 0:
        return None
    # 12 significant digits: drops binary noise such as 1.0399999999999998 from the provider.
    return float(f"{number * factor:.12g}")


def positive_int(value: Json) -> int:
    """A positive integer from a JSON number or numeric string; 0 when absent or invalid."""
    number = decimal_of(value)
    if number is None or number <= 0:
        return 0
    return int(number)


def first_int(item: JsonObject, *keys: str) -> int:
    """The first positive integer found under one of ``keys``."""
    for key in keys:
        number = positive_int(item.get(key))
        if number:
            return number
    return 0


def text(value: Json) -> str:
    """A string field; empty for anything that is not a non-empty string."""
    return value.strip() if isinstance(value, str) else ""


def strings(value: Json) -> tuple[str, ...]:
    """A list of strings (non-strings dropped); a bare string becomes a one-item tuple."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def modalities(value: Json, default: tuple[str, ...] = ("text",)) -> tuple[str, ...]:
    """Normalised modality names (lower case, de-duplicated, order kept)."""
    names = tuple(dict.fromkeys(s.lower() for s in strings(value)))
    return names or default


# Ids that name what a model is when its list says nothing else (OpenAI, Groq, Cerebras …
# list speech, image, embedding and safety models beside chat models): (pattern, inputs,
# outputs). A model without text in and text out is never offered a chat request.
_KIND_BY_ID: tuple[tuple[re.Pattern[str], tuple[str, ...], tuple[str, ...]], ...] = (
    (re.compile(r"embed"), ("text",), ("embedding",)),
    (re.compile(r"rerank"), ("text",), ("score",)),
    (re.compile(r"whisper|transcri|speech-to-text|\bstt\b"), ("audio",), ("text",)),
    (re.compile(r"tts|orpheus|text-to-speech"), ("text",), ("audio",)),
    (re.compile(r"guard|moderation|safeguard"), ("text",), ("classification",)),
    (re.compile(r"dall-e|gpt-image|stable-diffusion|sdxl|flux|imagen"), ("text",), ("image",)),
)


def modalities_from_id(upstream_id: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(inputs, outputs) told by a non-chat model's id, or None for an ordinary chat id."""
    lowered = upstream_id.lower()
    for pattern, inputs, outputs in _KIND_BY_ID:
        if pattern.search(lowered):
            return inputs, outputs
    return None


def capabilities_from_words(words: Iterable[str]) -> set[str]:
    """Capability names for a provider's feature/parameter words (unknown words ignored)."""
    found: set[str] = set()
    for word in words:
        found.update(_CAPABILITY_WORDS.get(word.lower(), ()))
    return found


def vision_from_modalities(inputs: Sequence[str]) -> set[str]:
    """{"vision"} when the model accepts images or video."""
    return {"vision"} if _MEDIA_FOR_VISION.intersection(inputs) else set()


# One encoder for all extras: json.dumps with options builds a new encoder on every call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring


def encode_extra(item: JsonObject, used: Iterable[str]) -> dict[str, str]:
    """Every field not mapped into the record, JSON-encoded, so nothing is dropped silently."""
    skip = used if isinstance(used, frozenset | set) else set(used)
    return {
        key: encode_value(value)
        for key, value in item.items()
        if key not in skip and value is not None
    }


def encode_value(value: Json) -> str:
    """One value JSON-encoded the way ``extra`` stores it (compact, UTF-8 kept)."""
    kind_of = type(value)
    # Fast paths for the common scalars: most extra fields are strings and integers.
    if kind_of is str:
        return _quote(value)
    if kind_of is int:
        return int.__repr__(value)
    if kind_of is bool:
        return "true" if value else "false"
    return _encode(value)


def items_with_key(items: Sequence[Json], key: str, page: Page, where: str) -> list[JsonObject]:
    """The objects of ``items`` carrying a non-empty string ``key``; the rest are warned about."""
    kept: list[JsonObject] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and text(item.get(key)):
            kept.append(item)
        else:
            page.warnings.append(f"{where}[{index}] skipped: no string '{key}'")
    return kept


def read_items(
    items: Sequence[Json],
    key: str,
    where: str,
    read: Callable[[JsonObject, str], ModelRecord],
    provider: str,
    next_page: str | None = None,
) -> Page:
    """The page of ``read(item, provider)`` for every object in ``items`` with a string
    ``key`` (the others are warned about, as ``where[index]``)."""
    page = Page(next_page=next_page)
    page.records = [read(item, provider) for item in items_with_key(items, key, page, where)]
    return page


def mapping(value: Json) -> JsonObject:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def provider_priced(input_price: float | None, output_price: float | None) -> str:
    """The ``price_source`` of a record: "provider" when the body states a token price."""
    return "provider" if input_price is not None or output_price is not None else ""


def require_list(doc: Json, key: str, fmt: str) -> list[Json]:
    """``doc[key]`` when it is a list, else a ShapeError naming the format and the key."""
    if not isinstance(doc, Mapping):
        raise ShapeError(f"{fmt}: expected a JSON object with a '{key}' list, got {kind(doc)}")
    value = doc.get(key)
    if not isinstance(value, list):
        raise ShapeError(f"{fmt}: field '{key}' must be a list, got {kind(value)}")
    return value


def require_top_list(doc: Json, fmt: str) -> list[Json]:
    """The body itself when it is a list, else a ShapeError."""
    if not isinstance(doc, list):
        raise ShapeError(f"{fmt}: expected a JSON array of models, got {kind(doc)}")
    return doc


def kind(value: Json) -> str:
    """A short human name for a JSON value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def first_object(value: Json) -> JsonObject | None:
    """The first element of a list when it is an object (a cheap shape probe), else None."""
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return None


def record_id(provider: str, upstream_id: str) -> str:
    return f"{provider}/{upstream_id}"
