"""SSE framing: chunks split anywhere, CRLF, comments, multi-line data, [DONE]."""

from __future__ import annotations

import pytest

from services.router.sse import SseDecoder, SseError

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"a": 1}\n\n'
    b'data: {"b":\r\ndata: 2}\r\n\r\n'
    b"event: ping\nid: 7\nretry: 10\n\n"
    b"data: [DONE]\n\n"
)


def test_whole_stream_yields_each_event_payload() -> None:
    decoder = SseDecoder()
    assert decoder.feed(STREAM) == [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]
    assert decoder.close() == []


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_split_anywhere_gives_the_same_events(size: int) -> None:
    decoder = SseDecoder()
    events: list[bytes] = []
    for start in range(0, len(STREAM), size):
        events += decoder.feed(STREAM[start : start + size])
    assert events == [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]


def test_final_event_without_blank_line_is_flushed_on_close() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"last": true}') == []
    assert decoder.close() == [b'{"last": true}']


def test_data_without_space_and_utf8_split_across_chunks() -> None:
    decoder = SseDecoder()
    raw = 'data:{"t": "héllo"}\n\n'.encode()
    cut = raw.index(b"\xc3") + 1
    assert decoder.feed(raw[:cut]) == []
    assert decoder.feed(raw[cut:]) == ['{"t": "héllo"}'.encode()]


def test_oversized_event_is_an_error() -> None:
    decoder = SseDecoder(max_event_bytes=16)
    with pytest.raises(SseError):
        decoder.feed(b"data: " + b"x" * 32 + b"\n")
