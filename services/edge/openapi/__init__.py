"""The edge's OpenAPI 3.1 document (`GET /openapi.json`), one description per route module.

A module that adds routes adds their description too: a `describe(doc: ApiDocument)`
function calling `doc.operation(...)` (and `doc.schema(...)` for its bodies), listed in
`DESCRIBERS` of the app factory. tests/integration/edge/test_openapi.py fails when a route
the app serves is not in the document, or the document names one it does not serve.
"""

from services.edge.openapi.document import DOCUMENT, ApiDocument, Describer, build, openapi_json

__all__ = ["DOCUMENT", "ApiDocument", "Describer", "build", "openapi_json"]
