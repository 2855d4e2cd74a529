"""The live routes: the WebSocket `/v1/ws` (its protocol is in the README: OpenAPI cannot
describe frames) and the dashboard's page and files, which need no key."""

from __future__ import annotations

from services.edge.dashboard import CONTENT_TYPES
from services.edge.live.hub import TOPICS
from services.edge.openapi.document import ApiDocument, Json


def _text(description: str, *types: str) -> Json:
    return {
        "description": description,
        "content": {t: {"schema": {"type": "string"}} for t in types},
    }


def describe(doc: ApiDocument) -> None:
    doc.operation(
        "get",
        "/v1/ws",
        operation_id="liveWebSocket",
        summary="Live topics over a WebSocket: " + ", ".join(TOPICS),
        description="Upgrade to a WebSocket (JSON text frames). Authenticate with the "
        'Authorization header, or with a first message {"type": "auth", "token": "<key>"} '
        "within 5 s (closed 4401 otherwise). Then send "
        '{"type": "subscribe", "topics": [...]}; events arrive as '
        '{"type": "event", "topic": ..., "data": {...}}. Close codes: 1001 shutdown, '
        "4008 too slow (its queue overflowed), 4401 not authenticated, 4403 role.",
        responses={"101": {"description": "switching to the WebSocket protocol"}},
        tags=["live"],
    )
    doc.operation(
        "get",
        "/",
        operation_id="dashboard",
        summary="The operators' dashboard (sign in with an admin or viewer key)",
        responses={"200": _text("the dashboard's page", "text/html")},
        public=True,
        tags=["live"],
    )
    doc.operation(
        "get",
        "/dashboard/{name}",
        operation_id="dashboardAsset",
        summary="One of the dashboard's scripts or style sheets",
        parameters=[
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1},
                "description": "a file name, e.g. app.js",
            }
        ],
        responses={"200": _text("the file", *CONTENT_TYPES.values())},
        public=True,
        tags=["live"],
    )
