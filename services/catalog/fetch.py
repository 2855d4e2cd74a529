"""Fetching one provider's model list over HTTP (httpx): conditional requests, a body size
cap, pagination with a page cap, and failures as FetchError (with Retry-After when given).

The API key travels in headers only, and pagination never follows a link to another host,
so a key is never sent anywhere but the provider's own base URL.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from services.catalog.formats import ParseError, ParseResult, parse_models
from services.catalog.records import ModelRecord
from services.catalog.schedule import parse_retry_after
from services.shared.providers import ProviderConfig

# The query parameter that carries a bare continuation token, per format.
TOKEN_PARAMS: dict[str, str] = {
    "openai": "after",
    "anthropic": "after_id",
    "gemini": "pageToken",
    "cohere": "page_token",
    "cloudflare": "page",
    "huggingface": "cursor",
}
DEFAULT_TOKEN_PARAM = "after"


class FetchError(Exception):
    """The model list could not be fetched or understood; the message says why."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Listing:
    """The outcome of one successful fetch (all pages), or `not_modified` on a 304."""

    not_modified: bool
    etag: str
    last_modified: str
    records: list[ModelRecord] = field(default_factory=list)
    format: str = ""
    generic: bool = False
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    complete: bool = True  # False when pagination stopped early: absent models are not missing


@dataclass(frozen=True)
class Limits:
    max_pages: int = 50
    max_body_bytes: int = 64 * 1024 * 1024


async def fetch_listing(
    client: httpx.AsyncClient,
    provider: ProviderConfig,
    env: Mapping[str, str],
    etag: str = "",
    last_modified: str = "",
    limits: Limits = Limits(),
) -> Listing:
    """GET every page of the provider's model list and parse it."""
    headers = {"Accept": "application/json", **provider.auth_headers(env)}
    conditional = dict(headers)
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    url = provider.models_url
    status, body, response_headers = await _get(client, url, conditional, provider, limits)
    if status == 304:
        return Listing(True, etag, last_modified)
    new_etag = response_headers.get("etag", "")
    new_modified = response_headers.get("last-modified", "")
    records: list[ModelRecord] = []
    warnings: list[str] = []
    fmt, generic, pages, seen, complete = provider.format, False, 0, {url}, True
    while True:
        pages += 1
        result = _parse(body, provider, pages)
        fmt = result.format if provider.format == "auto" else provider.format
        generic = generic or result.generic
        records.extend(result.records)
        warnings.extend(result.warnings)
        if not result.next_page:
            break
        next_url = next_page_url(url, result.next_page, fmt)
        stop = _stop_reason(next_url, provider.models_url, seen, pages, limits)
        if stop:
            warnings.append(stop)
            complete = False
            break
        seen.add(next_url)
        url = next_url
        status, body, _ = await _get(client, url, headers, provider, limits)
    if pages > 1:
        # A 304 for page one says nothing about the pages after it: only single-page
        # lists are fetched conditionally.
        new_etag = new_modified = ""
    return Listing(False, new_etag, new_modified, records, fmt, generic, warnings, pages, complete)


def _parse(body: bytes, provider: ProviderConfig, page: int) -> ParseResult:
    try:
        return parse_models(body, provider.name, fmt=provider.format)
    except ParseError as exc:
        raise FetchError(f"page {page}: {exc}") from None


def _stop_reason(next_url: str, base: str, seen: set[str], pages: int, limits: Limits) -> str:
    if _origin(next_url) != _origin(base):
        return f"pagination stopped: next page {next_url!r} is on another host"
    if next_url in seen:
        return "pagination stopped: next page repeats an earlier page"
    if pages >= limits.max_pages:
        return (
            f"pagination stopped at the page cap ({limits.max_pages} pages;"
            " raise FREEWAY_CATALOG_MAX_PAGES to read further)"
        )
    return ""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def next_page_url(url: str, token: str, fmt: str) -> str:
    """The URL of the next page: a link (absolute or relative) as given, or a bare
    token/page number set as the format's continuation parameter."""
    if token.startswith(("http://", "https://", "/", "?")):
        return urljoin(url, token)
    param = TOKEN_PARAMS.get(fmt, DEFAULT_TOKEN_PARAM)
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    query.append((param, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _get(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    provider: ProviderConfig,
    limits: Limits,
) -> tuple[int, bytes, httpx.Headers]:
    try:
        async with client.stream(
            "GET", url, headers=dict(headers), timeout=provider.timeout_s
        ) as response:
            if response.status_code == 304:
                return 304, b"", response.headers
            if response.status_code != 200:
                snippet = (await _read(response, 2048, cap_error=False)).decode(errors="replace")
                raise FetchError(
                    f"HTTP {response.status_code} from {url}: {' '.join(snippet.split())[:200]}",
                    parse_retry_after(response.headers.get("retry-after"), time.time()),
                )
            body = await _read(response, limits.max_body_bytes, cap_error=True)
            return 200, body, response.headers
    except httpx.TimeoutException:
        raise FetchError(f"timed out after {provider.timeout_s:g}s fetching {url}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None


async def _read(response: httpx.Response, cap: int, cap_error: bool) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            if cap_error:
                raise FetchError(
                    f"response from {response.url} is larger than {cap} bytes"
                    " (raise FREEWAY_CATALOG_MAX_BODY_BYTES to accept it)"
                )
            chunks.append(chunk[: cap - (size - len(chunk))])
            break
        chunks.append(chunk)
    return b"".join(chunks)
