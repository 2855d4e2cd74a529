"""`GET /v1/alerts`: what went paid, vanished, went down or ran low (query parameters as
`services/edge/queries.py` reads them)."""

from __future__ import annotations

from services.edge.openapi.document import ApiDocument, Json, ok
from services.edge.queries import MAX_ALERTS_LIMIT, MAX_INT64
from services.shared.vocabulary import ALERT_KIND_BY_NAME, ALERT_SEVERITY_BY_NAME

SCALAR: Json = {"type": ["string", "number", "boolean", "null"]}

ALERT: Json = {
    "type": "object",
    "required": ["seq", "id", "kind", "severity", "topic", "subject", "message", "values"],
    "properties": {
        "seq": {"type": "integer", "description": "the order of alerts (page with `before`)"},
        "id": {"type": "string", "description": "stable: one event has one id"},
        "kind": {"enum": [*ALERT_KIND_BY_NAME, "unknown"]},
        "severity": {"enum": [*ALERT_SEVERITY_BY_NAME, "unknown"]},
        "topic": {"enum": ["catalog", "providers"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "subject": {"type": "string", "description": "a model id, provider or quota key"},
        "provider": {"type": "string"},
        "model_id": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "source": {"type": "string"},
        "values": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "old", "new"],
                "properties": {"field": {"type": "string"}, "old": SCALAR, "new": SCALAR},
            },
        },
    },
}


def describe(doc: ApiDocument) -> None:
    alert = doc.schema("Alert", ALERT)
    doc.operation(
        "get",
        "/v1/alerts",
        operation_id="listAlerts",
        summary="The catalog's alerts, newest first",
        parameters=[
            {
                "name": "kind",
                "in": "query",
                "schema": {"type": "array", "items": {"enum": list(ALERT_KIND_BY_NAME)}},
                "style": "form",
                "explode": True,
                "description": "Only these kinds (repeated, or comma-separated)",
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ALERTS_LIMIT},
                "description": "Alerts per page (the catalog's default when absent)",
            },
            {
                "name": "before",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT64},
                "description": "Only alerts older than this seq",
            },
        ],
        responses={
            "200": ok(
                "a page of alerts",
                doc.schema(
                    "AlertList",
                    {
                        "type": "object",
                        "required": ["object", "data", "last_seq", "more"],
                        "properties": {
                            "object": {"const": "list"},
                            "data": {"type": "array", "items": alert},
                            "last_seq": {"type": "integer"},
                            "more": {"type": "boolean"},
                        },
                    },
                ),
            )
        },
        tags=["catalog"],
    )
