"""nock-back recordings (``*.nock.json``): ``[{"scope", "method", "path", "status", "response"}]``.

Test equipment of Node projects, recorded from real providers. The ``response`` is either the
decoded JSON body or a list of hex chunks of the raw (usually brotli- or gzip-compressed)
bytes. This module only unwraps the first successful GET into the body bytes; the caller
parses those as any other body. Brotli needs the optional ``brotli`` package: without it a
brotli body is a ShapeError that says so.
"""

from __future__ import annotations

import gzip
import importlib
import json
import zlib
from collections.abc import Mapping

from services.catalog.formats._common import Json, JsonObject, ShapeError, kind, text

NAME = "nock"

_GZIP_MAGIC = b"\x1f\x8b"


def detect(doc: Json) -> bool:
    return (
        isinstance(doc, list)
        and bool(doc)
        and isinstance(doc[0], Mapping)
        and {"scope", "method", "path", "response"} <= doc[0].keys()
    )


def unwrap(doc: Json) -> tuple[Json, str]:
    """The recorded response body of the first 2xx GET, and the URL it came from."""
    if not isinstance(doc, list):
        raise ShapeError(f"{NAME}: expected an array of recorded requests, got {kind(doc)}")
    for entry in doc:
        if isinstance(entry, Mapping) and _is_ok_get(entry):
            url = f"{text(entry.get('scope'))}{text(entry.get('path'))}"
            return _body(entry.get("response"), url), url
    raise ShapeError(f"{NAME}: no successful GET recorded")


def _is_ok_get(entry: JsonObject) -> bool:
    status = str(entry.get("status", "200"))
    return text(entry.get("method")).upper() == "GET" and status.startswith("2")


def _body(response: Json, url: str) -> Json:
    if isinstance(response, list) and response and all(isinstance(c, str) for c in response):
        try:
            raw = bytes.fromhex("".join(response))
        except ValueError:
            raise ShapeError(f"{NAME}: response for {url} is not hex") from None
        return _decode_json(_decompress(raw, url), url)
    return response


def _decompress(raw: bytes, url: str) -> bytes:
    if raw.startswith(_GZIP_MAGIC):
        return gzip.decompress(raw)
    if raw[:1] in (b"{", b"["):
        return raw
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return _brotli(raw, url)


def _brotli(raw: bytes, url: str) -> bytes:
    try:
        brotli = importlib.import_module("brotli")
    except ImportError:
        raise ShapeError(
            f"{NAME}: the response for {url} is brotli-compressed and the optional 'brotli' "
            "package is not installed; parse the decoded .body.json instead"
        ) from None
    try:
        data: bytes = brotli.decompress(raw)
    except Exception as exc:  # brotli.error is not typed; any failure means an unreadable body
        raise ShapeError(f"{NAME}: response for {url} is not brotli, gzip or JSON: {exc}") from None
    return data


def _decode_json(raw: bytes, url: str) -> Json:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShapeError(f"{NAME}: decoded response for {url} is not JSON: {exc}") from None
