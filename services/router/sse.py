"""Server-sent events framing: bytes in, the `data` payload (bytes) of each complete event out.

Follows the EventSource rules that matter for chat streams: lines end in LF or CRLF, an
empty line ends an event, `data:` lines of one event are joined with LF, one optional space
after the colon is dropped, and comment lines (`: keep-alive`) and other fields are skipped.
"""

from __future__ import annotations


class SseError(ValueError):
    """The stream broke the framing rules we can live with (e.g. an event too large)."""


class SseDecoder:
    """Incremental decoder; `feed` returns the payloads completed by the new bytes."""

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = b""
        self._data: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk if self._buffer else chunk
        *lines, self._buffer = buffer.split(b"\n")
        if len(self._buffer) > self.max_event_bytes:
            raise SseError(f"line longer than {self.max_event_bytes} bytes")
        events: list[bytes] = []
        for line in lines:
            self._line(line[:-1] if line.endswith(b"\r") else line, events)
        return events

    def close(self) -> list[bytes]:
        """Payloads of a final event the stream did not end with an empty line."""
        events: list[bytes] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line:
            if self._data:
                events.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
                self._data = []
                self._size = 0
            return
        if line.startswith(b"data:"):
            value = line[5:]
            value = value[1:] if value.startswith(b" ") else value
            self._size += len(value)
            if self._size > self.max_event_bytes:
                raise SseError(f"event larger than {self.max_event_bytes} bytes")
            self._data.append(value)
