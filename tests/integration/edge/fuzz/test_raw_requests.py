"""A hypothesis corpus of raw HTTP requests, written byte by byte to the edge's socket:
huge numbers, lone surrogates, deep nesting, bytes that are not UTF-8 in bodies and
headers, bodies declared gzip that are not, oversized bodies, bad JSON, wrong content
types, absurd query strings, broken framing. Every one gets an answer below 500, and every
error answer is OpenAI's shape — aiohttp's own protocol errors included."""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.edge.conftest import ADMIN_KEY
from tests.integration.edge.fuzz.conftest import (
    MAX_BODY_BYTES,
    ServedEdge,
    openai_error,
    parse_answer,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 300
CHAT = "/v1/chat/completions"
PATHS = [
    CHAT,
    "/v1/route",
    "/v1/models",
    "/v1/models/auto",
    "/v1/models/openrouter/meta-llama/llama-3.3-70b-instruct:free",
    "/v1/catalog",
    "/v1/catalog/changes",
    "/v1/providers",
    "/healthz",
    "/openapi.json",
    "/v1/nowhere",
    "/",
]
ROUTES = [(b"POST", CHAT), (b"POST", "/v1/route"), *((b"GET", p) for p in PATHS[2:10])]
PARAMS = ["since", "limit", "free", "free_only", "provider", "capability", "min_context", "extra"]
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"]
GOOD_KEY = f"Bearer {ADMIN_KEY}".encode()

huge_ints = st.integers(min_value=10, max_value=5000).map(lambda n: "9" * n)
numbers = st.one_of(
    st.integers(),
    huge_ints,  # digit strings: str(int) of 4,300+ digits fails in Python itself
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e999", "-1e999", "1" + "0" * 400, "0.000000000000000000001e-999"]),
)
lone_surrogates = st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "a\\udc00b", "\\ud800\\ud800"])


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    [
        "model",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
        "temperature",
        "top_p",
        "top_logprobs",
        "logit_bias",
        "stop",
        "tools",
        "tool_choice",
        "messages",
        "stream",
        "stream_options",
        "response_format",
        "metadata",
        "strategy",
        "user",
        "unknown_field",
    ]
)


@st.composite
def chat_bodies(draw: st.DrawFn) -> bytes:
    """A chat body with one or two fields made strange (as JSON text, so numbers and
    escapes JSON allows but Python would not produce stay possible)."""
    parts = ['"messages":[{"role":"user","content":"hi"}]']
    for _ in range(draw(st.integers(1, 2))):
        name = draw(fields)
        value = draw(
            st.one_of(
                numbers.map(str),
                lone_surrogates.map(lambda s: f'"{s}"'),
                json_values.map(_json_text),
                st.integers(1, 3000).map(lambda d: "[" * d + "]" * d),
                st.integers(1, 3000).map(lambda d: '{"a":' * d + "1" + "}" * d),
                lone_surrogates.map(lambda s: f'[{{"role":"user","content":"{s}"}}]'),
            )
        )
        parts.append(f'"{name}":{value}')
    return ("{" + ",".join(parts) + "}").encode("utf-8", "surrogatepass")


bodies = st.one_of(
    chat_bodies(),
    json_values.map(lambda v: _json_text(v).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.integers(1, 5000).map(lambda d: b"[" * d),  # unterminated nesting: bad JSON
    st.just(b'{"messages":[{"role":"user","content":"\xff\xfe\xed\xa0\x80"}]}'),  # not UTF-8
    st.integers(MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 3).map(lambda n: b'{"a":"' + b"x" * n + b'"}'),
    chat_bodies().map(gzip.compress),
)

header_values = st.one_of(
    st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.text(max_size=60)
    .map(lambda t: t.encode("utf-8", "surrogatepass"))
    .filter(lambda b: b"\r" not in b and b"\n" not in b),
)
authorizations = st.one_of(
    st.just(GOOD_KEY),
    st.just(b"Bearer \xff\xfe\xfd"),
    header_values.map(lambda v: b"Bearer " + v),
    header_values,
)
content_types = st.sampled_from(
    [
        b"application/json",
        b"text/plain",
        b"multipart/form-data; boundary=x",
        b"application/x-www-form-urlencoded",
        b"application/json; charset=latin-1",
        b"\xff/\xfe",
    ]
)
encodings = st.sampled_from(
    [b"gzip", b"deflate", b"br", b"identity", b"zstd", b"gzip, gzip", b"\xff"]
)


def _quoted(text: str) -> bytes:
    return quote(text.encode("utf-8", "surrogatepass"), safe="").encode()


@st.composite
def query_strings(draw: st.DrawFn) -> bytes:
    """Mostly well-formed (percent-encoded) query strings with absurd values; sometimes
    raw bytes no URL may hold."""
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(PARAMS).map(str.encode) | st.text(max_size=8).map(_quoted))
        value = draw(
            st.one_of(
                huge_ints.map(str.encode),
                st.integers().map(lambda i: str(i).encode()),
                st.text(max_size=20).map(_quoted),
                st.sampled_from([b"%ff%fe", b"%00", b"%", b"%zz", b"true,,false", b"tools,,x"]),
            )
        )
        pairs.append(name + b"=" + value)
    if draw(st.integers(0, 9)) == 0:
        pairs.append(draw(st.binary(min_size=1, max_size=10)))  # raw bytes: aiohttp's 400
    raw = b"&".join(pairs)
    return b"?" + raw if raw else b""


@st.composite
def raw_requests(draw: st.DrawFn) -> tuple[bytes, bytes]:
    if draw(st.integers(0, 9)) < 7:  # mostly a route the edge serves, with its method
        method, path = draw(st.sampled_from(ROUTES))
    else:
        method, path = draw(st.sampled_from(METHODS)), draw(st.sampled_from(PATHS))
    target = path.encode() + draw(query_strings())
    target = bytes(b for b in target if b > 0x20 and b != 0x7F)  # one request-line token
    headers = [b"Host: edge"]
    odds = draw(st.lists(st.integers(0, 9), min_size=4, max_size=4))
    if odds[0] < 8:  # mostly a request that gets past authentication
        headers.append(b"Authorization: " + (GOOD_KEY if odds[0] < 5 else draw(authorizations)))
    if odds[1] < 5:
        headers.append(b"Content-Type: " + draw(content_types))
    if odds[2] < 2:
        headers.append(b"Content-Encoding: " + draw(encodings))
    if odds[3] < 2:
        name = draw(st.sampled_from([b"X-Junk", b"X-Request-Id", b"Accept", b"User-Agent"]))
        headers.append(name + b": " + draw(header_values))
    body = draw(bodies) if method in (b"POST", b"PUT", b"PATCH") or draw(st.booleans()) else b""
    framing = draw(st.sampled_from(["length", "chunked", "short", "none"]))
    if framing == "chunked" and body:
        headers.append(b"Transfer-Encoding: chunked")
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    elif framing == "short" and body:
        headers.append(b"Content-Length: %d" % (len(body) // 2))
        payload = body  # the rest reads as a (broken) next request
    elif framing == "length" or body:
        headers.append(b"Content-Length: %d" % len(body))
        payload = body
    else:
        payload = b""
    head = method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"
    return method, head + payload


def assert_answered_in_shape(method: bytes, raw: bytes, served: ServedEdge) -> int:
    assert raw.startswith(b"HTTP/1."), raw[:200]
    status, headers, body = parse_answer(raw)
    served.count(status)
    assert status < 500, (status, body[:300])
    if status >= 400 and method != b"HEAD":
        openai_error(status, headers, body)
    return status


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=raw_requests())
def test_no_raw_request_breaks_the_edge(request: tuple[bytes, bytes], served: ServedEdge) -> None:
    method, raw = request
    assert_answered_in_shape(method, served.exchange(raw), served)


def _post(path: str, body: bytes, *extra: bytes, auth: bytes = GOOD_KEY) -> bytes:
    headers = [b"Host: edge", b"Authorization: " + auth, b"Content-Type: application/json", *extra]
    return (
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\n"
        + b"\r\n".join(headers)
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )


def _get(target: bytes, *headers: bytes) -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: edge\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


USER = b'"messages":[{"role":"user","content":"hi"}]'
# The probes of the findings ("Bad input"), each with the answer it must get.
PROBES: dict[str, tuple[bytes, int, str | None]] = {
    "max_tokens of 5,000 digits": (
        _post(CHAT, b"{" + USER + b',"max_tokens":' + b"9" * 5000 + b"}"),
        400,
        None,
    ),
    "a 5,000-digit seed": (_post(CHAT, b"{" + USER + b',"seed":-' + b"9" * 5000 + b"}"), 400, None),
    "a lone surrogate, escaped": (
        _post(CHAT, b'{"messages":[{"role":"user","content":"\\ud800"}]}'),
        400,
        None,
    ),
    "a lone surrogate, as UTF-8 bytes": (
        _post(CHAT, b'{"messages":[{"role":"user","content":"\xed\xa0\x80"}]}'),
        400,
        None,
    ),
    "nesting 30,000 deep": (_post(CHAT, b"[" * 30_000 + b"]" * 30_000), 400, None),
    "messages nested 2,000 deep": (
        _post(CHAT, b'{"messages":' + b"[" * 2000 + b"]" * 2000 + b"}"),
        400,
        None,
    ),
    # The router's reader answers an image `detail` that is not a string with a TypeError
    # (`detail not in IMAGE_TOKENS` hashes it): 502 until services/router/request.py checks
    # the type first.
    "an image detail that is an object": (
        _post(
            CHAT,
            b'{"messages":[{"role":"user","content":[{"type":"image_url",'
            b'"image_url":{"url":"https://x/a.png","detail":{}}}]}]}',
        ),
        400,
        "messages[0].content[0].image_url.detail",
    ),
    "a body that is not UTF-8": (
        _post(CHAT, b'{"messages":[{"role":"user","content":"\xff\xfe"}]}'),
        400,
        None,
    ),
    "Authorization not UTF-8, no key": (
        _get(b"/v1/models", b"Authorization: Bearer \xff\xfe"),
        401,
        None,
    ),
    "Authorization of raw bytes": (_get(b"/v1/models", b"Authorization: \x80\x81\x82"), 401, None),
    "declared gzip, is not": (
        _post(CHAT, b"{" + USER + b"}", b"Content-Encoding: gzip"),
        400,
        None,
    ),
    "declared deflate, is not": (
        _post("/v1/route", b"{" + USER + b"}", b"Content-Encoding: deflate"),
        400,
        None,
    ),
    "an oversized body": (_post(CHAT, b'{"a":"' + b"x" * (MAX_BODY_BYTES * 2) + b'"}'), 413, None),
    "bad JSON": (_post(CHAT, b'{"messages": [}'), 400, None),
    "a JSON array": (_post(CHAT, b"[1, 2]"), 400, None),
    "an empty body": (_post(CHAT, b""), 400, None),
    "text/plain content": (_post(CHAT, b"hello", b"Content-Type: text/plain"), 400, None),
    "since of 5,000 digits": (
        _get(b"/v1/catalog/changes?since=" + b"9" * 5000, b"Authorization: " + GOOD_KEY),
        400,
        "since",
    ),
    "limit that is not a number": (
        _get(b"/v1/catalog/changes?limit=%ff%fe", b"Authorization: " + GOOD_KEY),
        400,
        "limit",
    ),
    "min_context negative": (
        _get(b"/v1/catalog?min_context=-1", b"Authorization: " + GOOD_KEY),
        400,
        "min_context",
    ),
    "an unknown capability": (
        _get(b"/v1/catalog?capability=tools,,telepathy", b"Authorization: " + GOOD_KEY),
        400,
        "capability",
    ),
    "free of a huge number": (
        _get(b"/v1/catalog?free=" + b"9" * 5000, b"Authorization: " + GOOD_KEY),
        400,
        "free",
    ),
    "a 6 KB query string": (
        _get(
            b"/v1/catalog?" + b"&".join(b"provider=%d" % i for i in range(600)),
            b"Authorization: " + GOOD_KEY,
        ),
        200,
        None,
    ),
    "a request line that is not HTTP": (b"GARBAGE\r\n\r\n", 400, None),
    "a header name with a space": (_get(b"/healthz", b"Bad Header: y"), 400, None),
    "a header line of 20 KB": (_get(b"/healthz", b"X-A: " + b"a" * 20_000), 400, None),
    "a path that is not UTF-8": (
        _get(b"/v1/models/\xff", b"Authorization: " + GOOD_KEY),
        400,
        None,
    ),
    "Content-Length not a number": (
        b"POST /v1/route HTTP/1.1\r\nHost: edge\r\nContent-Length: abc\r\n\r\n",
        400,
        None,
    ),
    "a chunk size not in hex": (
        b"POST /v1/route HTTP/1.1\r\nHost: edge\r\nAuthorization: "
        + GOOD_KEY
        + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
        None,
    ),
    "two Content-Lengths": (
        b"POST /v1/route HTTP/1.1\r\nHost: edge\r\n"
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
        None,
    ),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_is_answered_in_openai_shape(name: str, served: ServedEdge) -> None:
    raw, expected, param = PROBES[name]
    answer = served.exchange(raw)
    status = assert_answered_in_shape(raw.split(b" ", 1)[0], answer, served)
    assert status == expected, answer[:400]
    if status >= 400:
        _, headers, body = parse_answer(answer)
        assert openai_error(status, headers, body)["param"] == param


def test_a_broken_body_closes_only_its_own_connection(served: ServedEdge) -> None:
    """The answer to a body aiohttp cannot read says Connection: close (a proxy must not
    reuse the connection); an ordinary error keeps the connection for the next request."""
    answer = served.exchange(_post(CHAT, b"{" + USER + b"}", b"Content-Encoding: gzip"))
    _, headers, _ = parse_answer(answer)
    assert headers.get("connection", "").lower() == "close"
    answer = served.exchange(_post(CHAT, b"{}"))
    _, headers, _ = parse_answer(answer)
    assert headers.get("connection", "keep-alive").lower() != "close"


def test_the_corpus_ran(served: ServedEdge) -> None:
    print(f"raw corpus: {sum(served.statuses.values())} requests, by status {served.statuses}")
    assert sum(served.statuses.values()) > MAX_EXAMPLES
    assert all(status < 500 for status in served.statuses)
