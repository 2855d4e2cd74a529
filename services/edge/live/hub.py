"""Topics and their subscribers: one JSON frame built per event, handed to every
subscriber's bounded queue without awaiting any socket.

Each WebSocket client has a queue of frames and a writer task that sends them in order.
`publish` encodes the event's WebSocket frame once and writes it straight to each socket
whose queue is empty and whose transport buffer has room (a write that never waits);
otherwise it appends to that client's queue. A subscriber that cannot keep up fills its
own queue, is marked overflowed and closed (code 4008), and never delays the others.
The first subscriber of a topic starts its feed (one gRPC subscription per topic per edge
process, whatever the number of clients); the last one leaving stops it.

Anything may publish: `hub.publish("catalog", {...})` is also how alerts from elsewhere
reach the `catalog` and `providers` topics.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

log = logging.getLogger("freeway.edge.live")

TOPICS = ("catalog", "metrics", "requests", "providers")
# Topics whose events name a key: a client that may read only its own key's usage gets
# only the events of its key.
KEYED_TOPICS = frozenset({"requests"})


class Feed(Protocol):
    """What feeds a topic: started by its first subscriber, stopped after its last."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(eq=False)
class Subscriber:
    """One client's side of the hub: its topics, its queue of frames, and why it must
    close (set once, read by its writer)."""

    capacity: int
    only_key: str | None = None  # None: every key's events
    topics: set[str] = field(default_factory=set)
    frames: collections.deque[str] = field(default_factory=collections.deque)
    overflowed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    on_overflow: Callable[[], None] | None = None  # called once, when it overflows
    # Writes an encoded frame now when the socket can take it without waiting (False:
    # it cannot, queue it instead).
    direct: Callable[[bytes], bool] | None = None

    def offer(self, frame: str, encoded: bytes | None = None) -> None:
        """Send `frame` at once when nothing is queued before it and the socket takes it
        without waiting; else queue it, or, when the queue is full, mark this subscriber
        overflowed."""
        if self.overflowed:
            return
        direct = self.direct
        if encoded is not None and not self.frames and direct is not None and direct(encoded):
            return
        if len(self.frames) >= self.capacity:
            self.overflowed = True
            self.frames.clear()  # nothing more will be sent but the close
            if self.on_overflow is not None:
                self.on_overflow()
        else:
            self.frames.append(frame)
        self.wake.set()

    def sees(self, topic: str, key_id: str | None) -> bool:
        return self.only_key is None or topic not in KEYED_TOPICS or key_id == self.only_key


def event_frame(topic: str, data: Mapping[str, Any]) -> str:
    return orjson.dumps({"type": "event", "topic": topic, "data": data}).decode()


def text_frame(payload: bytes) -> bytes:
    """A whole WebSocket text frame as a server sends it (final, unmasked, uncompressed:
    RFC 6455 §5.2), so that one event is encoded once for every subscriber."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class Hub:
    """Subscribers by topic; `feeds` says what starts a topic's source (a topic without
    a feed is fed only by `publish` from elsewhere)."""

    def __init__(self, feeds: Mapping[str, Callable[[Hub], Feed]] | None = None) -> None:
        self._factories = dict(feeds or {})
        self._feeds: dict[str, Feed] = {}
        self._subscribers: dict[str, set[Subscriber]] = {t: set() for t in TOPICS}
        self._latest: dict[str, str] = {}  # topic → frame a new subscriber gets first
        self._status: dict[str, str] = {}  # topic → its feed's state (live, reconnecting)
        self.clients: set[Subscriber] = set()
        self.published = 0

    def join(self, capacity: int, only_key: str | None = None) -> Subscriber:
        subscriber = Subscriber(capacity, only_key)
        self.clients.add(subscriber)
        return subscriber

    async def leave(self, subscriber: Subscriber) -> None:
        self.clients.discard(subscriber)
        await self.unsubscribe(subscriber, list(subscriber.topics))

    def subscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        for topic in topics:
            if topic in subscriber.topics:
                continue
            subscriber.topics.add(topic)
            subscribers = self._subscribers[topic]
            subscribers.add(subscriber)
            for retained in (self._status.get(topic), self._latest.get(topic)):
                if retained is not None:
                    subscriber.offer(retained)
            if len(subscribers) == 1 and topic not in self._feeds:
                factory = self._factories.get(topic)
                if factory is not None:
                    feed = self._feeds[topic] = factory(self)
                    feed.start()

    async def unsubscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        for topic in topics:
            subscriber.topics.discard(topic)
            subscribers = self._subscribers[topic]
            subscribers.discard(subscriber)
            if not subscribers:
                feed = self._feeds.pop(topic, None)
                if feed is not None:
                    self._latest.pop(topic, None)
                    self._status.pop(topic, None)
                    await feed.stop()

    def publish(
        self,
        topic: str,
        data: Mapping[str, Any],
        *,
        key_id: str | None = None,
        retain: bool = False,
    ) -> int:
        """Send `data` as an event of `topic` to its subscribers; how many got it queued.
        `retain`: also the first event each later subscriber gets (a current state).
        Never awaits: a slow subscriber only fills its own queue."""
        if topic not in self._subscribers:
            raise ValueError(f"unknown topic {topic!r}: expected one of {', '.join(TOPICS)}")
        frame = event_frame(topic, data)
        if retain:
            self._latest[topic] = frame
        encoded = text_frame(frame.encode())
        sent = 0
        for subscriber in self._subscribers[topic]:
            if subscriber.sees(topic, key_id):
                subscriber.offer(frame, encoded)
                sent += 1
        self.published += 1
        return sent

    def status(self, topic: str, state: str, detail: str | None = None) -> None:
        """A feed's state changed (`live`, `reconnecting`): tell its subscribers, and
        every later one."""
        frame = orjson.dumps({"type": "status", "topic": topic, "state": state, "detail": detail})
        self._status[topic] = text = frame.decode()
        for subscriber in self._subscribers[topic]:
            subscriber.offer(text)

    def subscribers(self, topic: str) -> int:
        return len(self._subscribers[topic])

    @property
    def running_feeds(self) -> frozenset[str]:
        return frozenset(self._feeds)

    async def close(self) -> None:
        """Stop every feed (the clients are closed by the route's shutdown)."""
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.stop()
