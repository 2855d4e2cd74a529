"""How each provider answered, per recorded model, taken from its recordings.

A provider's `Book` holds one `Profile` per recorded model folder (plus its default, whose
shapes answer for models that were not recorded) and decides, for a request:

1. an identical recorded request is answered with the recorded response, byte for byte;
2. a request using something the model refused in the recordings (an image part, stop,
   logprobs, json_schema, tools, input_audio, a server-side tool …) gets that recorded
   refusal (a 4xx body, or an HTTP 200 stream carrying an error, as it happened);
3. a request breaking a provider's own validation rule recorded in an error (Baseten: an
   empty `json_schema.name`; Groq: `json_schema` without its `schema`) gets that error;
4. anything else is answered anew (see `render`) in the recorded model's shapes.

Which recorded errors are model limits and which were accidents is decided below
(`ACCIDENTS`, `VALIDATIONS`), from recordings/INDEX.md: the rest count as limits.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

from services.simulator.providers import ProviderSpec
from services.simulator.recordings import Exchange, by_folder
from services.simulator.shapes import REASONING_FIELDS, StreamShape, SyncShape

# Recorded errors that were the day's accidents, not what the model does with such a request:
# replayed only for an identical request.
ACCIDENTS = frozenset(
    {
        ("huggingface", "Qwen__Qwen3-4B_thinking", "GenSync-JSONSchema"),  # 500 "repeat later"
        ("huggingface", "meta-llama__Llama-3.1-8B-Instruct", "GenSync-JSON"),  # 502 HTML page
        ("openai", "gpt-5.6-sol_thinking", "GenSync-JSONSchema"),  # 401 the account's rights
        ("huggingface", "deepseek-ai__DeepSeek-V4-Pro-0813", "GenSync-Citations-text-markdown"),
        ("huggingface", "deepseek-ai__DeepSeek-V4-Pro-0813", "GenStream-Citations-text-markdown"),
    }
)


def _empty_schema_name(body: Mapping[str, Any]) -> bool:
    spec = _json_schema(body)
    return spec is not None and spec.get("name", None) == ""


def _schema_missing(body: Mapping[str, Any]) -> bool:
    spec = _json_schema(body)
    return spec is not None and "schema" not in spec


def _json_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        return spec if isinstance(spec, dict) else {}
    return None


# Recorded errors caused by the request itself (the SDK's malformed json_schema): the
# provider's validation, answered to every request that breaks the same rule.
VALIDATIONS: dict[tuple[str, str], Callable[[Mapping[str, Any]], bool]] = {
    ("baseten", "JSONSchema"): _empty_schema_name,
    ("groq", "openai__gpt-oss-20b_thinking/JSONSchema"): _schema_missing,
}
# The recorded answers each situation takes its shapes from (sync cassette, stream cassette).
SITUATIONS = {
    "text": ("GenSync-Text", "GenStream-Text"),
    "tools": ("GenSync-Tools-SquareRoot-1", "GenStream-Tools-SquareRoot-1"),
    "json_object": ("GenSync-JSON", "GenStream-JSON"),
    "json_schema": ("GenSync-JSONSchema", "GenStream-JSONSchema"),
    "image": ("GenSyncMultiModal-Image-jpg-Inline", "GenStreamMultiModal-Image-jpg-Inline"),
}
THINKING_SWITCHES = ("thinking", "enable_thinking", "chat_template_kwargs")
OTHER_ENDPOINTS = ("us__",)  # Alibaba's US endpoint: replayed, not simulated as a model


def features(body: Mapping[str, Any]) -> frozenset[str]:
    """What a request uses that a model may refuse, as prefixed names (image:url:webp …)."""
    found: set[str] = set()
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict):
                found.add(_part_feature(part))
    found.discard("text")
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        types = {t.get("type") for t in tools if isinstance(t, dict)}
        if "function" in types:
            found.add("tools")
            choice = body.get("tool_choice")
            named = isinstance(choice, dict)
            found.add(f"tool_choice:{'function' if named else choice or 'auto'}")
        if types - {"function"}:
            found.add("server_tools")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        found.add(str(fmt["type"]))
    if body.get("logprobs") or body.get("top_logprobs"):
        found.add("logprobs")
    if body.get("stop"):
        found.add("stop")
    if (body.get("n") or 1) != 1:
        found.add("n")
    return frozenset(found)


def _part_feature(part: Mapping[str, Any]) -> str:
    kind = str(part.get("type"))
    inner = part.get(kind)
    fields: Mapping[str, Any] = inner if isinstance(inner, dict) else {"url": inner or ""}
    if kind == "image_url":  # the SDK also sent PDFs and videos as image_url parts
        url = str(fields.get("url", ""))
        if url.startswith("data:"):
            mime = url[5:].split(";", 1)[0]
            return f"{_media(mime.split('/')[0])}:data:{mime.split('/')[-1]}"
        ext = urlparse(url).path.rsplit(".", 1)[-1].lower()
        return f"{_media(MEDIA_BY_EXTENSION.get(ext, 'image'))}:url:{ext}"
    if kind == "input_audio":  # declared format, then what the bytes are
        data = fields.get("data")
        source = _sniff(data) if isinstance(data, str) else "url"
        return f"audio:{fields.get('format', '')}:{source}"
    if kind == "video_url":
        url = str(fields.get("url", ""))
        if url.startswith("data:"):
            return "video:data:" + url[5:].split(";", 1)[0].split("/")[-1]
        return "video:url:" + urlparse(url).path.rsplit(".", 1)[-1].lower()
    return kind


AUDIO_MAGIC = ((b"fLaC", "flac"), (b"RIFF", "wav"), (b"OggS", "ogg"), (b"ID3", "mp3"))


def _sniff(data: str) -> str:
    """What audio bytes really are (the SDK sent AAC and FLAC labelled "mp3")."""
    try:
        head = base64.b64decode(data[:24] + "=" * (-len(data[:24]) % 4))
    except ValueError:
        return "unknown"
    for magic, name in AUDIO_MAGIC:
        if head.startswith(magic):
            return name
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # an ADTS header
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"  # an MPEG audio frame
    return "unknown"


MEDIA_BY_EXTENSION = {"pdf": "document", "mp4": "video", "webm": "video", "mov": "video"}


def _media(kind: str) -> str:
    return {"application": "document"}.get(kind, kind)


def _covers(prefix: str, feature: str) -> bool:
    return feature == prefix or feature.startswith(prefix + ":")


@dataclass(frozen=True)
class Refusal:
    """A recorded error, answered to requests that use all of `needs`."""

    needs: frozenset[str]  # feature prefixes
    exact: frozenset[str]  # what the recorded request used, precisely
    stream: bool
    exchange: Exchange

    def applies(self, wanted: frozenset[str], stream: bool) -> bool:
        return stream == self.stream and all(
            any(_covers(need, f) for f in wanted) for need in self.needs
        )


@dataclass(frozen=True)
class Profile:
    """One recorded model of a provider: its answer shapes and what it refused."""

    provider: str
    folder: str
    model: str  # the model id its recorded requests named
    reasons: bool  # reasoning tokens (and text, where the provider shows it)
    inline_think: bool  # reasoning as <think>…</think> at the start of the content
    response_model: str | None  # the id its answers named, when not the one asked for
    syncs: Mapping[str, SyncShape]  # situation -> recorded non-streamed answer
    streams: Mapping[str, StreamShape]  # situation -> recorded stream
    refusals: tuple[Refusal, ...]
    switches: tuple[Any, ...]  # its requests' thinking switches (DeepSeek, Xiaomi, llama.cpp)

    def refusal(self, wanted: frozenset[str], stream: bool) -> Refusal | None:
        """The recorded refusal for a request using `wanted`: one recorded for exactly what
        it uses (an mp3 part's own error, not the aac one's) before a wider one."""
        matching = [r for r in self.refusals if r.applies(wanted, stream)]
        return next((r for r in matching if r.exact <= wanted), matching[0] if matching else None)

    def sync(self, situation: str) -> SyncShape:
        return self.syncs.get(situation) or self.syncs["text"]

    def stream(self, situation: str) -> StreamShape:
        return self.streams.get(situation) or self.streams["text"]

    def unrecorded(self, model: str) -> Profile:
        """These shapes answering for a model that was not recorded: no refusals, no
        reasoning (nothing says that model reasons), its own id in the answers."""
        return dataclasses.replace(
            self, model=model, reasons=False, inline_think=False, response_model=None,
            refusals=(),
        )  # fmt: skip


class Book:
    """Everything one provider's recordings say, ready to answer requests."""

    def __init__(self, spec: ProviderSpec, folders: Mapping[str, Mapping[str, Exchange]]):
        self.spec = spec
        self.replays: dict[str, Exchange] = {}
        self.validations: list[tuple[Callable[[Mapping[str, Any]], bool], Exchange]] = []
        self.errors: list[Exchange] = []  # every recorded error body, for the error shape
        self.stream_errors: list[Exchange] = []  # HTTP 200 streams that carried an error
        for cassettes in folders.values():
            for exchange in cassettes.values():
                self.replays.setdefault(canonical(exchange.request), exchange)
                if exchange.status >= 400:
                    self.errors.append(exchange)
                elif exchange.failed:
                    self.stream_errors.append(exchange)
        default = folders[spec.default]
        self.profiles = {
            name: _profile(spec, name, cassettes, default, self.validations)
            for name, cassettes in folders.items()
            if (any(c.status == 200 for c in cassettes.values()) or name == spec.default)
            and not name.startswith(OTHER_ENDPOINTS)
        }
        self.default = self.profiles[spec.default]
        # llama.cpp's recorded requests name no model: the server has only one
        self.model_optional = any(
            "model" not in e.request for c in folders.values() for e in c.values()
        )
        self.by_model: dict[str, list[Profile]] = {}
        for profile in self.profiles.values():
            self.by_model.setdefault(profile.model, []).append(profile)

    def profile(self, body: Mapping[str, Any]) -> Profile:
        """The recorded model a request names (its thinking switch picks among variants),
        else the default's shapes answering for it."""
        model = str(body.get("model") or (self.default.model if self.model_optional else ""))
        candidates = self.by_model.get(model)
        if not candidates:
            return self.default.unrecorded(model)
        switches = tuple(body.get(k) for k in THINKING_SWITCHES)
        return next(
            (p for p in candidates if p.switches == switches),
            next((p for p in candidates if not any(p.switches)), candidates[0]),
        )

    def replay(self, body: Mapping[str, Any]) -> Exchange | None:
        return self.replays.get(canonical(body))

    def validation(self, body: Mapping[str, Any]) -> Exchange | None:
        return next((e for rule, e in self.validations if rule(body)), None)

    def error_template(self, status: int = 400) -> Exchange | None:
        """A recorded JSON error of this provider with a message in it (same status first)."""

        def usable(e: Exchange) -> bool:
            return "json" in e.content_type or e.body.lstrip().startswith("{")

        for exchange in sorted(self.errors, key=lambda e: (e.status != status, e.status)):
            if usable(exchange) and _message_path(_json_or_none(exchange.body)) is not None:
                return exchange
        return None


def canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message_path(doc: Any) -> tuple[str, ...] | None:
    """Where an error body keeps its message: ("error", "message"), ("message",) …"""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("error"), dict) and isinstance(doc["error"].get("message"), str):
        return ("error", "message")
    for key in ("message", "detail", "error"):
        if isinstance(doc.get(key), str):
            return (key,)
    return None


def _reasoning_text(shape: SyncShape) -> str:
    message = shape.message
    for name in REASONING_FIELDS:
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:
            return "…"
    content = message.get("content")
    return "…" if isinstance(content, str) and content.startswith("<think>") else ""


def _answer(exchange: Exchange) -> bool:
    """A recorded non-streamed answer (HTTP 200 with choices)."""
    if exchange.failed or exchange.is_sse or exchange.stream:
        return False
    try:
        return isinstance(exchange.json().get("choices"), list)
    except (ValueError, AttributeError):
        return False


def _reasoning_tokens(exchange: Exchange) -> int:
    """The reasoning tokens a recorded non-streamed answer counted."""
    if exchange.status != 200 or exchange.is_sse or exchange.stream:
        return 0
    try:
        usage = exchange.json().get("usage")
    except (ValueError, AttributeError):
        return 0
    if not isinstance(usage, dict):
        return 0
    details = usage.get("completion_tokens_details")
    value = details.get("reasoning_tokens") if isinstance(details, dict) else None
    value = value if value is not None else usage.get("reasoning_tokens")
    return value if isinstance(value, int) else 0


def _profile(
    spec: ProviderSpec,
    folder: str,
    cassettes: Mapping[str, Exchange],
    default: Mapping[str, Exchange],
    validations: list[tuple[Callable[[Mapping[str, Any]], bool], Exchange]],
) -> Profile:
    def pick(name: str, borrow: bool) -> Exchange | None:
        """This model's recorded answer, else (`borrow`) the provider default's."""
        for source in (cassettes, default) if borrow else (cassettes,):
            found = source.get(name)
            if found is not None and not found.failed:
                return found
        return None

    syncs: dict[str, SyncShape] = {}
    streams: dict[str, StreamShape] = {}
    for situation, (sync_name, stream_name) in SITUATIONS.items():
        borrow = situation in ("text", "tools")  # a tool call needs recorded call shapes
        sync_found, stream_found = pick(sync_name, borrow), pick(stream_name, borrow)
        if sync_found is not None:
            syncs[situation] = SyncShape.of(sync_found)
        if stream_found is not None:
            streams[situation] = StreamShape.of(stream_found)
    if "text" not in syncs or "text" not in streams:
        raise ValueError(f"{spec.name}/{folder}: no recorded plain answer to take shapes from")
    own_text = cassettes.get("GenSync-Text")
    sample = own_text or next(iter(cassettes.values()))
    answered = SyncShape.of(own_text).template.get("model") if own_text is not None else None
    model = str(sample.request.get("model") or answered or folder)  # llama.cpp names none
    recorded_model = str(answered or model)
    baseline = features(own_text.request) if own_text is not None else frozenset()
    accepted = {f for e in cassettes.values() if not e.failed for f in features(e.request)}
    refusals = []
    for exchange in cassettes.values():
        if not exchange.failed or (spec.name, folder, exchange.cassette) in ACCIDENTS:
            continue
        rule = _validation(spec.name, folder, exchange.cassette)
        if rule is not None:
            validations.append((rule, exchange))
            continue
        exact = features(exchange.request) - baseline
        needs = frozenset(_general(f, accepted) for f in exact)
        if needs:
            refusals.append(Refusal(needs, frozenset(exact), exchange.stream, exchange))
    reasons = any(
        _reasoning_tokens(e) or (_answer(e) and _reasoning_text(SyncShape.of(e)))
        for e in cassettes.values()
    )
    content = syncs["text"].message.get("content")
    return Profile(
        provider=spec.name,
        folder=folder,
        model=model,
        reasons=reasons,
        inline_think=isinstance(content, str) and content.startswith("<think>"),
        response_model=recorded_model if recorded_model != model else None,
        syncs=MappingProxyType(syncs),
        streams=MappingProxyType(streams),
        refusals=tuple(refusals),
        switches=tuple(sample.request.get(k) for k in THINKING_SWITCHES),
    )


def _validation(
    provider: str, folder: str, cassette: str
) -> Callable[[Mapping[str, Any]], bool] | None:
    test = cassette.split("-", 1)[-1]  # GenSync-JSONSchema -> JSONSchema
    return VALIDATIONS.get((provider, test)) or VALIDATIONS.get((provider, f"{folder}/{test}"))


def _general(feature: str, accepted: set[str]) -> str:
    """The widest prefix of a refused feature that the model never accepted: a refusal of
    image:url:webp covers every image URL unless some image URL was answered."""
    parts = feature.split(":")
    for size in range(1, len(parts) + 1):
        prefix = ":".join(parts[:size])
        if not any(_covers(prefix, a) for a in accepted):
            return prefix
    return feature


@functools.cache
def load_books(specs: tuple[ProviderSpec, ...]) -> Mapping[str, Book]:
    """The books of `specs`, built once per process (they are read-only afterwards)."""
    return MappingProxyType({spec.name: Book(spec, by_folder(spec.name)) for spec in specs})
