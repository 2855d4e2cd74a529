"""An answer in a provider's words: its recorded shapes (see `shapes`) filled with a new answer.

Everything the provider sent is kept as recorded — extra fields (`obfuscation`, `x_groq`,
`p`, `provider`, `citations`, `timings` …), SSE comments, line endings, whether `[DONE]`
comes — except what belongs to this answer: ids (new ones of the recorded form), `created`,
`model`, the text, reasoning and tool calls, finish reasons and token counts. Usage travels
where the provider put it: a usage-only last chunk (only when asked for, if the recorded
request asked), the finish chunk, running totals on every chunk, or nowhere.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from services.simulator.chat import Answer, ChatCall, Choice, ToolCall, Usage, pieces
from services.simulator.profiles import Profile
from services.simulator.shapes import (
    REASONING_FIELDS,
    Serialisation,
    StreamShape,
    SyncShape,
    first_delta,
)

ALPHABET = string.ascii_lowercase + string.digits
ARGUMENT_PIECE = 4  # characters per streamed argument fragment, as OpenAI's tokens go


def copy(value: Any) -> Any:
    """A deep copy of decoded JSON (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value


def mimic(recorded: str, rng: random.Random) -> str:
    """A fresh id of the recorded one's form: its lower-case word prefix kept, each other
    letter or digit replaced by one of the same class (hex stays hex). Ids without digits
    ("stub", "") are constants."""
    if not any(c.isdigit() for c in recorded):
        return recorded
    match = re.match(r"(?:[a-z]{1,12}[-_])+", recorded)  # chatcmpl-, chatcmpl-tool-, fc_ …
    keep = match.group(0) if match else ""
    rest = recorded[len(keep) :]
    hexy = all(c in "0123456789abcdef-" for c in rest)
    out = []
    for c in rest:
        if hexy and c != "-":
            out.append(rng.choice("0123456789abcdef"))
        elif c.isdigit():
            out.append(rng.choice(string.digits))
        elif c.islower():
            out.append(rng.choice(string.ascii_lowercase))
        elif c.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(c)
    return keep + "".join(out)


def usage_like(template: Mapping[str, Any], usage: Usage, completion: int | None = None) -> Any:
    """`usage` in the recorded usage object's shape (its extra fields kept as recorded)."""
    done = usage.completion if completion is None else completion
    reasoning = min(usage.reasoning, done)
    out = copy(template)
    counts = {"prompt_tokens": usage.prompt, "completion_tokens": done}
    counts["total_tokens"] = usage.prompt + done
    for key, value in counts.items():
        if key in out:
            out[key] = value
    if "reasoning_tokens" in out:
        out["reasoning_tokens"] = reasoning
    details = out.get("completion_tokens_details")
    if isinstance(details, dict):
        if "reasoning_tokens" in details:
            details["reasoning_tokens"] = reasoning
        if "text_tokens" in details:
            details["text_tokens"] = done - reasoning
    prompt_details = out.get("prompt_tokens_details")
    if isinstance(prompt_details, dict):
        if "cached_tokens" in prompt_details:
            prompt_details["cached_tokens"] = usage.cached
        if "text_tokens" in prompt_details:
            prompt_details["text_tokens"] = usage.prompt
    if "prompt_cache_hit_tokens" in out:
        out["prompt_cache_hit_tokens"] = usage.cached
    if "prompt_cache_miss_tokens" in out:
        out["prompt_cache_miss_tokens"] = usage.prompt - usage.cached
    return out


SLOT = re.compile(r'"\\u0000(\w+)\\u0000"')  # a slot's sentinel, as json.dumps writes it


def slot(name: str) -> str:
    return f"\x00{name}\x00"


class Raw(str):
    """A slot value that is already JSON text."""


class Frame:
    """A chunk encoded once with named slots: each event is its literal text with the slots'
    values encoded in between (a 200-chunk stream costs one encoding per kind of chunk)."""

    def __init__(self, payload: Any, separators: tuple[str, str]) -> None:
        self.encode = json.JSONEncoder(separators=separators, ensure_ascii=False).encode
        parts = SLOT.split(self.encode(payload))
        self.literals = parts[0::2]
        self.names = parts[1::2]

    def render(self, values: Mapping[str, Any]) -> str:
        out = [self.literals[0]]
        encode = self.encode
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            value = values[name]
            out.append(value if isinstance(value, Raw) else encode(value))
            out.append(literal)
        return "".join(out)


NOISE = "".join(random.Random(0).choices(string.ascii_letters + string.digits, k=4096))


def noise(rng: random.Random, longest: int = 15) -> str:
    """A random-looking string of random length (OpenAI's `obfuscation` padding)."""
    start = rng.randrange(len(NOISE) - longest)
    return NOISE[start : start + rng.randint(0, longest)]


@dataclass
class Context:
    """What one response shares across its body or chunks."""

    call: ChatCall
    profile: Profile
    answer: Answer
    situation: str  # which recorded answer gives the shapes (see profiles.SITUATIONS)
    rng: random.Random
    id: str
    created: int
    model: str
    groq_id: str
    usage_opt_out: bool = False  # the provider sends usage in streams only when asked

    @classmethod
    def of(
        cls, call: ChatCall, profile: Profile, answer: Answer, situation: str, recorded_id: str
    ) -> Context:
        rng = random.Random()
        return cls(
            call=call,
            profile=profile,
            answer=answer,
            situation=situation,
            rng=rng,
            id=mimic(recorded_id, rng),
            created=int(time.time()),
            model=profile.response_model or call.model,
            groq_id=mimic("req_01kcc49wg9e84sq2srpe10px6t", rng),
        )

    def content(self, choice: Choice) -> str | None:
        if self.profile.inline_think and choice.reasoning and choice.content is not None:
            return f"<think>\n{choice.reasoning}\n</think>\n\n{choice.content}"
        return choice.content


def _stamp(template: Mapping[str, Any], ctx: Context, recorded_id: str, recorded_model: str) -> Any:
    out = copy(template)
    if recorded_id and out.get("id") == recorded_id:
        out["id"] = ctx.id
    if isinstance(out.get("created"), int) and out["created"]:
        out["created"] = ctx.created
    if "model" in out and out["model"] == recorded_model:
        out["model"] = ctx.model
    if isinstance(out.get("obfuscation"), str):  # OpenAI: random padding of random length
        out["obfuscation"] = noise(ctx.rng)
    if isinstance(out.get("p"), str):  # Mistral: an alphabet prefix of varying length
        out["p"] = ALPHABET[: ctx.rng.randint(1, len(ALPHABET))]
    groq = out.get("x_groq")
    if isinstance(groq, dict) and isinstance(groq.get("id"), str):
        groq["id"] = ctx.groq_id
    return out


def _dump(value: Any, style: Serialisation) -> str:
    if style.indent is not None:
        return json.dumps(value, indent=style.indent, ensure_ascii=False)
    separators = (", ", ": ") if style.spaced else (",", ":")
    return json.dumps(value, separators=separators, ensure_ascii=False)


def _set_reasoning(target: dict[str, Any], text: str) -> None:
    """Put `text` in every reasoning field the template carries (or drop a recorded one)."""
    for name in REASONING_FIELDS:
        if name not in target:
            continue
        value = target[name]
        if name == "reasoning_details":
            if text and isinstance(value, list) and value and isinstance(value[0], dict):
                target[name] = [{**value[0], "text": text}]
            elif not text and value:
                target[name] = []
        elif text or (isinstance(value, str) and value):
            target[name] = text  # "" when the recorded model reasoned and this one does not


# --- non-streamed --------------------------------------------------------------------


def situation_of(call: ChatCall, answer: Answer) -> str:
    """Which recorded answer this one is shaped after (see profiles.SITUATIONS)."""
    if any(c.tool_calls for c in answer.choices):
        return "tools"
    if call.response_format != "text":
        return call.response_format
    for message in call.messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") == "image_url" for p in content
        ):
            return "image"
    return "text"


def completion(ctx: Context) -> tuple[bytes, str]:
    """The whole body of a non-streamed answer and its Content-Type."""
    profile = ctx.profile
    shape = profile.sync(ctx.situation)
    text_shape = shape if ctx.situation != "tools" else profile.sync("text")
    recorded_model = str(shape.template.get("model", ""))
    body = _stamp(shape.template, ctx, str(shape.template.get("id", "")), recorded_model)
    body["choices"] = [_sync_choice(shape, text_shape, ctx, c) for c in ctx.answer.choices]
    if isinstance(body.get("usage"), dict):
        body["usage"] = usage_like(body["usage"], ctx.answer.usage)
    text = shape.style.prefix + _dump(body, shape.style)
    return text.encode(), shape.content_type


def _sync_choice(shape: SyncShape, text_shape: SyncShape, ctx: Context, choice: Choice) -> Any:
    out = copy(shape.choice)
    out["index"] = choice.index
    message = copy(shape.message) if choice.tool_calls else copy(text_shape.message)
    if choice.tool_calls:
        template = shape.tool_call or _OPENAI_CALL
        spaced = shape.args_spaced
        message["tool_calls"] = [
            _sync_call(template, ctx, call, spaced) for call in choice.tool_calls
        ]
    else:
        message["content"] = ctx.content(choice)
    _set_reasoning(message, "" if ctx.profile.inline_think else choice.reasoning)
    out["message"] = message
    _finish(out, choice, shape is not text_shape)
    if ctx.call.logprobs:
        out["logprobs"] = {"content": list(choice.logprobs or ()), "refusal": None}
    return out


_OPENAI_CALL: Mapping[str, Any] = {
    "id": "call_3Y7uBQXIj35sflEMR4D5zHqt",
    "type": "function",
    "function": {"name": "square_root", "arguments": ""},
}


def respace(arguments: str, spaced: bool) -> str:
    """Tool-call arguments written as the provider writes them ({"a":1} or {"a": 1})."""
    if not spaced:
        return arguments
    return json.dumps(json.loads(arguments), ensure_ascii=False)


def _sync_call(template: Mapping[str, Any], ctx: Context, call: ToolCall, spaced: bool) -> Any:
    out = copy(template)
    if isinstance(out.get("id"), str) and out["id"]:
        out["id"] = mimic(out["id"], ctx.rng)
    if "index" in out:
        out["index"] = call.index
    function = out.setdefault("function", {})
    function["name"] = call.name
    function["arguments"] = respace(call.arguments, spaced)
    return out


def _finish(choice_out: dict[str, Any], choice: Choice, tool_shape: bool) -> None:
    recorded = choice_out.get("finish_reason")
    if choice.finish_reason == "tool_calls" and tool_shape and isinstance(recorded, str):
        pass  # a tool call ends as the provider ended its own (Hugging Face/nebius: "stop")
    else:
        choice_out["finish_reason"] = choice.finish_reason
    if "native_finish_reason" in choice_out:  # OpenRouter repeats the upstream's own
        choice_out["native_finish_reason"] = choice_out["finish_reason"]
    if "stop_reason" in choice_out and choice.stop_matched is not None:  # vLLM: the string
        choice_out["stop_reason"] = choice.stop_matched


# --- streamed ------------------------------------------------------------------------


def stream_events(ctx: Context) -> list[bytes]:
    """Every SSE event of the streamed answer, each with its blank line, as the provider
    frames them (`[DONE]` only if it sends one)."""
    shape = ctx.profile.stream(ctx.situation)
    ctx.usage_opt_out = shape.asked_usage and not ctx.call.include_usage
    tool_shape = ctx.situation == "tools" and shape is not ctx.profile.stream("text")
    writer = _StreamWriter(shape, ctx, tool_shape)
    return list(writer.events())


class _StreamWriter:
    def __init__(self, shape: StreamShape, ctx: Context, tool_shape: bool) -> None:
        self.shape = shape
        self.ctx = ctx
        self.tool_shape = tool_shape
        sample = shape.head or next(iter(shape.first.values()), None) or (shape.finish or [{}])[0]
        self.recorded_model = str(sample.get("model", ""))
        self.emitted = 0  # completion tokens streamed so far (for running totals)
        self.sep = shape.newline * 2
        self.spaced = shape.spaced
        self.separators = (", ", ": ") if shape.spaced else (",", ":")
        self.frames: dict[tuple[int, int, str], Frame] = {}
        self.usage_frame: Frame | None = None
        self.usage_template: Mapping[str, Any] = next(
            (
                c["usage"]
                for c in (*shape.first.values(), *shape.rest.values())
                if isinstance(c.get("usage"), dict)
            ),
            {},
        )

    def _event(self, payload: Any) -> bytes:
        separators = (", ", ": ") if self.spaced else (",", ":")
        data = json.dumps(payload, separators=separators, ensure_ascii=False)
        return f"data: {data}{self.sep}".encode()

    def _raw(self, line: str) -> bytes:
        return f"{line}{self.sep}".encode()

    def _frame(self, template: Mapping[str, Any], index: int, kind: str) -> Frame:
        """The compiled chunk of `kind` ("reasoning", "content", "tool") made from
        `template`: the per-chunk values (the piece, OpenAI's obfuscation, Mistral's p,
        running usage, logprobs …) are slots."""
        key = (id(template), index, kind)
        frame = self.frames.get(key)
        if frame is not None:
            return frame
        chunk, choice, delta = self._with_choice(template, index)
        if isinstance(chunk.get("obfuscation"), str):
            chunk["obfuscation"] = slot("obfuscation")
        if isinstance(chunk.get("p"), str):
            chunk["p"] = slot("p")
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = slot("usage")
        if kind == "reasoning":
            _set_reasoning(delta, slot("piece"))
        elif kind == "content":
            delta["content"] = slot("piece")
            if "text" in choice:  # Together repeats the piece beside the delta
                choice["text"] = slot("piece")
            if isinstance(choice.get("message"), dict):  # Perplexity: the text so far
                choice["message"]["content"] = slot("so_far")
            if self.ctx.call.logprobs:
                choice["logprobs"] = slot("logprobs")
        else:
            if self.shape.template("tool", False) is None:  # a content chunk stands in
                delta["content"] = None
            delta["tool_calls"] = slot("tool_calls")
        frame = self.frames[key] = Frame(chunk, self.separators)
        return frame

    def _emit(self, frame: Frame, values: dict[str, Any]) -> bytes:
        """One event of a compiled chunk, the chunk-wide slots filled here."""
        self.emitted += 1
        if "obfuscation" in frame.names:
            values["obfuscation"] = noise(self.ctx.rng)
        if "p" in frame.names:
            values["p"] = ALPHABET[: self.ctx.rng.randint(1, len(ALPHABET))]
        if "usage" in frame.names:
            values["usage"] = self._running_usage()
        return f"data: {frame.render(values)}{self.sep}".encode()

    def _running_usage(self) -> Raw:
        """The usage so far (Baseten, Perplexity, Hugging Face count on every chunk)."""
        if self.usage_frame is None:
            probe = usage_like(self.usage_template, self.ctx.answer.usage, -1)
            for key, name in (("completion_tokens", "done"), ("total_tokens", "total")):
                if key in probe:
                    probe[key] = slot(name)
            details = probe.get("completion_tokens_details")
            if isinstance(details, dict):
                for key in ("reasoning_tokens", "text_tokens"):
                    if key in details:
                        details[key] = slot(key)
            if "reasoning_tokens" in probe:
                probe["reasoning_tokens"] = slot("reasoning_tokens")
            self.usage_frame = Frame(probe, self.separators)
        usage, done = self.ctx.answer.usage, self.emitted
        reasoning = min(usage.reasoning, done)
        values = {
            "done": done,
            "total": usage.prompt + done,
            "reasoning_tokens": reasoning,
            "text_tokens": done - reasoning,
        }
        return Raw(self.usage_frame.render(values))

    def events(self) -> Iterator[bytes]:
        for event in self.shape.prelude:
            yield self._passthrough(event)
        for choice in self.ctx.answer.choices:
            yield from self._choice(choice)
        for event in self.shape.tail:
            if event.kind == "data" and event.chunk is not None:
                if self.ctx.usage_opt_out and isinstance(event.chunk.get("usage"), dict):
                    continue
                yield self._event(self._chunk(event.chunk, final=True))
            else:
                yield self._raw(event.text)

    def _passthrough(self, event: Any) -> bytes:
        if event.kind == "data" and event.chunk is not None:
            return self._event(self._chunk(event.chunk, final=False))
        return self._raw(event.text)

    def _chunk(self, template: Mapping[str, Any], final: bool) -> Any:
        out = _stamp(template, self.ctx, self.shape.recorded_id, self.recorded_model)
        usage = out.get("usage")
        if isinstance(usage, dict):
            if self.ctx.usage_opt_out:
                del out["usage"]
            else:
                done = None if final else self.emitted
                out["usage"] = usage_like(usage, self.ctx.answer.usage, done)
        groq = out.get("x_groq")
        if isinstance(groq, dict) and isinstance(groq.get("usage"), dict):
            groq["usage"] = usage_like(groq["usage"], self.ctx.answer.usage)
        return out

    def _with_choice(
        self, template: Mapping[str, Any], index: int, final: bool = False
    ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        out = self._chunk(template, final)
        choice = out["choices"][0]
        out["choices"] = [choice]
        if "index" in choice:
            choice["index"] = index
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        return out, choice, delta

    def _choice(self, choice: Choice) -> Iterator[bytes]:
        shape, index = self.shape, choice.index
        later = False
        if shape.head is not None:
            chunk, _, _ = self._with_choice(shape.head, index)
            yield self._event(chunk)
            later = True
        reasoning = "" if self.ctx.profile.inline_think else choice.reasoning
        if reasoning and shape.template("reasoning", later) is not None:
            for i, piece in enumerate(pieces(reasoning)):
                template = shape.template("reasoning", later or i > 0)
                assert template is not None
                yield self._emit(self._frame(template, index, "reasoning"), {"piece": piece})
            later = True
        elif reasoning:
            self.emitted += len(pieces(reasoning))  # counted, not shown (OpenAI)
        if not choice.tool_calls:
            yield from self._content_chunks(choice, later)
            yield from self._finish_chunks(choice, None)
            return
        deltas = self._tool_deltas(choice)
        # Mistral sends the whole call on the finish chunk, Baseten/GLM its last piece.
        carried = deltas.pop() if self._calls_in_finish() else None
        yield from self._tool_chunks(choice.index, deltas, later)
        yield from self._finish_chunks(choice, carried)

    def _content_chunks(self, choice: Choice, later: bool) -> Iterator[bytes]:
        text = self.ctx.content(choice) or ""
        so_far = ""
        logprobs = list(choice.logprobs or ())
        for i, piece in enumerate(pieces(text)):
            template = self.shape.template("content", later or i > 0)
            if template is None:
                return
            so_far += piece
            frame = self._frame(template, choice.index, "content")
            values: dict[str, Any] = {"piece": piece}
            if "so_far" in frame.names:
                values["so_far"] = so_far
            if "logprobs" in frame.names:
                values["logprobs"] = {"content": logprobs[i : i + 1], "refusal": None}
            yield self._emit(frame, values)

    def _calls_in_finish(self) -> bool:
        return any(first_delta(c).get("tool_calls") for c in self.shape.finish)

    def _tool_deltas(self, choice: Choice) -> list[Any]:
        """Every tool-call delta of the answer, in order, as the provider split them."""
        first_tpl = self.shape.tool_call_first or _OPENAI_CALL
        rest_tpl = self.shape.tool_call_rest
        deltas = []
        for call in choice.tool_calls:
            call_id = mimic(str(first_tpl.get("id") or "call_" + "0" * 24), self.ctx.rng)
            for template, piece in self._fragments(call, first_tpl, rest_tpl):
                deltas.append(_fragment(template, first_tpl, call, call_id, piece))
        return deltas

    def _tool_chunks(self, index: int, deltas: list[Any], later: bool) -> Iterator[bytes]:
        chunk_first = self.shape.template("tool", False) or self.shape.template("content", later)
        chunk_rest = self.shape.template("tool", True) or chunk_first
        if chunk_first is None or chunk_rest is None:
            return
        for j, fragment in enumerate(deltas):
            template = chunk_first if j == 0 and not later else chunk_rest
            yield self._emit(self._frame(template, index, "tool"), {"tool_calls": [fragment]})

    def _fragments(
        self, call: ToolCall, first: Mapping[str, Any], rest: Mapping[str, Any] | None
    ) -> list[tuple[Mapping[str, Any], str]]:
        args = respace(call.arguments, self.shape.args_spaced)
        if rest is None or self.shape.tool_fragments < 2:
            return [(first, args)]  # the whole call in one delta (Groq, Mistral …)
        first_args = str((first.get("function") or {}).get("arguments", ""))
        opening = "" if first_args == "" else args[: len(first_args)]
        remaining = args[len(opening) :]
        rest_args = str((rest.get("function") or {}).get("arguments", ""))
        if self.shape.tool_fragments == 2:  # one more delta with everything (Alibaba)
            lead = " " if rest_args.startswith(" ") else ""
            return [(first, opening), (rest, lead + remaining)]
        chunks = [
            remaining[i : i + ARGUMENT_PIECE] for i in range(0, len(remaining), ARGUMENT_PIECE)
        ]
        return [(first, opening)] + [(rest, c) for c in chunks]

    def _finish_chunks(self, choice: Choice, carried: Any) -> Iterator[bytes]:
        for template in self.shape.finish:
            chunk, out_choice, delta = self._with_choice(template, choice.index, final=True)
            _finish(out_choice, choice, self.tool_shape)
            if delta.get("tool_calls"):
                if carried is not None:
                    self.emitted += 1
                    delta["tool_calls"] = [carried]
                    carried = None
                else:
                    del delta["tool_calls"]
            for name in REASONING_FIELDS:
                if isinstance(delta.get(name), str) and delta[name]:
                    delta[name] = ""
            if isinstance(out_choice.get("message"), dict):  # Perplexity: the whole text
                out_choice["message"]["content"] = self.ctx.content(choice) or ""
            if "text" in out_choice:
                out_choice["text"] = ""
            yield self._event(chunk)


def _fragment(
    template: Mapping[str, Any],
    first: Mapping[str, Any],
    call: ToolCall,
    call_id: str,
    piece: str,
) -> Any:
    """One tool-call delta: the recorded fragment with this call's index, id, name, piece."""
    out = copy(template)
    recorded_id = first.get("id")
    if "index" in out:
        out["index"] = call.index
    if isinstance(out.get("id"), str) and out["id"] and out["id"] == recorded_id:
        out["id"] = call_id
    function = out.get("function")
    if isinstance(function, dict):
        recorded_name = (first.get("function") or {}).get("name")
        if isinstance(function.get("name"), str) and function["name"] == recorded_name:
            function["name"] = call.name
        if "arguments" in function:
            function["arguments"] = piece
    return out
