"""The providers file (TOML): which providers Freeway knows, how to reach them, what is free.

Shared by the catalog (polls model lists) and the router (calls chat completions), so both
read one file. A bad provider entry is reported with file, line and field, and never stops
the others: `load_providers` returns the good ones and the errors side by side.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from services.shared.vocabulary import (
    ADVISORY_PARAMETERS,
    CAPABILITY_BY_NAME,
    RENAMEABLE_PARAMETERS,
)

FREE_POLICIES = ("price", "free_tier", "local", "none")
QUOTA_SCOPES = ("", "per_model", "per_provider", "per_account")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class FreeTier:
    requests_per_minute: int = 0
    requests_per_day: int = 0
    tokens_per_minute: int = 0
    tokens_per_day: int = 0
    scope: str = ""


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    format: str = "auto"
    models_path: str = "/models"
    chat_path: str = "/chat/completions"
    api_key_env: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    poll_interval_s: float = 600.0
    timeout_s: float = 30.0
    free_policy: str = "price"
    free_allow: tuple[str, ...] = ()
    free_tier: FreeTier = field(default_factory=FreeTier)
    enabled: bool = True
    # The provider's chat dialect. `capabilities`: what its chat API honours for every model
    # (beside what each model's list entry says), as vocabulary names; `rename`: request
    # parameters it names differently (`max_completion_tokens = "max_tokens"`); `advisory`:
    # which advisory fields (`user`, `metadata`, …) it accepts; `stream_usage`: whether it
    # takes `stream_options.include_usage` (streamed usage).
    capabilities: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    advisory: tuple[str, ...] = ()
    stream_usage: bool = True

    @property
    def models_url(self) -> str:
        return self.base_url.rstrip("/") + self.models_path

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + self.chat_path

    def api_key(self, env: Mapping[str, str]) -> str | None:
        """The key from the named env var; None when the provider needs none."""
        return env.get(self.api_key_env) if self.api_key_env else None

    def missing_key(self, env: Mapping[str, str]) -> bool:
        return bool(self.api_key_env) and not env.get(self.api_key_env)

    def auth_headers(self, env: Mapping[str, str]) -> dict[str, str]:
        key = self.api_key(env)
        headers = dict(self.headers)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers


@dataclass(frozen=True)
class ProviderError:
    file: str
    line: int
    provider: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: provider {self.provider or '?'}: {self.field}: {self.message}"


def load_providers(path: Path) -> tuple[list[ProviderConfig], list[ProviderError]]:
    """Parse the providers file; bad entries become errors, good ones still load."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [ProviderError(str(path), 0, "", "file", f"cannot read: {exc.strerror}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [ProviderError(str(path), getattr(exc, "lineno", 0), "", "toml", str(exc))]
    entries = data.get("providers", [])
    if not isinstance(entries, list):
        return [], [ProviderError(str(path), 0, "", "providers", "expected [[providers]] tables")]
    lines = _table_lines(text)
    providers: list[ProviderConfig] = []
    errors: list[ProviderError] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else 0
        try:
            provider = provider_from_mapping(entry)
        except ProviderFieldError as exc:
            name = entry.get("name", "") if isinstance(entry, dict) else ""
            errors.append(ProviderError(str(path), line, str(name), exc.field, exc.message))
            continue
        if provider.name in seen:
            errors.append(ProviderError(str(path), line, provider.name, "name", "duplicate name"))
            continue
        seen.add(provider.name)
        providers.append(provider)
    return providers, errors


def _table_lines(text: str) -> list[int]:
    """1-based line numbers of each `[[providers]]` header, in order."""
    return [i for i, row in enumerate(text.splitlines(), 1) if row.strip() == "[[providers]]"]


class ProviderFieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def provider_from_mapping(entry: Any) -> ProviderConfig:
    """Validate one provider entry (from TOML or a CSV row) into a ProviderConfig."""
    if not isinstance(entry, dict):
        raise ProviderFieldError("providers", "expected a table")
    known = set(ProviderConfig.__dataclass_fields__)
    for key in entry:
        if key not in known:
            raise ProviderFieldError(key, f"unknown field (known: {', '.join(sorted(known))})")
    name = _str(entry, "name", required=True)
    if not _NAME.match(name):
        raise ProviderFieldError("name", f"must be lowercase letters, digits, . _ -; got {name!r}")
    base_url = _str(entry, "base_url", required=True)
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ProviderFieldError("base_url", f"expected an http(s) URL, got {base_url!r}")
    policy = _str(entry, "free_policy") or "price"
    if policy not in FREE_POLICIES:
        raise ProviderFieldError("free_policy", f"expected one of {FREE_POLICIES}, got {policy!r}")
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ProviderFieldError("headers", "expected a table of strings")
    allow = entry.get("free_allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ProviderFieldError("free_allow", "expected a list of strings")
    return ProviderConfig(
        name=name,
        base_url=base_url,
        format=_str(entry, "format") or "auto",
        models_path=_path(entry, "models_path", "/models"),
        chat_path=_path(entry, "chat_path", "/chat/completions"),
        api_key_env=_str(entry, "api_key_env"),
        headers=dict(headers),
        poll_interval_s=_positive(entry, "poll_interval_s", 600.0),
        timeout_s=_positive(entry, "timeout_s", 30.0),
        free_policy=policy,
        free_allow=tuple(allow),
        free_tier=_free_tier(entry.get("free_tier", {})),
        enabled=_bool(entry, "enabled", True),
        capabilities=_names(entry, "capabilities", CAPABILITY_BY_NAME),
        rename=_rename(entry.get("rename", {})),
        advisory=_names(entry, "advisory", ADVISORY_PARAMETERS),
        stream_usage=_bool(entry, "stream_usage", True),
    )


def _names(entry: Mapping[str, Any], key: str, known: Collection[str]) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProviderFieldError(key, "expected a list of strings")
    for name in value:
        if name not in known:
            raise ProviderFieldError(key, f"unknown name {name!r} (known: {', '.join(known)})")
    return tuple(dict.fromkeys(value))


def _rename(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise ProviderFieldError("rename", 'expected a table of parameter = "provider\'s name"')
    for key in raw:
        if key not in RENAMEABLE_PARAMETERS:
            raise ProviderFieldError(
                f"rename.{key}", f"not a renameable parameter ({', '.join(RENAMEABLE_PARAMETERS)})"
            )
    return dict(raw)


def _str(entry: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ProviderFieldError(key, f"expected a string, got {value!r}")
    if required and not value:
        raise ProviderFieldError(key, "is required")
    return value


def _path(entry: Mapping[str, Any], key: str, default: str) -> str:
    value = _str(entry, key) or default
    if not value.startswith("/"):
        raise ProviderFieldError(key, f"must start with '/', got {value!r}")
    return value


def _positive(entry: Mapping[str, Any], key: str, default: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProviderFieldError(key, f"expected a positive number, got {value!r}")
    return float(value)


def _bool(entry: Mapping[str, Any], key: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ProviderFieldError(key, f"expected true or false, got {value!r}")
    return value


def _free_tier(raw: Any) -> FreeTier:
    if not isinstance(raw, dict):
        raise ProviderFieldError("free_tier", "expected a table")
    values: dict[str, Any] = {}
    for key in ("requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day"):
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProviderFieldError(
                f"free_tier.{key}", f"expected a whole number ≥ 0, got {value!r}"
            )
        values[key] = value
    scope = raw.get("scope", "")
    if scope not in QUOTA_SCOPES:
        raise ProviderFieldError(
            "free_tier.scope", f"expected one of {QUOTA_SCOPES[1:]}, got {scope!r}"
        )
    unknown = set(raw) - {*values, "scope"}
    if unknown:
        raise ProviderFieldError(f"free_tier.{sorted(unknown)[0]}", "unknown field")
    return FreeTier(scope=scope, **values)


# --- CSV and TOML round trips (`freeway providers import` / `export`) ---------------------

_TEXT_FIELDS = (
    "name", "base_url", "format", "models_path", "chat_path", "api_key_env", "free_policy",
)  # fmt: skip
_NUMBER_FIELDS = ("poll_interval_s", "timeout_s")
_TIER_COLUMNS = ("requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day")
_LIST_FIELDS = ("free_allow", "capabilities", "advisory")
CSV_COLUMNS = (
    *_TEXT_FIELDS, *_NUMBER_FIELDS, "free_allow", "headers", *_TIER_COLUMNS, "scope", "enabled",
    "capabilities", "rename", "advisory", "stream_usage",
)  # fmt: skip


def providers_from_csv(text: str, file: str) -> tuple[list[ProviderConfig], list[ProviderError]]:
    """Rows → providers. Lists are `;`-separated, headers `Name: value;…`; empty cells mean
    the default. Errors carry the CSV line number (the header is line 1)."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"name", "base_url"} - set(reader.fieldnames or ())
    if missing:
        return [], [ProviderError(file, 1, "", sorted(missing)[0], "required column is missing")]
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown:
        return [], [ProviderError(file, 1, "", sorted(unknown)[0], "unknown column")]
    providers: list[ProviderConfig] = []
    errors: list[ProviderError] = []
    for row in reader:
        line = reader.line_num
        try:
            entry = _entry_from_row(row)
            provider = provider_from_mapping(entry)
        except ProviderFieldError as exc:
            errors.append(ProviderError(file, line, row.get("name") or "", exc.field, exc.message))
            continue
        if any(p.name == provider.name for p in providers):
            errors.append(ProviderError(file, line, provider.name, "name", "duplicate name"))
            continue
        providers.append(provider)
    return providers, errors


def _entry_from_row(row: Mapping[str, str | None]) -> dict[str, Any]:
    cells = {k: (v or "").strip() for k, v in row.items() if k}
    entry: dict[str, Any] = {}
    for key in _TEXT_FIELDS:
        if cells.get(key):
            entry[key] = cells[key]
    for key in _NUMBER_FIELDS:
        if cells.get(key):
            entry[key] = _number(cells[key], key)
    for key in _LIST_FIELDS:
        if cells.get(key):
            entry[key] = [a.strip() for a in cells[key].split(";") if a.strip()]
    if cells.get("headers"):
        entry["headers"] = _headers(cells["headers"])
    if cells.get("rename"):
        entry["rename"] = _pairs(cells["rename"], "rename", "=")
    for key in ("enabled", "stream_usage"):
        if cells.get(key):
            entry[key] = _flag(cells[key], key)
    tier: dict[str, Any] = {k: int(_number(cells[k], k)) for k in _TIER_COLUMNS if cells.get(k)}
    if cells.get("scope"):
        tier["scope"] = cells["scope"]
    if tier:
        entry["free_tier"] = tier
    return entry


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ProviderFieldError(key, f"expected a number, got {text!r}") from None


def _flag(text: str, key: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ProviderFieldError(key, f"expected true or false, got {text!r}")


def _headers(text: str) -> dict[str, str]:
    return _pairs(text, "headers", ":")


def _pairs(text: str, key: str, separator: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(separator)
        if not sep or not name.strip():
            raise ProviderFieldError(key, f"expected 'name{separator} value', got {part.strip()!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def providers_to_csv(providers: list[ProviderConfig]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in providers:
        writer.writerow(
            {
                "name": p.name,
                "base_url": p.base_url,
                "format": p.format,
                "models_path": p.models_path,
                "chat_path": p.chat_path,
                "api_key_env": p.api_key_env,
                "poll_interval_s": _plain(p.poll_interval_s),
                "timeout_s": _plain(p.timeout_s),
                "free_policy": p.free_policy,
                "free_allow": ";".join(p.free_allow),
                "headers": ";".join(f"{k}: {v}" for k, v in p.headers.items()),
                **{k: getattr(p.free_tier, k) or "" for k in _TIER_COLUMNS},
                "scope": p.free_tier.scope,
                "enabled": "true" if p.enabled else "false",
                "capabilities": ";".join(p.capabilities),
                "rename": ";".join(f"{k}={v}" for k, v in p.rename.items()),
                "advisory": ";".join(p.advisory),
                "stream_usage": "true" if p.stream_usage else "false",
            }
        )
    return out.getvalue()


def providers_to_toml(providers: list[ProviderConfig]) -> str:
    """The providers file for `providers`, defaults left out."""
    import json

    default = ProviderConfig(name="x", base_url="http://x")
    blocks = []
    for p in providers:
        lines = ["[[providers]]"]
        for key in (*_TEXT_FIELDS, *_NUMBER_FIELDS, "enabled", "stream_usage"):
            value = getattr(p, key)
            if key in ("name", "base_url") or value != getattr(default, key):
                lines.append(f"{key} = {_toml_value(value)}")
        for key in _LIST_FIELDS:
            if getattr(p, key):
                lines.append(f"{key} = {json.dumps(list(getattr(p, key)))}")
        if p.rename:
            pairs = ", ".join(f"{k} = {json.dumps(v)}" for k, v in p.rename.items())
            lines.append(f"rename = {{ {pairs} }}")
        if p.headers:
            pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in p.headers.items())
            lines.append(f"headers = {{ {pairs} }}")
        tier = {
            k: getattr(p.free_tier, k) for k in (*_TIER_COLUMNS, "scope") if getattr(p.free_tier, k)
        }
        if tier:
            pairs = ", ".join(f"{k} = {_toml_value(v)}" for k, v in tier.items())
            lines.append(f"free_tier = {{ {pairs} }}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _plain(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))
