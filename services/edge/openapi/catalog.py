"""The catalogue routes: `/v1/models`, `/v1/models/{model_id}`, `/v1/catalog`,
`/v1/catalog/changes`, `/v1/providers` (query parameters as `services/edge/queries.py`
reads them: a bad value is a 400 naming it, an unknown parameter is ignored)."""

from __future__ import annotations

from services.edge.openapi.document import ApiDocument, Json, ok, ref
from services.edge.queries import MAX_CHANGES_LIMIT, MAX_INT64
from services.shared.vocabulary import CAPABILITY_BY_NAME

BOOLEAN_WORDS = ["true", "false", "1", "0", "yes", "no"]


def _query(name: str, schema: Json, description: str, **extra: Json) -> Json:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _flag(name: str, description: str) -> Json:
    return _query(name, {"enum": BOOLEAN_WORDS}, f"{description} (true/false, 1/0, yes/no)")


EXTRA = _flag("extra", "Add the provider's own fields of each model")
PRICE = {"type": ["number", "null"], "description": "per million tokens; null when unknown"}

MODEL: Json = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by", "free"],
    "properties": {
        "id": {"type": "string", "examples": ["openrouter/meta-llama/llama-3.3-70b:free"]},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "name": {"type": "string"},
        "free": {"type": "boolean"},
        "free_reason": {"type": "string"},
        "context_window": {"type": "integer"},
        "max_output_tokens": {"type": "integer"},
        "pricing": {
            "type": "object",
            "properties": {"input_per_mtok": PRICE, "output_per_mtok": PRICE},
        },
        "capabilities": {"type": "array", "items": {"type": "string"}},
    },
}

RECORD: Json = {
    "type": "object",
    "required": ["id", "provider", "is_free", "unpriced", "capabilities"],
    "properties": {
        "id": {"type": "string"},
        "provider": {"type": "string"},
        "upstream_id": {"type": "string"},
        "display_name": {"type": "string"},
        "context_window": {"type": "integer"},
        "max_output_tokens": {"type": "integer"},
        "input_price_per_mtok": PRICE,
        "output_price_per_mtok": PRICE,
        "request_price": {"type": ["number", "null"]},
        "price_source": {"type": ["string", "null"]},
        "unpriced": {"type": "boolean", "description": "no known price (never read as $0)"},
        "is_free": {"type": "boolean"},
        "free_reason": {"type": ["string", "null"]},
        "capabilities": {"type": "array", "items": {"enum": list(CAPABILITY_BY_NAME)}},
        "input_modalities": {"type": "array", "items": {"type": "string"}},
        "output_modalities": {"type": "array", "items": {"type": "string"}},
        "quality": {"type": ["number", "null"]},
        "quality_source": {"type": ["string", "null"]},
        "free_tier": {"type": "object"},
        "first_seen": {"type": ["string", "null"], "format": "date-time"},
        "last_seen": {"type": ["string", "null"], "format": "date-time"},
        "status": {"type": "string"},
        "extra": {"type": "object", "description": "with extra=true"},
    },
}

CHANGE: Json = {
    "type": "object",
    "required": ["version", "type", "model_id"],
    "properties": {
        "version": {"type": "integer"},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "type": {"enum": ["added", "removed", "changed", "unknown"]},
        "model_id": {"type": "string"},
        "changed_fields": {"type": "array", "items": {"type": "string"}},
        "old": {"anyOf": [ref("CatalogRecord"), {"type": "null"}]},
        "new": {"anyOf": [ref("CatalogRecord"), {"type": "null"}]},
    },
}

PROVIDER: Json = {
    "type": "object",
    "required": ["name", "healthy"],
    "properties": {
        "name": {"type": "string"},
        "format": {"type": "string"},
        "base_url": {"type": "string"},
        "healthy": {"type": "boolean"},
        "last_success": {"type": ["string", "null"], "format": "date-time"},
        "last_error": {"type": ["string", "null"]},
        "next_poll": {"type": ["string", "null"], "format": "date-time"},
        "model_count": {"type": "integer"},
        "free_count": {"type": "integer"},
        "unpriced_count": {"type": "integer"},
    },
}


def _list(item: Json, **properties: Json) -> Json:
    return {
        "type": "object",
        "required": ["object", "data", *properties],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": item},
            **properties,
        },
    }


def describe(doc: ApiDocument) -> None:
    model = doc.schema("Model", MODEL)
    record = doc.schema("CatalogRecord", RECORD)
    version = {"type": "integer", "description": "the catalogue version"}
    doc.operation(
        "get",
        "/v1/models",
        operation_id="listModels",
        summary="The free chat models, and `auto`",
        parameters=[_flag("free_only", "false lists the paid chat models too")],
        responses={"200": ok("OpenAI's model list", doc.schema("ModelList", _list(model)))},
        tags=["catalog"],
    )
    doc.operation(
        "get",
        "/v1/models/{model_id}",
        operation_id="getModel",
        summary="One model (ids contain slashes: openrouter/x/y:free)",
        parameters=[
            {
                "name": "model_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
                "description": "a catalogue id, or auto",
            }
        ],
        responses={"200": ok("the model", model)},
        tags=["catalog"],
    )
    capability = {"enum": list(CAPABILITY_BY_NAME)}
    doc.operation(
        "get",
        "/v1/catalog",
        operation_id="listCatalog",
        summary="Every model of the catalogue as its full normalised record",
        parameters=[
            _flag("free", "Only the free (true) or only the other (false) models"),
            _query("provider", {"type": "string"}, "Only this provider's models"),
            _query(
                "capability",
                {"type": "array", "items": capability},
                "Models with every one of these (repeated, or comma-separated)",
                style="form",
                explode=True,
            ),
            _query(
                "min_context",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT64},
                "Models with at least this context window",
            ),
            EXTRA,
        ],
        responses={"200": ok("the records", doc.schema("Catalog", _list(record, version=version)))},
        tags=["catalog"],
    )
    doc.operation(
        "get",
        "/v1/catalog/changes",
        operation_id="listCatalogChanges",
        summary="What changed after a catalogue version, oldest first",
        parameters=[
            _query(
                "since",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT64},
                "The last version seen",
            ),
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_CHANGES_LIMIT},
                "Changes per page (the catalog's default when absent)",
            ),
            EXTRA,
        ],
        responses={
            "200": ok(
                "a page of changes (`more`: ask again; `history_truncated`: re-read /v1/catalog)",
                doc.schema(
                    "CatalogChanges",
                    _list(
                        doc.schema("CatalogChange", CHANGE),
                        version=version,
                        history_truncated={"type": "boolean"},
                        more={"type": "boolean"},
                    ),
                ),
            )
        },
        tags=["catalog"],
    )
    doc.operation(
        "get",
        "/v1/providers",
        operation_id="listProviders",
        summary="Each provider's polling status and model counts",
        responses={
            "200": ok(
                "the providers", doc.schema("ProviderList", _list(doc.schema("Provider", PROVIDER)))
            )
        },
        tags=["catalog"],
    )
