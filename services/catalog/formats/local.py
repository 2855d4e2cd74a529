"""Local runtimes: Ollama, llama.cpp server and LM Studio.

- ``ollama``: ``GET /api/tags`` → ``{"models": [{"name", "model", "size", "digest",
  "details": {...}}]}``. No window, no capabilities in this list.
- ``ollama_show``: a map of model name → ``POST /api/show`` details (``model_info`` holds
  ``<arch>.context_length``; newer servers add ``capabilities``: tools, vision, thinking…).
- ``llamacpp``: llama.cpp ``GET /v1/models`` → an OpenAI list whose items carry ``meta``
  (``n_ctx`` = the server's configured window, ``n_ctx_train``), plus an Ollama-style
  ``models`` list whose ``capabilities`` say ``multimodal``.
- ``lmstudio``: LM Studio ``GET /api/v0/models`` (items with ``type`` llm/vlm/embeddings,
  ``compatibility_type``, ``max_context_length``, ``capabilities: ["tool_use"]``), or the SDK's
  map of model key → ``{"modelKey", "displayName", "vision", "trainedForToolUse",
  "maxContextLength"}``.

They run on the operator's machine: no prices; ``freeness`` marks them free (local runtime).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.catalog.formats._common import (
    Json,
    JsonObject,
    Page,
    ShapeError,
    capabilities_from_words,
    encode_extra,
    first_int,
    first_object,
    items_with_key,
    kind,
    mapping,
    read_items,
    record_id,
    require_list,
    strings,
    text,
)
from services.catalog.records import ModelRecord

OLLAMA = "ollama"
OLLAMA_SHOW = "ollama_show"
LLAMACPP = "llamacpp"
LMSTUDIO = "lmstudio"

_OLLAMA_CAPS = {"tools": "tools", "vision": "vision", "thinking": "reasoning"}


# --- Ollama /api/tags -------------------------------------------------------------------


def detect_ollama(doc: Json) -> bool:
    first = first_object(doc.get("models")) if isinstance(doc, Mapping) else None
    return first is not None and "name" in first and ("digest" in first or "modified_at" in first)


def parse_ollama(doc: Json, provider: str) -> Page:
    return read_items(require_list(doc, "models", OLLAMA), "name", "models", _ollama_tag, provider)


def _ollama_tag(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("model")) or text(item.get("name"))
    caps = _ollama_capabilities(strings(item.get("capabilities")))
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("name")),
        input_modalities=("text", "image") if "vision" in caps else ("text",),
        capabilities=frozenset(caps),
        extra=encode_extra(item, ("name", "model")),
    )


def _ollama_capabilities(words: tuple[str, ...]) -> set[str]:
    caps = {_OLLAMA_CAPS[w] for w in words if w in _OLLAMA_CAPS}
    return caps | ({"vision"} if "multimodal" in words else set())


# --- Ollama /api/show map ---------------------------------------------------------------


def detect_ollama_show(doc: Json) -> bool:
    if not isinstance(doc, Mapping) or not doc:
        return False
    return all(_is_show_details(v) for v in doc.values())


def _is_show_details(value: Json) -> bool:
    return isinstance(value, Mapping) and ("model_info" in value or "modelfile" in value)


def parse_ollama_show(doc: Json, provider: str) -> Page:
    if not isinstance(doc, Mapping):
        got = kind(doc)
        raise ShapeError(f"{OLLAMA_SHOW}: expected an object of model name → details, got {got}")
    page = Page()
    for name, details in doc.items():
        if isinstance(details, Mapping):
            page.records.append(_ollama_show(name, details, provider))
        else:
            page.warnings.append(f"{name!r} skipped: details are a {kind(details)}, not an object")
    return page


def _ollama_show(name: str, details: JsonObject, provider: str) -> ModelRecord:
    info = mapping(details.get("model_info"))
    arch = text(info.get("general.architecture"))
    caps = _ollama_capabilities(strings(details.get("capabilities")))
    return ModelRecord(
        id=record_id(provider, name),
        provider=provider,
        upstream_id=name,
        context_window=first_int(info, f"{arch}.context_length") if arch else 0,
        input_modalities=("text", "image") if "vision" in caps else ("text",),
        capabilities=frozenset(caps),
        extra=encode_extra(details, ("capabilities",)),
    )


# --- llama.cpp server /v1/models --------------------------------------------------------


def detect_llamacpp(doc: Json) -> bool:
    first = first_object(doc.get("data")) if isinstance(doc, Mapping) else None
    if first is None:
        return False
    return "meta" in first or first.get("owned_by") == "llamacpp"


def parse_llamacpp(doc: Json, provider: str) -> Page:
    page = Page()
    items = require_list(doc, "data", LLAMACPP)
    multimodal = _multimodal_names(doc.get("models"))
    for item in items_with_key(items, "id", page, "data"):
        page.records.append(_llamacpp_item(item, provider, multimodal))
    return page


def _multimodal_names(models: Json) -> set[str]:
    names: set[str] = set()
    for entry in models if isinstance(models, list) else ():
        if isinstance(entry, Mapping) and "multimodal" in strings(entry.get("capabilities")):
            names.update(n for n in (text(entry.get("model")), text(entry.get("name"))) if n)
    return names


def _llamacpp_item(item: JsonObject, provider: str, multimodal: set[str]) -> ModelRecord:
    upstream = text(item.get("id"))
    meta = mapping(item.get("meta"))
    names = {upstream, *strings(item.get("aliases"))}
    vision = bool(names & multimodal)
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=upstream.rsplit("/", 1)[-1],
        context_window=first_int(meta, "n_ctx", "n_ctx_train"),
        input_modalities=("text", "image") if vision else ("text",),
        capabilities=frozenset({"vision"} if vision else ()),
        extra=encode_extra(item, ("id", "object")),
    )


# --- LM Studio --------------------------------------------------------------------------


def detect_lmstudio(doc: Json) -> bool:
    if not isinstance(doc, Mapping):
        return False
    first = first_object(doc.get("data"))
    if first is not None:
        return "compatibility_type" in first or ("arch" in first and "state" in first)
    values = list(doc.values())
    return bool(values) and all(isinstance(v, Mapping) and "modelKey" in v for v in values)


def parse_lmstudio(doc: Json, provider: str) -> Page:
    if not isinstance(doc, Mapping):
        raise ShapeError(f"{LMSTUDIO}: expected a JSON object, got {kind(doc)}")
    if "data" in doc:
        return read_items(
            require_list(doc, "data", LMSTUDIO), "id", "data", _lmstudio_rest, provider
        )
    page = Page()
    for key, value in doc.items():
        if isinstance(value, Mapping):
            page.records.append(_lmstudio_sdk(key, value, provider))
        else:
            page.warnings.append(f"{key!r} skipped: details are a {kind(value)}, not an object")
    return page


def _lmstudio_rest(item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("id"))
    model_type = text(item.get("type"))
    caps = capabilities_from_words(strings(item.get("capabilities")))
    if model_type == "vlm":
        caps.add("vision")
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        context_window=first_int(item, "loaded_context_length", "max_context_length"),
        input_modalities=("text", "image") if "vision" in caps else ("text",),
        output_modalities=("embedding",) if model_type == "embeddings" else ("text",),
        capabilities=frozenset(caps),
        extra=encode_extra(item, ("id", "object", "max_context_length")),
    )


def _lmstudio_sdk(key: str, item: JsonObject, provider: str) -> ModelRecord:
    upstream = text(item.get("modelKey")) or key
    caps = {"vision"} if item.get("vision") is True else set()
    if item.get("trainedForToolUse") is True:
        caps.add("tools")
    return ModelRecord(
        id=record_id(provider, upstream),
        provider=provider,
        upstream_id=upstream,
        display_name=text(item.get("displayName")),
        context_window=first_int(item, "maxContextLength"),
        input_modalities=("text", "image") if "vision" in caps else ("text",),
        output_modalities=("embedding",) if text(item.get("type")) == "embedding" else ("text",),
        capabilities=frozenset(caps),
        extra=encode_extra(item, ("modelKey", "displayName", "maxContextLength")),
    )
