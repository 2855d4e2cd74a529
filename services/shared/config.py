"""One typed config loader: a TOML file plus environment variables (12-factor).

A service describes its settings as a frozen dataclass whose fields carry their env var
name in metadata (`setting("FREEWAY_ROUTER_ADDR", "127.0.0.1:50052")`). Precedence: env >
the file's `[section]` > default. Loading validates every value and fails fast with an
error naming the key; nothing here runs at import time.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CONFIG_ENV = "FREEWAY_CONFIG"
DEFAULT_CONFIG_FILE = "freeway.toml"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the key and the source."""


def setting(
    env: str, default: Any = dataclasses.MISSING, *, doc: str = "", secret: bool = False
) -> Any:
    """Declare a dataclass field read from `env` (or the TOML key of the same field name);
    a `secret` one is left out of the settings object's repr."""
    meta = {"env": env, "doc": doc}
    shown = not secret
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta, repr=shown)
    if isinstance(default, list | dict):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata=meta, repr=shown
        )
    return dataclasses.field(default=default, metadata=meta, repr=shown)


def config_file(env: Mapping[str, str]) -> Path | None:
    """The TOML file to read: $FREEWAY_CONFIG, else ./freeway.toml when it exists."""
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}: no such file: {path}")
        return path
    path = Path(DEFAULT_CONFIG_FILE)
    return path if path.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load(
    schema: type[T],
    section: str,
    env: Mapping[str, str] | None = None,
    file_data: Mapping[str, Any] | None = None,
) -> T:
    """Build `schema` from env and the file's `[section]`, validating every field."""
    env = os.environ if env is None else env
    if file_data is None:
        path = config_file(env)
        file_data = read_toml(path) if path else {}
        origin = str(path) if path else DEFAULT_CONFIG_FILE
    else:
        origin = "config"
    table = file_data.get(section, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{origin} [{section}]: expected a table")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(
            f"{origin} [{section}] {unknown[0]}: unknown key (known: {', '.join(fields)})"
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        env_name = f.metadata.get("env", "")
        if env_name and env.get(env_name, "") != "":
            values[name] = coerce(env[env_name], hints[name], env_name)
        elif name in table:
            values[name] = coerce(table[name], hints[name], f"{origin} [{section}] {name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{env_name or name}: required setting is missing")
    return schema(**values)


def coerce(raw: Any, kind: Any, key: str) -> Any:
    """Convert an env string or TOML value to `kind`, or raise ConfigError naming `key`."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw in ("", None):
            return None
        return coerce(raw, options[0], key)
    if origin in (tuple, list):
        items = [s.strip() for s in raw.split(",") if s.strip()] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {raw!r}")
        (item_kind, *_) = typing.get_args(kind) or (str,)
        return tuple(coerce(i, item_kind, key) for i in items)
    try:
        if kind is bool:
            return _as_bool(raw)
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is str and isinstance(raw, str | int | float) and not isinstance(raw, bool):
            return str(raw)
        if kind is Path and isinstance(raw, str):
            return Path(raw)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {raw!r}")


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def parse_address(value: str, key: str) -> tuple[str, int]:
    """Split "host:port" (or "[v6]:port"), raising ConfigError naming `key`."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key}: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)
